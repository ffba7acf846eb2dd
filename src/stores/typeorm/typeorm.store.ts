import { gcIntervalOption, startGcTimer } from '../../core/gc-timer.js';
import type { DataSource, QueryResult } from 'typeorm';
import { SessionError } from '../../core/errors/session.error.js';
import { SessionMessages } from '../../core/errors/session.messages.js';
import { isValidSessionId } from '../../core/session-id.js';
import { checkLockArguments, isValidLockOwner } from '../../core/lock-arguments.js';
import { redactError } from '../../core/redact-error.js';
import type { PrincipalSession, SessionPatch, SessionRecord, SessionStore } from '../../core/session-store.interface.js';
import {
  createTableStatements,
  parseTableName,
  quoteTableName,
  sqlFamily,
  unsupportedDialect,
  type SqlFamily,
} from './session-table.sql.js';

/** Options of {@link TypeormStore}. Only `dataSource` is required. */
export interface TypeormStoreOptions {
  /**
   * The TypeORM `DataSource` to keep sessions in: PostgreSQL (`postgres`), MySQL (`mysql`), MariaDB
   * (`mariadb`) or SQLite (`better-sqlite3`). Usually the one `@nestjs/typeorm` provides, injected
   * into `SessionModule.forRootAsync` with `inject: [DataSource]` (or `getDataSourceToken('name')`).
   * The store needs no entity registered: it runs its own parameterised SQL. A DataSource that is
   * not initialized yet is initialized on first use, once. The store never destroys it unless
   * {@link TypeormStoreOptions.destroyDataSourceOnClose} says so.
   * @example
   * ```ts
   * SessionModule.forRootAsync({
   *   inject: [DataSource],
   *   useFactory: (dataSource: DataSource) => ({ secret, store: new TypeormStore({ dataSource }) }),
   * });
   * ```
   */
  dataSource: DataSource;
  /**
   * The session table. Must be a plain SQL identifier (`^[A-Za-z_][A-Za-z0-9_]{0,62}$`); on
   * PostgreSQL it may be schema-qualified (`schema.table`), on MySQL/MariaDB database-qualified.
   * It is quoted with the driver's `escape()` in every statement.
   * @default 'sessions'
   * @example 'app_sessions'
   */
  tableName?: string;
  /**
   * Create the table and its indexes (on `expires_at` and `principal`) on first use when they are
   * missing (`CREATE … IF NOT EXISTS`, so safe to leave on). Leave it off when migrations own the
   * schema; `sessionTableSql()` gives the statements for them. Stores built from a URL turn it on.
   * @default false
   * @example true
   */
  createTable?: boolean;
  /**
   * Milliseconds between sweeps that delete expired rows (see {@link TypeormStore.gc}). The timer
   * is `unref()`ed, so it never keeps the process alive. `0` disables the timer: expired rows are
   * then never served but stay in the table until something calls `gc()`.
   * @default 300_000 (5 minutes)
   * @example 0 // when a database job deletes expired rows
   */
  gcInterval?: number;
  /**
   * Most rows one `DELETE` of {@link TypeormStore.gc} removes; gc repeats until fewer expired rows
   * are left, so a large backlog never becomes one long lock-holding statement. At most 10 000.
   * @default 1000
   * @example 500
   */
  gcBatchSize?: number;
  /**
   * How many times `patch` re-reads and retries after another writer (another process) changed the
   * same session between its read and its write. When every retry loses too, `patch` rejects with
   * `SESSION_STORE_UNAVAILABLE`. Patches of one session from this store never compete with each
   * other: while one is being written, the next ones queue and are merged into a single write, so
   * only writers in other processes (or other stores) cause retries.
   * @default 10
   * @example 20
   */
  maxRetries?: number;
  /**
   * Destroy the DataSource in {@link TypeormStore.close}. Only for a DataSource the store alone uses;
   * stores built from a URL set it for the DataSource they create.
   * @default false
   * @example true
   */
  destroyDataSourceOnClose?: boolean;
  /**
   * The clock deciding whether a record has expired, in epoch milliseconds. Meant for tests.
   * @default Date.now
   * @example { now: () => fakeTime }
   */
  now?: () => number;
}

/** What `patch` reads before it writes: the data and the version it must still find when writing. */
export interface VersionedRow {
  data: Record<string, string>;
  principal: string | null;
  version: number;
}

/** A row as the drivers return it: bigint columns come back as strings from pg and mysql2. */
export interface SessionRow {
  id?: string;
  data?: string;
  created_at?: string | number | bigint;
  expires_at?: string | number | bigint;
  principal?: string | null;
  version?: string | number | bigint;
}

/** A patch waiting in {@link TypeormStore.patch}'s queue, with the callbacks settling its promise. */
export interface QueuedPatch {
  patch: SessionPatch;
  expiresAt: number;
  resolve(written: boolean): void;
  reject(error: unknown): void;
}

/** Rows and the affected-row count of one statement. */
export interface StatementResult {
  rows: SessionRow[];
  affected: number;
}

const DEFAULT_TABLE = 'sessions';
const DEFAULT_GC_INTERVAL = 5 * 60_000;
const DEFAULT_GC_BATCH_SIZE = 1000;
/** Keeps `DELETE … IN (…)` well below every driver's bound-parameter limit (SQLite: 32 766). */
const MAX_GC_BATCH_SIZE = 10_000;
const DEFAULT_MAX_RETRIES = 10;
/** How often one statement chosen as a deadlock victim is run again before the store gives up. */
const DEADLOCK_RETRIES = 5;
/** Upper bound of the random pause before a retry, so competing processes fall out of step. */
const MAX_RETRY_DELAY = 50;
/** First versions are random below this, far from the 32-bit integer limit of the column. */
const VERSION_RANGE = 2 ** 30;

/**
 * Start of the `id` of lock rows. Session IDs are base64url, which has no `:`, so no session ID
 * can ever equal a lock row's ID, and `isValidSessionId` refuses every lock row's ID.
 */
const LOCK_ID_PREFIX = 'lock:';
/** `LIKE` pattern of lock row IDs (bound as a parameter; `:` is no wildcard). */
const LOCK_ID_PATTERN = `${LOCK_ID_PREFIX}%`;

/**
 * Initialization of each DataSource the store started, shared by every store using that
 * DataSource, so concurrent first calls run `initialize()` once.
 */
const initializations = new WeakMap<DataSource, Promise<void>>();

/**
 * A {@link SessionStore} keeping sessions in one SQL table through TypeORM, on PostgreSQL,
 * MySQL/MariaDB or SQLite (better-sqlite3), for deployments that already run a database.
 *
 * - **Plain SQL, bound values.** No entity needs registering: every statement is parameterised SQL
 *   run through the DataSource. Values only ever travel as bound parameters; the table name is
 *   validated as an identifier and quoted with the driver's `escape()`.
 * - **Merges across processes.** `patch` reads the row and its `version`, merges the changed keys in
 *   JavaScript and writes with `… WHERE id = ? AND version = ?`; when another process wrote in
 *   between, no row matches, and it re-reads and retries (up to `maxRetries`). A row that expired or
 *   was deleted meanwhile is never written back. Within one store, patches of a session that
 *   arrive while one is being written are merged, in order, into the next write.
 * - **Expiry.** Rows with `expires_at <= now` are never served; {@link TypeormStore.gc} deletes them
 *   in batches of `gcBatchSize`, every `gcInterval`.
 * - **Locks** ({@link TypeormStore.tryLock}) are rows of the same table with the ID `lock:<key>`,
 *   which no session ID can have; no schema change is needed.
 * - **Faults.** Every database error rejects with a `SessionError` coded `SESSION_STORE_UNAVAILABLE`
 *   whose `cause` is a copy of the driver's error without the statement's parameters (and without
 *   mysql2's `sql`, which has them written in), with every session ID in it replaced by `[redacted]`.
 *
 * @example
 * ```ts
 * SessionModule.forRootAsync({
 *   imports: [TypeOrmModule.forRoot({ type: 'postgres', url: process.env.DATABASE_URL })],
 *   inject: [DataSource],
 *   useFactory: (dataSource: DataSource) => ({
 *     secret: process.env.SESSION_SECRET!,
 *     store: new TypeormStore({ dataSource, createTable: true }),
 *   }),
 * });
 * ```
 */
export class TypeormStore implements SessionStore {
  protected readonly dataSource: DataSource;
  /** Which of the three SQL variants the database speaks. */
  protected readonly family: SqlFamily;
  /** The quoted, possibly schema-qualified table name, ready to put into SQL. */
  protected readonly table: string;
  protected readonly gcBatchSize: number;
  protected readonly maxRetries: number;
  /** The gc timer, `undefined` when `gcInterval` is `0` or after {@link TypeormStore.close}. */
  protected timer: NodeJS.Timeout | undefined;
  private readonly createTable: boolean;
  private readonly createStatements: string[];
  private readonly destroyDataSourceOnClose: boolean;
  private readonly clock: () => number;
  private tableReady: Promise<void> | undefined;
  /** Patches waiting for the next write of each session ID. */
  private readonly queues = new Map<string, QueuedPatch[]>();
  /** The running write loop of each session ID with queued patches; removed once idle. */
  private readonly writers = new Map<string, Promise<void>>();

  constructor(options: TypeormStoreOptions) {
    const dataSource = options?.dataSource;
    if (typeof dataSource?.createQueryRunner !== 'function' || typeof dataSource.options !== 'object') {
      throw invalidOption(
        'dataSource',
        'it must be a TypeORM DataSource',
        'Pass the DataSource of @nestjs/typeorm, injected with `inject: [DataSource]`.',
      );
    }
    const family = sqlFamily(dataSource.options.type);
    if (!family) throw unsupportedDialect(dataSource.options.type);
    const name = parseTableName(options.tableName ?? DEFAULT_TABLE, family);
    const gcInterval = gcIntervalOption(options.gcInterval, DEFAULT_GC_INTERVAL);
    const gcBatchSize = options.gcBatchSize ?? DEFAULT_GC_BATCH_SIZE;
    if (!Number.isSafeInteger(gcBatchSize) || gcBatchSize < 1 || gcBatchSize > MAX_GC_BATCH_SIZE) {
      throw invalidOption('gcBatchSize', `it must be a whole number from 1 to ${MAX_GC_BATCH_SIZE}`, 'Pass for example 1000.');
    }
    const maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    if (!Number.isSafeInteger(maxRetries) || maxRetries < 0) {
      throw invalidOption('maxRetries', 'it must be a non-negative whole number', 'Pass for example 10.');
    }
    this.dataSource = dataSource;
    this.family = family;
    this.table = quoteTableName(name, (identifier) => dataSource.driver.escape(identifier));
    this.createTable = options.createTable ?? false;
    this.destroyDataSourceOnClose = options.destroyDataSourceOnClose ?? false;
    this.gcBatchSize = gcBatchSize;
    this.maxRetries = maxRetries;
    this.clock = options.now ?? Date.now;
    this.createStatements = createTableStatements(family, name, (identifier) => dataSource.driver.escape(identifier));
    this.timer = startGcTimer(() => this.gc(), gcInterval);
  }

  async get(id: string): Promise<SessionRecord | null> {
    if (!isValidSessionId(id)) return null;
    const { rows } = await this.execute(
      'read',
      `SELECT data, created_at, expires_at, principal FROM ${this.table} WHERE id = ? AND expires_at > ?`,
      [id, this.now()],
    );
    const row = rows[0];
    const data = row ? parseData(row.data) : null;
    if (!row || !data) return null;
    return {
      data,
      createdAt: Number(row.created_at),
      expiresAt: Number(row.expires_at),
      ...(typeof row.principal === 'string' ? { principal: row.principal } : {}),
    };
  }

  /** @throws {SessionError} `SESSION_INVALID_ID` (as a rejection) when `id` is malformed. */
  async set(id: string, record: SessionRecord): Promise<void> {
    if (!isValidSessionId(id)) throw new SessionError('SESSION_INVALID_ID', SessionMessages.invalidId());
    const params = [
      id,
      JSON.stringify(record.data),
      epochMs(record.createdAt),
      epochMs(record.expiresAt),
      typeof record.principal === 'string' ? record.principal : null,
      // A fresh row starts at a random version, so a patch that read a row destroyed since cannot
      // match a new row of the same ID by its version and write the old data into it.
      Math.floor(Math.random() * VERSION_RANGE),
    ];
    const insert = `INSERT INTO ${this.table}${this.family === 'mysql' ? '' : ' AS s'} (id, data, created_at, expires_at, principal, version) VALUES (?, ?, ?, ?, ?, ?)`;
    // The version moves on when a row is replaced, so patches that read the old row retry.
    const upsert =
      this.family === 'mysql'
        ? `${insert} ON DUPLICATE KEY UPDATE data = VALUES(data), created_at = VALUES(created_at), expires_at = VALUES(expires_at), principal = VALUES(principal), version = version + 1`
        : `${insert} ON CONFLICT (id) DO UPDATE SET data = excluded.data, created_at = excluded.created_at, expires_at = excluded.expires_at, principal = excluded.principal, version = s.version + 1`;
    await this.execute('write', upsert, params);
  }

  /**
   * Merge `patch` into the row with optimistic concurrency: read the data and version, merge, and
   * write only if the version is unchanged; otherwise re-read and retry, up to `maxRetries` times.
   * Patches of one session that arrive while an earlier one is in flight are merged, in order,
   * into the next write (see {@link TypeormStore.applyPatches}).
   *
   * @throws {SessionError} `SESSION_STORE_UNAVAILABLE` (as a rejection) when the database fails or
   * every retry lost against other writers.
   */
  async patch(id: string, patch: SessionPatch, expiresAt: number): Promise<boolean> {
    if (!isValidSessionId(id)) return false;
    // Copied now, so later changes by the caller are not stored.
    const changes: SessionPatch = {
      set: { ...patch.set },
      unset: [...patch.unset],
      ...(patch.principal === undefined ? {} : { principal: patch.principal }),
    };
    return new Promise<boolean>((resolve, reject) => {
      const queue = this.queues.get(id);
      if (queue) queue.push({ patch: changes, expiresAt, resolve, reject });
      else this.queues.set(id, [{ patch: changes, expiresAt, resolve, reject }]);
      if (!this.writers.has(id)) this.writers.set(id, this.drain(id));
    });
  }

  async touch(id: string, expiresAt: number): Promise<boolean> {
    if (!isValidSessionId(id)) return false;
    const { affected } = await this.execute('write', `UPDATE ${this.table} SET expires_at = ? WHERE id = ? AND expires_at > ?`, [
      epochMs(expiresAt),
      id,
      this.now(),
    ]);
    return affected > 0;
  }

  async destroy(id: string): Promise<void> {
    if (!isValidSessionId(id)) return;
    await this.execute('write', `DELETE FROM ${this.table} WHERE id = ?`, [id]);
  }

  /** Live sessions of `principal`, through the index on `principal`. */
  async findByPrincipal(principal: string): Promise<PrincipalSession[]> {
    const { rows } = await this.execute(
      'read',
      `SELECT id, principal, created_at, expires_at FROM ${this.table} WHERE principal = ? AND expires_at > ?`,
      [principal, this.now()],
    );
    // Compared again here because a MySQL collation may ignore trailing spaces (or case, in a
    // table created by hand), and a principal must match exactly.
    return rows
      .filter((row) => row.principal === principal && typeof row.id === 'string')
      .map((row) => ({ id: row.id!, createdAt: Number(row.created_at), expiresAt: Number(row.expires_at) }));
  }

  /**
   * Take lock `key` for `owner` unless another owner holds it unexpired (see
   * {@link SessionStore.tryLock}), with no schema change: the lock is a row of the session table
   * whose `id` is `lock:<key>` (a session ID never contains `:`), `data` the owner, `expires_at`
   * its expiry by the store's clock, and `principal` NULL. One `INSERT` that does nothing when
   * the row exists (`ON CONFLICT DO NOTHING`, `INSERT IGNORE` on MySQL), then, when it existed,
   * `UPDATE … WHERE id = ? AND (expires_at <= ? OR data = ?)`: the affected-row count says whether
   * the lock was free, expired or the caller's own. Both statements are atomic in every supported
   * database, so of many concurrent takers exactly one wins.
   *
   * @throws {SessionError} `SESSION_INVALID_ID` (as a rejection) for a malformed key, owner or
   * ttl; `SESSION_STORE_UNAVAILABLE` when the database fails.
   */
  async tryLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    checkLockArguments(key, owner, ttlMs);
    const id = LOCK_ID_PREFIX + key;
    // Twice: a lock released between the INSERT and the UPDATE is free and gets inserted.
    for (let attempt = 0; attempt < 2; attempt++) {
      const now = this.now();
      const expiresAt = epochMs(now + ttlMs);
      const insert =
        this.family === 'mysql'
          ? `INSERT IGNORE INTO ${this.table} (id, data, created_at, expires_at, principal, version) VALUES (?, ?, ?, ?, NULL, 0)`
          : `INSERT INTO ${this.table} (id, data, created_at, expires_at, principal, version) VALUES (?, ?, ?, ?, NULL, 0) ON CONFLICT (id) DO NOTHING`;
      const inserted = await this.execute('write', insert, [id, owner, epochMs(now), expiresAt]);
      if (inserted.affected > 0) return true;
      // version moves on so MySQL counts the row as changed even when nothing else differs.
      const { affected } = await this.execute(
        'write',
        `UPDATE ${this.table} SET data = ?, expires_at = ?, version = version + 1 WHERE id = ? AND (expires_at <= ? OR data = ?)`,
        [owner, expiresAt, id, now, owner],
      );
      if (affected > 0) return true;
      const { rows } = await this.execute('read', `SELECT id FROM ${this.table} WHERE id = ?`, [id]);
      if (rows.length > 0) return false;
    }
    return false;
  }

  /** Release lock `key` if `owner` holds it (see {@link SessionStore.unlock}): `DELETE … WHERE id = ? AND data = ?`. */
  async unlock(key: string, owner: string): Promise<void> {
    if (!isValidSessionId(key) || !isValidLockOwner(owner)) return;
    await this.execute('write', `DELETE FROM ${this.table} WHERE id = ? AND data = ?`, [LOCK_ID_PREFIX + key, owner]);
  }

  /** Delete every live session of `principal`; resolves how many were deleted. */
  async destroyByPrincipal(principal: string): Promise<number> {
    const ids = (await this.findByPrincipal(principal)).map((session) => session.id);
    let deleted = 0;
    for (let start = 0; start < ids.length; start += this.gcBatchSize) {
      const batch = ids.slice(start, start + this.gcBatchSize);
      const { affected } = await this.execute(
        'write',
        `DELETE FROM ${this.table} WHERE id IN (${batch.map(() => '?').join(', ')}) AND principal = ?`,
        [...batch, principal],
      );
      deleted += affected;
    }
    return deleted;
  }

  /**
   * Delete every expired row, at most `gcBatchSize` per statement (see
   * {@link TypeormStore.deleteExpiredBatch}), until a batch deletes fewer than `gcBatchSize` (rows
   * another process deleted meanwhile can end a run early; the next run picks up the rest).
   * Expired lock rows (see {@link TypeormStore.tryLock}) are deleted afterwards, apart. Resolves
   * how many session rows were deleted; lock rows are not counted. Runs every `gcInterval`.
   *
   * @throws {SessionError} `SESSION_STORE_UNAVAILABLE` (as a rejection) when the database fails;
   * rows deleted by earlier batches stay deleted.
   */
  async gc(): Promise<number> {
    // One `now` for the whole run, so it ends even while more rows keep expiring.
    const now = this.now();
    let deleted = 0;
    for (;;) {
      const count = await this.deleteExpiredBatch(now, this.gcBatchSize);
      deleted += count;
      if (count < this.gcBatchSize) break;
    }
    await this.deleteExpiredLocks(now);
    return deleted;
  }

  /**
   * Stop the gc timer, wait for queued patches, and destroy the DataSource if
   * `destroyDataSourceOnClose` is set (stores built from a URL). A DataSource passed in is left open.
   */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all(this.writers.values());
    if (!this.destroyDataSourceOnClose) return;
    await initializations.get(this.dataSource)?.catch(() => undefined);
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }

  /** The current time in epoch milliseconds; rows with `expires_at <= now()` are expired. */
  protected now(): number {
    return this.clock();
  }

  /**
   * Delete up to `limit` session rows (not lock rows) that expired at or before `now`; resolves
   * how many were deleted. Selects the IDs first and deletes by ID, because MySQL allows no `LIMIT` in an `IN` subquery.
   * Override to observe or throttle batches.
   */
  protected async deleteExpiredBatch(now: number, limit: number): Promise<number> {
    const { rows } = await this.execute(
      'read',
      `SELECT id FROM ${this.table} WHERE expires_at <= ? AND id NOT LIKE ? ORDER BY expires_at LIMIT ?`,
      [now, LOCK_ID_PATTERN, limit],
    );
    const ids = rows.map((row) => row.id).filter((id): id is string => typeof id === 'string');
    if (ids.length === 0) return 0;
    // expires_at is checked again: a row set anew between the two statements is live and stays.
    const { affected } = await this.execute(
      'write',
      `DELETE FROM ${this.table} WHERE id IN (${ids.map(() => '?').join(', ')}) AND expires_at <= ?`,
      [...ids, now],
    );
    return affected;
  }

  /**
   * Delete the lock rows that expired at or before `now`, in one statement: there are few, one
   * per lock name in recent use. Resolves how many were deleted.
   */
  protected async deleteExpiredLocks(now: number): Promise<number> {
    const { affected } = await this.execute('write', `DELETE FROM ${this.table} WHERE id LIKE ? AND expires_at <= ?`, [
      LOCK_ID_PATTERN,
      now,
    ]);
    return affected;
  }

  /**
   * Apply `batch` (patches of `id`, in arrival order) in one optimistic write: read the live row
   * and its version, merge every patch, write if the version is unchanged, else re-read and retry
   * (patches queued meanwhile join the batch). Resolves `false` when the row is gone or expired.
   * The last patch's `expiresAt` wins.
   */
  protected async applyPatches(id: string, batch: QueuedPatch[]): Promise<boolean> {
    for (let attempt = 0; attempt <= this.maxRetries; attempt++) {
      if (attempt > 0) {
        await sleep(this.retryDelay(attempt));
        batch.push(...this.takeQueued(id));
      }
      const now = this.now();
      const row = await this.readVersioned(id, now);
      if (!row) return false;
      let { data, principal } = row;
      for (const { patch } of batch) {
        data = this.merge(data, patch);
        if (patch.principal !== undefined) principal = patch.principal;
      }
      if (await this.writeVersioned(id, { data, principal, version: row.version }, batch.at(-1)!.expiresAt, now)) return true;
    }
    throw new SessionError('SESSION_STORE_UNAVAILABLE', SessionMessages.storeUnavailable('write'), {
      cause: new Error(`patch lost ${this.maxRetries + 1} optimistic-concurrency races in a row against other writers of the session`),
    });
  }

  /** The data, principal and version of the live row of `id`, or `null` when it is gone or expired. */
  protected async readVersioned(id: string, now: number): Promise<VersionedRow | null> {
    const { rows } = await this.execute('read', `SELECT data, principal, version FROM ${this.table} WHERE id = ? AND expires_at > ?`, [
      id,
      now,
    ]);
    const row = rows[0];
    const data = row ? parseData(row.data) : null;
    if (!row || !data) return null;
    return { data, principal: typeof row.principal === 'string' ? row.principal : null, version: Number(row.version) };
  }

  /**
   * Write `row` if the stored row is still live and still at `row.version`, moving the version
   * on; resolves whether it was written (`false`: another writer came first, or the row is gone).
   */
  protected async writeVersioned(id: string, row: VersionedRow, expiresAt: number, now: number): Promise<boolean> {
    const { affected } = await this.execute(
      'write',
      `UPDATE ${this.table} SET data = ?, expires_at = ?, principal = ?, version = version + 1 WHERE id = ? AND version = ? AND expires_at > ?`,
      [JSON.stringify(row.data), epochMs(expiresAt), row.principal, id, row.version, now],
    );
    return affected > 0;
  }

  /** A new `data` object: `data` with `patch.unset` removed and `patch.set` applied. */
  protected merge(data: Record<string, string>, patch: SessionPatch): Record<string, string> {
    const merged = { ...data };
    for (const key of patch.unset) delete merged[key];
    for (const [key, value] of Object.entries(patch.set)) {
      // defineProperty, not assignment, so a key named `__proto__` is stored like any other key.
      Object.defineProperty(merged, key, { value, enumerable: true, writable: true, configurable: true });
    }
    return merged;
  }

  /** Milliseconds to wait before retry number `attempt` (from 1) of a patch: random, growing, capped. */
  protected retryDelay(attempt: number): number {
    return Math.random() * Math.min(MAX_RETRY_DELAY, 2 ** attempt);
  }

  /**
   * Run one statement written with `?` placeholders (numbered for PostgreSQL here) and resolve its
   * rows and affected-row count. Initializes the DataSource and creates the table first when needed.
   *
   * @throws {SessionError} `SESSION_STORE_UNAVAILABLE` (as a rejection) for any database error.
   */
  protected async execute(operation: 'read' | 'write', sql: string, params: unknown[]): Promise<StatementResult> {
    await this.ready(operation);
    for (let attempt = 0; ; attempt++) {
      let result: QueryResult;
      const runner = this.dataSource.createQueryRunner();
      try {
        result = await runner.query(this.placeholders(sql), params, true);
      } catch (err) {
        // Every statement here runs alone (autocommit), so the database rolled back just this one:
        // running it again is safe. InnoDB picks such victims when lock rows are contended.
        if (isDeadlock(err) && attempt < DEADLOCK_RETRIES) {
          await sleep(1 + Math.random() * MAX_RETRY_DELAY);
          continue;
        }
        throw unavailable(operation, err, params);
      } finally {
        await runner.release().catch(() => undefined);
      }
      return { rows: (result.records ?? []) as SessionRow[], affected: result.affected ?? 0 };
    }
  }

  /** `sql` with its `?` placeholders in the dialect's form. Our statements hold no other `?`. */
  private placeholders(sql: string): string {
    if (this.family !== 'postgres') return sql;
    let n = 0;
    return sql.replace(/\?/g, () => `$${++n}`);
  }

  /** Initialize the DataSource (once, whoever else uses it) and create the table (once), on first use. */
  private async ready(operation: 'read' | 'write'): Promise<void> {
    let initialization = initializations.get(this.dataSource);
    if (!initialization) {
      initialization = this.dataSource.isInitialized ? Promise.resolve() : this.initialize();
      initializations.set(this.dataSource, initialization);
    }
    try {
      await initialization;
    } catch (err) {
      throw unavailable(operation, err);
    }
    if (!this.dataSource.isInitialized) {
      // Destroyed after it was ready (application shutdown): opening it again would leak a pool.
      throw unavailable(operation, new Error('the DataSource has been destroyed'));
    }
    if (!this.createTable) return;
    this.tableReady ??= this.ensureTable();
    const ready = this.tableReady;
    try {
      await ready;
    } catch (err) {
      if (this.tableReady === ready) this.tableReady = undefined;
      throw unavailable(operation, err);
    }
  }

  private async initialize(): Promise<void> {
    try {
      await this.dataSource.initialize();
    } catch (err) {
      // Someone else initialized it meanwhile: fine. Otherwise the next call tries again.
      if (this.dataSource.isInitialized) return;
      initializations.delete(this.dataSource);
      throw err;
    }
  }

  private async ensureTable(): Promise<void> {
    try {
      await this.runCreateStatements();
    } catch {
      // Someone else (a migration, another version of this app) may have been creating the same
      // table at that moment; by the second attempt it exists.
      await sleep(50 + Math.random() * 100);
      await this.runCreateStatements();
    }
  }

  private async runCreateStatements(): Promise<void> {
    const runner = this.dataSource.createQueryRunner();
    try {
      if (this.family !== 'postgres') {
        for (const statement of this.createStatements) await runner.query(statement);
        return;
      }
      // Concurrent CREATE … IF NOT EXISTS can fail on PostgreSQL with a duplicate catalog entry,
      // so stores starting together (several processes) take turns under an advisory lock.
      await runner.startTransaction();
      try {
        await runner.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`nest-sessions:${this.table}`]);
        for (const statement of this.createStatements) await runner.query(statement);
        await runner.commitTransaction();
      } catch (err) {
        await runner.rollbackTransaction().catch(() => undefined);
        throw err;
      }
    } finally {
      await runner.release().catch(() => undefined);
    }
  }

  /** Write the queued patches of `id`, batch after batch, until none are left. */
  private async drain(id: string): Promise<void> {
    try {
      for (let batch = this.takeQueued(id); batch.length > 0; batch = this.takeQueued(id)) {
        try {
          const written = await this.applyPatches(id, batch);
          for (const queued of batch) queued.resolve(written);
        } catch (err) {
          for (const queued of batch) queued.reject(err);
        }
      }
    } finally {
      this.writers.delete(id);
    }
  }

  /** The queued patches of `id`, removed from the queue. */
  private takeQueued(id: string): QueuedPatch[] {
    const queued = this.queues.get(id) ?? [];
    this.queues.delete(id);
    return queued;
  }
}

/** The `data` column as a record of strings, or `null` when it is not one. */
function parseData(text: unknown): Record<string, string> | null {
  if (typeof text !== 'string') return null;
  let value: unknown;
  try {
    // JSON.parse keeps a `__proto__` key as an own property, like any other key.
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  if (!Object.values(value).every((v) => typeof v === 'string')) return null;
  return value as Record<string, string>;
}

/**
 * `ms` as a whole number for the bigint columns, rounded down so a record never outlives its
 * `expiresAt`.
 */
function epochMs(ms: number): number {
  return Math.floor(ms);
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/**
 * A failed statement whose parameters were `params`. Drivers' errors carry the parameters (and
 * messages and details may quote them), among them session IDs, so the `cause` is a copy without
 * them and with every ID in them redacted (see `redactError`).
 */
/**
 * Whether the database rolled a statement back as a deadlock victim: MySQL and MariaDB
 * `ER_LOCK_DEADLOCK` (1213), PostgreSQL `deadlock_detected` (40P01). TypeORM wraps the driver's
 * error in a `QueryFailedError` that keeps its `code`, `errno` and `driverError`.
 */
function isDeadlock(err: unknown): boolean {
  const error = err as { code?: unknown; errno?: unknown; driverError?: { code?: unknown; errno?: unknown } } | null;
  const codes = [error?.code, error?.errno, error?.driverError?.code, error?.driverError?.errno];
  return codes.some((code) => code === 'ER_LOCK_DEADLOCK' || code === 1213 || code === '40P01');
}

function unavailable(operation: 'read' | 'write', cause: unknown, params: readonly unknown[] = []): SessionError {
  if (cause instanceof SessionError) return cause;
  return new SessionError('SESSION_STORE_UNAVAILABLE', SessionMessages.storeUnavailable(operation), {
    cause: redactError(cause, params),
  });
}

function invalidOption(option: string, rule: string, fix: string): SessionError {
  return new SessionError('SESSION_OPTIONS_INVALID', SessionMessages.invalidOption(option, rule, fix));
}
