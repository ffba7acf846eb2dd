import { SessionError, type SessionErrorCode } from '../../session/errors/session.error.js';

/** The codes an {@link AuthError} carries (see `SessionErrorCode` for what each means). */
export type AuthErrorCode = Extract<SessionErrorCode, `AUTH_${string}`>;

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
    super(code, message, options);
  }
}
