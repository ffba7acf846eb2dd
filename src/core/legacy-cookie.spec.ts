import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { unsignLegacyCookie } from './legacy-cookie.js';

/**
 * A cookie value in express-session's documented format: `s:<id>.<base64 HMAC-SHA256, no padding>`,
 * percent-encoded. (test/express-session-migration.e2e.spec.ts reads cookies the real
 * express-session wrote.)
 */
function expressSessionCookie(id: string, secret: string): string {
  const mac = createHmac('sha256', secret).update(id).digest('base64').replace(/=+$/, '');
  return encodeURIComponent(`s:${id}.${mac}`);
}

describe('unsignLegacyCookie', () => {
  const id = 'fS3jm5qmXzd1Xr6b8xHTI3Tpd6ZVM2vY';

  it('reads the ID of a cookie express-session signed, with any of the secrets', () => {
    expect(unsignLegacyCookie(expressSessionCookie(id, 'keyboard cat'), ['keyboard cat'])).toBe(id);
    expect(unsignLegacyCookie(expressSessionCookie(id, 'old'), ['new secret', 'old'])).toBe(id);
    // Already decoded (a proxy or a client that unescaped it) reads the same.
    expect(unsignLegacyCookie(decodeURIComponent(expressSessionCookie(id, 'old')), ['old'])).toBe(id);
  });

  it('reads IDs of any shape express-session can be given (genid)', () => {
    for (const custom of ['3b241101-e2bb-4255-8caf-4136c566a962', 'a.b.c', 'x']) {
      expect(unsignLegacyCookie(expressSessionCookie(custom, 'k'), ['k'])).toBe(custom);
    }
  });

  it.each([
    ['another secret', (c: string) => c, ['wrong']],
    ['no s: prefix', (c: string) => c.replace('s%3A', ''), ['keyboard cat']],
    ['a changed ID', (c: string) => c.replace('fS3j', 'fS3k'), ['keyboard cat']],
    ['a cut signature', (c: string) => c.slice(0, -2), ['keyboard cat']],
    ['padding added to the signature', (c: string) => `${c}%3D`, ['keyboard cat']],
    ['malformed percent-encoding', (c: string) => `${c}%E0%A4%A`, ['keyboard cat']],
    ['no signature', () => `s%3A${id}`, ['keyboard cat']],
    ['an empty ID', () => `s%3A.${createHmac('sha256', 'keyboard cat').update('').digest('base64').replace(/=+$/, '')}`, ['keyboard cat']],
    ['our own format', () => `${id}.${createHmac('sha256', 'keyboard cat').update(id).digest('base64url')}`, ['keyboard cat']],
  ])('refuses %s', (_name, change, secrets) => {
    expect(unsignLegacyCookie(change(expressSessionCookie(id, 'keyboard cat')), secrets)).toBeUndefined();
  });
});
