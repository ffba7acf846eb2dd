import { Logger } from '@nestjs/common';
import { inspect } from 'node:util';
import { SessionError } from '../core/errors/session.error.js';
import { SessionMessages } from '../core/errors/session.messages.js';
import type { AnySession } from './session.js';
import type { SessionCookieDescription } from './session-cookie.types.js';

/** The part of the manager the view needs. @internal */
interface ViewHost {
  /** The session's cookie: expiry, lifetime and attributes, the session's own over the module's. */
  describeCookie(session: AnySession): SessionCookieDescription;
  /** `req.session.cookie.<member> = value`: checked, kept with the session, and the cookie issued again. */
  setCookieMember(session: AnySession, member: string, value: unknown): void;
  /** The session's ID, chosen now if it has none yet (nothing is stored for it). */
  idOf(session: AnySession): string;
  /**
   * A callback given to a method of the view threw; `error` is a `SessionError` (what the callback
   * threw when it was one, else `SESSION_CALLBACK_FAILED` with it as `cause`). The host reports it to
   * `onError` and fails the response with it, unless the response is answered already or ending.
   */
  callbackFailed(session: AnySession, error: SessionError): void;
  /** `destroy()` was called: `req.session` reads `undefined` from now on in this request, as in express-session. */
  hideView(session: AnySession): void;
}

/**
 * `req.session` as express-session users know it: data keys as properties, plus callback-style
 * `regenerate`, `save`, `destroy`, `reload`, `touch`, `id` and `cookie`. passport and other
 * express-session consumers work unchanged on top of it. Properties read and write the same
 * `Session` that `@Session()` injects.
 *
 * - `id` is never `undefined`: a new session's ID is chosen on first read (also through
 *   `req.sessionID`), and nothing is stored until the session has data (or `eagerSessions`).
 * - `cookie` is the session's own, live {@link SessionCookie}: `req.session.cookie.maxAge = 30 *
 *   86_400_000` ("remember me") holds on later requests, and a change issues the cookie again.
 *   `Object.keys(req.session)` lists `cookie` first, then the data keys, and
 *   `JSON.stringify(req.session)` includes it, as express-session's do.
 * - `save(cb)` writes even when nothing changed; `reload(cb)` of a session the store no longer has
 *   calls back with a `SessionError` coded `SESSION_LOST`; `touch()` moves the expiry;
 *   after `destroy(cb)`, `req.session` is `undefined` for the rest of the request (the view and
 *   `@Session()` stay usable).
 *
 * - Assigning or deleting `id`, `cookie` or a method, or assigning a symbol key, throws a
 *   `SessionError` coded `SESSION_READ_ONLY` whose message says what to do instead.
 * - Whatever a callback given to `regenerate`, `save`, `destroy` or `reload` throws is reported to
 *   the module's `onError` (as a `SessionError`: what was thrown when it is one, else
 *   `SESSION_CALLBACK_FAILED` with it as `cause`) and the request is failed with it: answered with
 *   the error's status and a JSON body without the cause or a stack trace, or cut short when the
 *   headers went out already. A response the callback ended stands. It never becomes an unhandled
 *   rejection.
 */
export interface ExpressCompatibleSession {
  [key: string]: unknown;
  readonly id: string;
  readonly cookie: SessionCookie;
  regenerate(callback?: (err?: unknown) => void): this;
  save(callback?: (err?: unknown) => void): this;
  destroy(callback?: (err?: unknown) => void): this;
  reload(callback?: (err?: unknown) => void): this;
  touch(): this;
  resetMaxAge(): this;
}

type Callback = (err?: unknown) => void;

/** What the proxy answers with its target (module-private, so no other code reaches the engine). */
const TARGET = Symbol('nest-sessions:view-target');

/** What the proxy wraps: the session and its host, with the express-session methods on the prototype. */
class ViewTarget {
  /** Set once the proxy exists, so methods can return it for chaining. */
  view!: ExpressCompatibleSession;
  /** `req.session.cookie`, made on first read. */
  cookie: SessionCookie | undefined = undefined;

  constructor(
    readonly session: AnySession,
    readonly host: ViewHost,
  ) {}

  regenerate(cb?: Callback) {
    settle(this, 'regenerate', this.session.regenerate(), cb);
    return this.view;
  }

  save(cb?: Callback) {
    settle(this, 'save', this.session.save(), cb);
    return this.view;
  }

  destroy(cb?: Callback) {
    settle(this, 'destroy', this.session.destroy(), cb);
    this.host.hideView(this.session);
    return this.view;
  }

  reload(cb?: Callback) {
    settle(this, 'reload', this.session.reload(), cb);
    return this.view;
  }

  touch() {
    this.session.touch();
    return this.view;
  }

  resetMaxAge() {
    this.session.touch();
    return this.view;
  }

  /**
   * What `console.log(req.session)` prints (util.inspect shows a proxy's target): the session's
   * summary, keys without values, rather than this object and the engine it holds. util.inspect
   * calls it on the proxy, which hands out its target through {@link TARGET}.
   */
  [inspect.custom](): string {
    const target = (this as unknown as { [TARGET]?: ViewTarget })[TARGET] ?? this;
    return target.session[inspect.custom]();
  }
}

const METHODS = new Set(['regenerate', 'save', 'destroy', 'reload', 'touch', 'resetMaxAge']);
const RESERVED = new Set([...METHODS, 'id', 'cookie']);

/**
 * What a plain object inherits, which express-session's `req.session` has too (`String(req.session)`,
 * `req.session.hasOwnProperty(key)`): served when no data key of that name is stored. Captured now,
 * so a property a polluted `Object.prototype` gains later never reads as session data.
 */
const INHERITED = new Map<string, unknown>(
  ['hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable', 'toLocaleString', 'toString', 'valueOf'].map((name) => [
    name,
    (Object.prototype as unknown as Record<string, unknown>)[name],
  ]),
);

/**
 * Call `cb` when `promise` settles, with its error if it rejected. A failure nobody asked to hear
 * about is dropped, as express-session drops it; what `cb` throws goes to {@link callbackFailed}.
 */
function settle(target: ViewTarget, method: string, promise: Promise<void>, cb?: Callback): void {
  if (cb === undefined || cb === null) {
    promise.catch(ignore);
    return;
  }
  promise
    .then(
      () => cb(),
      (err: unknown) => cb(err),
    )
    .catch((thrown: unknown) => callbackFailed(target, method, thrown))
    .catch(lastResort);
}

function ignore(): void {}

const logger = new Logger('SessionModule');

/** What reporting a failed callback threw itself (a throwing `onError`): logged, never left unhandled. */
function lastResort(error: unknown): void {
  try {
    logger.error(`A failed req.session callback could not be reported: ${error instanceof Error ? error.message : String(error)}`);
  } catch {
    // Nowhere left to report it; the process must not die of it.
  }
}

/** A callback given to `req.session.<method>()` threw `thrown`: the host reports it and fails the response. */
function callbackFailed(target: ViewTarget, method: string, thrown: unknown): void {
  const error =
    thrown instanceof SessionError
      ? thrown
      : new SessionError('SESSION_CALLBACK_FAILED', SessionMessages.callbackFailed(method), { cause: thrown });
  target.host.callbackFailed(target.session, error);
}

/** The error of assigning (or deleting) `prop`, one of the view's names that are not data. */
function refusal(prop: string, operation: 'assigned' | 'deleted'): SessionError {
  const message =
    prop === 'id'
      ? SessionMessages.viewId(operation)
      : prop === 'cookie'
        ? SessionMessages.viewCookieObject(operation)
        : SessionMessages.viewMethod(prop, operation);
  return new SessionError('SESSION_READ_ONLY', message);
}

/**
 * `req.session.cookie`: the session's cookie, live, as express-session's `Cookie`. Reading gives
 * what the session's next cookie will carry; assigning changes this session's cookie (kept with
 * the session, so it holds on later requests) and issues it again on this response:
 * - `maxAge` (ms, or a Date), `originalMaxAge` or `expires` (a Date) give the session a lifetime of
 *   its own ("remember me"): its idle timeout, a persistent cookie that expires with the session,
 *   and an absolute limit of at least that lifetime from now (1 ms to 400 days). `null` makes the
 *   cookie a browser-session one and the session follows the module's lifetimes again.
 * - `maxAge` reads the time left, `originalMaxAge` the lifetime the cookie was given (not the time
 *   left), `expires` the expiry as a Date; all `null` for a browser-session cookie.
 * - `secure`, `httpOnly`, `partitioned` (booleans), `sameSite` (`'lax'`, `'strict'`, `'none'`,
 *   `true`, `false`), `domain`, `path` and `priority` override the module's `cookie` options for
 *   this session; `undefined` goes back to them. Combinations browsers refuse are refused.
 * A value a member cannot take throws a `SessionError` coded `SESSION_READ_ONLY`, and a change after
 * the headers went out `SESSION_HEADERS_SENT`.
 * @example
 * ```ts
 * if (body.rememberMe) req.session.cookie.maxAge = 30 * 86_400_000;
 * ```
 */
export class SessionCookie {
  /** @internal */
  constructor(
    private readonly session: AnySession,
    private readonly host: ViewHost,
  ) {}

  /** Time left until the cookie expires (ms); `null` for a browser-session cookie. */
  get maxAge(): number | null {
    return this.host.describeCookie(this.session).maxAge;
  }
  set maxAge(value: number | Date | null) {
    this.host.setCookieMember(this.session, 'maxAge', value);
  }

  /** The lifetime the cookie was given (ms), not the time left; `null` for a browser-session cookie. */
  get originalMaxAge(): number | null {
    return this.host.describeCookie(this.session).originalMaxAge;
  }
  set originalMaxAge(value: number | null) {
    this.host.setCookieMember(this.session, 'originalMaxAge', value);
  }

  /** When the cookie expires; `null` for a browser-session cookie. */
  get expires(): Date | null {
    const { expires } = this.host.describeCookie(this.session);
    return expires === null ? null : new Date(expires);
  }
  set expires(value: Date | null) {
    this.host.setCookieMember(this.session, 'expires', value);
  }

  /** `Secure` (`'auto'` when the module's option is, and the session set none of its own). */
  get secure(): boolean | 'auto' {
    return this.host.describeCookie(this.session).secure;
  }
  set secure(value: boolean | undefined) {
    this.host.setCookieMember(this.session, 'secure', value);
  }

  /** `HttpOnly`. */
  get httpOnly(): boolean {
    return this.host.describeCookie(this.session).httpOnly;
  }
  set httpOnly(value: boolean | undefined) {
    this.host.setCookieMember(this.session, 'httpOnly', value);
  }

  /** `SameSite` (`false`: none sent). */
  get sameSite(): 'lax' | 'strict' | 'none' | 'auto' | false {
    return this.host.describeCookie(this.session).sameSite;
  }
  set sameSite(value: 'lax' | 'strict' | 'none' | boolean | undefined) {
    this.host.setCookieMember(this.session, 'sameSite', value);
  }

  /** `Domain` (`undefined`: the exact host). */
  get domain(): string | undefined {
    return this.host.describeCookie(this.session).domain;
  }
  set domain(value: string | undefined) {
    this.host.setCookieMember(this.session, 'domain', value);
  }

  /** `Path`. */
  get path(): string {
    return this.host.describeCookie(this.session).path;
  }
  set path(value: string | undefined) {
    this.host.setCookieMember(this.session, 'path', value);
  }

  /** `Partitioned`. */
  get partitioned(): boolean {
    return this.host.describeCookie(this.session).partitioned;
  }
  set partitioned(value: boolean | undefined) {
    this.host.setCookieMember(this.session, 'partitioned', value);
  }

  /** `Priority`. */
  get priority(): 'low' | 'medium' | 'high' | undefined {
    return this.host.describeCookie(this.session).priority;
  }
  set priority(value: 'low' | 'medium' | 'high' | undefined) {
    this.host.setCookieMember(this.session, 'priority', value);
  }

  /** What `JSON.stringify(req.session)` shows of the cookie, as express-session's does (`expires` as an ISO date). */
  toJSON(): Record<string, unknown> {
    const cookie = this.host.describeCookie(this.session);
    return {
      originalMaxAge: cookie.originalMaxAge,
      partitioned: cookie.partitioned,
      priority: cookie.priority,
      expires: cookie.expires === null ? null : new Date(cookie.expires),
      secure: cookie.secure,
      httpOnly: cookie.httpOnly,
      domain: cookie.domain,
      path: cookie.path,
      sameSite: cookie.sameSite,
    };
  }
}

// One handler for every view: a view costs two small objects, not a set of closures.
const handler: ProxyHandler<ViewTarget> = {
  get(target, prop) {
    if (typeof prop !== 'string') return prop === TARGET ? target : undefined;
    if (prop === 'id') return target.host.idOf(target.session);
    if (prop === 'cookie') return (target.cookie ??= new SessionCookie(target.session, target.host));
    if (METHODS.has(prop)) return (ViewTarget.prototype as unknown as Record<string, (...a: unknown[]) => unknown>)[prop].bind(target);
    const value: unknown = target.session.get(prop);
    return value === undefined ? INHERITED.get(prop) : value;
  },
  // Refusals throw rather than return false: false gives strict-mode code (all ESM) a bare TypeError.
  set(target, prop, value) {
    if (typeof prop !== 'string') throw new SessionError('SESSION_READ_ONLY', SessionMessages.viewSymbolKey());
    if (RESERVED.has(prop)) throw refusal(prop, 'assigned');
    target.session.set(prop, value);
    return true;
  },
  deleteProperty(target, prop) {
    // No symbol key is ever a property of the view, so deleting one succeeds, as on a plain object.
    if (typeof prop !== 'string') return true;
    if (RESERVED.has(prop)) throw refusal(prop, 'deleted');
    target.session.delete(prop);
    return true;
  },
  has(target, prop) {
    return typeof prop === 'string' && (RESERVED.has(prop) || INHERITED.has(prop) || target.session.has(prop));
  },
  // Own keys are `cookie`, as in express-session, then the data keys `keys()` lists: the flash and
  // the records extensions keep in the session (the auth module's tokens) stay out of Object.keys()
  // and JSON.stringify().
  ownKeys(target) {
    return ['cookie', ...target.session.keys()];
  },
  getOwnPropertyDescriptor(target, prop) {
    const session = target.session;
    if (prop === 'cookie') {
      return { value: (target.cookie ??= new SessionCookie(session, target.host)), writable: true, enumerable: true, configurable: true };
    }
    if (typeof prop !== 'string' || RESERVED.has(prop) || session.isHiddenKey(prop) || !session.has(prop)) return undefined;
    const value: unknown = session.get(prop);
    return { value, writable: true, enumerable: true, configurable: true };
  },
};

/** @internal */
export function createExpressSessionView(session: AnySession, host: ViewHost): ExpressCompatibleSession {
  const target = new ViewTarget(session, host);
  target.view = new Proxy(target, handler) as unknown as ExpressCompatibleSession;
  return target.view;
}
