import { SessionError } from '../../core/errors/session.error.js';

/**
 * Stable codes carried by every {@link AuthError}, with the status each answers with:
 * - `AUTH_OPTIONS_INVALID`: an option given to `AuthModule` is missing or wrong (thrown at bootstrap).
 * - `AUTH_DISCOVERY_FAILED`: a provider's discovery document could not be fetched at start-up, retries included.
 * - `AUTH_UNKNOWN_PROVIDER`: a login or logout named a provider that is not configured (400).
 * - `AUTH_CALLBACK_INVALID`: a login callback failed its checks: unknown, expired or replayed `state`,
 *   a code the provider refused, or an ID token with the wrong issuer, audience, nonce or expiry (400).
 * - `AUTH_LOGIN_FAILED`: the provider answered the login with an error such as `access_denied` (401).
 * - `AUTH_LOGIN_REQUIRED`: the request needs a login it does not have, or the login ended (a refresh the
 *   provider refused) (401).
 * - `AUTH_FORBIDDEN`: the user is logged in but lacks the claims a route requires (403).
 * - `AUTH_PROVIDER_UNAVAILABLE`: the provider could not be reached or answered unexpectedly (502).
 * - `AUTH_LOGOUT_TOKEN_INVALID`: a back-channel logout token failed validation (400).
 * - `AUTH_CROSS_ORIGIN`: a state-changing auth route (`POST <prefix>/logout`) was called from another
 *   origin, as the browser's `Sec-Fetch-Site` or `Origin` header tells (403).
 */
export type AuthErrorCode =
  | 'AUTH_OPTIONS_INVALID'
  | 'AUTH_DISCOVERY_FAILED'
  | 'AUTH_UNKNOWN_PROVIDER'
  | 'AUTH_CALLBACK_INVALID'
  | 'AUTH_LOGIN_FAILED'
  | 'AUTH_LOGIN_REQUIRED'
  | 'AUTH_FORBIDDEN'
  | 'AUTH_PROVIDER_UNAVAILABLE'
  | 'AUTH_LOGOUT_TOKEN_INVALID'
  | 'AUTH_CROSS_ORIGIN';

const STATUS: Partial<Record<AuthErrorCode, number>> = {
  AUTH_UNKNOWN_PROVIDER: 400,
  AUTH_CALLBACK_INVALID: 400,
  AUTH_LOGIN_FAILED: 401,
  AUTH_LOGIN_REQUIRED: 401,
  AUTH_FORBIDDEN: 403,
  AUTH_PROVIDER_UNAVAILABLE: 502,
  AUTH_LOGOUT_TOKEN_INVALID: 400,
  AUTH_CROSS_ORIGIN: 403,
};

/**
 * An error of the OpenID Connect module. It is a `SessionError` (one base class for the package),
 * so `err instanceof SessionError` and `err.code` work the same everywhere; `statusCode` and
 * `expose` give Nest's exception filter the status to answer with.
 *
 * @example
 * ```ts
 * try { await auth.getAccessToken(session); }
 * catch (err) { if (err instanceof AuthError && err.code === 'AUTH_LOGIN_REQUIRED') return res.redirect('/auth/login'); }
 * ```
 */
export class AuthError extends SessionError {
  declare readonly code: AuthErrorCode;

  constructor(code: AuthErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, { ...options, statusCode: STATUS[code] ?? 500 });
  }
}
