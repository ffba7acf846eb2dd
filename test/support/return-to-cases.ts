/**
 * The class of `returnTo` values that issue 10 (point 1) asked to test as a whole: every way a dot
 * segment can be spelt (plain, `%2e`, `%2E`, mixed), after several prefixes, before every separator
 * a browser or a decoding proxy may read as "another host" (`/`, `\`, `/\`, `%2f`, `%5c`, `%2F%2F`,
 * `%5C/`). Most normalise into a protocol-relative URL (`//evil.example`) or an encoded one
 * (`/%2fevil.example`).
 *
 * The same generator (same lists, same order) drives the unit test of `safeReturnTo` in
 * src/auth/auth-options.resolver.spec.ts. That spec cannot import this file: the layer check
 * (`src-not-to-tests` in .dependency-cruiser.cjs) forbids any import from src/ into test/. Change
 * both together.
 */
export const RETURN_TO_DOTS = ['.', '..', '%2e', '%2E', '%2e%2e', '.%2e', '%2e.', '%2E%2e'];
export const RETURN_TO_PREFIXES = ['/', '/a/', '/a/b/../', '/a/./'];
export const RETURN_TO_HOSTS = [
  '/evil.example',
  '\\evil.example',
  '/\\evil.example',
  '%2fevil.example',
  '%5cevil.example',
  '%2F%2Fevil.example',
  '%5C/evil.example',
];

/** Every prefix × dot segment × host-like separator: 224 paths. */
export const HOST_LIKE_RETURN_TOS: string[] = RETURN_TO_PREFIXES.flatMap((prefix) =>
  RETURN_TO_DOTS.flatMap((dot) => RETURN_TO_HOSTS.map((host) => `${prefix}${dot}/${host}`)),
);

/** A path that starts like another host: `//`, `/\`, or the same with the second character percent-encoded. */
const HOST_LIKE_START = /^\/(?:[/\\]|%2f|%5c)/i;

/**
 * Why `location` (a redirect's `Location` header) could take a browser to another host than
 * `origin`, or `undefined` when it cannot: read as a browser reads it (backslashes are slashes in
 * http(s) URLs), and read again after one round of percent-decoding, as a proxy in front of the
 * app may do.
 */
export function leavesOrigin(location: string, origin: string): string | undefined {
  const readings: Array<[string, string]> = [['as sent', location]];
  try {
    readings.push(['percent-decoded once', decodeURIComponent(location)]);
  } catch {
    // Not decodable: a proxy would pass it on as it is, which the first reading covers.
  }
  for (const [how, value] of readings) {
    if (HOST_LIKE_START.test(value) || value.startsWith('\\')) return `${how}, ${JSON.stringify(value)} starts like another host`;
    let target: URL;
    try {
      target = new URL(value, origin);
    } catch {
      return `${how}, ${JSON.stringify(value)} is not a URL`;
    }
    if (target.origin !== origin) return `${how}, ${JSON.stringify(value)} goes to ${target.origin}`;
  }
  return undefined;
}
