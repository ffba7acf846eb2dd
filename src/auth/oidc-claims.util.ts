import type * as oidc from 'openid-client';
import type { AuthClaims } from './auth-session.js';

/** Claims that describe the ID token itself rather than the user. */
const TOKEN_ONLY_CLAIMS = ['nonce', 'at_hash', 'c_hash', 's_hash', 'exp', 'iat', 'nbf', 'auth_time', 'jti'];

/**
 * The ID token's claims about the user, protocol claims such as `nonce` and `exp` left out: they
 * describe one token, and would be stale in the session after the next refresh.
 * @internal
 */
export function userClaims(claims: oidc.IDToken): AuthClaims {
  const user: Record<string, unknown> = { ...claims };
  for (const claim of TOKEN_ONLY_CLAIMS) delete user[claim];
  return user as AuthClaims;
}

/**
 * The app's `mapClaims` applied to what the provider said, with `sub` pinned to the login's: the
 * index and back-channel logout find logins by it, so a mapping cannot move them. Used on every
 * path that stores claims (login and refresh).
 * @internal
 */
export function mappedClaims(mapClaims: (claims: AuthClaims) => AuthClaims, claims: AuthClaims, sub: string): AuthClaims {
  return { ...mapClaims(claims), sub };
}
