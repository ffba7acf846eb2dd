import type { MaybePromise } from './maybe-promise.js';

/**
 * What a store keeps for one session.
 *
 * `data` holds each session key's value already encoded by the session codec, so stores never
 * interpret values and can merge changed keys one by one.
 */
export interface SessionRecord {
  /** Encoded values, one entry per session key. */
  data: Record<string, string>;
  /** When the session was created (epoch milliseconds); the absolute timeout counts from here. */
  createdAt: number;
  /**
   * When the record expires (epoch milliseconds): the earlier of the idle and the absolute deadline.
   * A store must never return a record whose `expiresAt` is not in the future.
   */
  expiresAt: number;
  /**
   * Who the session belongs to (a user ID), when the application names one through the
   * `principal` option; stores that can index it find and destroy all sessions of a principal.
   */
  principal?: string;
}

/** The changed keys of one request, written by {@link SessionStore.patch}. */
export interface SessionPatch {
  /** Keys to set, with their encoded values. */
  set: Record<string, string>;
  /** Keys to remove. */
  unset: string[];
  /** The new principal; `null` removes it, `undefined` (absent) leaves it as it is. */
  principal?: string | null;
}

/** One session of a principal, as {@link SessionStore.findByPrincipal} lists it. */
export interface PrincipalSession {
  id: string;
  createdAt: number;
  expiresAt: number;
}

/**
 * The contract every session store implements. All methods return promises; all IDs reaching a
 * store were issued by nest-sessions and verified, but a store still rejects malformed IDs (see
 * `isValidSessionId`) before using them as keys, file names or query parameters. A malformed ID
 * names no record: `get` resolves `null`, `patch` and `touch` resolve `false`, `destroy` resolves
 * without doing anything, and only `set` rejects, with a `SessionError` coded `SESSION_INVALID_ID`.
 * None of them reaches the backend with such an ID.
 *
 * Records are passed by value: a store never keeps the objects handed to it nor hands out objects
 * it keeps, because callers mutate them.
 *
 * Writes are merges: {@link SessionStore.patch} changes only the keys it names, atomically with
 * respect to other patches of the same session, so parallel requests of one user never undo each
 * other's writes to different keys. For two writes to the same key, the later one to reach the
 * store wins.
 *
 * @example A custom store
 * ```ts
 * class MyStore implements SessionStore {
 *   async get(id) { ... }          // null when missing or expired
 *   async set(id, record) { ... }  // create or replace the whole record
 *   async patch(id, patch, expiresAt) { ... } // merge; false when the record is gone
 *   async touch(id, expiresAt) { ... }        // move the expiry only; false when gone
 *   async destroy(id) { ... }
 *   // optional: gc, findByPrincipal, destroyByPrincipal, tryLock and unlock, close
 * }
 * ```
 */
export interface SessionStore {
  /**
   * `true` when the store answers from this process's memory, without I/O. Such a store cannot
   * hang, so the engine skips the `storeTimeout` deadline for its calls. Leave it out otherwise.
   */
  readonly inProcess?: boolean;
  /**
   * The record of `id`, or `null` when there is none or it has expired. Malformed IDs give `null`.
   *
   * `get`, `set`, `patch`, `touch` and `destroy` may answer with the value itself instead of a
   * promise (`MaybePromise`), as an in-process store such as `MemoryStore` does: the engine then
   * finishes the request in the same tick. Errors are then thrown or returned as a rejected promise.
   */
  get(id: string): MaybePromise<SessionRecord | null>;
  /**
   * Create or replace the whole record of `id`. Rejects with a `SessionError` coded
   * `SESSION_INVALID_ID` when `id` is malformed.
   */
  set(id: string, record: SessionRecord): MaybePromise<void>;
  /**
   * Merge `patch` into the record of `id` and move its expiry to `expiresAt`, atomically.
   * Resolves `false` (and writes nothing) when the record no longer exists or has expired, so a
   * session destroyed elsewhere is never brought back. Also `false` for a malformed ID.
   */
  patch(id: string, patch: SessionPatch, expiresAt: number): MaybePromise<boolean>;
  /**
   * Move the expiry of `id` to `expiresAt` without changing its data. `false` (and nothing written)
   * when it is gone, has expired, or `id` is malformed.
   */
  touch(id: string, expiresAt: number): MaybePromise<boolean>;
  /** Delete the record of `id`. Deleting a missing record, or one with a malformed ID, is not an error. */
  destroy(id: string): MaybePromise<void>;
  /**
   * Delete expired records and resolve how many were deleted. Stores whose backend expires keys
   * by itself (Redis, memcached) may leave it out. Stores that need sweeping run it on their own
   * `unref()`ed timer (their `gcInterval` option; `SessionModule`'s `gcInterval` for stores it
   * builds from a URL).
   */
  gc?(): Promise<number>;
  /**
   * The live sessions of `principal`, for "your devices" pages and "log out everywhere". Optional:
   * stores that cannot list by principal (a cache such as memcached) leave it out.
   */
  findByPrincipal?(principal: string): Promise<PrincipalSession[]>;
  /** Delete every session of `principal`; resolves how many were deleted. Optional, like `findByPrincipal`. */
  destroyByPrincipal?(principal: string): Promise<number>;
  /**
   * Take the lock `key` for `owner`, atomically, unless another owner holds it and it has not
   * expired: resolves `true` when `owner` holds it now, `false` when someone else does. The lock
   * expires by itself `ttlMs` milliseconds later (an expired lock is free), so a process that dies
   * holding one blocks nobody for longer than that. Taking a lock `owner` already holds succeeds
   * and moves its expiry to `ttlMs` from now. Optional, with {@link SessionStore.unlock}: a store
   * shared by several processes that has both lets them exclude each other (`SessionLocks`).
   *
   * `key` has the shape of a session ID (nest-sessions derives a 43-character base64url key from
   * the lock's name by HMAC), so stores check it with `isValidSessionId` like an ID; `owner` is a
   * random string of 1 to 64 printable ASCII characters without spaces. Locks live apart from session records: a lock never
   * shows in `get`, `gc` or `findByPrincipal`, and a lock and a session record with the same key
   * string do not affect each other. Rejects with a `SessionError` coded `SESSION_INVALID_ID` when
   * `key`, `owner` or `ttlMs` (a positive number of milliseconds, at most 400 days) is malformed
   * (see `isValidLockOwner` and `isValidLockTtl`).
   *
   * @example
   * ```ts
   * if (await store.tryLock(key, owner, 30_000)) {
   *   try { await refreshTokens(); } finally { await store.unlock(key, owner); }
   * }
   * ```
   */
  tryLock?(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /**
   * Release the lock `key` if, and only if, `owner` holds it (compare and delete, atomically), so
   * an owner whose lock expired and was taken over never releases the new owner's lock. Releasing
   * a lock that is free, expired or held by someone else does nothing; so does a malformed `key`
   * or `owner`.
   *
   * @example
   * ```ts
   * await store.unlock(key, owner);
   * ```
   */
  unlock?(key: string, owner: string): Promise<void>;
  /**
   * Call `listener` with the ID of each session the backend removes by itself when its time runs
   * out (a record nobody reads again), for `destroyed` events with reason `expired`. Optional, and
   * only for stores that can observe it cheaply (Redis keyspace notifications, with the
   * `RedisStore` option `expiryEvents`). Resolves a function that stops watching, or `undefined`
   * when the store is not set up to watch. The engine calls it once at start-up, and only when
   * something listens to session events; IDs that are not well-formed session IDs must not be passed.
   *
   * @example
   * ```ts
   * const stop = await store.watchExpiries?.((id) => console.log('a session expired'));
   * await stop?.();
   * ```
   */
  watchExpiries?(listener: (id: string) => void): Promise<(() => Promise<void>) | undefined>;
  /**
   * Release timers, handles and connections the store opened itself. `SessionModule` calls it on
   * application shutdown for stores it built from a URL; a store instance you pass in is yours to close.
   */
  close?(): Promise<void>;
}
