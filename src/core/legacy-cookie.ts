import { createHmac, timingSafeEqual } from 'node:crypto';

/** The prefix express-session gives a signed cookie value. */
const SIGNED_PREFIX = 's:';

/**
 * The session ID in a cookie value written by express-session (`s:<id>.<signature>`, where the
 * signature is the HMAC-SHA256 of the ID under one of `secrets`, in base64 without padding, and
 * the whole value percent-encoded as express-session's cookie serializer does), or `undefined`
 * when the value is not such a cookie or no secret signed it. Every secret is checked, so timing
 * does not reveal which one matched. Used only to let users of an app that moved from
 * express-session keep their sessions (`legacyCookies`).
 *
 * @example
 * ```ts
 * unsignLegacyCookie('s%3AabcDEF....signature', ['keyboard cat']); // 'abcDEF...' or undefined
 * ```
 */
export function unsignLegacyCookie(value: string, secrets: readonly string[]): string | undefined {
  let decoded = value;
  if (value.includes('%')) {
    try {
      decoded = decodeURIComponent(value);
    } catch {
      return undefined;
    }
  }
  if (!decoded.startsWith(SIGNED_PREFIX)) return undefined;
  const dot = decoded.lastIndexOf('.');
  if (dot <= SIGNED_PREFIX.length) return undefined;
  const id = decoded.slice(SIGNED_PREFIX.length, dot);
  const given = Buffer.from(decoded.slice(dot + 1));
  let valid = false;
  for (const secret of secrets) {
    const expected = Buffer.from(createHmac('sha256', secret).update(id).digest('base64').replace(/=+$/, ''));
    if (expected.length === given.length && timingSafeEqual(expected, given)) valid = true;
  }
  return valid ? id : undefined;
}
