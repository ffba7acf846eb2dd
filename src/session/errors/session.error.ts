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
  | 'SESSION_LOST';

const STATUS: Partial<Record<SessionErrorCode, number>> = { SESSION_STORE_UNAVAILABLE: 503, SESSION_LOST: 409 };

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
   * `SESSION_LOST`, 500 otherwise.
   * Together with {@link SessionError.status} and {@link SessionError.expose} it gives the error the
   * `http-errors` shape that Nest's default exception filter, Express and Fastify all honour.
   */
  readonly statusCode: number;
  /** Same as {@link SessionError.statusCode}. */
  readonly status: number;
  /**
   * Whether the message may be shown to the client: only for store outages and lost sessions, whose
   * messages say nothing about the session or the store's address. Everything else answers with
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
