#!/usr/bin/env bash
# NestJS 11 check: a CommonJS Nest 11 app (test/nest11: TypeScript `module: commonjs`) installs the
# packed package from the npm registry's Nest 11 releases, `require()`s it (Node's require(esm)) and
# runs test/nest11/check.cjs over real HTTP and WebSocket: sessions with the memory store and with
# Redis, flash, regenerate/destroy, a `withSessions(WsAdapter)` gateway, session events through
# @nestjs/event-emitter 3, the @nestjs/terminus 11 health indicator, and the OpenID Connect login
# against the repository's test provider (test/support/oidc-provider.ts, compiled to a temporary
# directory, run on this checkout's node_modules).
#
# Needs: dist/ (built here when missing; CI runs this after `npm test`, which builds), the
# checkout's node_modules (npm ci), Redis at REDIS_URL (default redis://127.0.0.1:6379; keys go
# under a unique prefix and are deleted). Everything else happens in a temporary directory, removed
# at the end; the working tree is left as it was. About a minute, most of it `npm install`.
#
#   bash scripts/nest11-check.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
started=$SECONDS

work="$(mktemp -d "${TMPDIR:-/tmp}/nest11-check.XXXXXX")"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

[ -f dist/index.js ] || npm run build

echo "nest11-check: packing"
tarball="$work/$(npm pack --silent --pack-destination "$work" | tail -n 1)"

echo "nest11-check: installing the Nest 11 app (npm $(npm --version))"
mkdir "$work/app"
tar -C test/nest11 --exclude=node_modules --exclude=dist -cf - . | tar -C "$work/app" -xf -
# Plain `npm install`: peer ranges are checked as a user's install checks them (no --legacy-peer-deps).
(cd "$work/app" && npm install --no-audit --no-fund --loglevel=error "$tarball")

echo "nest11-check: compiling the app (tsc, module: commonjs)"
(cd "$work/app" && ./node_modules/.bin/tsc -p tsconfig.json)
# The other setting a CommonJS Nest 11 app may have, `module: nodenext`: type check only.
(cd "$work/app" && ./node_modules/.bin/tsc -p tsconfig.json --noEmit --module nodenext --moduleResolution nodenext)

echo "nest11-check: compiling the test OpenID provider"
mkdir "$work/idp"
node_modules/.bin/tsc --ignoreConfig test/support/oidc-provider.ts test/support/oidc-browser.ts \
  --outDir "$work/idp" --rootDir test/support --module nodenext --moduleResolution nodenext \
  --target es2022 --lib es2023,dom --types node --strict --skipLibCheck
# ES modules that resolve jose and oidc-provider from this checkout's node_modules.
echo '{ "type": "module" }' >"$work/idp/package.json"
ln -s "$root/node_modules" "$work/idp/node_modules"

echo "nest11-check: running test/nest11/check.cjs"
(cd "$work/app" && NEST11_IDP_DIR="$work/idp" node check.cjs)

echo "nest11-check: passed in $((SECONDS - started)) s"
