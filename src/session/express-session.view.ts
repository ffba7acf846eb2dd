import type { AnySession, Session } from './session.js';

/** The part of the manager the view needs. @internal */
interface ViewHost {
  describe(session: AnySession): { expires: number | undefined; maxAge: number | undefined };
}

/**
 * `req.session` as express-session users know it: data keys as properties, plus callback-style
 * `regenerate`, `save`, `destroy`, `reload`, `touch`, `id` and `cookie`. passport and other
 * express-session consumers work unchanged on top of it. Properties read and write the same
 * {@link Session} that `@Session()` injects.
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

const RESERVED = new Set(['id', 'cookie', 'regenerate', 'save', 'destroy', 'reload', 'touch', 'resetMaxAge']);

/** @internal */
export function createExpressSessionView(session: AnySession, host: ViewHost): ExpressCompatibleSession {
  const data = session as unknown as Session<Record<string, unknown>>;
  const callback = (promise: Promise<void>, cb?: (err?: unknown) => void): void => {
    promise.then(
      () => cb?.(),
      (err: unknown) => cb?.(err),
    );
  };
  let view: ExpressCompatibleSession;
  const methods = {
    regenerate(cb?: (err?: unknown) => void) {
      callback(session.regenerate(), cb);
      return view;
    },
    save(cb?: (err?: unknown) => void) {
      callback(session.save(), cb);
      return view;
    },
    destroy(cb?: (err?: unknown) => void) {
      callback(session.destroy(), cb);
      return view;
    },
    reload(cb?: (err?: unknown) => void) {
      callback(session.reload(), cb);
      return view;
    },
    touch() {
      session.touch();
      return view;
    },
    resetMaxAge() {
      session.touch();
      return view;
    },
  } as Record<string, unknown>;
  view = new Proxy(methods, {
    get(target, prop) {
      if (typeof prop !== 'string') return undefined;
      if (prop === 'id') return session.id;
      if (prop === 'cookie') {
        const { expires, maxAge } = host.describe(session);
        return { expires: expires === undefined ? undefined : new Date(expires), maxAge, originalMaxAge: maxAge };
      }
      if (RESERVED.has(prop)) return target[prop];
      return data.get(prop);
    },
    set(_target, prop, value) {
      if (typeof prop !== 'string' || RESERVED.has(prop)) return false;
      data.set(prop, value);
      return true;
    },
    deleteProperty(_target, prop) {
      if (typeof prop !== 'string' || RESERVED.has(prop)) return false;
      data.delete(prop);
      return true;
    },
    has(_target, prop) {
      return typeof prop === 'string' && (RESERVED.has(prop) || data.has(prop));
    },
    ownKeys() {
      return data.keys();
    },
    getOwnPropertyDescriptor(_target, prop) {
      if (typeof prop !== 'string' || RESERVED.has(prop) || !data.has(prop)) return undefined;
      return { value: data.get(prop), writable: true, enumerable: true, configurable: true };
    },
  }) as ExpressCompatibleSession;
  return view;
}
