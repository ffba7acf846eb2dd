/**
 * Stable machine-readable codes carried by every {@link SessionError}.
 *
 * - `SESSION_OPTIONS_INVALID`: an option given to `SessionModule` is missing or wrong (thrown at bootstrap).
 * - `SESSION_STORE_UNAVAILABLE`: the store failed to read or write; the request is answered with 503.
 * - `SESSION_HEADERS_SENT`: the session changed in a way that needs a new cookie after the headers went out.
 * - `SESSION_INVALID_ID`: a store was handed an ID that is not a well-formed session ID.
 * - `SESSION_NOT_FOUND`: no session is attached to the current request or execution context.
 * - `SESSION_UNSUPPORTED_CONTEXT`: the execution context carries no request a session can be read from.
 * - `SESSION_CODEC_ERROR`: a value could not be encoded or decoded by the configured codec.
 * - `SESSION_PAYLOAD_TOO_LARGE`: a session kept in cookies (`CookieStore`) outgrew its `maxSize`.
 * - `SESSION_NOT_SUPPORTED`: the store cannot do what was asked (list sessions by principal, say).
 * - `SESSION_LOST`: the stored record disappeared (expired or destroyed elsewhere) while the request ran,
 *   so its changes were not saved; the request is answered with 409.
 * - `SESSION_READ_ONLY`: `req.session` was assigned something other than `null` (which logs out); the
 *   session itself cannot be replaced, only its keys set.
 *
 * The OpenID Connect module (`nest-sessions/auth`) adds, thrown as `AuthError`:
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
export type SessionErrorCode =
  | 'SESSION_OPTIONS_INVALID'
  | 'SESSION_STORE_UNAVAILABLE'
  | 'SESSION_HEADERS_SENT'
  | 'SESSION_INVALID_ID'
  | 'SESSION_NOT_FOUND'
  | 'SESSION_UNSUPPORTED_CONTEXT'
  | 'SESSION_CODEC_ERROR'
  | 'SESSION_PAYLOAD_TOO_LARGE'
  | 'SESSION_NOT_SUPPORTED'
  | 'SESSION_LOST'
  | 'SESSION_READ_ONLY'
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

const STATUS: Partial<Record<SessionErrorCode, number>> = {
  SESSION_STORE_UNAVAILABLE: 503,
  SESSION_LOST: 409,
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
 * The one error class of nest-sessions. Every error the package throws or reports to the
 * `onError` hook is a `SessionError` with a stable {@link SessionErrorCode} and, where another
 * error caused it, that error as `cause`.
 *
 * @example
 * ```ts
 * try { await session.regenerate(); }
 * catch (err) { if (err instanceof SessionError && err.code === 'SESSION_STORE_UNAVAILABLE') { ... } }
 * ```
 */
export class SessionError extends Error {
  /** Stable code, safe to branch on. */
  readonly code: SessionErrorCode;
  /**
   * HTTP status this error answers with: 503 for `SESSION_STORE_UNAVAILABLE`, 409 for
   * `SESSION_LOST`, the status listed with each `AUTH_*` code, 500 otherwise.
   * Together with {@link SessionError.status} and {@link SessionError.expose} it gives the error the
   * `http-errors` shape that Nest's default exception filter, Express and Fastify all honour.
   */
  readonly statusCode: number;
  /** Same as {@link SessionError.statusCode}. */
  readonly status: number;
  /**
   * Whether the message may be shown to the client: only for errors answered with a status other
   * than 500 (store outages, lost sessions, auth failures), whose messages never carry an ID, a
   * token, a secret or a store's address. Everything else answers with
   * the generic status text.
   */
  readonly expose: boolean;

  constructor(code: SessionErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
    this.statusCode = this.status = STATUS[code] ?? 500;
    this.expose = this.statusCode !== 500;
  }
}
