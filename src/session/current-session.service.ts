import { Inject, Injectable, Optional } from '@nestjs/common';
import { SessionError } from '../core/errors/session.error.js';
import { SessionMessages } from '../core/errors/session.messages.js';
import { requestOfContext } from './session-async-context.js';
import { currentMessageSession, getSessionFromRequest } from './session-context.util.js';
import { SESSION_ASYNC_CONTEXT } from './session.internal-constants.js';
import type { AnySession, Session, SessionData } from './session.js';

/**
 * The session of the request being handled, for services that the request reaches without being
 * handed it: inject `CurrentSession` and call {@link CurrentSession.get} where you would otherwise
 * pass `@Session()` down. It is the very object `@Session()` gives the handler, so reads and
 * writes through either are one and the same, and are saved with the response as usual.
 *
 * Needs SessionModule's `asyncContext: true`, which keeps the current request in an
 * `AsyncLocalStorage` (`node:async_hooks`): over HTTP on Express and Fastify (GraphQL queries and
 * mutations included) from the session middleware on, so in later middleware, guards,
 * interceptors, handlers and anything they call or await; in WebSocket gateway messages served by
 * `withSessions()` (or by `SessionInterceptor`, in the handler). Not in GraphQL subscriptions.
 * Without the option both methods throw `SESSION_NOT_FOUND`, naming the option.
 *
 * @example
 * ```ts
 * @Injectable()
 * export class CartService {
 *   constructor(private readonly current: CurrentSession) {}
 *
 *   add(item: string): void {
 *     const session = this.current.get<{ cart: string[] }>();
 *     session.set('cart', [...(session.get('cart') ?? []), item]);
 *   }
 * }
 * ```
 */
@Injectable()
export class CurrentSession {
  constructor(@Optional() @Inject(SESSION_ASYNC_CONTEXT) private readonly enabled?: boolean) {}

  /**
   * The session of the request (or gateway message) being handled.
   * @typeParam T the session data; defaults to `SessionData` (extend it by declaration merging).
   * @throws SessionError `SESSION_NOT_FOUND` when called outside any request (a scheduled job,
   *   bootstrap code), when the request has no session (outside `cookie.matchPath`, say), or when
   *   SessionModule's `asyncContext` option is off.
   *
   * @example
   * ```ts
   * const userId = this.current.get().get('userId');
   * ```
   */
  get<T extends object = SessionData>(): Session<T> {
    const session = this.find<T>();
    if (session !== undefined) return session;
    const message = requestOfContext() === undefined ? SessionMessages.noCurrentRequest() : SessionMessages.noSession();
    throw new SessionError('SESSION_NOT_FOUND', message);
  }

  /**
   * The session of the request (or gateway message) being handled, or `undefined` outside any
   * request or for a request without a session: for code that also runs outside requests.
   * @typeParam T the session data; defaults to `SessionData` (extend it by declaration merging).
   * @throws SessionError `SESSION_NOT_FOUND` when SessionModule's `asyncContext` option is off (a
   *   setup mistake, not the absence of a request, so it is not hidden behind `undefined`).
   *
   * @example
   * ```ts
   * const userId = this.current.find()?.get('userId'); // undefined in a cron job
   * ```
   */
  find<T extends object = SessionData>(): Session<T> | undefined {
    if (this.enabled !== true) throw new SessionError('SESSION_NOT_FOUND', SessionMessages.asyncContextOff());
    // A gateway message's own session comes first, as for `@Session()` in a gateway.
    const session = currentMessageSession() ?? sessionOfContextRequest();
    return session as Session<T> | undefined;
  }
}

/** The session attached to the request the caller runs in, if any. */
function sessionOfContextRequest(): AnySession | undefined {
  const req = requestOfContext();
  return req === undefined ? undefined : getSessionFromRequest<AnySession>(req);
}
