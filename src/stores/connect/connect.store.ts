import { SessionError } from '../../core/errors/session.error.js';
import { SessionMessages } from '../../core/errors/session.messages.js';
import { redactError } from '../../core/redact-error.js';
import { isValidSessionId } from '../../core/session-id.js';
import type { SessionPatch, SessionRecord, SessionStore } from '../../core/session-store.interface.js';
import { fromConnectSession, toConnectSession, type ConnectSessionData } from './connect-session.mapping.js';

export type { ConnectSessionData } from './connect-session.mapping.js';

/**
 * The callback every method of a connect store calls once: an error, or `null` and a result.
 *
 * @example
 * ```ts
 * const done: ConnectCallback<number> = (err, count) => (err ? console.error(err) : console.log(count));
 * ```
 */
export type ConnectCallback<T = unknown> = (err?: unknown, result?: T) => void;

/**
 * What `fromConnectStore` needs of an express-session (connect) store: the methods of
 * express-session's `Store` contract, and `on` / `removeListener` when it is an `EventEmitter`
 * (every store built on express-session's `Store` is). connect-redis, connect-pg-simple,
 * connect-mongo, session-file-store and the others all have this shape.
 *
 * @example
 * ```ts
 * import { RedisStore } from 'connect-redis';
 * const connectStore: ConnectStoreLike = new RedisStore({ client: redisClient });
 * ```
 */
export interface ConnectStoreLike {
  /** Calls back with the session of `sid` (a {@link ConnectSessionData}), or `null` / nothing when there is none. */
  get(sid: string, callback: ConnectCallback<unknown>): unknown;
  /**
   * Creates or replaces the session of `sid`; its TTL comes from `session.cookie`. The adapter
   * passes a {@link ConnectSessionData}; the parameter is typed `never` so that a store declaring
   * its own session type (express-session's `SessionData`, augmented by the app) fits.
   */
  set(sid: string, session: never, callback: ConnectCallback): unknown;
  /** Deletes the session of `sid`. */
  destroy(sid: string, callback: ConnectCallback): unknown;
  /** Optional: moves the TTL of `sid`. Not used by the adapter (see {@link fromConnectStore}). */
  touch?(sid: string, session: never, callback: ConnectCallback): unknown;
  /** Optional: calls back with the number of sessions kept. */
  length?(callback: ConnectCallback<number>): unknown;
  /** Optional: deletes every session. */
  clear?(callback: ConnectCallback): unknown;
  /** Optional: calls back with every session, as an array (each with its `id`) or an object keyed by ID. */
  all?(callback: ConnectCallback<unknown>): unknown;
  /** `EventEmitter.on`: the adapter listens for `disconnect` and `connect`. */
  on?(event: string, listener: () => void): unknown;
  /** `EventEmitter.removeListener`, used by `close()` to stop listening. */
  removeListener?(event: string, listener: () => void): unknown;
}

/**
 * Options of {@link fromConnectStore}. Every field is optional.
 *
 * @example
 * ```ts
 * const options: ConnectStoreOptions = { fallbackTtl: 7_200_000 };
 * ```
 */
export interface ConnectStoreOptions {
  /**
   * Lifetime, in milliseconds, given to a session whose stored cookie has no `expires` (one that
   * express-session wrote for a browser-session cookie, without `maxAge`): it reads as expiring
   * that long after it is read. The connect store's own TTL still decides when it disappears, so
   * set it to that TTL (connect-redis and connect-pg-simple default to one day).
   * @default 86_400_000 (one day)
   * @example { fallbackTtl: 2 * 60 * 60_000 } // the store was created with ttl: 7200 (seconds)
   */
  fallbackTtl?: number;
  /**
   * The clock deciding whether a record has expired, in epoch milliseconds. Meant for tests.
   * @default Date.now
   * @example { now: () => fakeTime }
   */
  now?: () => number;
}

/**
 * One session listed by {@link ConnectSessionStore.all}.
 *
 * @example
 * ```ts
 * const expiring: ConnectStoreEntry[] = (await store.all?.())?.filter(({ record }) => record.expiresAt < Date.now() + 60_000) ?? [];
 * ```
 */
export interface ConnectStoreEntry {
  /** The session ID. */
  id: string;
  /** The session, converted like {@link SessionStore.get} converts it. */
  record: SessionRecord;
}

/**
 * The {@link SessionStore} `fromConnectStore` returns. `length`, `clear` and `all` are there only
 * when the connect store has them (check with `'all' in store` or `store.all !== undefined`);
 * `findByPrincipal`, `destroyByPrincipal`, `tryLock`, `unlock` and `gc` never are.
 *
 * @example
 * ```ts
 * const store: ConnectSessionStore = fromConnectStore(connectStore);
 * if (store.length) console.log(`${await store.length()} sessions`);
 * ```
 */
export interface ConnectSessionStore extends SessionStore {
  /**
   * The connect store this adapter calls, as it was given.
   * @example const connectRedis = store.connectStore as RedisStore;
   */
  readonly connectStore: ConnectStoreLike;
  /**
   * Whether the connect store emitted `disconnect` and has not emitted `connect` since: every call
   * then fails at once with `SESSION_STORE_UNAVAILABLE`.
   * @example if (store.disconnected) logger.warn('session store down');
   */
  readonly disconnected: boolean;
  /**
   * How many sessions the connect store keeps, as it counts them: sessions of other apps sharing
   * it, and expired ones it has not deleted yet, included. Present when the connect store has `length`.
   * @example const count = await store.length?.();
   */
  readonly length?: () => Promise<number>;
  /**
   * Delete every session of the connect store, not only those written through this adapter.
   * Present when the connect store has `clear`.
   * @example await store.clear?.();
   */
  readonly clear?: () => Promise<void>;
  /**
   * Every live session of the connect store, converted to records; expired sessions and those whose
   * ID is not a well-formed session ID are left out. Present when the connect store has `all`.
   * @example for (const { id, record } of (await store.all?.()) ?? []) console.log(id, record.expiresAt);
   */
  readonly all?: () => Promise<ConnectStoreEntry[]>;
  /** Stop listening to the connect store's events. The connect store itself is yours to close. */
  close(): Promise<void>;
}

const DEFAULT_FALLBACK_TTL = 24 * 60 * 60_000;

/**
 * Turns an express-session (connect) store — connect-redis, connect-pg-simple, connect-mongo,
 * session-file-store, … — into a {@link SessionStore}, so an app moving from express-session keeps
 * its store and the sessions in it.
 *
 * **What is stored.** Each record becomes the session object express-session itself would store:
 * `{ cookie: { originalMaxAge, expires }, ...data }`, with every value written by the default JSON
 * codec stored as the plain value (not as text), so express-session apps sharing the store read
 * the same sessions, and the store's TTL logic, which reads `cookie.expires`, works. Sessions
 * written by express-session read as records whose values are encoded exactly as the JSON codec
 * encodes them. Whatever has no place in that format — the record's `createdAt` and `principal`,
 * values that are not canonical JSON text (another codec's output), keys named `cookie` or
 * `nest-sessions` — is kept in a `nest-sessions` member of the stored object, so every record
 * round-trips exactly whatever the codec. The adapter needs none of the engine's code for that.
 *
 * **How operations map.**
 * - `get` → the store's `get`; `expiresAt` is `cookie.expires` (else now + `fallbackTtl`);
 *   `createdAt` is the adapter's own note, else (a session written by express-session, which keeps
 *   no creation time) `cookie.expires - cookie.originalMaxAge`, the moment its cookie's lifetime
 *   last started, else the time of the read. An error coded `ENOENT` (file stores) reads as "not
 *   found".
 * - `set` → the store's `set` (a record whose `expiresAt` has passed is destroyed instead).
 * - `patch` → read, merge, write the whole session: a connect store cannot merge keys. Calls on
 *   one session are queued in this process, so parallel patches of one session all survive here;
 *   across processes the last writer wins, and a session destroyed by another process between the
 *   read and the write comes back.
 * - `touch` → read, then write the whole session with the new expiry. Not the store's own `touch`:
 *   that only moves the backend's TTL (connect-redis, connect-pg-simple) and leaves the stored
 *   `cookie.expires` behind, from which the expiry is read back.
 * - `destroy` → the store's `destroy`.
 * - `length`, `clear`, `all` → the store's, where it has them (see {@link ConnectSessionStore}).
 *
 * **What it cannot give.** No principal index (`findByPrincipal`, `destroyByPrincipal`, so no "log
 * out everywhere"), no locks (`tryLock`, `unlock`, so no `SessionLocks`), no atomic per-key merge
 * across processes (above). The engine falls back to what the store can do, as for any store
 * without these optional methods.
 *
 * **Outages.** Errors the store calls back with reject with `SessionError`
 * `SESSION_STORE_UNAVAILABLE` (the engine answers 503) whose `cause` is the store's error with the
 * session ID redacted. While the store has emitted `disconnect` and not yet `connect` (the events
 * express-session itself watches), every call fails at once the same way instead of waiting on a
 * store that cannot answer; calls already in flight are left to the engine's `storeTimeout`.
 *
 * @param store the connect store; it stays yours to close (the adapter's `close()` only stops
 *   listening to its events).
 * @throws SessionError `SESSION_OPTIONS_INVALID` when `store` lacks `get`, `set` or `destroy`, or
 *   an option is invalid.
 *
 * @example connect-redis, with its client's events mapped to the store's
 * ```ts
 * import { RedisStore } from 'connect-redis';
 * import { createClient } from 'redis';
 * import { SessionModule, fromConnectStore } from 'nest-sessions';
 *
 * const client = createClient({ url: 'redis://127.0.0.1:6379' });
 * const connectStore = new RedisStore({ client, prefix: 'sess:' });
 * client.on('error', () => connectStore.emit('disconnect'));
 * client.on('ready', () => connectStore.emit('connect'));
 * await client.connect();
 *
 * SessionModule.forRoot({ secret: process.env.SESSION_SECRET!, store: fromConnectStore(connectStore) });
 * ```
 */
export function fromConnectStore(store: ConnectStoreLike, options: ConnectStoreOptions = {}): ConnectSessionStore {
  return new ConnectStoreAdapter(store, options);
}

/** The adapter behind {@link fromConnectStore}. */
class ConnectStoreAdapter implements ConnectSessionStore {
  readonly connectStore: ConnectStoreLike;
  // `declare`: no own property unless the constructor sets one, so `'all' in store` tells.
  declare readonly length?: () => Promise<number>;
  declare readonly clear?: () => Promise<void>;
  declare readonly all?: () => Promise<ConnectStoreEntry[]>;
  private down = false;
  private readonly fallbackTtl: number;
  private readonly clock: () => number;
  /** Tail of the queue of calls on each session ID; removed once the queue is idle. */
  private readonly queues = new Map<string, Promise<void>>();
  private readonly onDisconnect = (): void => {
    this.down = true;
  };
  private readonly onConnect = (): void => {
    this.down = false;
  };
  private listening: boolean;

  constructor(store: ConnectStoreLike, options: ConnectStoreOptions) {
    const missing = (['get', 'set', 'destroy'] as const).filter((method) => typeof store?.[method] !== 'function');
    if (missing.length > 0) {
      throw invalidOption(
        'store',
        `it must be an express-session (connect) store, with get(), set() and destroy(); ${missing.join('(), ')}() ${missing.length > 1 ? 'are' : 'is'} missing`,
        'Pass the store instance you gave express-session, e.g. new RedisStore({ client }).',
      );
    }
    const fallbackTtl = options.fallbackTtl ?? DEFAULT_FALLBACK_TTL;
    if (!Number.isSafeInteger(fallbackTtl) || fallbackTtl < 1) {
      throw invalidOption('fallbackTtl', 'it must be a positive whole number of milliseconds', 'Pass for example 86_400_000 (one day).');
    }
    this.connectStore = store;
    this.fallbackTtl = fallbackTtl;
    this.clock = options.now ?? Date.now;

    if (typeof store.length === 'function') this.length = () => this.countSessions();
    if (typeof store.clear === 'function') this.clear = () => this.clearSessions();
    if (typeof store.all === 'function') this.all = () => this.listSessions();

    this.listening = typeof store.on === 'function';
    if (this.listening) {
      store.on!('disconnect', this.onDisconnect);
      store.on!('connect', this.onConnect);
    }
  }

  get disconnected(): boolean {
    return this.down;
  }

  async get(id: string): Promise<SessionRecord | null> {
    if (!isValidSessionId(id)) return null;
    return this.queued(id, async () => (await this.read(id))?.record ?? null);
  }

  async set(id: string, record: SessionRecord): Promise<void> {
    if (!isValidSessionId(id)) throw new SessionError('SESSION_INVALID_ID', SessionMessages.invalidId());
    // Converted before waiting in the queue, so later changes by the caller are not stored.
    const now = this.now();
    const session = record.expiresAt > now ? toConnectSession(record, now) : null;
    await this.queued(id, () => (session === null ? this.remove(id) : this.write(id, session)));
  }

  async patch(id: string, patch: SessionPatch, expiresAt: number): Promise<boolean> {
    if (!isValidSessionId(id)) return false;
    const changes: SessionPatch = { set: { ...patch.set }, unset: [...patch.unset], principal: patch.principal };
    return this.queued(id, async () => {
      const found = await this.read(id);
      if (!found) return false;
      const { record } = found;
      for (const key of changes.unset) delete record.data[key];
      for (const key of Object.keys(changes.set)) {
        // defineProperty, not assignment, so a key named `__proto__` is stored like any other key.
        Object.defineProperty(record.data, key, { value: changes.set[key], enumerable: true, writable: true, configurable: true });
      }
      if (changes.principal === null) delete record.principal;
      else if (changes.principal !== undefined) record.principal = changes.principal;
      record.expiresAt = expiresAt;
      await this.rewrite(id, record, found.session);
      return true;
    });
  }

  async touch(id: string, expiresAt: number): Promise<boolean> {
    if (!isValidSessionId(id)) return false;
    return this.queued(id, async () => {
      const found = await this.read(id);
      if (!found) return false;
      found.record.expiresAt = expiresAt;
      await this.rewrite(id, found.record, found.session);
      return true;
    });
  }

  async destroy(id: string): Promise<void> {
    if (!isValidSessionId(id)) return;
    await this.queued(id, () => this.remove(id));
  }

  async close(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    // Without the events, an outage can no longer be seen ending: calls go to the store again.
    this.down = false;
    const { connectStore: store } = this;
    if (typeof store.removeListener === 'function') {
      store.removeListener('disconnect', this.onDisconnect);
      store.removeListener('connect', this.onConnect);
    }
  }

  /** The current time in epoch milliseconds; records with `expiresAt <= now()` are expired. */
  private now(): number {
    return this.clock();
  }

  /** The stored session of `id` and the record it stands for, or `null` (missing, expired, `ENOENT`). */
  private async read(id: string): Promise<{ session: ConnectSessionData; record: SessionRecord } | null> {
    let session: unknown;
    try {
      session = await this.call<unknown>('read', (done) => this.connectStore.get(id, done), id);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    const record = fromConnectSession(session, this.now(), this.fallbackTtl);
    return record === null ? null : { session: session as ConnectSessionData, record };
  }

  /** Write `record` back over `previous`, keeping the cookie settings the stored session had. */
  private async rewrite(id: string, record: SessionRecord, previous: ConnectSessionData): Promise<void> {
    const now = this.now();
    if (record.expiresAt <= now) return this.remove(id);
    await this.write(id, toConnectSession(record, now, previous));
  }

  private async write(id: string, session: ConnectSessionData): Promise<void> {
    await this.call('write', (done) => this.connectStore.set(id, session as never, done), id);
  }

  private async remove(id: string): Promise<void> {
    try {
      await this.call('write', (done) => this.connectStore.destroy(id, done), id);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  private async countSessions(): Promise<number> {
    const count = await this.call<number>('read', (done) => this.connectStore.length!(done));
    return typeof count === 'number' && Number.isFinite(count) ? count : 0;
  }

  private async clearSessions(): Promise<void> {
    await this.call('write', (done) => this.connectStore.clear!(done));
  }

  private async listSessions(): Promise<ConnectStoreEntry[]> {
    const listed = await this.call<unknown>('read', (done) => this.connectStore.all!(done));
    if (typeof listed !== 'object' || listed === null) return [];
    // An array of sessions each carrying its `id` (connect-redis adds it: not session data), or an
    // object of sessions keyed by ID (express-session's MemoryStore).
    const pairs: [unknown, unknown][] = Array.isArray(listed)
      ? listed.map((session: unknown) => {
          if (typeof session !== 'object' || session === null) return [undefined, session];
          const { id, ...rest } = session as Record<string, unknown>;
          return [id, rest];
        })
      : Object.entries(listed);
    const now = this.now();
    const entries: ConnectStoreEntry[] = [];
    for (const [id, session] of pairs) {
      if (!isValidSessionId(id)) continue;
      const record = fromConnectSession(session, now, this.fallbackTtl);
      if (record !== null) entries.push({ id, record });
    }
    return entries;
  }

  /**
   * Call a connect store method, which answers through `done`, as a promise. A method that throws,
   * or that returns a promise which rejects without calling back, fails the call too; a second
   * answer is ignored. Fails at once while the store is disconnected. Errors become
   * `SESSION_STORE_UNAVAILABLE`, with the store's error (without `id`) as `cause`.
   */
  private call<T>(operation: 'read' | 'write', invoke: (done: ConnectCallback<T>) => unknown, id?: string): Promise<T | undefined> {
    if (this.down) {
      return Promise.reject(
        new SessionError('SESSION_STORE_UNAVAILABLE', SessionMessages.storeUnavailable(operation), {
          cause: new Error('the connect store emitted "disconnect" and has not emitted "connect" since'),
        }),
      );
    }
    return new Promise<T | undefined>((resolve, reject) => {
      let answered = false;
      const done: ConnectCallback<T> = (err, result) => {
        if (answered) return;
        answered = true;
        if (err) reject(unavailable(operation, err, id));
        else resolve(result);
      };
      try {
        const returned = invoke(done);
        if (typeof (returned as PromiseLike<unknown> | null)?.then === 'function') {
          (returned as PromiseLike<unknown>).then(undefined, (err: unknown) =>
            done(err ?? new Error('the store rejected without a reason')),
          );
        }
      } catch (err) {
        done(err ?? new Error('the store threw without a reason'));
      }
    });
  }

  /**
   * Run `operation` after every earlier call on `id` has settled, so the read-merge-write of
   * `patch` and `touch` never interleaves with another call on the same session in this process.
   */
  private queued<T>(id: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(id);
    const result = previous ? previous.then(operation) : operation();
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(id, tail);
    void tail.then(() => {
      if (this.queues.get(id) === tail) this.queues.delete(id);
    });
    return result;
  }
}

/** Whether `err` (raw from the store, or as its redacted `cause`) says the session file does not exist. */
function isNotFound(err: unknown): boolean {
  const cause = err instanceof SessionError ? err.cause : err;
  return (cause as { code?: unknown } | null)?.code === 'ENOENT';
}

function unavailable(operation: 'read' | 'write', cause: unknown, id?: string): SessionError {
  return new SessionError('SESSION_STORE_UNAVAILABLE', SessionMessages.storeUnavailable(operation), {
    cause: redactError(cause, id === undefined ? [] : [id]),
  });
}

function invalidOption(option: string, rule: string, fix: string): SessionError {
  return new SessionError('SESSION_OPTIONS_INVALID', SessionMessages.invalidOption(option, rule, fix));
}
