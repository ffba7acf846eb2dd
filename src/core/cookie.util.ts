/** Attributes {@link serializeCookie} writes. */
export interface CookieAttributes {
  path?: string;
  domain?: string;
  httpOnly?: boolean;
  secure?: boolean;
  sameSite?: 'lax' | 'strict' | 'none' | false;
  partitioned?: boolean;
  priority?: 'low' | 'medium' | 'high';
  /** Absolute expiry (epoch ms); omitted for a browser-session cookie. */
  expires?: number;
  /** Seconds; written beside `expires`. */
  maxAge?: number;
}

const SAME_SITE = { lax: 'Lax', strict: 'Strict', none: 'None' } as const;
const PRIORITY = { low: 'Low', medium: 'Medium', high: 'High' } as const;

/** `name=value; Attr…` for a Set-Cookie header. `value` must already be cookie-safe (base64url). */
export function serializeCookie(name: string, value: string, attributes: CookieAttributes): string {
  let cookie = `${name}=${value}`;
  if (attributes.maxAge !== undefined) cookie += `; Max-Age=${Math.max(0, Math.ceil(attributes.maxAge))}`;
  if (attributes.expires !== undefined) cookie += `; Expires=${new Date(attributes.expires).toUTCString()}`;
  if (attributes.domain) cookie += `; Domain=${attributes.domain}`;
  if (attributes.path) cookie += `; Path=${attributes.path}`;
  if (attributes.httpOnly) cookie += '; HttpOnly';
  if (attributes.secure) cookie += '; Secure';
  if (attributes.sameSite) cookie += `; SameSite=${SAME_SITE[attributes.sameSite]}`;
  if (attributes.partitioned) cookie += '; Partitioned';
  if (attributes.priority) cookie += `; Priority=${PRIORITY[attributes.priority]}`;
  return cookie;
}

/**
 * The value of cookie `name` in a Cookie header, or `undefined`. When a name appears more than
 * once (a cookie set for a parent domain and one for the host), the first is returned, which is
 * the most specific one browsers send first. Malformed pairs are skipped, never thrown on.
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    const eq = header.indexOf('=', start);
    if (eq !== -1 && eq < end) {
      const key = header.slice(start, eq).trim();
      if (key === name) {
        let value = header.slice(eq + 1, end).trim();
        if (value.length > 1 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
        return value;
      }
    }
    start = end + 1;
  }
  return undefined;
}

/**
 * Add `cookie` to the response's Set-Cookie header without dropping cookies set by the
 * application (iron-session's `setCookie` appends for the same reason).
 */
export function appendSetCookie(
  res: { getHeader(name: string): number | string | string[] | undefined; setHeader(name: string, value: string[]): unknown },
  cookie: string,
): void {
  const existing = res.getHeader('set-cookie');
  // String() each: other code may have put numbers in the list.
  const list = existing === undefined ? [] : Array.isArray(existing) ? existing.map((value) => String(value)) : [String(existing)];
  list.push(cookie);
  res.setHeader('set-cookie', list);
}

/**
 * The path of a request target (`req.url` or Express's `req.originalUrl`) as cookies see it: up
 * to the query or fragment, still percent-encoded (browsers match cookie paths on the encoded
 * path). An absolute-form target (`http://host/path`, sent to proxies) gives its path; an empty
 * or unparsable one gives `/`.
 *
 * @example
 * ```ts
 * requestPath('/app/page?x=1'); // '/app/page'
 * requestPath('http://example.com/app'); // '/app'
 * ```
 */
export function requestPath(url: string | undefined): string {
  if (!url) return '/';
  let start = 0;
  if (url.charCodeAt(0) !== 47 /* / */) {
    // Absolute form: the path starts at the first '/' after "scheme://authority".
    const scheme = url.indexOf('://');
    if (scheme === -1) return '/';
    // The authority ends at the first '/', '?' or '#'; without a '/' there the path is empty.
    start = scheme + 3;
    while (start < url.length && url[start] !== '/' && url[start] !== '?' && url[start] !== '#') start++;
    if (start === url.length || url[start] !== '/') return '/';
  }
  let end = url.length;
  const query = url.indexOf('?', start);
  if (query !== -1) end = query;
  const fragment = url.indexOf('#', start);
  if (fragment !== -1 && fragment < end) end = fragment;
  return end === start ? '/' : url.slice(start, end);
}

/**
 * Whether a browser sends a cookie of path `cookiePath` with a request for `path` (RFC 6265
 * §5.1.4 path-match): the same path, or one below it. `/app` matches `/app`, `/app/` and
 * `/app/x`, not `/application`.
 *
 * @example
 * ```ts
 * cookiePathMatches('/app/x', '/app'); // true
 * cookiePathMatches('/application', '/app'); // false
 * ```
 */
export function cookiePathMatches(path: string, cookiePath: string): boolean {
  if (!path.startsWith(cookiePath)) return false;
  return path.length === cookiePath.length || cookiePath.endsWith('/') || path.charCodeAt(cookiePath.length) === 47; /* / */
}
