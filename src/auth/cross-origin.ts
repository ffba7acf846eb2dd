import type { IncomingMessage } from 'node:http';

/** Methods that must not change state; a cross-origin check never refuses them. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Whether a browser says `req` came from another origin, by the same rules as Nest's
 * `app.enableCsrfProtection()` (Go's `CrossOriginProtection`), so the module's own state-changing
 * routes are safe whether or not the app turned that on:
 * 1. `Sec-Fetch-Site` decides when present: only `same-origin` and `none` (a navigation the user
 *    started) pass; `same-site` does not, since a sibling subdomain is another origin.
 * 2. Without it, `Origin` must name the request's own host (`Host`), or be in `trusted`.
 * 3. A request with neither header comes from a non-browser client, which sends no cookies of a
 *    victim, and passes.
 *
 * @param trusted serialised origins (`https://app.example.com`) that may post cross-origin.
 * @internal
 */
export function isCrossOrigin(req: IncomingMessage, trusted: ReadonlySet<string>): boolean {
  if (SAFE_METHODS.has(req.method ?? 'GET')) return false;
  const origin = single(req.headers.origin);
  if (origin !== undefined && trusted.has(origin.toLowerCase())) return false;
  const fetchSite = single(req.headers['sec-fetch-site']);
  if (fetchSite !== undefined) return fetchSite !== 'same-origin' && fetchSite !== 'none';
  if (origin === undefined) return false;
  return !sameHost(origin, single(req.headers.host));
}

/**
 * `origin` normalised as browsers serialise it (lower case, no default port), or `undefined` when it
 * is not a bare `scheme://host[:port]`.
 * @internal
 */
export function normaliseOrigin(origin: unknown): string | undefined {
  if (typeof origin !== 'string' || !/^https?:\/\/[^/?#\\@]+$/i.test(origin) || !URL.canParse(origin)) return undefined;
  return new URL(origin).origin;
}

function sameHost(origin: string, host: string | undefined): boolean {
  if (host === undefined || !URL.canParse(origin)) return false;
  const url = new URL(origin);
  if (url.host === '' || url.origin === 'null') return false;
  const authority = host.toLowerCase();
  if (url.host === authority) return true;
  const defaultPort = url.protocol === 'https:' ? '443' : url.protocol === 'http:' ? '80' : undefined;
  return url.port === '' && defaultPort !== undefined && `${url.hostname}:${defaultPort}` === authority;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
