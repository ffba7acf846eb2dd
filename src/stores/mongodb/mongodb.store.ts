import { gcIntervalOption, startGcTimer } from '../../core/gc-timer.js';
import {
  MongoClient,
  type Collection,
  type Db,
  type Document,
  type IndexDescription,
  type MongoClientOptions,
  type UpdateFilter,
} from 'mongodb';
import { SessionError } from '../../core/errors/session.error.js';
import { SessionMessages } from '../../core/errors/session.messages.js';
import { isValidSessionId } from '../../core/session-id.js';
import { checkLockArguments, isValidLockOwner } from '../../core/lock-arguments.js';
import { redactError } from '../../core/redact-error.js';
import type { PrincipalSession, SessionPatch, SessionRecord, SessionStore } from '../../core/session-store.interface.js';
import { escapeKey, unescapeKey } from './mongo-key-escape.js';

/**
 * One session as {@link MongoStore} keeps it: one document per session.
 *
 * @example
 * ```js
 * { _id: 'Jb0y…', data: { user: '{"id":42}', 'cart%2Eitems': '[]' },
 *   createdAt: ISODate('2026-11-21T10:00:00Z'), expiresAt: ISODate('2026-11-21T12:00:00Z'), principal: '42' }
 * ```
 */
export interface MongoSessionDocument {
  /** The session ID. */
  _id: string;
  /** Encoded values under their session keys, escaped with `escapeKey` (`.` `$` `%`, a leading `_`, …). */
  data: Record<string, string>;
  /** When the session was created. */
  createdAt: Date;
  /** When the record expires; the TTL index on it lets MongoDB delete the document afterwards. */
  expiresAt: Date;
  /** Who the session belongs to, when the application names one; indexed (sparse). */
  principal?: string;
}

/**
 * One lock as {@link MongoStore} keeps it, in the sessions collection beside the sessions.
 *
 * @example
 * ```js
 * { _id: 'lock:Xk3…', owner: 'q9Zp…', expiresAt: ISODate('2026-11-21T10:00:30Z') }
 * ```
 */
export interface MongoLockDocument {
  /** `lock:` and the lock's key; session IDs never contain `:`, so no session has this `_id`. */
  _id: string;
  /** Who holds the lock. Session documents have no `owner` field. */
  owner: string;
  /** When the lock expires; the TTL index on `expiresAt` deletes expired locks too. */
  expiresAt: Date;
}

/**
 * Options of {@link MongoStore}. Give exactly one of `url`, `client`, `db`, or a `Collection` as
 * `collection`. With `url` the store creates its own `MongoClient` and closes it on
 * {@link MongoStore.close}; anything you pass in is yours to close.
 */
export interface MongoStoreOptions {
  /**
   * A MongoDB connection string (`mongodb://` or `mongodb+srv://`) for a client the store creates.
   * The database is `dbName`, or else the one in the URL's path.
   * @default none
   * @example 'mongodb://app:secret@mongo-1,mongo-2/app?replicaSet=rs0'
   */
  url?: string;
  /**
   * Options of the `MongoClient` the store creates from `url`, applied over the store's one
   * default, `serverSelectionTimeoutMS: 2000` (the driver's 30 s would hold every request that
   * long while MongoDB is unreachable; keep it below `SessionModule`'s `storeTimeout`).
   * @default {}
   * @example { maxPoolSize: 20, tls: true }
   */
  clientOptions?: MongoClientOptions;
  /**
   * A `MongoClient` to use; the store never closes it. The database is `dbName`, or else the
   * client's default (the one in its connection string). Connect it yourself (`await
   * client.connect()`, retried until it succeeds): when the driver's automatic connection on first
   * use fails, the driver closes the client for good and every later operation fails with
   * `MongoTopologyClosedError`. (The client the store creates from `url` is handled for you.)
   * @default none
   * @example client
   */
  client?: MongoClient;
  /**
   * A `Db` to use.
   * @default none
   * @example client.db('app')
   */
  db?: Db;
  /**
   * The database name, with `url` or `client`.
   * @default the database named in the connection string (the driver's `test` when it names none)
   * @example 'app'
   */
  dbName?: string;
  /**
   * The collection: its name (in the database of `url`, `client` or `db`), or a `Collection`
   * object to use as it is.
   * @default 'sessions'
   * @example 'web_sessions'
   * @example client.db('app').collection('sessions')
   */
  collection?: string | Collection<MongoSessionDocument> | Collection<Document>;
  /**
   * Whether the store creates its indexes (before its first operation; an operation that finds them
   * missing and cannot create them fails, and the next one tries again): a TTL index on
   * `expiresAt` with `expireAfterSeconds: 0`, so MongoDB deletes expired sessions by itself (its
   * TTL monitor runs about once a minute; expired records are never served meanwhile), and a
   * sparse index on `principal` for `findByPrincipal`/`destroyByPrincipal`. Turn it off when the
   * application's database user may not create indexes, and create them yourself.
   * @default true
   * @example false
   */
  createIndexes?: boolean;
  /**
   * Milliseconds between sweeps that delete expired sessions (see {@link MongoStore.gc}), on an
   * `unref()`ed timer. The TTL index already does this, so it is only needed without one.
   * @default 0 (no timer)
   * @example 300_000
   */
  gcInterval?: number;
  /**
   * The clock deciding whether a record has expired, in epoch milliseconds. Meant for tests. (The
   * TTL index uses the server's clock.)
   * @default Date.now
   * @example () => fakeTime
   */
  now?: () => number;
}

const DEFAULT_COLLECTION = 'sessions';
/** Start of the `_id` of lock documents; see {@link MongoLockDocument}. */
const LOCK_ID_PREFIX = 'lock:';
/** The server's error code for a duplicate key (an `_id` that exists). */
const DUPLICATE_KEY = 11000;
const DEFAULT_SERVER_SELECTION_TIMEOUT = 2000;
const COLLECTION_NAME = /^(?!system\.)[^$\0]+$/;
const DATABASE_NAME = /^[^/\\. "$*<>:|?\0]{1,63}$/;

/**
 * A {@link SessionStore} keeping one document per session in a MongoDB collection (see
 * {@link MongoSessionDocument}), through the official `mongodb` driver (an optional peer dependency).
 *
 * - **Atomic per-key writes.** `patch` is one `updateOne` that `$set`s and `$unset`s only the
 *   changed keys (`data.<escaped key>`) and the expiry, filtered on the session being live, so
 *   parallel requests never undo each other's keys, and a destroyed or expired session is never
 *   written again (no upsert). `touch` updates `expiresAt` the same way.
 * - **Expiry.** Dates are stored as BSON dates (millisecond precision). `get`, `patch`, `touch` and
 *   `findByPrincipal` only match documents whose `expiresAt` is in the future; the TTL index deletes
 *   the rest within about a minute. `gc` deletes them at once.
 * - **Session keys** may contain `.` or `$`, be empty or be `__proto__`: they are escaped into
 *   field names with `escapeKey` and restored with `unescapeKey`.
 * - **Locks** ({@link MongoStore.tryLock}) are documents `{ _id: 'lock:<key>', owner, expiresAt }`
 *   in the same collection (see {@link MongoLockDocument}).
 * - **Faults.** Every driver error rejects with a `SessionError` coded `SESSION_STORE_UNAVAILABLE`
 *   whose `cause` is a copy of the driver's error with the session ID (which a server error may
 *   quote, as in a duplicate key's `keyValue`) replaced by `[redacted]`.
 *
 * @example
 * ```ts
 * SessionModule.forRoot({ secret, store: new MongoStore({ url: 'mongodb://localhost/app' }) });
 * ```
 */
export class MongoStore implements SessionStore {
  /** The sessions collection. */
  protected readonly collection: Collection<MongoSessionDocument>;
  private readonly ownedClient: MongoClient | undefined;
  private readonly clock: () => number;
  private indexesReady: Promise<void> | undefined;
  private connecting: Promise<void> | undefined;
  private closed = false;
  private readonly createIndexesOnUse: boolean;
  /** The gc timer, `undefined` when `gcInterval` is `0` or after {@link MongoStore.close}. */
  protected timer: NodeJS.Timeout | undefined;

  constructor(options: MongoStoreOptions) {
    if (typeof options !== 'object' || options === null) {
      throw invalidOption(
        'url',
        'the store needs `url`, `client`, `db` or a `Collection`',
        "Pass for example { url: 'mongodb://localhost/app' }.",
      );
    }
    const { url, client, db, collection, dbName, clientOptions } = options;
    const collectionObject = typeof collection === 'object' && collection !== null ? collection : undefined;
    const sources = Object.entries({ url, client, db, collection: collectionObject }).filter(([, value]) => value !== undefined);
    if (sources.length !== 1) {
      throw invalidOption(
        sources[1]?.[0] ?? 'url',
        sources.length === 0
          ? 'the store needs `url`, `client`, `db` or a `Collection` as `collection`'
          : `give only one of ${sources.map(([name]) => `\`${name}\``).join(' and ')}`,
        "Pass for example { url: 'mongodb://localhost/app' } or { db: client.db('app') }.",
      );
    }
    if (dbName !== undefined && url === undefined && client === undefined) {
      throw invalidOption('dbName', 'it only applies with `url` or `client`', 'Leave it out, or name the database with `client.db(name)`.');
    }
    if (dbName !== undefined && (typeof dbName !== 'string' || !DATABASE_NAME.test(dbName))) {
      throw invalidOption('dbName', 'it must be a MongoDB database name (no / \\ . space " $ * < > : | ?)', "Pass for example 'app'.");
    }
    if (clientOptions !== undefined && url === undefined) {
      throw invalidOption('clientOptions', 'it only applies with `url`', 'Configure your own client instead.');
    }
    const collectionName = collectionObject ? undefined : (collection ?? DEFAULT_COLLECTION);
    if (collectionName !== undefined && (typeof collectionName !== 'string' || !COLLECTION_NAME.test(collectionName))) {
      throw invalidOption(
        'collection',
        'it must be a collection name (not empty, no $, not system.*) or a Collection',
        "Pass for example 'sessions'.",
      );
    }
    const createIndexes = options.createIndexes ?? true;
    if (typeof createIndexes !== 'boolean') {
      throw invalidOption('createIndexes', 'it must be true or false', 'Pass false to manage the indexes yourself.');
    }
    const gcInterval = gcIntervalOption(options.gcInterval, 0);

    if (url !== undefined) {
      if (typeof url !== 'string' || !/^mongodb(\+srv)?:\/\//i.test(url)) {
        throw invalidOption(
          'url',
          'it must be a mongodb:// or mongodb+srv:// connection string',
          "Pass for example 'mongodb://localhost/app'.",
        );
      }
      try {
        this.ownedClient = new MongoClient(url, { serverSelectionTimeoutMS: DEFAULT_SERVER_SELECTION_TIMEOUT, ...clientOptions });
      } catch (cause) {
        throw new SessionError(
          'SESSION_OPTIONS_INVALID',
          SessionMessages.invalidOption('url', 'the MongoDB driver refused it', 'See the cause for what it objected to.'),
          { cause },
        );
      }
    }
    const owner = this.ownedClient ?? client;
    const database = db ?? (owner && typeof owner.db === 'function' ? owner.db(dbName) : undefined);
    if (collectionObject) {
      if (!isCollection(collectionObject))
        throw invalidOption('collection', 'it must be a collection name or a MongoDB Collection', "Pass for example 'sessions'.");
      this.collection = collectionObject as unknown as Collection<MongoSessionDocument>;
    } else if (database && typeof database.collection === 'function') {
      this.collection = database.collection<MongoSessionDocument>(collectionName!);
    } else {
      throw invalidOption(db ? 'db' : 'client', 'it must be a MongoDB Db or MongoClient', "Pass for example { db: client.db('app') }.");
    }
    this.createIndexesOnUse = createIndexes;
    this.clock = options.now ?? Date.now;
    this.timer = startGcTimer(() => this.gc(), gcInterval);
  }

  async get(id: string): Promise<SessionRecord | null> {
    if (!isValidSessionId(id)) return null;
    const document = await this.run('read', [id], () => this.collection.findOne({ _id: id, expiresAt: { $gt: this.nowDate() } }));
    return document ? this.toRecord(document) : null;
  }

  /** @throws {SessionError} `SESSION_INVALID_ID` (as a rejection) when `id` is malformed. */
  async set(id: string, record: SessionRecord): Promise<void> {
    if (!isValidSessionId(id)) throw new SessionError('SESSION_INVALID_ID', SessionMessages.invalidId());
    const document = this.toDocument(record);
    // The data too: a validation error can quote the document, and an index's data keys are session IDs.
    await this.run('write', [id, record.data], () => this.collection.replaceOne({ _id: id }, document, { upsert: true }));
  }

  async patch(id: string, patch: SessionPatch, expiresAt: number): Promise<boolean> {
    if (!isValidSessionId(id)) return false;
    const $set: Document = { expiresAt: new Date(expiresAt) };
    const $unset: Document = {};
    for (const key of patch.unset) {
      // A key both set and unset is set: `$set` and `$unset` of one path would be refused.
      if (!Object.prototype.hasOwnProperty.call(patch.set, key)) $unset[`data.${escapeKey(key)}`] = '';
    }
    for (const [key, value] of Object.entries(patch.set)) $set[`data.${escapeKey(key)}`] = value;
    if (patch.principal === null) $unset.principal = '';
    else if (patch.principal !== undefined) $set.principal = patch.principal;
    const update: UpdateFilter<MongoSessionDocument> = Object.keys($unset).length > 0 ? { $set, $unset } : { $set };
    const result = await this.run('write', [id, patch.set, patch.unset], () =>
      this.collection.updateOne({ _id: id, expiresAt: { $gt: this.nowDate() } }, update),
    );
    return result.matchedCount === 1;
  }

  async touch(id: string, expiresAt: number): Promise<boolean> {
    if (!isValidSessionId(id)) return false;
    const result = await this.run('write', [id], () =>
      this.collection.updateOne({ _id: id, expiresAt: { $gt: this.nowDate() } }, { $set: { expiresAt: new Date(expiresAt) } }),
    );
    return result.matchedCount === 1;
  }

  async destroy(id: string): Promise<void> {
    if (!isValidSessionId(id)) return;
    await this.run('write', [id], () => this.collection.deleteOne({ _id: id }));
  }

  /**
   * Delete every expired session now (the TTL index does it within a minute anyway); resolves how
   * many. Expired locks are deleted too, without being counted.
   */
  async gc(): Promise<number> {
    const now = this.nowDate();
    const result = await this.run('write', [], () => this.collection.deleteMany({ expiresAt: { $lte: now }, owner: { $exists: false } }));
    await this.run('write', [], () => this.locks.deleteMany({ expiresAt: { $lte: now }, owner: { $exists: true } }));
    return result.deletedCount;
  }

  /**
   * Take lock `key` for `owner` unless another owner holds it unexpired (see
   * {@link SessionStore.tryLock}). The lock is a document `{ _id: 'lock:<key>', owner, expiresAt }`
   * in the sessions collection (see {@link MongoLockDocument}): `insertOne`, which the unique
   * `_id` makes fail when the lock exists, so of concurrent takers exactly one wins; then, when it
   * existed, `findOneAndUpdate` filtered on `_id` and on the lock having expired or being the
   * caller's own, which MongoDB applies atomically to the one document.
   *
   * @throws {SessionError} `SESSION_INVALID_ID` (as a rejection) for a malformed key, owner or
   * ttl; `SESSION_STORE_UNAVAILABLE` when MongoDB fails.
   */
  async tryLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    checkLockArguments(key, owner, ttlMs);
    const _id = LOCK_ID_PREFIX + key;
    return this.run('write', [key], async () => {
      // Twice: a lock released between the insert and the update is free and gets inserted.
      for (let attempt = 0; attempt < 2; attempt++) {
        const now = this.now();
        const expiresAt = new Date(now + ttlMs);
        try {
          await this.locks.insertOne({ _id, owner, expiresAt });
          return true;
        } catch (err) {
          if ((err as { code?: unknown } | null)?.code !== DUPLICATE_KEY) throw err;
        }
        const taken = await this.locks.findOneAndUpdate(
          { _id, $or: [{ expiresAt: { $lte: new Date(now) } }, { owner }] },
          { $set: { owner, expiresAt } },
        );
        if (taken) return true;
        if (await this.locks.findOne({ _id }, { projection: { _id: 1 } })) return false;
      }
      return false;
    });
  }

  /** Release lock `key` if `owner` holds it (see {@link SessionStore.unlock}): `deleteOne({ _id, owner })`. */
  async unlock(key: string, owner: string): Promise<void> {
    if (!isValidSessionId(key) || !isValidLockOwner(owner)) return;
    await this.run('write', [key], () => this.locks.deleteOne({ _id: LOCK_ID_PREFIX + key, owner }));
  }

  /** The live sessions of `principal`, through the `principal` index. */
  async findByPrincipal(principal: string): Promise<PrincipalSession[]> {
    if (typeof principal !== 'string') return [];
    const documents = await this.run('read', [], () =>
      this.collection.find({ principal, expiresAt: { $gt: this.nowDate() } }, { projection: { createdAt: 1, expiresAt: 1 } }).toArray(),
    );
    return documents.map((document) => ({
      id: document._id,
      createdAt: toMillis(document.createdAt),
      expiresAt: toMillis(document.expiresAt),
    }));
  }

  /** Delete every live session of `principal`; resolves how many were deleted. */
  async destroyByPrincipal(principal: string): Promise<number> {
    if (typeof principal !== 'string') return 0;
    const result = await this.run('write', [], () => this.collection.deleteMany({ principal, expiresAt: { $gt: this.nowDate() } }));
    return result.deletedCount;
  }

  /** Stop the gc timer, and close the client if the store created it (from `url`). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.ownedClient?.close();
  }

  /** The current time in epoch milliseconds; records with `expiresAt <= now()` are expired. */
  protected now(): number {
    return this.clock();
  }

  /** The document stored for `record` (without `_id`, which the filter gives). Override to add fields. */
  protected toDocument(record: SessionRecord): Omit<MongoSessionDocument, '_id'> {
    const data: Record<string, string> = {};
    for (const [key, value] of Object.entries(record.data)) data[escapeKey(key)] = value;
    return {
      data,
      createdAt: new Date(record.createdAt),
      expiresAt: new Date(record.expiresAt),
      ...(typeof record.principal === 'string' ? { principal: record.principal } : {}),
    };
  }

  /** The record a stored document holds. Override together with {@link MongoStore.toDocument}. */
  protected toRecord(document: MongoSessionDocument): SessionRecord {
    const data: Record<string, string> = {};
    for (const [field, value] of Object.entries(document.data ?? {})) {
      if (typeof value !== 'string') continue;
      // defineProperty, not assignment, so a key named `__proto__` is restored like any other key.
      Object.defineProperty(data, unescapeKey(field), { value, enumerable: true, writable: true, configurable: true });
    }
    return {
      data,
      createdAt: toMillis(document.createdAt),
      expiresAt: toMillis(document.expiresAt),
      ...(typeof document.principal === 'string' ? { principal: document.principal } : {}),
    };
  }

  /** The indexes {@link MongoStore} creates when `createIndexes` is on. Override to change them. */
  protected indexes(): IndexDescription[] {
    return [
      { key: { expiresAt: 1 }, expireAfterSeconds: 0 },
      { key: { principal: 1 }, sparse: true },
    ];
  }

  /** The sessions collection, seen as holding locks (see {@link MongoLockDocument}). */
  private get locks(): Collection<MongoLockDocument> {
    return this.collection as unknown as Collection<MongoLockDocument>;
  }

  private nowDate(): Date {
    return new Date(this.now());
  }

  /**
   * Run one driver call once the store's own client is connected and the indexes exist, turning any
   * error into `SESSION_STORE_UNAVAILABLE` (with the session IDs in `inputs`, what the call was
   * given, redacted from it; see `redactError`). A failed connection or index creation is retried
   * by the next call.
   */
  private async run<T>(operation: 'read' | 'write', inputs: readonly unknown[], call: () => Promise<T>): Promise<T> {
    try {
      await this.connect();
      if (this.createIndexesOnUse) {
        this.indexesReady ??= this.collection.createIndexes(this.indexes()).then(() => undefined);
        const ready = this.indexesReady;
        await ready.catch((err: unknown) => {
          if (this.indexesReady === ready) this.indexesReady = undefined;
          throw err;
        });
      }
      return await call();
    } catch (cause) {
      throw new SessionError('SESSION_STORE_UNAVAILABLE', SessionMessages.storeUnavailable(operation), {
        cause: redactError(cause, inputs),
      });
    }
  }

  /**
   * Connect the client the store created, once. Left to the driver's automatic connection, a first
   * connection that fails (MongoDB down when the application starts) closes the client for good:
   * every later operation fails with `MongoTopologyClosedError`. An explicit `connect()` after such
   * a failure starts afresh, so the store recovers as soon as MongoDB is reachable.
   */
  private async connect(): Promise<void> {
    const client = this.ownedClient;
    if (!client || this.closed) return;
    this.connecting ??= client.connect().then(() => undefined);
    const attempt = this.connecting;
    await attempt.catch((err: unknown) => {
      if (this.connecting === attempt) this.connecting = undefined;
      throw err;
    });
  }
}

function isCollection(value: object): boolean {
  const methods = value as Record<string, unknown>;
  return ['findOne', 'find', 'replaceOne', 'updateOne', 'deleteOne', 'deleteMany', 'createIndexes'].every(
    (name) => typeof methods[name] === 'function',
  );
}

function toMillis(value: unknown): number {
  return value instanceof Date ? value.getTime() : Number(value);
}

function invalidOption(option: string, rule: string, fix: string): SessionError {
  return new SessionError('SESSION_OPTIONS_INVALID', SessionMessages.invalidOption(option, rule, fix));
}
