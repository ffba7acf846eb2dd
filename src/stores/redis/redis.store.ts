import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { SessionError } from '../../core/errors/session.error.js';
import { SessionMessages } from '../../core/errors/session.messages.js';
import { isValidSessionId } from '../../core/session-id.js';
import { checkLockArguments, isValidLockOwner } from '../../core/lock-arguments.js';
import { redactError } from '../../core/redact-error.js';
export type {
  RedisClusterOptions,
  RedisNodeAddress,
  RedisSentinelOptions,
  RedisStoreOptions,
  RedisTlsOptions,
} from './redis-store.options.js';
import type { PrincipalSession, SessionPatch, SessionRecord, SessionStore } from '../../core/session-store.interface.js';
import { checkPrefix, checkTimeout, parseUrlOption, validateConnection } from './redis-options.validation.js';
import type { RedisStoreOptions, RedisTlsOptions } from './redis-store.options.js';
import { watchRedisExpiries } from './redis-expiry.watcher.js';
import {
  DESTROY_OWNED_SCRIPT,
  FIELD,
  INDEX_SCRIPT,
  RELOCK_SCRIPT,
  UNLOCK_SCRIPT,
  WRITE_DONE,
  WRITE_GONE,
  WRITE_NEEDS_INDEX,
  WRITE_SCRIPT,
} from './redis-scripts.js';

const DEFAULT_PREFIX = 'sess:';
const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_PORT = 6379;
const DEFAULT_CONNECT_TIMEOUT = 5000;
const DEFAULT_COMMAND_TIMEOUT = 2000;
/** How often a write may find the principal's index moved on under it before giving up. */
const MAX_INDEX_ATTEMPTS = 3;
/** Keys deleted per SCAN batch by {@link RedisStore.clear}. */
const SCAN_COUNT = 500;
/** Client states in which a connection is being made (`wait`: lazyConnect, not started yet). */
const CONNECTING_STATUSES = new Set(['wait', 'connecting', 'connect']);
/** ioredis `Cluster` options that it manages itself for its node connections. */
const CLUSTER_MANAGED_OPTIONS = [
  'host',
  'port',
  'path',
  'sentinels',
  'retryStrategy',
  'enableOfflineQueue',
  'readOnly',
  'himportFieldsets',
];
/** Options that configure a client the store creates, so they conflict with `client`. */
const CONNECTION_OPTIONS = [
  'url',
  'host',
  'port',
  'username',
  'password',
  'db',
  'tls',
  'cluster',
  'sentinel',
  'connectTimeout',
  'redisOptions',
  'onClientError',
] as const;

/** A principal's index already lists a session until `until`. */
interface IndexedPrincipal {
  principal: string;
  until: number;
}

/** What {@link RedisStore.write} is to write. */
interface WriteChange {
  now: number;
  expiresAt: number;
  /** `set` only. */
  createdAt?: number;
  /** The new principal, `null` to remove it, `undefined` to keep it. */
  principal: string | null | undefined;
  fields: { deletes: string[]; sets: string[] };
  /** A principal whose index already lists the session, and until when. */
  indexed?: IndexedPrincipal;
}

/** The socket of a standalone ioredis client. */
type NetStream = Socket | TLSSocket;

/** A reply of the write script (see `WRITE_SCRIPT`). */
type WriteReply = [number, ...Array<number | string>];

/** A touch: no data fields (never changed). */
const NO_FIELDS: WriteChange['fields'] = { deletes: [], sets: [] };

/**
 * A {@link SessionStore} on Redis through ioredis: standalone, Sentinel or Cluster, with or
 * without TLS. Redis expires records by itself, so there is no `gc()`.
 *
 * - **Layout.** One hash per session, `<prefix>{<id>}` (the ID is the cluster hash tag), holding
 *   data keys as `d:<key>` fields and the meta fields `m:c` (createdAt), `m:e` (expiresAt), `m:p`
 *   (principal) and `m:x` (until when the principal index lists it). Its TTL is set to
 *   `expiresAt` in the same script that writes it. Each principal has an index
 *   `<prefix>p:{<sha256 of the principal>}`: a sorted set of session IDs. Each lock is a string
 *   `<prefix>l:{<key>}` holding its owner, with a TTL.
 * - **Round trips.** `get`: 1 (`HGETALL`); `patch` and `touch`: 1 script; `set`: 1 script, 2 with
 *   a principal (its index first, then the session); `destroy`: 1 (`DEL`). A patch that sets a
 *   new principal costs 2 (index, then write); removing or replacing one costs 1 more (`ZREM` from
 *   the old index). About once per idle period, a patch or touch of a session with a principal
 *   costs 2 more, to extend the principal's index before the session outlives it.
 * - **Atomicity.** Every write of a session is one Lua script on one key, so parallel patches of
 *   one session never lose each other's keys, and a patch or touch of a missing or expired record
 *   writes nothing.
 * - **Faults.** Redis errors reject with a `SessionError` coded `SESSION_STORE_UNAVAILABLE` whose
 *   `cause` is a copy of the original error without the command's arguments and with the session
 *   ID replaced by `[redacted]`, within `commandTimeout`. Commands are only sent on a ready
 *   connection: while the client is between reconnection attempts operations fail at once, while
 *   it connects they wait (within `commandTimeout`), and one that gave up waiting never writes
 *   later. A client the store creates reconnects by itself.
 *
 * @example
 * ```ts
 * SessionModule.forRoot({ secret, store: new RedisStore({ url: process.env.REDIS_URL, keyPrefix: 'shop:' }) });
 * ```
 */
export class RedisStore implements SessionStore {
  /** The ioredis client (created by the store unless one was passed in). */
  readonly client: Redis | Cluster;
  /** Prefix of every key of this store. */
  protected readonly prefix: string;
  /** Milliseconds each operation may take. */
  protected readonly commandTimeout: number;
  /** Whether the store created {@link RedisStore.client} and so closes it. */
  private readonly ownsClient: boolean;
  /** Whether sessions Redis expires by itself are reported (`expiryEvents`). */
  private readonly expiryEvents: boolean;
  /** `onClientError`: also told of the errors of the connections watching expiries. */
  private readonly onClientError: ((error: Error) => void) | undefined;
  /**
   * Whether ioredis itself fails every command of the client that gets no answer within
   * `commandTimeout` (a standalone or sentinel client with its own `commandTimeout` no longer than
   * the store's), so an operation on a ready connection needs no timer of the store's.
   */
  private readonly clientTimesOut: boolean;
  private readonly clock: () => number;
  /** The last `error` event of a client the store created, reported as the cause while it is down. */
  private lastClientError: Error | undefined;
  /** Settles when the connection being made is ready or fails; shared by waiting operations. */
  private readyWaiter: Promise<void> | undefined;
  /** Whether the store batches the socket writes of its client (one it created, not a cluster). */
  private readonly batchesWrites: boolean;
  /** The client's socket is corked until the turn of the event loop ends. */
  private corked = false;
  private readonly uncork = (stream: NetStream): void => {
    this.corked = false;
    stream.uncork();
  };

  constructor(options: RedisStoreOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw invalidOption('options', 'they must be an object', 'Pass e.g. { url: "redis://localhost:6379" }.');
    }
    const prefix = options.keyPrefix ?? DEFAULT_PREFIX;
    const commandTimeout = options.commandTimeout ?? DEFAULT_COMMAND_TIMEOUT;
    checkTimeout('commandTimeout', commandTimeout);
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw invalidOption('now', 'it must be a function returning epoch milliseconds', 'Pass e.g. () => Date.now().');
    }
    this.clock = options.now ?? Date.now;
    this.commandTimeout = commandTimeout;
    if (options.expiryEvents !== undefined && typeof options.expiryEvents !== 'boolean') {
      throw invalidOption('expiryEvents', 'it must be true or false', 'Leave it out for false.');
    }
    this.expiryEvents = options.expiryEvents ?? false;
    this.onClientError = options.onClientError;

    if (options.client !== undefined) {
      if (!isRedisClient(options.client)) {
        throw invalidOption('client', 'it must be an ioredis Redis or Cluster instance', 'Pass e.g. new Redis(6379) from "ioredis".');
      }
      const conflict = CONNECTION_OPTIONS.find((name) => options[name] !== undefined);
      if (conflict) {
        throw invalidOption(conflict, 'it cannot be combined with `client`', `Configure the client you pass in, or leave \`client\` out.`);
      }
      this.prefix = checkPrefix('keyPrefix', prefix);
      this.client = options.client;
      this.ownsClient = false;
      this.clientTimesOut = clientCommandTimeout(this.client) <= this.commandTimeout;
      this.batchesWrites = false;
      return;
    }

    const fromUrl = options.url === undefined ? {} : parseUrlOption(options.url);
    const merged: RedisStoreOptions = { ...fromUrl, ...definedOnly(options) };
    this.prefix = checkPrefix(
      options.keyPrefix === undefined && fromUrl.keyPrefix !== undefined ? 'url' : 'keyPrefix',
      merged.keyPrefix ?? DEFAULT_PREFIX,
    );
    this.commandTimeout = merged.commandTimeout ?? DEFAULT_COMMAND_TIMEOUT;
    validateConnection(merged);
    this.client = this.createClient({ ...merged, commandTimeout: this.commandTimeout });
    this.ownsClient = true;
    this.clientTimesOut = clientCommandTimeout(this.client) <= this.commandTimeout;
    this.batchesWrites = !isCluster(this.client);
    this.client.on('error', (error: Error) => {
      this.lastClientError = error;
      options.onClientError?.(error);
    });
  }

  get(id: string): Promise<SessionRecord | null> {
    if (!isValidSessionId(id)) return Promise.resolve(null);
    const key = this.sessionKey(id);
    const read = (): Promise<SessionRecord | null> => {
      this.batchWrites();
      return this.client.hgetall(key).then(
        (hash) => this.toRecord(hash, this.now()),
        (cause: unknown) => readFailed(cause, id),
      );
    };
    return this.sendable() ? read() : this.run('read', id, read);
  }

  /** @throws {SessionError} `SESSION_INVALID_ID` (as a rejection) when `id` is malformed. */
  async set(id: string, record: SessionRecord): Promise<void> {
    if (!isValidSessionId(id)) throw new SessionError('SESSION_INVALID_ID', SessionMessages.invalidId());
    const principal = record.principal;
    const { createdAt, expiresAt } = record;
    // Built before the first await, so later changes by the caller are not stored.
    const fields = dataFields(record.data, []);
    await this.run('write', id, async () => {
      const now = this.now();
      const indexed = typeof principal === 'string' && expiresAt > now ? await this.index(principal, id, expiresAt, now) : undefined;
      await this.write(id, 'set', {
        now,
        expiresAt,
        createdAt,
        principal: typeof principal === 'string' ? principal : null,
        fields,
        indexed,
      });
    });
  }

  patch(id: string, patch: SessionPatch, expiresAt: number): Promise<boolean> {
    if (!isValidSessionId(id)) return Promise.resolve(false);
    const principal = patch.principal;
    const fields = dataFields(patch.set, patch.unset);
    if (typeof principal !== 'string') {
      const write = (): Promise<boolean> => this.write(id, 'merge', { now: this.now(), expiresAt, principal, fields });
      return this.sendable() ? write() : this.run('write', id, write);
    }
    return this.run('write', id, async () => {
      const now = this.now();
      const indexed = expiresAt > now ? await this.index(principal, id, expiresAt, now) : undefined;
      return this.write(id, 'merge', { now, expiresAt, principal, fields, indexed });
    });
  }

  touch(id: string, expiresAt: number): Promise<boolean> {
    if (!isValidSessionId(id)) return Promise.resolve(false);
    const write = (): Promise<boolean> => this.write(id, 'merge', { now: this.now(), expiresAt, principal: undefined, fields: NO_FIELDS });
    return this.sendable() ? write() : this.run('write', id, write);
  }

  async destroy(id: string): Promise<void> {
    if (!isValidSessionId(id)) return;
    const key = this.sessionKey(id);
    // The principal index keeps the ID until its score passes; findByPrincipal skips it meanwhile.
    await this.run('write', id, () => this.client.del(key));
  }

  /**
   * Live sessions of `principal`: one read of its index, then one `HMGET` per listed session,
   * sent together (one round trip per node). Sessions that are gone, expired or now belong to
   * someone else are left out.
   */
  async findByPrincipal(principal: string): Promise<PrincipalSession[]> {
    const key = this.principalKey(principal);
    return this.run('read', undefined, async () => {
      const now = this.now();
      const ids = await this.indexedIds(key, now);
      const metas = await Promise.all(
        ids.map((id) => this.client.hmget(this.sessionKey(id), FIELD.createdAt, FIELD.expiresAt, FIELD.principal)),
      );
      const found: PrincipalSession[] = [];
      ids.forEach((id, i) => {
        const [createdAt, expiresAt, owner] = metas[i];
        if (owner !== principal || createdAt == null || expiresAt == null) return;
        if (!(Number(expiresAt) > now)) return;
        found.push({ id, createdAt: Number(createdAt), expiresAt: Number(expiresAt) });
      });
      return found;
    });
  }

  /**
   * Delete every session of `principal`; resolves how many live ones were deleted. Each session is
   * deleted only if it still belongs to `principal` when its turn comes (one script per session,
   * sent together), then removed from the index.
   */
  async destroyByPrincipal(principal: string): Promise<number> {
    const key = this.principalKey(principal);
    return this.run('write', undefined, async () => {
      const now = this.now();
      const ids = await this.indexedIds(key, now);
      const results = await Promise.all(ids.map((id) => DESTROY_OWNED_SCRIPT.run(this.client, [this.sessionKey(id)], [principal, now])));
      const deleted = ids.filter((_, i) => results[i] !== 0);
      if (deleted.length > 0) {
        await this.client.zrem(key, ...deleted).catch(() => {
          // The sessions are gone; members left behind are skipped and pruned once their score passes.
        });
      }
      return results.filter((result) => result === 1).length;
    });
  }

  /**
   * Take lock `key` for `owner` unless another owner holds it (see {@link SessionStore.tryLock}):
   * `SET <prefix>l:{<key>} <owner> NX PX <ttl>`, and when the key exists, a script that takes it
   * only if it is the caller's own lock (extending it) or was released in between. Redis expires
   * the key after `ttlMs` by its own clock. One key per lock, its key the cluster hash tag.
   *
   * @throws {SessionError} `SESSION_INVALID_ID` (as a rejection) for a malformed key, owner or
   * ttl; `SESSION_STORE_UNAVAILABLE` when Redis fails or does not answer within `commandTimeout`.
   */
  async tryLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    checkLockArguments(key, owner, ttlMs);
    const lockKey = this.lockKey(key);
    const ttl = Math.ceil(ttlMs);
    return this.run('write', key, async () => {
      if ((await this.client.set(lockKey, owner, 'PX', ttl, 'NX')) === 'OK') return true;
      return (await RELOCK_SCRIPT.run(this.client, [lockKey], [owner, ttl])) === 1;
    });
  }

  /** Release lock `key` if `owner` holds it (see {@link SessionStore.unlock}): one compare-and-delete script. */
  async unlock(key: string, owner: string): Promise<void> {
    if (!isValidSessionId(key) || !isValidLockOwner(owner)) return;
    const lockKey = this.lockKey(key);
    await this.run('write', key, () => UNLOCK_SCRIPT.run(this.client, [lockKey], [owner]));
  }

  /**
   * Delete every key under this store's prefix (all sessions, principal indexes and locks), with
   * SCAN on every master in cluster mode, the prefix's glob characters escaped. Keys outside the
   * prefix are never touched. Resolves how many sessions were deleted. For maintenance and tests: it walks the
   * whole key space and has no time limit.
   */
  async clear(): Promise<number> {
    return this.run(
      'write',
      undefined,
      async () => {
        const clientPrefix = keyPrefixOf(this.client);
        const pattern = `${escapeGlob(clientPrefix + this.prefix)}*`;
        const sessionKeyStart = `${this.prefix}{`;
        const nodes = isCluster(this.client) ? this.client.nodes('master') : [this.client];
        let sessions = 0;
        for (const node of nodes) {
          let cursor = '0';
          do {
            const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
            cursor = next;
            const keys = found.filter((key) => key.startsWith(clientPrefix)).map((key) => key.slice(clientPrefix.length));
            const removed = await Promise.all(keys.map((key) => this.client.unlink(key)));
            keys.forEach((key, i) => {
              if (removed[i] === 1 && key.startsWith(sessionKeyStart)) sessions++;
            });
          } while (cursor !== '0');
        }
        return sessions;
      },
      false,
    );
  }

  /** Quit the client if the store created it; a client passed in is left open. */
  async close(): Promise<void> {
    const client = this.client;
    if (!this.ownsClient || client.status === 'end') return;
    const ended = new Promise<void>((done) => client.once('end', () => done()));
    const timers: NodeJS.Timeout[] = [];
    const timeout = (): Promise<void> => new Promise((done) => timers.push(setTimeout(done, this.commandTimeout)));
    try {
      // QUIT lets Redis answer what is in flight first; a client that is down just disconnects.
      await Promise.race([client.quit(), timeout()]);
    } catch {
      // Not connected: disconnecting below is all there is to do.
    }
    client.disconnect();
    await Promise.race([ended, timeout()]);
    for (const timer of timers) clearTimeout(timer);
  }

  /**
   * With `expiryEvents`: call `listener` with the ID of each session Redis expires by itself (see
   * {@link SessionStore.watchExpiries}); `undefined` without it.
   * @throws SessionError `SESSION_OPTIONS_INVALID` (rejected) when the server notifies no expired keys.
   */
  async watchExpiries(listener: (id: string) => void): Promise<(() => Promise<void>) | undefined> {
    if (!this.expiryEvents) return undefined;
    const head = `${keyPrefixOf(this.client)}${this.prefix}{`;
    // The watching connections reconnect by themselves; their errors are only reported.
    return watchRedisExpiries(this.client, head, listener, (error) => this.onClientError?.(error));
  }

  /** The key of the hash holding session `id`; the ID in braces makes it the cluster hash tag. */
  protected sessionKey(id: string): string {
    return `${this.prefix}{${id}}`;
  }

  /**
   * The key of lock `key`: `<prefix>l:{<key>}`, which no session key (`<prefix>{<id>}`) or principal
   * index (`<prefix>p:{…}`) can equal; the lock key in braces is the cluster hash tag.
   */
  protected lockKey(key: string): string {
    return `${this.prefix}l:{${key}}`;
  }

  /**
   * The key of `principal`'s index. The principal is hashed, so no character of it can break out
   * of the prefix, act as a glob or choose the hash tag.
   */
  protected principalKey(principal: string): string {
    return `${this.prefix}p:{${createHash('sha256').update(principal).digest('hex')}}`;
  }

  /**
   * Until when a principal's index lists a session expiring at `expiresAt`. Later than
   * `expiresAt` by the session's remaining lifetime, so touches extend the index only about once
   * per idle period, while dead IDs are pruned soon after.
   */
  protected indexUntil(expiresAt: number, now: number): number {
    return Math.ceil(expiresAt + Math.max(expiresAt - now, 0));
  }

  /** The current time in epoch milliseconds; records with `expiresAt <= now()` are expired. */
  protected now(): number {
    return this.clock();
  }

  /**
   * Create the client for the validated `options` (`cluster`, `sentinel` or standalone). Override
   * to build it differently; the store attaches its `error` listener and closes it.
   */
  protected createClient(options: RedisStoreOptions): Redis | Cluster {
    const tls = tlsOptions(options.tls);
    const common: RedisOptions = {
      connectTimeout: options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT,
      commandTimeout: options.commandTimeout,
      // In-flight commands are resent once after a reconnect (all of the store's writes are
      // idempotent); queued ones are failed after the first failed reconnection, not 20.
      maxRetriesPerRequest: 1,
      // The store batches its own commands' socket writes (see batchWrites()); ioredis's
      // auto-pipelining would add a pipeline and two promises per command to do the same.
      enableAutoPipelining: false,
      ...(options.username === undefined ? {} : { username: options.username }),
      ...(options.password === undefined ? {} : { password: options.password }),
      ...(tls ? { tls } : {}),
    };
    const host = options.host ?? DEFAULT_HOST;
    const port = options.port ?? DEFAULT_PORT;
    if (options.cluster) {
      const cluster = options.cluster === true ? {} : options.cluster;
      const nodeOptions: Record<string, unknown> = { ...options.redisOptions };
      for (const name of CLUSTER_MANAGED_OPTIONS) delete nodeOptions[name];
      return new Cluster(cluster.nodes ?? [{ host, port }], {
        // A cluster spreads commands over one connection per node: its own auto-pipelining batches them per node.
        enableAutoPipelining: true,
        ...cluster.clusterOptions,
        ...(cluster.natMap ? { natMap: cluster.natMap } : {}),
        redisOptions: { ...common, ...nodeOptions },
      });
    }
    // Reconnect quickly once Redis is back: 100 ms, 200 ms, … at most 2 s apart.
    const retryStrategy = (times: number): number => Math.min(times * 100, 2000);
    if (options.sentinel) {
      const sentinel = options.sentinel;
      const sentinelTls = tlsOptions(sentinel.tls);
      return new Redis({
        ...common,
        retryStrategy,
        sentinels: sentinel.sentinels.map(({ host: h, port: p }) => ({ host: h, port: p })),
        name: sentinel.name,
        db: options.db ?? 0,
        ...(sentinel.username === undefined ? {} : { sentinelUsername: sentinel.username }),
        ...(sentinel.password === undefined ? {} : { sentinelPassword: sentinel.password }),
        ...(sentinelTls ? { sentinelTLS: sentinelTls } : {}),
        ...(tls ? { enableTLSForSentinelMode: true } : {}),
        ...options.redisOptions,
      });
    }
    return new Redis({ ...common, retryStrategy, host, port, db: options.db ?? 0, ...options.redisOptions });
  }

  /**
   * Hold the socket's writes until the current turn of the event loop has run its I/O callbacks
   * (`setImmediate`), so the commands that concurrent requests send meanwhile leave in one write.
   * This is the batching ioredis's auto-pipelining gives, without its pipeline object and extra
   * promises per command; it cut the CPU time of a Redis-backed session write by about a tenth.
   * Only for a standalone client the store created: a client passed in keeps its own write timing.
   */
  private batchWrites(): void {
    if (!this.batchesWrites || this.corked) return;
    const stream = (this.client as Redis).stream as NetStream | undefined;
    if (stream === undefined) return;
    stream.cork();
    this.corked = true;
    setImmediate(this.uncork, stream);
  }

  /**
   * Whether an operation can send its commands straight away, without a timer of the store's: on a
   * ready connection they go out at once, so none can be sent late, and ioredis's own
   * `commandTimeout` fails each one that gets no answer in time. The usual case; the hot operations
   * (`get`, `patch`, `touch`) then skip {@link RedisStore.run} and map their errors themselves.
   */
  private sendable(): boolean {
    return this.clientTimesOut && this.client.status === 'ready';
  }

  /**
   * Run one store operation: fail at once while the client is down, wait for a connection being
   * made, turn Redis errors into `SESSION_STORE_UNAVAILABLE` (with `key`, the session ID or lock
   * key of the operation, redacted from them), and give up after `commandTimeout` (unless `timed`
   * is false).
   */
  private async run<T>(operation: 'read' | 'write', key: string | undefined, work: () => Promise<T>, timed = true): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    let gaveUp = false;
    try {
      if (this.sendable()) return await work();
      const attempt = async (): Promise<T> => {
        await this.connected();
        // An operation reported as failed must not write once the connection comes up after all.
        if (gaveUp) throw new Error('the operation gave up before the connection was ready');
        return work();
      };
      if (!timed) return await attempt();
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          gaveUp = true;
          reject(new Error(`no answer from Redis within ${this.commandTimeout} ms`, { cause: this.lastClientError }));
        }, this.commandTimeout);
      });
      return await Promise.race([attempt(), deadline]);
    } catch (err) {
      throw err instanceof SessionError ? err : unavailable(operation, err, key);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Resolves once the client is ready. Commands are only sent on a ready connection, so none
   * piles up in ioredis's offline queue during an outage (to be replayed, long after its
   * request failed, when Redis is back). A client between reconnection attempts or closed
   * rejects at once; one connecting is waited for, by all operations together.
   */
  private connected(): Promise<void> {
    const client = this.client;
    const status = client.status;
    if (status === 'ready') return Promise.resolve();
    if (!CONNECTING_STATUSES.has(status)) {
      return Promise.reject(new Error(`the Redis connection is ${status}`, { cause: this.lastClientError }));
    }
    if (!this.readyWaiter) {
      const waiter = new Promise<void>((resolve, reject) => {
        const settle = (error?: Error): void => {
          client.off('ready', onReady);
          client.off('close', onClose);
          client.off('end', onClose);
          if (this.readyWaiter === waiter) this.readyWaiter = undefined;
          if (error) reject(error);
          else resolve();
        };
        const onReady = (): void => settle();
        const onClose = (): void => settle(new Error('the Redis connection closed before it was ready', { cause: this.lastClientError }));
        client.on('ready', onReady);
        client.on('close', onClose);
        client.on('end', onClose);
        if (status === 'wait') {
          client.connect().catch(() => {
            // Reported through the close event.
          });
        }
      });
      // Operations that gave up at their deadline no longer listen; the outcome is theirs only.
      waiter.catch(() => undefined);
      this.readyWaiter = waiter;
    }
    return this.readyWaiter;
  }

  /**
   * Run the write script; when the session's principal index must first cover the new expiry,
   * extend it and run the script again. Resolves `false` when a merge found no live record; rejects
   * with `SESSION_STORE_UNAVAILABLE` when Redis fails. A promise chain rather than an async
   * function: it runs for every write, and a suspended frame per layer is what a request allocates most.
   */
  private write(id: string, mode: 'set' | 'merge', change: WriteChange, attempt = 1): Promise<boolean> {
    const { now, expiresAt, principal, fields, indexed } = change;
    const action = principal === undefined ? 'k' : principal === null ? 'd' : 's';
    const args: (string | number)[] = [
      mode,
      now,
      // Whole milliseconds, as PEXPIREAT takes them (the script passes it on unchanged).
      Math.ceil(expiresAt),
      change.createdAt ?? '',
      action,
      principal ?? '',
      indexed?.principal ?? '',
      indexed?.until ?? 0,
      fields.deletes.length,
    ];
    for (const field of fields.deletes) args.push(field);
    for (const item of fields.sets) args.push(item);
    this.batchWrites();
    return WRITE_SCRIPT.run(this.client, [this.sessionKey(id)], args).then(
      (reply) => this.written(reply as WriteReply, id, mode, change, attempt),
      (cause: unknown) => writeFailed(cause, id),
    );
  }

  /** What a reply of the write script leaves to do: see {@link RedisStore.write}. */
  private written(reply: WriteReply, id: string, mode: 'set' | 'merge', change: WriteChange, attempt: number): boolean | Promise<boolean> {
    if (reply[0] === WRITE_GONE) return false;
    if (reply[0] === WRITE_DONE) return reply[1] === 1 ? this.unindex(String(reply[2]), id).then(() => true) : true;
    if (reply[0] !== WRITE_NEEDS_INDEX || attempt >= MAX_INDEX_ATTEMPTS) {
      throw unavailable('write', new Error(`unexpected reply of the session write script: ${JSON.stringify(reply)}`), id);
    }
    return this.index(String(reply[1]), id, change.expiresAt, change.now).then(
      (indexed) => this.write(id, mode, { ...change, indexed }, attempt + 1),
      (cause: unknown) => writeFailed(cause, id),
    );
  }

  /** Make `principal`'s index list session `id` until past `expiresAt`. */
  private async index(principal: string, id: string, expiresAt: number, now: number): Promise<IndexedPrincipal> {
    const until = this.indexUntil(expiresAt, now);
    await INDEX_SCRIPT.run(this.client, [this.principalKey(principal)], [now, id, until]);
    return { principal, until };
  }

  /** Remove `id` from the index of a principal it no longer belongs to (best effort). */
  private async unindex(principal: string, id: string): Promise<void> {
    await this.client.zrem(this.principalKey(principal), id).catch(() => {
      // A member left behind is skipped by findByPrincipal and pruned once its score passes.
    });
  }

  /** IDs the index at `key` may still list live sessions for. */
  private async indexedIds(key: string, now: number): Promise<string[]> {
    const ids = await this.client.zrangebyscore(key, now, '+inf');
    return ids.filter((id) => isValidSessionId(id));
  }

  /** The record in `hash` (an `HGETALL` reply), or `null` when there is none or it has expired. */
  private toRecord(hash: Record<string, string> | string[], now: number): SessionRecord | null {
    const data: Record<string, string> = {};
    const fields = {
      createdAt: undefined as number | undefined,
      expiresAt: undefined as number | undefined,
      principal: undefined as string | undefined,
    };
    if (Array.isArray(hash)) {
      for (let i = 0; i + 1 < hash.length; i += 2) readField(data, fields, hash[i], hash[i + 1]);
    } else {
      for (const field in hash) readField(data, fields, field, hash[field]);
    }
    const { createdAt, expiresAt, principal } = fields;
    if (!Number.isFinite(createdAt) || !Number.isFinite(expiresAt) || expiresAt! <= now) return null;
    const record: SessionRecord = { data, createdAt: createdAt!, expiresAt: expiresAt! };
    if (principal !== undefined) record.principal = principal;
    return record;
  }
}

/** One field of a session hash into `data` (a session key) or `fields` (the record's own fields). */
function readField(
  data: Record<string, string>,
  fields: { createdAt?: number; expiresAt?: number; principal?: string },
  field: string,
  value: string,
): void {
  if (field.startsWith(FIELD.data)) {
    const key = field.slice(FIELD.data.length);
    // defineProperty for `__proto__`, so it is returned like any other key instead of changing the prototype.
    if (key === '__proto__') Object.defineProperty(data, key, { value, enumerable: true, writable: true, configurable: true });
    else data[key] = value;
  } else if (field === FIELD.createdAt) fields.createdAt = Number(value);
  else if (field === FIELD.expiresAt) fields.expiresAt = Number(value);
  else if (field === FIELD.principal) fields.principal = value;
}

/** Hash fields to delete and field/value pairs to set for data keys. */
function dataFields(set: Record<string, string>, unset: string[]): { deletes: string[]; sets: string[] } {
  const sets: string[] = [];
  for (const [key, value] of Object.entries(set)) sets.push(FIELD.data + key, value);
  return { deletes: unset.map((key) => FIELD.data + key), sets };
}

/**
 * The `commandTimeout` ioredis applies to each command of `client` (ms); `Infinity` when it has none,
 * and for a cluster, whose commands may also wait for redirections and slot refreshes.
 */
function clientCommandTimeout(client: Redis | Cluster): number {
  if (isCluster(client)) return Number.POSITIVE_INFINITY;
  const timeout = (client as { options?: { commandTimeout?: unknown } }).options?.commandTimeout;
  return typeof timeout === 'number' && timeout > 0 ? timeout : Number.POSITIVE_INFINITY;
}

function isCluster(client: Redis | Cluster): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

function isRedisClient(value: unknown): value is Redis | Cluster {
  const client = value as Partial<Redis> | null;
  return (
    typeof client === 'object' &&
    client !== null &&
    typeof client.evalsha === 'function' &&
    typeof client.hgetall === 'function' &&
    typeof client.status === 'string'
  );
}

/** The ioredis `keyPrefix` of `client`, which it adds to key arguments but not to SCAN patterns. */
function keyPrefixOf(client: Redis | Cluster): string {
  return (client.options as { keyPrefix?: string }).keyPrefix ?? '';
}

/** `text` with the glob characters of Redis patterns escaped, so it matches only itself. */
function escapeGlob(text: string): string {
  return text.replace(/[\\*?[\]]/g, '\\$&');
}

function tlsOptions(tls: boolean | RedisTlsOptions | undefined): RedisTlsOptions | undefined {
  if (!tls) return undefined;
  return tls === true ? {} : { ...tls };
}

function definedOnly(options: RedisStoreOptions): RedisStoreOptions {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}

/** Rejection handlers of the hot operations' promise chains (see `RedisStore.sendable`), for session `id`. */
function readFailed(cause: unknown, id: string): never {
  throw cause instanceof SessionError ? cause : unavailable('read', cause, id);
}

function writeFailed(cause: unknown, id: string): never {
  throw cause instanceof SessionError ? cause : unavailable('write', cause, id);
}

/**
 * A failed operation on session (or lock) `key`. ioredis errors carry the command's arguments
 * (keys and values), so the `cause` is a copy without them and with the ID redacted (see `redactError`).
 */
function unavailable(operation: 'read' | 'write', cause: unknown, key?: string): SessionError {
  return new SessionError('SESSION_STORE_UNAVAILABLE', SessionMessages.storeUnavailable(operation), {
    cause: redactError(cause, key === undefined ? [] : [key]),
  });
}

function invalidOption(option: string, rule: string, fix: string): SessionError {
  return new SessionError('SESSION_OPTIONS_INVALID', SessionMessages.invalidOption(option, rule, fix));
}
