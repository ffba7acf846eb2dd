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
  /** The engine's per-request state (request, response, response hook). */
  binding: unknown;
}
