import type { SessionOwnCookie } from './session-cookie.types.js';

/**
 * What the engine keeps of one session beside its data: created by the engine when it loads a
 * session, handed to the {@link Session} it builds, and read back by the engine through
 * `sessionState()`. The session updates it when it is saved or reset; its data and the changes to
 * it stay the session's own.
 *
 * Every field is set from the start, so all states share one shape.
 * @internal
 */
export interface SessionState {
  /** The session ID; `undefined` until one is needed (IDs are issued lazily). */
  id: string | undefined;
  /** No record exists in the store for `id` yet. */
  isNew: boolean;
  createdAt: number;
  /** The expiry the store holds. */
  expiresAt: number;
  /** The ID the request presented and the store knew. */
  loadedId: string | undefined;
  /** The request presented a correctly signed ID (known or not). */
  presented: boolean;
  /** Index of the transport the ID arrived through. */
  transport: number;
  /** The principal the store holds. */
  principal: string | undefined;
  /**
   * The store could not be read (the session is empty), or a destroy nobody awaited failed
   * (`req.session = null`); either way the session must not be written.
   */
  degraded: boolean;
  /** Move the idle deadline at the end of the request even if nothing changed. */
  touchRequested: boolean;
  /**
   * `save()` was called: write even when nothing changed (a stored session is touched without the
   * `touchInterval` throttle, a new one stored even when empty). Cleared once written.
   */
  saveRequested: boolean;
  /**
   * The store was written for this session during this request (`save()`, or a write the request
   * made already): the end of the request writes only what changed since, never one more touch.
   */
  written: boolean;
  /**
   * The session's own cookie settings (`req.session.cookie.*`), decoded from the session's
   * `__cookie` key on first use: `undefined` until read, `null` when it has none.
   */
  cookie: SessionCookieOverride | null | undefined;
  /** The engine's per-request state (request, response, response hook). */
  binding: unknown;
}

/**
 * What a session keeps of its own cookie (`req.session.cookie.maxAge = …` and the other members of
 * express-session's `req.session.cookie`), in the hidden session key `__cookie`, so it holds on
 * every later request. Members left out follow SessionModule's options.
 * @example { maxAge: 2_592_000_000, since: 1767225600000 } // "remember me" for 30 days
 * @internal
 */
export interface SessionCookieOverride extends Omit<SessionOwnCookie, 'persistent'> {
  /**
   * This session's lifetime in ms ("remember me"): its idle timeout, its cookie persistent with the
   * session's expiry, and its absolute limit at least `since + maxAge`; `null`: a browser-session
   * cookie and the module's lifetimes.
   */
  maxAge?: number | null;
  /** When `maxAge` was set (epoch ms). */
  since?: number;
}
