import { inspect } from 'node:util';
import type { AnySession } from './session.js';

/** The part of the manager the view needs. @internal */
interface ViewHost {
  describe(session: AnySession): { expires: number | undefined; maxAge: number | undefined };
}

/**
 * `req.session` as express-session users know it: data keys as properties, plus callback-style
 * `regenerate`, `save`, `destroy`, `reload`, `touch`, `id` and `cookie`. passport and other
 * express-session consumers work unchanged on top of it. Properties read and write the same
 * `Session` that `@Session()` injects.
 */
export interface ExpressCompatibleSession {
  [key: string]: unknown;
  readonly id: string | undefined;
  readonly cookie: {
    expires: Date | undefined;
    maxAge: number | undefined;
    originalMaxAge: number | undefined;
  };
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

  constructor(
    readonly session: AnySession,
    readonly host: ViewHost,
  ) {}

  regenerate(cb?: Callback) {
    settle(this.session.regenerate(), cb);
    return this.view;
  }

  save(cb?: Callback) {
    settle(this.session.save(), cb);
    return this.view;
  }

  destroy(cb?: Callback) {
    settle(this.session.destroy(), cb);
    return this.view;
  }

  reload(cb?: Callback) {
    settle(this.session.reload(), cb);
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

function settle(promise: Promise<void>, cb?: Callback): void {
  promise.then(
    () => cb?.(),
    (err: unknown) => cb?.(err),
  );
}

// One handler for every view: a view costs two small objects, not a set of closures.
const handler: ProxyHandler<ViewTarget> = {
  get(target, prop) {
    if (typeof prop !== 'string') return prop === TARGET ? target : undefined;
    if (prop === 'id') return target.session.id;
    if (prop === 'cookie') {
      const { expires, maxAge } = target.host.describe(target.session);
      return { expires: expires === undefined ? undefined : new Date(expires), maxAge, originalMaxAge: maxAge };
    }
    if (METHODS.has(prop)) return (ViewTarget.prototype as unknown as Record<string, (...a: unknown[]) => unknown>)[prop].bind(target);
    const value: unknown = target.session.get(prop);
    return value === undefined ? INHERITED.get(prop) : value;
  },
  set(target, prop, value) {
    if (typeof prop !== 'string' || RESERVED.has(prop)) return false;
    target.session.set(prop, value);
    return true;
  },
  deleteProperty(target, prop) {
    if (typeof prop !== 'string' || RESERVED.has(prop)) return false;
    target.session.delete(prop);
    return true;
  },
  has(target, prop) {
    return typeof prop === 'string' && (RESERVED.has(prop) || INHERITED.has(prop) || target.session.has(prop));
  },
  // Own keys are the data keys `keys()` lists: the flash and the records extensions keep in the
  // session (the auth module's tokens) stay out of Object.keys() and JSON.stringify().
  ownKeys(target) {
    return target.session.keys();
  },
  getOwnPropertyDescriptor(target, prop) {
    const session = target.session;
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
