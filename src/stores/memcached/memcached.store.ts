import type Memcached from 'memcached';
import { SessionError } from '../../core/errors/session.error.js';
import { SessionMessages } from '../../core/errors/session.messages.js';
import { isValidSessionId, MAX_ID_LENGTH } from '../../core/session-id.js';
import { checkLockArguments, isValidLockOwner } from '../../core/lock-arguments.js';
import { redactError } from '../../core/redact-error.js';
import type { SessionPatch, SessionRecord, SessionStore } from '../../core/session-store.interface.js';
import { FailFastMemcached } from './fail-fast-memcached.js';

/**
 * Options of the `memcached` client that {@link MemcachedStore} creates. They override the store's
 * defaults for `timeout`, `retries`, `minTimeout`, `maxTimeout` and `factor` (see
 * {@link MemcachedStoreOptions.clientOptions}); `maxValue` always follows `maxItemSize`, and
 * `namespace` and the dead-server options are not accepted.
 */
export type MemcachedClientOptions = Omit<
  Memcached.options,
  'namespace' | 'maxValue' | 'failures' | 'retry' | 'reconnect' | 'remove' | 'failOverServers'
> & {
  /** Milliseconds before the first retry of a connection the pool could not hand out. */
  minTimeout?: number;
  /** Longest wait, in milliseconds, between two such retries. */
  maxTimeout?: number;
  /** How much each wait grows over the previous one. */
  factor?: number;
};

/**
 * Options of {@link MemcachedStore}: either a `memcached` `client` you created, or `servers` from
 * which the store creates (and on {@link MemcachedStore.close} ends) its own client.
 */
export interface MemcachedStoreOptions {
  /**
   * A client of the `memcached` package to use. The store never ends it. Leave out `servers` and
   * `clientOptions` when you pass one.
   *
   * Beware of the stock client's dead-server handling: with its defaults, a few connection
   * problems take a server out of service for 5 hours (`reconnect`), and it then probes the server
   * by spawning `ping`, which ends the process where `ping` is not installed. Prefer `servers`,
   * or create the client as `new FailFastMemcached(servers, options)` (exported next to the store).
   * @default none: the store creates a client for `servers`
   * @example new FailFastMemcached('cache-1:11211', { poolSize: 20 })
   */
  client?: Memcached;
  /**
   * Memcached servers, as `host:port` (port 11211 when left out): one server, several (the client
   * spreads keys over them by consistent hashing), or an object of `host:port` to weight.
   * @default none: give `servers` or `client`
   * @example ['cache-1:11211', 'cache-2:11211']
   * @example { 'cache-1:11211': 2, 'cache-2:11211': 1 }
   */
  servers?: string | string[] | Record<string, number>;
  /**
   * Further options of the client the store creates, applied over the store's own (so they win):
   * `poolSize`, `idle`, `retries`, `keyCompression`, …. The store's defaults are `timeout` (the
   * connect timeout) equal to {@link MemcachedStoreOptions.timeout}, `retries: 2` with waits of
   * 10 and 20 ms (a burst of operations on a fresh client would otherwise fail with "The
   * connection pool is full" while its connections are still opening), and `maxValue` equal to
   * {@link MemcachedStoreOptions.maxItemSize}. Not accepted: `namespace` (use `keyPrefix`),
   * `maxValue` (use `maxItemSize`) and the dead-server options `failures`, `retry`, `reconnect`,
   * `remove` and `failOverServers`, which the store's client does not use (see {@link FailFastMemcached}).
   * @default {}
   * @example { poolSize: 20, idle: 30_000 }
   */
  clientOptions?: MemcachedClientOptions;
  /**
   * Prefix of every key the store writes; the key of a session is the prefix followed by its ID.
   * Printable ASCII without spaces (memcached keys allow no spaces or control characters), at most
   * 122 characters, so that keys stay within memcached's 250 bytes.
   * @default 'sess:'
   * @example 'shop:sess:'
   */
  keyPrefix?: string;
  /**
   * Milliseconds one memcached command may take before the operation fails with a `SessionError`
   * coded `SESSION_STORE_UNAVAILABLE`. The store enforces it itself, for any client: the
   * `memcached` client never answers a command whose server went away after it was sent. It is
   * also the connect timeout of a client the store creates. Keep it below `SessionModule`'s
   * `storeTimeout`.
   * @default 1000
   * @example 250
   */
  timeout?: number;
  /**
   * The largest item the memcached servers accept, in bytes: their `-I` setting (1 MiB unless
   * changed). One session is one item holding the whole record as JSON, so a session whose JSON
   * (with its key and about 100 bytes of item overhead) would exceed it is refused before it is
   * sent, with a `SessionError` coded `SESSION_STORE_UNAVAILABLE` whose `cause` names the sizes.
   * Raise it together with the servers' `-I`.
   * @default 1_048_576 (1 MiB, memcached's default)
   * @example 4 * 1024 * 1024 // servers started with -I 4m
   */
  maxItemSize?: number;
  /**
   * How many times `patch` and `touch` read the record again after another write changed it
   * between their read and their compare-and-swap, before they fail with
   * `SESSION_STORE_UNAVAILABLE`. Retries wait a short random time that grows with each attempt.
   * @default 100
   * @example 20
   */
  casRetries?: number;
  /**
   * The clock deciding whether a record has expired, in epoch milliseconds. Meant for tests.
   * @default Date.now
   * @example () => fakeTime
   */
  now?: () => number;
}

/** What `gets` answers for a found key: the value under its key, and the CAS token. */
type GetsResult = Record<string, unknown> & { cas: string };

/** What a lock item holds: its owner (`o`) and expiry (`e`, epoch ms by the store's clock). */
interface LockItem {
  o: string;
  e: number;
}

/** The callback every `memcached` command takes; `this` is the query that was answered. */
type CommandCallback<T> = (this: unknown, error: unknown, result: T) => void;

const DEFAULT_PREFIX = 'sess:';
const DEFAULT_TIMEOUT = 1000;
const DEFAULT_MAX_ITEM_SIZE = 1024 * 1024;
const DEFAULT_CAS_RETRIES = 100;
/** Memcached keys are at most 250 bytes; session IDs take up to {@link MAX_ID_LENGTH} of them. */
const MAX_PREFIX_LENGTH = 250 - MAX_ID_LENGTH;
/**
 * Between the prefix and the key of a lock item. Session IDs are base64url, which has no `:`, so
 * no session item's key can equal a lock item's (whose keys stay below the 250 bytes: 43-character
 * lock keys after at most 122 characters of prefix).
 */
const LOCK_INFIX = 'lock:';
/** Printable ASCII without space: safe in memcached's text protocol and one byte per character. */
const PREFIX_PATTERN = /^[\x21-\x7e]*$/;
/** Bytes an item takes besides its key and value (memcached 1.6 uses 59 with CAS; kept generous). */
const ITEM_OVERHEAD = 128;
/** Memcached reads expiration times above 30 days (in seconds) as absolute unix times. */
const MAX_RELATIVE_TTL = 30 * 24 * 60 * 60;
/** An expiration time memcached treats as already past: the item is gone at once. */
const EXPIRED = -1;
/** Longest random wait, in milliseconds, between two compare-and-swap attempts. */
const MAX_CAS_BACKOFF = 20;
/** Options that configure a client the store creates, so they conflict with `client`. */
const CLIENT_CREATION_OPTIONS = ['servers', 'clientOptions'] as const;
const REFUSED_CLIENT_OPTIONS: Record<string, string> = {
  namespace: "Use the store's `keyPrefix` instead.",
  maxValue: "Use the store's `maxItemSize` instead.",
  failures: "The store's client never marks a server dead; leave it out.",
  retry: "The store's client never marks a server dead; leave it out.",
  reconnect: "The store's client never marks a server dead; leave it out.",
  remove: "The store's client never marks a server dead; leave it out.",
  failOverServers: "The store's client never marks a server dead; list every server in `servers`.",
};
const SERVER_PATTERN = /^[A-Za-z0-9._-]+(?::(\d{1,5}))?$/;

/**
 * A {@link SessionStore} keeping sessions in memcached, through the `memcached` package (an
 * optional peer dependency).
 *
 * - **One item per session.** The item holds the whole record as JSON, under `keyPrefix` + ID.
 *   Its memcached expiration is the record's `expiresAt` rounded up to whole seconds plus one
 *   (memcached's clock counts whole seconds and may lag by one), so the item never disappears
 *   before the record expires; expiration times beyond 30 days are sent as absolute unix times,
 *   since memcached reads larger relative times that way. `get` also checks `expiresAt` itself, so a record is never served after it
 *   expired, even within that last second.
 * - **Atomic merges.** `patch` reads the item with `gets`, merges the changed keys, and writes it
 *   back with `cas`, which fails when another write came in between; it then reads again, up to
 *   `casRetries` times. A missing or expired item is never written again, so a session destroyed
 *   elsewhere stays destroyed.
 * - **`touch` rewrites the record.** Memcached's own `touch` command only moves the item's
 *   expiration, but the record inside carries `expiresAt` too and must move with it, so `touch`
 *   is a `gets` and `cas` like `patch`.
 * - **Locks** ({@link MemcachedStore.tryLock}) are items `<keyPrefix>lock:<key>`, written with
 *   `add` and `cas`. Like sessions, memcached may evict them early when it runs out of memory,
 *   which frees the lock.
 * - **What a cache cannot do.** Memcached cannot list keys, so this store has no
 *   `findByPrincipal`/`destroyByPrincipal` ("log out everywhere" is not available; the principal
 *   is still stored and read back). It has no `gc` either: memcached expires items itself. And
 *   memcached may evict any item early when it runs out of memory: an evicted session is simply
 *   gone, the visitor is anonymous again (logged out). Give memcached enough memory (`-m`), or use
 *   a store that keeps data, such as Redis with `noeviction`.
 * - **Item size.** A record larger than `maxItemSize` (the servers' `-I`, 1 MiB by default) is
 *   refused with `SESSION_STORE_UNAVAILABLE` before it is sent, and the stored session is left as
 *   it was; the `cause` says so. Keep `maxItemSize` in line with `-I`: when memcached itself
 *   refuses a `set` as too large (`SERVER_ERROR object too large for cache`, also reported as
 *   `SESSION_STORE_UNAVAILABLE`), it deletes the item it was asked to replace.
 * - **Faults.** Every failure (server down, timeout, server error) rejects with a `SessionError`
 *   coded `SESSION_STORE_UNAVAILABLE` whose `cause` is a copy of the original error with the
 *   session ID replaced by `[redacted]` (it is logged; see `redactError`). Each command is given
 *   `timeout` ms. A client the store creates fails fast while a server is down and works again as
 *   soon as it is back (see {@link FailFastMemcached}).
 *
 * @example
 * ```ts
 * SessionModule.forRoot({ secret, store: new MemcachedStore({ servers: ['cache-1:11211', 'cache-2:11211'] }) });
 * ```
 */
export class MemcachedStore implements SessionStore {
  /** The memcached client: the one passed in, or the one the store created. */
  protected readonly client: Memcached;
  /** Prefix of every key the store writes. */
  protected readonly keyPrefix: string;
  /** Milliseconds one command may take. */
  protected readonly timeout: number;
  /** The largest item the servers accept, in bytes. */
  protected readonly maxItemSize: number;
  private readonly casRetries: number;
  private readonly ownsClient: boolean;
  private readonly clock: () => number;

  constructor(options: MemcachedStoreOptions) {
    if (typeof options !== 'object' || options === null) {
      throw invalidOption('servers', 'the store needs `servers` or a `client`', "Pass for example { servers: 'localhost:11211' }.");
    }
    const keyPrefix = options.keyPrefix ?? DEFAULT_PREFIX;
    if (typeof keyPrefix !== 'string' || !PREFIX_PATTERN.test(keyPrefix) || keyPrefix.length > MAX_PREFIX_LENGTH) {
      throw invalidOption(
        'keyPrefix',
        `it must be printable ASCII without spaces, at most ${MAX_PREFIX_LENGTH} characters`,
        "Pass for example 'shop:sess:'.",
      );
    }
    const timeout = options.timeout ?? DEFAULT_TIMEOUT;
    if (!Number.isFinite(timeout) || timeout <= 0) {
      throw invalidOption('timeout', 'it must be a positive number of milliseconds', 'Pass for example 1000.');
    }
    const maxItemSize = options.maxItemSize ?? DEFAULT_MAX_ITEM_SIZE;
    if (!Number.isSafeInteger(maxItemSize) || maxItemSize < 1024) {
      throw invalidOption(
        'maxItemSize',
        'it must be a whole number of bytes, at least 1024',
        "Pass the servers' -I setting in bytes, for example 1_048_576.",
      );
    }
    const casRetries = options.casRetries ?? DEFAULT_CAS_RETRIES;
    if (!Number.isSafeInteger(casRetries) || casRetries < 0) {
      throw invalidOption('casRetries', 'it must be a non-negative whole number', 'Pass for example 100.');
    }
    this.keyPrefix = keyPrefix;
    this.timeout = timeout;
    this.maxItemSize = maxItemSize;
    this.casRetries = casRetries;
    this.clock = options.now ?? Date.now;

    if (options.client !== undefined) {
      const extra = CLIENT_CREATION_OPTIONS.filter((name) => options[name] !== undefined);
      if (extra.length > 0) {
        throw invalidOption(
          extra[0],
          'it configures a client the store creates, but `client` was given',
          'Configure your client instead, or leave `client` out.',
        );
      }
      if (!isMemcachedClient(options.client)) {
        throw invalidOption(
          'client',
          'it must be a client of the `memcached` package',
          "Pass for example new Memcached('localhost:11211').",
        );
      }
      this.client = options.client;
      this.ownsClient = false;
    } else {
      const servers = validateServers(options.servers);
      const clientOptions = validateClientOptions(options.clientOptions);
      this.client = this.createClient(servers, {
        timeout,
        retries: 2,
        minTimeout: 10,
        maxTimeout: 100,
        factor: 2,
        ...clientOptions,
        maxValue: maxItemSize,
      });
      this.ownsClient = true;
    }
  }

  async get(id: string): Promise<SessionRecord | null> {
    const key = this.key(id);
    if (!key) return null;
    const value = await this.command<unknown>('read', (done) => this.client.get(key, done), key);
    const record = this.parse(value);
    return record && record.expiresAt > this.now() ? record : null;
  }

  /** @throws {SessionError} `SESSION_INVALID_ID` (as a rejection) when `id` is malformed. */
  async set(id: string, record: SessionRecord): Promise<void> {
    const key = this.key(id);
    if (!key) throw new SessionError('SESSION_INVALID_ID', SessionMessages.invalidId());
    const json = this.serialize(record);
    const expiration = this.expiration(record.expiresAt);
    this.checkSize(key, json);
    const stored = await this.command<boolean>('write', (done) => this.client.set(key, json, expiration, done), key);
    if (!stored) throw unavailable('write', new Error('memcached did not store the session item'));
  }

  async patch(id: string, patch: SessionPatch, expiresAt: number): Promise<boolean> {
    // Copied before the first await, so changes the caller makes later are not stored.
    const set = Object.entries(patch.set);
    const unset = [...patch.unset];
    const principal = patch.principal;
    return this.update(id, (record) => {
      for (const key of unset) delete record.data[key];
      for (const [key, value] of set) {
        // defineProperty, not assignment, so a key named `__proto__` is stored like any other key.
        Object.defineProperty(record.data, key, { value, enumerable: true, writable: true, configurable: true });
      }
      record.expiresAt = expiresAt;
      if (principal === null) delete record.principal;
      else if (principal !== undefined) record.principal = principal;
    });
  }

  async touch(id: string, expiresAt: number): Promise<boolean> {
    return this.update(id, (record) => {
      record.expiresAt = expiresAt;
    });
  }

  async destroy(id: string): Promise<void> {
    const key = this.key(id);
    if (!key) return;
    await this.command<boolean>('write', (done) => this.client.del(key, done), key);
  }

  /**
   * Take lock `key` for `owner` unless another owner holds it unexpired (see
   * {@link SessionStore.tryLock}). The lock is an item `<keyPrefix>lock:<key>` holding its owner
   * and expiry as JSON, created with `add` (which fails when the item exists, so of concurrent
   * takers exactly one wins). When it exists, it is read with `gets` and, if it has expired or
   * is the caller's own, replaced with `cas`, which fails when another write came in between.
   * The item's memcached expiration is the lock's expiry rounded up to whole seconds (plus one,
   * as for sessions), so it can outlive the lock by up to two seconds; the expiry inside it is
   * what counts, to the millisecond.
   *
   * @throws {SessionError} `SESSION_INVALID_ID` (as a rejection) for a malformed key, owner or
   * ttl; `SESSION_STORE_UNAVAILABLE` when memcached fails or other writes keep winning.
   */
  async tryLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    checkLockArguments(key, owner, ttlMs);
    const itemKey = this.keyPrefix + LOCK_INFIX + key;
    for (let attempt = 0; attempt <= this.casRetries; attempt++) {
      if (attempt > 0) await this.backoff(attempt);
      const expiresAt = this.now() + ttlMs;
      const value = JSON.stringify({ o: owner, e: expiresAt } satisfies LockItem);
      const expiration = this.expiration(expiresAt);
      const added = await this.command<boolean>(
        'write',
        (done) =>
          this.client.add(itemKey, value, expiration, function (this: unknown, error: unknown, result: boolean) {
            // `add` of an existing item answers NOT_STORED, which the client reports as an error.
            if ((error as { notStored?: boolean } | undefined)?.notStored === true) done.call(this, undefined, false);
            else done.call(this, error, result);
          }),
        itemKey,
      );
      if (added) return true;
      const found = await this.command<GetsResult | undefined>(
        'read',
        (done) => this.client.gets(itemKey, done as CommandCallback<GetsResult>),
        itemKey,
      );
      // Gone since the add (released or expired): add again.
      if (!found) continue;
      const held = parseLock(found[itemKey]);
      if (held && held.o !== owner && held.e > this.now()) return false;
      const swapped = await this.command<boolean>('write', (done) => this.client.cas(itemKey, value, found.cas, expiration, done), itemKey);
      if (swapped) return true;
    }
    throw unavailable('write', new Error(`other writes to the lock item kept winning; gave up after ${this.casRetries + 1} attempts`));
  }

  /**
   * Release lock `key` if `owner` holds it (see {@link SessionStore.unlock}): `gets`, then, if the
   * owner matches, a `cas` that expires the item at once, so a lock taken over in between is
   * never released.
   */
  async unlock(key: string, owner: string): Promise<void> {
    if (!isValidSessionId(key) || !isValidLockOwner(owner)) return;
    const itemKey = this.keyPrefix + LOCK_INFIX + key;
    for (let attempt = 0; attempt <= this.casRetries; attempt++) {
      if (attempt > 0) await this.backoff(attempt);
      const found = await this.command<GetsResult | undefined>(
        'read',
        (done) => this.client.gets(itemKey, done as CommandCallback<GetsResult>),
        itemKey,
      );
      if (!found || parseLock(found[itemKey])?.o !== owner) return;
      const released = JSON.stringify({ o: '', e: 0 } satisfies LockItem);
      if (await this.command<boolean>('write', (done) => this.client.cas(itemKey, released, found.cas, EXPIRED, done), itemKey)) return;
    }
    throw unavailable('write', new Error(`other writes to the lock item kept winning; gave up after ${this.casRetries + 1} attempts`));
  }

  /** End the client's connections if the store created the client; a client passed in is left alone. */
  async close(): Promise<void> {
    if (this.ownsClient) this.client.end();
  }

  /** The current time in epoch milliseconds; records with `expiresAt <= now()` are expired. */
  protected now(): number {
    return this.clock();
  }

  /** The memcached key of session `id`, or `null` when `id` is malformed. */
  protected key(id: string): string | null {
    return isValidSessionId(id) ? this.keyPrefix + id : null;
  }

  /**
   * The memcached expiration time of an item holding a record that expires at `expiresAt`, chosen
   * so the item never disappears before the record expires:
   *
   * - the seconds left, rounded up, plus one: memcached's clock advances in whole seconds and may
   *   be up to a second behind, so an item given `n` seconds can be gone after just over `n - 1`;
   * - an absolute unix time (rounded up) when that is more than 30 days, because memcached reads
   *   larger relative times as absolute ones;
   * - `-1` (gone at once) when the record has already expired.
   *
   * Never `0`, which means "no expiry".
   */
  protected expiration(expiresAt: number): number {
    const seconds = Math.ceil((expiresAt - this.now()) / 1000);
    if (!(seconds > 0)) return EXPIRED;
    return seconds + 1 <= MAX_RELATIVE_TTL ? seconds + 1 : Math.ceil(expiresAt / 1000);
  }

  /** The JSON stored for `record`; only the record's own fields are kept. */
  protected serialize(record: SessionRecord): string {
    return JSON.stringify({
      data: record.data,
      createdAt: record.createdAt,
      expiresAt: record.expiresAt,
      ...(typeof record.principal === 'string' ? { principal: record.principal } : {}),
    });
  }

  /** The record in a stored value, or `null` when the value is missing or not a well-formed record. */
  protected parse(value: unknown): SessionRecord | null {
    if (typeof value !== 'string') return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      return null;
    }
    if (typeof parsed !== 'object' || parsed === null) return null;
    const { data, createdAt, expiresAt, principal } = parsed as Partial<SessionRecord>;
    if (typeof data !== 'object' || data === null || Array.isArray(data)) return null;
    if (!Object.values(data).every((v) => typeof v === 'string')) return null;
    if (!Number.isFinite(createdAt) || !Number.isFinite(expiresAt)) return null;
    return { data, createdAt: createdAt!, expiresAt: expiresAt!, ...(typeof principal === 'string' ? { principal } : {}) };
  }

  /**
   * Wait before compare-and-swap attempt `attempt` (1 for the first retry): a random time that
   * grows with the attempt, so writers that collided spread out.
   */
  protected async backoff(attempt: number): Promise<void> {
    const ceiling = Math.min(MAX_CAS_BACKOFF, 2 ** attempt);
    await new Promise((done) => setTimeout(done, Math.random() * ceiling));
  }

  /**
   * The client the store uses when given `servers`: a {@link FailFastMemcached}. Override to
   * build another (for example one with extra event listeners).
   */
  protected createClient(servers: Memcached.Location, options: MemcachedClientOptions & { maxValue: number }): Memcached {
    return new FailFastMemcached(servers, options);
  }

  /**
   * Run one client command, turning its callback into a promise that rejects with
   * `SESSION_STORE_UNAVAILABLE` on an error, a `SERVER_ERROR` answer, or no answer within `timeout`.
   * The rejection's `cause` is the client's error with `key` (the item the command is about) and
   * the session ID in it replaced by `[redacted]`.
   */
  protected command<T>(operation: 'read' | 'write', invoke: (done: CommandCallback<T>) => void, key?: string): Promise<T> {
    const timeout = this.timeout;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(unavailable(operation, new Error(`memcached did not answer within ${timeout} ms`)));
      }, timeout);
      const done: CommandCallback<T> = function (this: unknown, error: unknown, result: T): void {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const serverError = (this as { serverError?: unknown } | null | undefined)?.serverError;
        if (error) reject(unavailable(operation, toError(error), key));
        else if (typeof serverError === 'string')
          reject(unavailable(operation, new Error(`memcached answered SERVER_ERROR ${serverError}`)));
        else resolve(result);
      };
      try {
        invoke(done);
      } catch (error) {
        settled = true;
        clearTimeout(timer);
        reject(unavailable(operation, error, key));
      }
    });
  }

  /**
   * Change the live record of `id` with `change` and write it back with compare-and-swap, reading
   * again when another write got in between. `false` when there is no live record.
   */
  private async update(id: string, change: (record: SessionRecord) => void): Promise<boolean> {
    const key = this.key(id);
    if (!key) return false;
    for (let attempt = 0; attempt <= this.casRetries; attempt++) {
      if (attempt > 0) await this.backoff(attempt);
      const found = await this.command<GetsResult | undefined>(
        'read',
        (done) => this.client.gets(key, done as CommandCallback<GetsResult>),
        key,
      );
      const record = found ? this.parse(found[key]) : null;
      if (!found || !record || record.expiresAt <= this.now()) return false;
      change(record);
      const json = this.serialize(record);
      this.checkSize(key, json);
      const expiration = this.expiration(record.expiresAt);
      const swapped = await this.command<boolean>('write', (done) => this.client.cas(key, json, found.cas, expiration, done), key);
      // `false` means the item changed (EXISTS) or disappeared (NOT_FOUND); the next read tells which.
      if (swapped) return true;
    }
    throw unavailable(
      'write',
      new Error(`other writes to the session item kept winning; gave up after ${this.casRetries + 1} compare-and-swap attempts`),
    );
  }

  /** Refuse an item memcached would refuse (`SERVER_ERROR object too large for cache`), before sending it. */
  private checkSize(key: string, json: string): void {
    const size = Buffer.byteLength(json) + Buffer.byteLength(key) + ITEM_OVERHEAD;
    if (size > this.maxItemSize) {
      throw unavailable(
        'write',
        new Error(
          `the session item would take about ${size} bytes, more than maxItemSize (${this.maxItemSize} bytes, ` +
            "the memcached servers' -I setting); store less in the session, or raise -I and maxItemSize together",
        ),
      );
    }
  }
}

/** The lock in a stored value, or `null` when it is not one. */
function parseLock(value: unknown): LockItem | null {
  if (typeof value !== 'string') return null;
  try {
    const { o, e } = JSON.parse(value) as Partial<LockItem>;
    return typeof o === 'string' && Number.isFinite(e) ? { o, e: e! } : null;
  } catch {
    return null;
  }
}

/** Whether `client` has the commands the store uses. */
function isMemcachedClient(client: unknown): client is Memcached {
  if (typeof client !== 'object' || client === null) return false;
  const methods = client as Record<string, unknown>;
  return ['get', 'gets', 'set', 'cas', 'del', 'end'].every((name) => typeof methods[name] === 'function');
}

/** `servers` checked: `host[:port]` entries, as a string, a non-empty array or an object of weights. */
function validateServers(servers: unknown): Memcached.Location {
  const fix = "Pass for example 'localhost:11211', ['cache-1:11211', 'cache-2:11211'] or { 'cache-1:11211': 2, 'cache-2:11211': 1 }.";
  if (servers === undefined) throw invalidOption('servers', 'the store needs `servers` or a `client`', fix);
  let list: unknown[];
  if (typeof servers === 'string') list = [servers];
  else if (Array.isArray(servers)) list = servers;
  else if (typeof servers === 'object' && servers !== null) {
    const weights = Object.values(servers);
    if (!weights.every((weight) => typeof weight === 'number' && Number.isFinite(weight) && weight > 0)) {
      throw invalidOption('servers', 'weights must be positive numbers', fix);
    }
    list = Object.keys(servers);
  } else throw invalidOption('servers', 'it must be a string, an array or an object of weights', fix);
  if (list.length === 0) throw invalidOption('servers', 'it names no server', fix);
  for (const server of list) {
    const match = typeof server === 'string' ? SERVER_PATTERN.exec(server) : null;
    const port = match?.[1] === undefined ? 11211 : Number(match[1]);
    if (!match || port < 1 || port > 65535) {
      throw invalidOption('servers', `"${String(server)}" is not a host name or IPv4 address with an optional :port`, fix);
    }
  }
  return servers as Memcached.Location;
}

function validateClientOptions(clientOptions: unknown): MemcachedClientOptions {
  if (clientOptions === undefined) return {};
  if (typeof clientOptions !== 'object' || clientOptions === null || Array.isArray(clientOptions)) {
    throw invalidOption('clientOptions', 'it must be an object of `memcached` client options', 'Pass for example { poolSize: 20 }.');
  }
  for (const name of Object.keys(clientOptions)) {
    const fix = REFUSED_CLIENT_OPTIONS[name];
    if (fix !== undefined) throw invalidOption(`clientOptions.${name}`, 'the store does not accept it', fix);
  }
  return clientOptions;
}

/** The client reports several errors of one command as an array. */
function toError(error: unknown): unknown {
  return Array.isArray(error) ? new AggregateError(error, 'memcached reported several errors') : error;
}

/** The failure of a command about item `key`: its `cause` never carries the key (see `redactError`). */
function unavailable(operation: 'read' | 'write', cause: unknown, key?: string): SessionError {
  return new SessionError('SESSION_STORE_UNAVAILABLE', SessionMessages.storeUnavailable(operation), {
    cause: redactError(cause, key === undefined ? [] : [key]),
  });
}

function invalidOption(option: string, rule: string, fix: string): SessionError {
  return new SessionError('SESSION_OPTIONS_INVALID', SessionMessages.invalidOption(option, rule, fix));
}
