/**
 * Stable machine-readable codes carried by every {@link SessionError}.
 *
 * - `SESSION_OPTIONS_INVALID`: an option given to `SessionModule` is missing or wrong (thrown at bootstrap).
 * - `SESSION_STORE_UNAVAILABLE`: the store failed to read or write; the request is answered with 503.
 * - `SESSION_HEADERS_SENT`: the session changed in a way that needs a new cookie after the headers went out.
 * - `SESSION_INVALID_ID`: a store was handed an ID that is not a well-formed session ID.
 * - `SESSION_NOT_FOUND`: no session is attached to the current request or execution context; or
 *   `CurrentSession.get()` ran outside any request, or without SessionModule's `asyncContext` option.
 * - `SESSION_UNSUPPORTED_CONTEXT`: the execution context carries no request a session can be read from.
 * - `SESSION_CODEC_ERROR`: a value could not be encoded or decoded by the configured codec.
 * - `SESSION_PAYLOAD_TOO_LARGE`: a session kept in cookies (`CookieStore`) outgrew its `maxSize`.
 * - `SESSION_NOT_SUPPORTED`: the store cannot do what was asked (list sessions by principal, say).
 * - `SESSION_LOST`: the stored record disappeared (expired or destroyed elsewhere) while the request ran,
 *   so its changes were not saved; the request is answered with 409.
 * - `SESSION_READ_ONLY`: `req.session` was assigned something other than `null` (which logs out), or
 *   a property of it that is not data was assigned or deleted (`id`, `cookie`, its methods, a symbol
 *   key); the session itself cannot be replaced, only its keys set.
 * - `SESSION_CALLBACK_FAILED`: a callback given to `req.session.save()`, `regenerate()`, `destroy()`
 *   or `reload()` threw; what it threw is the `cause`. Reported to `onError`, and the request is
 *   answered with 500 if the callback had not answered it.
 * - `SESSION_ORIGIN_REFUSED`: a WebSocket handshake (a gateway's, or a GraphQL subscription
 *   connection's) came from an `Origin` that `allowedOrigins` does not allow; refused with 403 (or
 *   close code 4403) before anything of the session is read.
 * - `SESSION_LISTENER_FAILED`: a session event listener (the `events` option, or an `@OnEvent()`
 *   handler) threw or rejected; what it threw is the `cause`. Reported to `onError` only: the request goes on.
 * - `SESSION_UPDATE_CONFLICT`: `session.update()` could not take the key's lock within its attempts
 *   (other requests kept it); nothing was changed. Answered with 409.
 * - `SESSION_HANDLE_UNKNOWN`: `SessionDevices.revoke()` was given a handle that names none of the
 *   principal's live sessions (already ended, or another user's). Answered with 404.
 *
 * Extensions add codes of their own through subclasses: `nest-sessions/auth` throws `AuthError`
 * with `AUTH_*` codes (see `AuthErrorCode`).
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
  | 'SESSION_CALLBACK_FAILED'
  | 'SESSION_ORIGIN_REFUSED'
  | 'SESSION_LISTENER_FAILED'
  | 'SESSION_UPDATE_CONFLICT'
  | 'SESSION_HANDLE_UNKNOWN';

const STATUS: Partial<Record<SessionErrorCode, number>> = {
  SESSION_STORE_UNAVAILABLE: 503,
  SESSION_LOST: 409,
  SESSION_UPDATE_CONFLICT: 409,
  SESSION_HANDLE_UNKNOWN: 404,
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
  /**
   * Stable code, safe to branch on: a {@link SessionErrorCode}, or a code of a subclass such as
   * `AuthError`'s `AUTH_*` codes.
   */
  readonly code: SessionErrorCode | (string & {});
  /**
   * HTTP status this error answers with: 503 for `SESSION_STORE_UNAVAILABLE`, 409 for
   * `SESSION_LOST`, the status a subclass gives its own codes (`AuthError`), 500 otherwise.
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

  /**
   * What GraphQL servers show the client beside the message (graphql-js copies an original
   * error's `extensions`): `code` is the GraphQL convention for the status (`UNAUTHENTICATED` for
   * 401, `FORBIDDEN` for 403, `INTERNAL_SERVER_ERROR` for 500, else this error's own code), and
   * `reason` this error's code.
   */
  get extensions(): { code: string; reason: string } {
    const code =
      this.statusCode === 401
        ? 'UNAUTHENTICATED'
        : this.statusCode === 403
          ? 'FORBIDDEN'
          : this.statusCode === 500
            ? 'INTERNAL_SERVER_ERROR'
            : this.code;
    return { code, reason: this.code };
  }

  /**
   * @param options.statusCode the status to answer with; by default the one listed for `code`
   *   (subclasses pass the statuses of their own codes), else 500.
   */
  constructor(code: SessionErrorCode | (string & {}), message: string, options?: { cause?: unknown; statusCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
    this.statusCode = this.status = options?.statusCode ?? STATUS[code as SessionErrorCode] ?? 500;
    this.expose = this.statusCode !== 500;
  }
}
