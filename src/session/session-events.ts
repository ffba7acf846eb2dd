import type { IncomingMessage } from 'node:http';
import { SessionError } from '../core/errors/session.error.js';
import { SessionMessages } from '../core/errors/session.messages.js';

/**
 * Why a session ended, as {@link SessionDestroyedEvent.reason} tells it:
 * - `logout`: the app destroyed it (`session.destroy()`, `req.session = null`, the auth module's logout);
 * - `regenerated`: its ID was replaced (`session.regenerate()`); the session lives on under the new handle;
 * - `revoked`: ended from elsewhere: "log out everywhere" (`destroyByPrincipal`), a device revoked
 *   through `SessionDevices`, or a `SessionIndex` key destroyed;
 * - `backchannel`: the identity provider's back-channel logout;
 * - `expired`: a request presented it and the store no longer had it (its time ran out, or it was
 *   removed where this process could not see it);
 * - `idle` / `absolute`: a request presented it and the store still had it, past its idle or absolute deadline.
 */
export type SessionDestroyReason = 'logout' | 'regenerated' | 'revoked' | 'backchannel' | 'expired' | 'idle' | 'absolute';

/** What every session event carries. Never a session ID or a token. */
export interface SessionEventBase {
  /**
   * The session's handle: an opaque, stable name for it that cannot be used as a session cookie
   * (a keyed hash of its ID). The same value `SessionDevices` lists.
   */
  handle: string;
  /** The session's principal (the `principal` option), when it has one. */
  principal?: string;
  /** The request the event happened in; absent for sessions ended from elsewhere. */
  req?: IncomingMessage;
  /** When it happened (epoch milliseconds). */
  at: number;
}

/** A new session was written to the store for the first time. */
export type SessionCreatedEvent = SessionEventBase;

/** A session's ID was replaced; `handle` is the new one. A `destroyed` event (`regenerated`) names the old one. */
export interface SessionRegeneratedEvent extends SessionEventBase {
  /** The handle the session had before. */
  previousHandle: string;
}

/** A session ended. */
export interface SessionDestroyedEvent extends SessionEventBase {
  reason: SessionDestroyReason;
}

/** The session's principal changed (set at login, changed, or removed: then `principal` is absent). */
export interface SessionPrincipalSetEvent extends SessionEventBase {
  /** The principal before the change, if there was one. */
  previousPrincipal?: string;
}

/** The event objects, by listener name. */
export interface SessionEventMap {
  created: SessionCreatedEvent;
  regenerated: SessionRegeneratedEvent;
  destroyed: SessionDestroyedEvent;
  principalSet: SessionPrincipalSetEvent;
}

/** The name of a session event (see {@link SESSION_EVENT_NAMES}). */
export type SessionEventName = keyof SessionEventMap;

/**
 * The `events` option of `SessionModule`: one listener per event, sync or async. A listener runs
 * after what it reports happened and is not waited for; a listener that throws or rejects is
 * reported through `onError` (code `SESSION_LISTENER_FAILED`) and never fails the request.
 * Events are emitted for server-side stores; a `CookieStore` session emits none.
 *
 * @example
 * ```ts
 * SessionModule.forRoot({
 *   store: 'redis://localhost:6379',
 *   secret: process.env.SESSION_SECRET,
 *   events: {
 *     destroyed: ({ handle, reason, principal }) => audit.log('session ended', { handle, reason, principal }),
 *   },
 * });
 * ```
 */
export type SessionEventListeners = {
  [N in SessionEventName]?: (event: SessionEventMap[N]) => void | Promise<void>;
};

/**
 * The names the events are emitted under through `@nestjs/event-emitter`'s `EventEmitter2`, when
 * the app imports `EventEmitterModule`, so `@OnEvent('session.destroyed')` receives them.
 *
 * @example
 * ```ts
 * @OnEvent(SESSION_EVENT_NAMES.destroyed)
 * onSessionEnded(event: SessionDestroyedEvent) { ... }
 * ```
 */
export const SESSION_EVENT_NAMES: { readonly [N in SessionEventName]: string } = Object.freeze({
  created: 'session.created',
  regenerated: 'session.regenerated',
  destroyed: 'session.destroyed',
  principalSet: 'session.principal-set',
});

/** The part of `EventEmitter2` events are published through. */
export interface EventPublisher {
  emitAsync?(event: string, ...values: unknown[]): Promise<unknown[]>;
  emit(event: string, ...values: unknown[]): boolean;
}

/**
 * Delivers events to the `events` listeners and, once connected, to the app's `EventEmitter2`.
 * Callers check {@link SessionEvents.active} before building an event, so an app that listens to
 * nothing pays one property read per occasion.
 * @internal
 */
export class SessionEvents {
  private publisher: EventPublisher | undefined;
  private listening: boolean;

  constructor(
    private readonly listeners: SessionEventListeners,
    private readonly onError: (error: SessionError, context: { req?: IncomingMessage }) => void,
  ) {
    this.listening = Object.values(listeners).some((listener) => listener !== undefined);
  }

  /** Whether anything listens: `events` listeners, or an `EventEmitter2`. */
  get active(): boolean {
    return this.listening;
  }

  /** Publish every event from now on through `publisher` as well (the app's `EventEmitter2`). */
  connect(publisher: EventPublisher): void {
    this.publisher = publisher;
    this.listening = true;
  }

  /** Publish `value` under `name` through the connected `EventEmitter2` only (the auth module's events). */
  publish(name: string, value: object, req?: IncomingMessage): void {
    const publisher = this.publisher;
    if (publisher === undefined) return;
    try {
      const result = publisher.emitAsync ? publisher.emitAsync(name, value) : publisher.emit(name, value);
      if (result instanceof Promise) result.catch((error: unknown) => this.failed(name, error, req));
    } catch (error) {
      this.failed(name, error, req);
    }
  }

  /** Deliver `event` to its listener and publish it; never throws, never waits for a listener. */
  emit<N extends SessionEventName>(name: N, event: SessionEventMap[N]): void {
    const listener = this.listeners[name];
    if (listener !== undefined) {
      try {
        const result = listener(event);
        if (result instanceof Promise) result.catch((error: unknown) => this.failed(SESSION_EVENT_NAMES[name], error, event.req));
      } catch (error) {
        this.failed(SESSION_EVENT_NAMES[name], error, event.req);
      }
    }
    this.publish(SESSION_EVENT_NAMES[name], event, event.req);
  }

  private failed(name: string, cause: unknown, req: IncomingMessage | undefined): void {
    const error = new SessionError('SESSION_LISTENER_FAILED', SessionMessages.listenerFailed(name), { cause });
    try {
      this.onError(error, req === undefined ? {} : { req });
    } catch {
      // onError is the last resort; a throwing one must not turn a listener's failure into the request's.
    }
  }
}
