import { SessionError } from '../core/errors/session.error.js';
import { SessionMessages } from '../core/errors/session.messages.js';
import { isValidSessionId } from '../core/session-id.js';
import { gcIntervalOption, startGcTimer } from '../core/gc-timer.js';
import { checkLockArguments, isValidLockOwner } from '../core/lock-arguments.js';
import type { PrincipalSession, SessionPatch, SessionRecord, SessionStore } from '../core/session-store.interface.js';

/** Options of {@link MemoryStore}. Every field is optional. */
export interface MemoryStoreOptions {
  /**
   * Most sessions kept at once. When a new session would exceed it, the least recently used one
   * (least recently read, written, patched or touched) is evicted first, so memory stays bounded
   * even when clients keep opening sessions.
   * @default 10_000
   * @example 50_000
   */
  maxSessions?: number;
  /**
   * Milliseconds between sweeps that delete expired sessions (see {@link MemoryStore.gc}). The
   * timer is `unref()`ed, so it never keeps the process alive. `0` disables the timer; expired
   * sessions are then deleted only when they are read or evicted.
   * @default 60_000
   * @example 0 // when SessionModule already calls gc() on its own schedule
   */
  gcInterval?: number;
  /**
   * The clock deciding whether a record has expired, in epoch milliseconds. Meant for tests.
   * @default Date.now
   * @example { now: () => fakeTime }
   */
  now?: () => number;
}

const DEFAULT_MAX_SESSIONS = 10_000;
const DEFAULT_GC_INTERVAL = 60_000;

/**
 * A {@link SessionStore} that keeps sessions in the memory of the current process.
 *
 * Suited to development, tests and single-process deployments where losing every session on
 * restart is acceptable. Sessions are not shared between processes or cluster workers. The store
 * keeps its own copies of records: objects passed in or handed out are never shared with callers.
 *
 * @example
 * ```ts
 * SessionModule.forRoot({ secret, store: new MemoryStore({ maxSessions: 5_000 }) });
 * ```
 */
export class MemoryStore implements SessionStore {
  /** Answers from memory: no deadline needed (see {@link SessionStore.inProcess}). */
  readonly inProcess = true;
  /** Records by ID. */
  private readonly records = new Map<string, RecordEntry>();
  /**
   * The ends of the entries' recency list (a doubly-linked list through the entries). An access
   * moves its entry to the newest end by relinking it, so it allocates nothing: re-inserting into
   * the map instead makes the map's table grow and be rebuilt.
   */
  private oldest: RecordEntry | undefined;
  private newest: RecordEntry | undefined;
  /** Locks (see {@link MemoryStore.tryLock}), apart from records so they never show as sessions. */
  private readonly locks = new Map<string, HeldLock>();
  private readonly maxSessions: number;
  private readonly clock: () => number;
  /** The gc timer, `undefined` when `gcInterval` is `0` or after {@link MemoryStore.close}. */
  protected timer: NodeJS.Timeout | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    const maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
    if (!Number.isSafeInteger(maxSessions) || maxSessions < 1) {
      throw new SessionError(
        'SESSION_OPTIONS_INVALID',
        SessionMessages.invalidOption('maxSessions', 'it must be a positive integer', 'Pass for example 10_000.'),
      );
    }
    const gcInterval = gcIntervalOption(options.gcInterval, DEFAULT_GC_INTERVAL);
    this.maxSessions = maxSessions;
    this.clock = options.now ?? Date.now;
    this.timer = startGcTimer(() => this.gc(), gcInterval);
  }

  /**
   * How many records the store holds, including expired ones that have not been swept yet by
   * {@link MemoryStore.gc}, read, or evicted.
   */
  get size(): number {
    return this.records.size;
  }

  // get, set, patch, touch and destroy answer synchronously (see SessionStore.get): the engine
  // then finishes the request in the same tick.

  get(id: string): SessionRecord | null {
    const record = this.live(id);
    return record === null ? null : this.copy(record);
  }

  /** Returns a rejected promise coded `SESSION_INVALID_ID` when `id` is malformed. */
  set(id: string, record: SessionRecord): void | Promise<never> {
    if (!isValidSessionId(id)) return Promise.reject(new SessionError('SESSION_INVALID_ID', SessionMessages.invalidId()));
    this.store(id, this.copy(record));
  }

  patch(id: string, patch: SessionPatch, expiresAt: number): boolean {
    const record = this.live(id);
    if (!record) return false;
    // The stored record is private to this store (get() and set() hand out and take copies), so
    // merge() may change it in place.
    record.data = this.merge(record.data, patch);
    record.expiresAt = expiresAt;
    if (typeof patch.principal === 'string') record.principal = patch.principal;
    else if (patch.principal === null) delete record.principal;
    return true;
  }

  touch(id: string, expiresAt: number): boolean {
    const record = this.live(id);
    if (!record) return false;
    // The stored record is private to this store, so it can be changed in place.
    record.expiresAt = expiresAt;
    return true;
  }

  destroy(id: string): void {
    if (!isValidSessionId(id)) return;
    const entry = this.records.get(id);
    if (entry !== undefined) this.remove(entry);
  }

  /** Live sessions of `principal` (a scan of at most `maxSessions` records). */
  async findByPrincipal(principal: string): Promise<PrincipalSession[]> {
    const now = this.now();
    const found: PrincipalSession[] = [];
    for (const { id, record } of this.records.values()) {
      if (record.principal === principal && record.expiresAt > now) {
        found.push({ id, createdAt: record.createdAt, expiresAt: record.expiresAt });
      }
    }
    return found;
  }

  async destroyByPrincipal(principal: string): Promise<number> {
    const sessions = await this.findByPrincipal(principal);
    let destroyed = 0;
    for (const { id } of sessions) {
      // Looked up again: the listing above resolved a tick ago, and another caller may have deleted it since.
      const entry = this.records.get(id);
      if (entry === undefined) continue;
      this.remove(entry);
      destroyed++;
    }
    return destroyed;
  }

  /**
   * Take lock `key` for `owner` unless another owner holds it unexpired (see
   * {@link SessionStore.tryLock}). Locks are kept beside the records, in this process only, so
   * they exclude callers of this store instance, not other processes. They do not count towards
   * `maxSessions`; expired ones are dropped by {@link MemoryStore.gc}, and swept whenever there are
   * more locks than `maxSessions`.
   *
   * @throws {SessionError} `SESSION_INVALID_ID` (as a rejection) for a malformed key, owner or ttl.
   */
  async tryLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    checkLockArguments(key, owner, ttlMs);
    const now = this.now();
    const held = this.locks.get(key);
    if (held && held.owner !== owner && held.expiresAt > now) return false;
    this.locks.set(key, { owner, expiresAt: now + ttlMs });
    // Without a gc timer nothing else drops expired locks; sweep before the map outgrows the records' bound.
    if (!held && this.locks.size > this.maxSessions) {
      for (const [other, lock] of this.locks) if (lock.expiresAt <= now) this.locks.delete(other);
    }
    return true;
  }

  /** Release lock `key` if `owner` holds it (see {@link SessionStore.unlock}). */
  async unlock(key: string, owner: string): Promise<void> {
    if (!isValidSessionId(key) || !isValidLockOwner(owner)) return;
    if (this.locks.get(key)?.owner === owner) this.locks.delete(key);
  }

  /**
   * Delete every expired record; resolves how many were deleted. Expired locks are dropped too,
   * without being counted. Runs every `gcInterval`.
   */
  async gc(): Promise<number> {
    const now = this.now();
    let deleted = 0;
    for (const entry of this.records.values()) {
      if (entry.record.expiresAt <= now) {
        this.remove(entry);
        deleted++;
      }
    }
    for (const [key, lock] of this.locks) if (lock.expiresAt <= now) this.locks.delete(key);
    return deleted;
  }

  /** Stop the gc timer and drop every record and lock. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.records.clear();
    this.oldest = this.newest = undefined;
    this.locks.clear();
  }

  /** The current time in epoch milliseconds; records with `expiresAt <= now()` are expired. */
  protected now(): number {
    return this.clock();
  }

  /**
   * A copy of `record` that shares nothing with it. Values are strings, so copying `data` one level
   * deep is enough. Override to keep extra fields of a record subtype.
   */
  protected copy(record: SessionRecord): SessionRecord {
    return withPrincipal({ data: { ...record.data }, createdAt: record.createdAt, expiresAt: record.expiresAt }, record.principal);
  }

  /**
   * `data` with `patch.unset` removed and `patch.set` applied: the stored record's data, which is
   * private to this store, so the default changes it in place and a write allocates nothing. An
   * override may return a new object instead; `patch()` stores whatever it returns.
   */
  protected merge(data: Record<string, string>, patch: SessionPatch): Record<string, string> {
    return applyPatchInPlace(data, patch);
  }

  /** The stored (uncopied) live record of `id`, marked as most recently used; expired ones are deleted. */
  private live(id: string): SessionRecord | null {
    if (!isValidSessionId(id)) return null;
    const entry = this.records.get(id);
    if (entry === undefined) return null;
    if (entry.record.expiresAt <= this.now()) {
      this.remove(entry);
      return null;
    }
    if (entry !== this.newest) {
      this.unlink(entry);
      this.append(entry);
    }
    return entry.record;
  }

  private store(id: string, record: SessionRecord): void {
    const existing = this.records.get(id);
    if (existing !== undefined) this.remove(existing);
    const entry: RecordEntry = { id, record, older: undefined, newer: undefined };
    this.records.set(id, entry);
    this.append(entry);
    while (this.records.size > this.maxSessions) this.remove(this.oldest!);
  }

  /** Drop `entry` from the map and the recency list. */
  private remove(entry: RecordEntry): void {
    this.records.delete(entry.id);
    this.unlink(entry);
  }

  /** Take `entry` out of the recency list. */
  private unlink(entry: RecordEntry): void {
    if (entry.older === undefined) this.oldest = entry.newer;
    else entry.older.newer = entry.newer;
    if (entry.newer === undefined) this.newest = entry.older;
    else entry.newer.older = entry.older;
    entry.older = entry.newer = undefined;
  }

  /** Put an unlinked `entry` at the newest end of the recency list. */
  private append(entry: RecordEntry): void {
    entry.older = this.newest;
    if (this.newest === undefined) this.oldest = entry;
    else this.newest.newer = entry;
    this.newest = entry;
  }
}

/** A stored record, linked into the store's recency list. */
interface RecordEntry {
  readonly id: string;
  record: SessionRecord;
  /** The entry used just before this one (towards the eviction end). */
  older: RecordEntry | undefined;
  /** The entry used just after this one. */
  newer: RecordEntry | undefined;
}

/** Who holds a lock of {@link MemoryStore}, and until when (epoch ms). */
interface HeldLock {
  owner: string;
  expiresAt: number;
}

/** `data` with `patch.unset` removed and `patch.set` applied, changed in place. */
function applyPatchInPlace(data: Record<string, string>, patch: SessionPatch): Record<string, string> {
  for (const key of patch.unset) delete data[key];
  for (const key in patch.set) {
    const value = patch.set[key];
    // defineProperty, not assignment, for `__proto__`, so it is stored like any other key.
    if (key === '__proto__') Object.defineProperty(data, key, { value, enumerable: true, writable: true, configurable: true });
    else data[key] = value;
  }
  return data;
}

/** `record` with `principal` set on it when it is a string (`null` and `undefined` leave none). */
function withPrincipal(record: SessionRecord, principal: string | null | undefined): SessionRecord {
  if (typeof principal === 'string') record.principal = principal;
  return record;
}
