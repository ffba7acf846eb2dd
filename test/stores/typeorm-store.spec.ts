import { freePort } from '../support/ports.js';
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SessionModule } from '../../src/index.js';
import { SessionError } from '../../src/core/errors/session.error.js';
import { generateSessionId } from '../../src/core/session-id.js';
import type { SessionRecord, SessionStore } from '../../src/core/session-store.interface.js';
import { createStoreFromUrl } from '../../src/stores/store-url.js';
import { sessionTableSql, TypeormStore, type TypeormStoreOptions, type VersionedRow } from '../../src/stores/typeorm/index.js';
import { parseDatabaseUrl } from '../../src/stores/typeorm/typeorm-store.url.js';
import { SECRET, startApp, testModule } from '../support/test-app.js';
import { describeStoreConformance } from '../../src/store-kit/store-conformance.js';

/** Unique per run, so parallel or crashed runs never share tables. */
const RUN = `${process.pid}_${randomBytes(3).toString('hex')}`;
const tmp = mkdtempSync(join(tmpdir(), 'ns-typeorm-'));
const LONG = 10 * 60_000;

type Family = 'postgres' | 'mysql' | 'sqlite';

interface Backend {
  name: string;
  family: Family;
  url: string;
  options: DataSourceOptions;
  /** Columns covered by a secondary index of `table`, from the database catalog. */
  indexedColumns(ds: DataSource, table: string): Promise<string[]>;
}

const columnOf = (definition: string): string => /\(\s*"?`?(\w+)"?`?\s*\)\s*$/.exec(definition)?.[1] ?? definition;

const BACKENDS: Backend[] = [
  {
    name: 'PostgreSQL',
    family: 'postgres',
    url: 'postgres://postgres@127.0.0.1:5432/test',
    options: { type: 'postgres', host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' },
    async indexedColumns(ds, table) {
      const rows = (await ds.query(
        `SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1 AND indexname <> $2`,
        [table, `${table}_pkey`],
      )) as { indexdef: string }[];
      return rows.map((row) => columnOf(row.indexdef));
    },
  },
  {
    name: 'MariaDB',
    family: 'mysql',
    url: 'mysql://root@127.0.0.1:3306/test',
    options: { type: 'mysql', host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test' },
    async indexedColumns(ds, table) {
      const rows = (await ds.query(
        `SELECT column_name AS col FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ? AND index_name <> 'PRIMARY'`,
        [table],
      )) as { col: string }[];
      return rows.map((row) => row.col);
    },
  },
  {
    name: 'SQLite',
    family: 'sqlite',
    url: `sqlite:${join(tmp, 'url.db')}`,
    options: { type: 'better-sqlite3', database: join(tmp, 'sessions.db') },
    async indexedColumns(ds, table) {
      const rows = (await ds.query(`SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL`, [table])) as {
        sql: string;
      }[];
      return rows.map((row) => columnOf(row.sql));
    },
  },
];

/** A record created a while ago that expires `ttl` ms from now. */
const record = (data: Record<string, string>, ttl = LONG): SessionRecord => {
  const now = Date.now();
  return { data, createdAt: now - 1000, expiresAt: now + ttl };
};

/** Rejection of `promise`, which must reject. */
async function rejection(promise: Promise<unknown>): Promise<SessionError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(SessionError);
  return error as SessionError;
}

/** Counts the reads and writes of `patch`, and can run `interleave` between a read and its write. */
class InterleavingStore extends TypeormStore {
  reads = 0;
  writes = 0;
  /** Runs once, after the next read of a patch; `keep` makes it run after every read. */
  interleave: (() => Promise<unknown>) | undefined;
  keep = false;

  protected override async readVersioned(id: string, now: number): Promise<VersionedRow | null> {
    const row = await super.readVersioned(id, now);
    this.reads++;
    const hook = this.interleave;
    if (!this.keep) this.interleave = undefined;
    if (hook) await hook();
    return row;
  }

  protected override async writeVersioned(id: string, row: VersionedRow, expiresAt: number, now: number): Promise<boolean> {
    this.writes++;
    return super.writeVersioned(id, row, expiresAt, now);
  }
}

/** Records every gc batch and how many expired rows were left after it. */
class BatchRecordingStore extends TypeormStore {
  readonly batches: { deleted: number; expiredLeft: number }[] = [];

  constructor(
    options: TypeormStoreOptions,
    private readonly countExpired: () => Promise<number>,
  ) {
    super(options);
  }

  protected override async deleteExpiredBatch(now: number, limit: number): Promise<number> {
    const deleted = await super.deleteExpiredBatch(now, limit);
    this.batches.push({ deleted, expiredLeft: await this.countExpired() });
    return deleted;
  }
}

/** Counts every statement the store sends, and gc runs. */
class CountingStore extends TypeormStore {
  statements = 0;
  gcRuns = 0;

  get gcTimer(): NodeJS.Timeout | undefined {
    return this.timer;
  }

  override async gc(): Promise<number> {
    this.gcRuns++;
    return super.gc();
  }

  protected override execute(operation: 'read' | 'write', sql: string, params: unknown[]) {
    this.statements++;
    return super.execute(operation, sql, params);
  }
}

/** The store `url` builds, which must be a TypeormStore. */
async function storeFromUrl(url: string, options: { gcInterval?: number } = {}): Promise<TypeormStore> {
  const store = await createStoreFromUrl(url, options);
  expect(store).toBeInstanceOf(TypeormStore);
  return store as TypeormStore;
}

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

for (const backend of BACKENDS) {
  describe(`TypeormStore on ${backend.name}`, () => {
    let ds: DataSource;
    const tables: string[] = [];
    const stores: SessionStore[] = [];
    const extraSources: DataSource[] = [];
    const newTable = (label: string): string => {
      const table = `ns_${label}_${RUN}`;
      tables.push(table);
      return table;
    };
    const q = (table: string): string => ds.driver.escape(table);
    const param = (n: number): string => (backend.family === 'postgres' ? `$${n}` : '?');
    const open = <T extends TypeormStore = TypeormStore>(
      options: Partial<TypeormStoreOptions>,
      Store = TypeormStore as unknown as new (o: TypeormStoreOptions) => T,
    ): T => {
      const store = new Store({ dataSource: ds, gcInterval: 0, ...options });
      stores.push(store);
      return store;
    };
    const secondSource = async (): Promise<DataSource> => {
      const other = new DataSource(backend.options);
      await other.initialize();
      extraSources.push(other);
      return other;
    };

    beforeAll(async () => {
      ds = new DataSource(backend.options);
      await ds.initialize();
    });

    afterEach(async () => {
      await Promise.all(stores.splice(0).map((store) => store.close?.()));
    });

    afterAll(async () => {
      for (const table of tables) await ds.query(`DROP TABLE IF EXISTS ${q(table)}`);
      await Promise.all(extraSources.map((source) => source.destroy()));
      await ds.destroy();
    });

    const conformanceTable = newTable('conf');
    describeStoreConformance(
      `TypeormStore on ${backend.name}`,
      () => new TypeormStore({ dataSource: ds, tableName: conformanceTable, createTable: true, gcInterval: 0 }),
      {
        supportsGc: true,
        supportsPrincipal: true,
        supportsLocks: true,
        teardown: async (store) => {
          await ds.query(`DELETE FROM ${q(conformanceTable)}`);
          await store.close?.();
        },
      },
    );

    it('keeps a lock as a row lock:<key> of the session table, which gc deletes once expired without counting it', async () => {
      const table = newTable('locks');
      let now = Date.now();
      const store = open({ tableName: table, createTable: true, now: () => now });
      const key = generateSessionId(43);
      expect(await store.tryLock(key, 'owner-a', 1000)).toBe(true);
      const rows = (await ds.query(`SELECT id, data, principal FROM ${q(table)}`)) as {
        id: string;
        data: string;
        principal: string | null;
      }[];
      expect(rows).toEqual([{ id: `lock:${key}`, data: 'owner-a', principal: null }]);
      expect(await store.tryLock(key, 'owner-b', 1000)).toBe(false);

      now += 1000;
      expect(await store.gc()).toBe(0);
      expect(await ds.query(`SELECT id FROM ${q(table)}`)).toEqual([]);
      expect(await store.tryLock(key, 'owner-b', 1000)).toBe(true);
      await store.unlock(key, 'owner-a');
      expect(await store.tryLock(key, 'owner-a', 1000)).toBe(false);
      await store.unlock(key, 'owner-b');
      expect(await ds.query(`SELECT id FROM ${q(table)}`)).toEqual([]);
    });

    it('takes and releases one contended lock from two DataSources 100 times without failing (InnoDB deadlock victims are run again)', async () => {
      // MariaDB chooses deadlock victims among concurrent INSERT IGNORE / UPDATE / DELETE of one lock
      // row; before each statement was re-run, a run of these 100 calls failed with ER_LOCK_DEADLOCK more often than not.
      const table = newTable('contended');
      const stores = [
        open({ tableName: table, createTable: true }),
        open({ dataSource: await secondSource(), tableName: table, createTable: true }),
      ];
      const key = generateSessionId(43);
      const failures: unknown[] = [];
      await Promise.all(
        Array.from({ length: 100 }, async (_, i) => {
          const store = stores[i % 2]!;
          const owner = `o${i}-${generateSessionId(22)}`;
          try {
            while (!(await store.tryLock(key, owner, 10_000))) await new Promise((done) => setTimeout(done, 3 + Math.random() * 12));
            await new Promise((done) => setTimeout(done, 2));
            await store.unlock(key, owner);
          } catch (error) {
            failures.push(error);
          }
        }),
      );
      expect(failures).toEqual([]);
    }, 60_000);

    it('creates the table and both indexes once, idempotently, even when stores start together', async () => {
      const table = newTable('create');
      const [a, b] = [open({ tableName: table, createTable: true }), open({ tableName: table, createTable: true })];
      await Promise.all([a.get(generateSessionId()), b.get(generateSessionId()), a.findByPrincipal('x')]);
      // A third store, and the published statements run twice more, find everything in place.
      await open({ tableName: table, createTable: true }).get(generateSessionId());
      for (let i = 0; i < 2; i++) for (const sql of sessionTableSql(backend.options.type as 'postgres', table)) await ds.query(sql);

      expect((await backend.indexedColumns(ds, table)).sort()).toEqual(['expires_at', 'principal']);
      const id = generateSessionId();
      const rec = { ...record({ a: '1' }), principal: 'p' };
      await a.set(id, rec);
      expect(await b.get(id)).toEqual(rec);
    });

    it('creates nothing unless createTable is set, failing with SESSION_STORE_UNAVAILABLE', async () => {
      const table = newTable('nocreate');
      const store = open({ tableName: table });
      expect((await rejection(store.get(generateSessionId()))).code).toBe('SESSION_STORE_UNAVAILABLE');
      // The table named by sessionTableSql() is what the store reads and writes.
      for (const sql of sessionTableSql(backend.options.type as 'postgres', table)) await ds.query(sql);
      const id = generateSessionId();
      await store.set(id, record({ a: '1' }));
      expect((await store.get(id))?.data).toEqual({ a: '1' });
    });

    it('gc deletes expired rows in bounded batches and keeps live ones', async () => {
      const table = newTable('gc');
      const countExpired = async (): Promise<number> => {
        const [row] = (await ds.query(`SELECT COUNT(*) AS n FROM ${q(table)} WHERE expires_at <= ${param(1)}`, [Date.now()])) as {
          n: string | number;
        }[];
        return Number(row.n);
      };
      const store = open(
        { tableName: table, createTable: true, gcBatchSize: 1000 },
        class extends BatchRecordingStore {
          constructor(options: TypeormStoreOptions) {
            super(options, countExpired);
          }
        },
      );
      await store.get(generateSessionId());
      const now = Date.now();
      const rows = Array.from({ length: 2500 }, (_, i) => [generateSessionId(), '{}', now - 10_000, now - 1000 - i, 0]);
      for (let start = 0; start < rows.length; start += 500) {
        const chunk = rows.slice(start, start + 500);
        const values = chunk.map((_, r) => `(${[1, 2, 3, 4, 5].map((c) => param(r * 5 + c)).join(', ')})`).join(', ');
        await ds.query(`INSERT INTO ${q(table)} (id, data, created_at, expires_at, version) VALUES ${values}`, chunk.flat());
      }
      const live = [generateSessionId(), generateSessionId()];
      for (const id of live) await store.set(id, record({ live: '1' }));

      expect(await store.gc()).toBe(2500);
      expect(store.batches).toEqual([
        { deleted: 1000, expiredLeft: 1500 },
        { deleted: 1000, expiredLeft: 500 },
        { deleted: 500, expiredLeft: 0 },
      ]);
      for (const id of live) expect((await store.get(id))?.data).toEqual({ live: '1' });
      expect(await store.gc()).toBe(0);
    });

    it('merges a write that another DataSource made between read and write, by version and retry', async () => {
      const table = newTable('merge');
      const a = open({ tableName: table, createTable: true }, InterleavingStore);
      const b = new TypeormStore({ dataSource: await secondSource(), tableName: table, gcInterval: 0 });
      stores.push(b);
      const id = generateSessionId();
      await a.set(id, record({ base: '0' }));

      a.interleave = () => b.patch(id, { set: { fromB: '"b"' }, unset: ['base'] }, Date.now() + LONG);
      expect(await a.patch(id, { set: { fromA: '"a"' }, unset: [] }, Date.now() + LONG)).toBe(true);
      expect({ reads: a.reads, writes: a.writes }).toEqual({ reads: 2, writes: 2 });
      expect((await b.get(id))?.data).toEqual({ fromA: '"a"', fromB: '"b"' });
    });

    it('never brings back a session destroyed by another DataSource between read and write', async () => {
      const table = newTable('resurrect');
      const a = open({ tableName: table, createTable: true }, InterleavingStore);
      const b = new TypeormStore({ dataSource: await secondSource(), tableName: table, gcInterval: 0 });
      stores.push(b);
      const id = generateSessionId();
      await a.set(id, { ...record({ base: '0' }), principal: 'alice' });

      a.interleave = () => b.destroy(id);
      expect(await a.patch(id, { set: { x: '1' }, unset: [] }, Date.now() + LONG)).toBe(false);
      expect(a.reads).toBe(2);
      expect(await b.get(id)).toBeNull();
      expect(await a.findByPrincipal('alice')).toEqual([]);

      // Recreated under the same ID in between: the stale read's version must not match the new row.
      await a.set(id, record({ old: '1' }));
      a.interleave = async () => {
        await b.destroy(id);
        await b.set(id, record({ fresh: '1' }));
      };
      expect(await a.patch(id, { set: { x: '1' }, unset: [] }, Date.now() + LONG)).toBe(true);
      expect((await b.get(id))?.data).toEqual({ fresh: '1', x: '1' });
    });

    it('gives up with SESSION_STORE_UNAVAILABLE after maxRetries lost races', async () => {
      const table = newTable('retries');
      const a = open({ tableName: table, createTable: true, maxRetries: 2 }, InterleavingStore);
      const b = new TypeormStore({ dataSource: await secondSource(), tableName: table, gcInterval: 0 });
      stores.push(b);
      const id = generateSessionId();
      await a.set(id, record({}));
      let n = 0;
      a.keep = true;
      a.interleave = () => b.patch(id, { set: { [`b${n++}`]: '1' }, unset: [] }, Date.now() + LONG);

      const error = await rejection(a.patch(id, { set: { a: '1' }, unset: [] }, Date.now() + LONG));
      expect(error.code).toBe('SESSION_STORE_UNAVAILABLE');
      expect(String((error.cause as Error).message)).toMatch(/3 optimistic-concurrency races/);
      expect(a.reads).toBe(3);
      expect((await b.get(id))?.data).toEqual({ b0: '1', b1: '1', b2: '1' });
    });

    it('keeps every key when two DataSources (two pools, like two processes) patch one session 50 times each in parallel', async () => {
      const table = newTable('pools');
      const a = open({ tableName: table, createTable: true }, InterleavingStore);
      const b = new InterleavingStore({ dataSource: await secondSource(), tableName: table, gcInterval: 0 });
      stores.push(b);
      const id = generateSessionId();
      const rec = record({ base: '0' });
      await a.set(id, rec);

      // Half start at once, the rest spread over 40 ms, so both pools keep writing into each other's reads.
      const later = (i: number): Promise<void> => new Promise((done) => setTimeout(done, i < 25 ? 0 : Math.random() * 40));
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => [
          later(i).then(() => a.patch(id, { set: { [`a${i}`]: String(i) }, unset: [] }, rec.expiresAt + i)),
          later(i).then(() => b.patch(id, { set: { [`b${i}`]: String(i) }, unset: [] }, rec.expiresAt + i)),
        ]).flat(),
      );
      expect(results.every((ok) => ok)).toBe(true);
      const expected: Record<string, string> = { base: '0' };
      for (let i = 0; i < 50; i++) expected[`a${i}`] = expected[`b${i}`] = String(i);
      expect((await a.get(id))?.data).toEqual(expected);
      // Each write attempt follows a read; queued patches share writes, so there are fewer than 100.
      expect(a.writes + b.writes).toBe(a.reads + b.reads);
      expect(a.writes + b.writes).toBeGreaterThanOrEqual(2);
    });

    it('round-trips SQL injection attempts in keys, values and principals as plain data', async () => {
      const table = newTable('inject');
      const store = open({ tableName: table, createTable: true });
      const evil = `'); DROP TABLE ${table}; --`;
      const data: Record<string, string> = {
        [evil]: JSON.stringify(evil),
        'a"b`c\\d': `"\\" ' \` $1 ? :name %s \u0000`,
        $1: '?',
        '?': '$2',
      };
      const principal = `${evil} OR 1=1 --`;
      const id = generateSessionId();
      const other = generateSessionId();
      await store.set(id, { ...record(data), principal });
      await store.set(other, { ...record({}), principal: 'x' });

      expect(await store.get(id)).toEqual({ ...record(data), principal, createdAt: expect.any(Number), expiresAt: expect.any(Number) });
      expect((await store.get(id))?.data).toEqual(data);
      expect(await store.patch(id, { set: { [`${evil}2`]: evil }, unset: ['$1'], principal: `${principal}'` }, Date.now() + LONG)).toBe(
        true,
      );
      const { $1: _, ...kept } = data;
      expect((await store.get(id))?.data).toEqual({ ...kept, [`${evil}2`]: evil });
      expect((await store.findByPrincipal(`${principal}'`)).map((s) => s.id)).toEqual([id]);
      expect(await store.findByPrincipal("' OR '1'='1")).toEqual([]);
      expect(await store.destroyByPrincipal(`${principal}'`)).toBe(1);
      expect(await store.get(other)).not.toBeNull();
    });

    it('fails with SESSION_STORE_UNAVAILABLE once the DataSource was destroyed, without opening it again', async () => {
      const other = new DataSource(backend.options);
      await other.initialize();
      const table = newTable('destroyed');
      const store = open({ dataSource: other, tableName: table, createTable: true });
      const id = generateSessionId();
      await store.set(id, record({ a: '1' }));
      await other.destroy();

      const error = await rejection(store.get(id));
      expect(error.code).toBe('SESSION_STORE_UNAVAILABLE');
      expect((error.cause as Error).message).toMatch(/destroyed/);
      expect(other.isInitialized).toBe(false);
    });

    it(`builds a working store from ${backend.url.split(':')[0]}: URLs, and close() destroys its own DataSource`, async () => {
      const table = newTable('url');
      const store = await storeFromUrl(`${backend.url}?table=${table}`, { gcInterval: 0 });
      stores.push(store);
      const id = generateSessionId();
      await store.set(id, record({ via: 'url' }));
      expect((await store.get(id))?.data).toEqual({ via: 'url' });
      const own = store as unknown as { dataSource: DataSource; timer: unknown };
      expect(own.timer).toBeUndefined();
      const [row] = (await own.dataSource.query(`SELECT data FROM ${q(table)} WHERE id = ${param(1)}`, [id])) as { data: string }[];
      expect(JSON.parse(row.data)).toEqual({ via: 'url' });
      await store.close();
      expect(own.dataSource.isInitialized).toBe(false);
      expect((await rejection(store.get(id))).code).toBe('SESSION_STORE_UNAVAILABLE');
    });
  });
}

describe('TypeormStore options', () => {
  const sqlite = (): DataSource => new DataSource({ type: 'better-sqlite3', database: ':memory:' });
  const pg = (): DataSource => new DataSource({ type: 'postgres', host: '127.0.0.1', username: 'postgres', database: 'test' });

  it.each([
    'sessions; DROP TABLE users; --',
    'a"b',
    'a`b',
    "a'b",
    '1sessions',
    'x'.repeat(64),
    '',
    'a.b.c',
    'a..b',
    'sess ions',
    'séssions',
    'sessions\u0000',
    '"sessions"',
  ])('rejects the hostile or invalid table name %j at construction', (tableName) => {
    for (const dataSource of [sqlite(), pg()]) {
      let error: unknown;
      try {
        new TypeormStore({ dataSource, tableName, gcInterval: 0 });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(SessionError);
      expect((error as SessionError).code).toBe('SESSION_OPTIONS_INVALID');
      expect((error as SessionError).message).toContain('`tableName`');
    }
  });

  it('accepts schema.table on PostgreSQL and MySQL but not on SQLite', () => {
    expect(() => new TypeormStore({ dataSource: pg(), tableName: 'auth.sessions', gcInterval: 0 })).not.toThrow();
    expect(() => new TypeormStore({ dataSource: sqlite(), tableName: 'main.sessions', gcInterval: 0 })).toThrow(/`tableName`/);
    expect(sessionTableSql('postgres', 'auth.sessions')[0]).toContain('"auth"."sessions"');
    expect(sessionTableSql('mysql', 'app.sessions')[0]).toContain('`app`.`sessions`');
  });

  it.each([
    ['gcInterval', { gcInterval: -1 }],
    ['gcInterval', { gcInterval: Number.NaN }],
    ['gcBatchSize', { gcBatchSize: 0 }],
    ['gcBatchSize', { gcBatchSize: 1.5 }],
    ['gcBatchSize', { gcBatchSize: 10_001 }],
    ['maxRetries', { maxRetries: -1 }],
    ['maxRetries', { maxRetries: 0.5 }],
    ['dataSource', { dataSource: {} as DataSource }],
    ['dataSource', { dataSource: { options: { type: 'oracle' }, createQueryRunner: () => undefined } as unknown as DataSource }],
  ])('rejects an invalid %s option', (option, options) => {
    expect(() => new TypeormStore({ dataSource: sqlite(), gcInterval: 0, ...options })).toThrow(
      expect.objectContaining({ code: 'SESSION_OPTIONS_INVALID', message: expect.stringContaining(`\`${option}\``) }),
    );
  });

  it('sessionTableSql gives long-text data, bigint times and both indexes per dialect', () => {
    const [mysql] = sessionTableSql('mariadb', 'sessions');
    expect(mysql).toMatch(/data longtext/);
    expect(mysql).toMatch(/id varchar\(128\) CHARACTER SET ascii COLLATE ascii_bin NOT NULL/);
    expect(mysql).toMatch(/KEY `sessions_expires_at_idx` \(expires_at\)/);
    expect(mysql).toMatch(/KEY `sessions_principal_idx` \(principal\)/);
    const pgSql = sessionTableSql('postgres');
    expect(pgSql).toHaveLength(3);
    expect(pgSql[0]).toMatch(/data text NOT NULL[\s\S]*expires_at bigint NOT NULL/);
    expect(pgSql[1]).toBe('CREATE INDEX IF NOT EXISTS "sessions_expires_at_idx" ON "sessions" (expires_at)');
    expect(sessionTableSql('better-sqlite3')).toEqual(sessionTableSql('sqlite'));
    // Index names stay within the 63 characters every database keeps, and distinct.
    const long = sessionTableSql('postgres', 'a'.repeat(63));
    const longer = sessionTableSql('postgres', `${'a'.repeat(62)}b`);
    const indexName = (sql: string): string => /INDEX IF NOT EXISTS "(\w+)"/.exec(sql)![1];
    expect(indexName(long[1]).length).toBeLessThanOrEqual(63);
    expect(indexName(long[1])).not.toBe(indexName(longer[1]));
    expect(() => sessionTableSql('oracle' as 'postgres')).toThrow(expect.objectContaining({ code: 'SESSION_OPTIONS_INVALID' }));
  });

  it('answers malformed IDs without sending any statement', async () => {
    const store = new CountingStore({ dataSource: sqlite(), createTable: true, gcInterval: 0 });
    for (const bad of ['short', `${'A'.repeat(30)}'`, 'A'.repeat(129), undefined as unknown as string]) {
      expect(await store.get(bad)).toBeNull();
      expect(await store.patch(bad, { set: { a: '1' }, unset: [] }, Date.now() + LONG)).toBe(false);
      expect(await store.touch(bad, Date.now() + LONG)).toBe(false);
      await store.destroy(bad);
      expect((await rejection(store.set(bad, record({})))).code).toBe('SESSION_INVALID_ID');
    }
    expect(store.statements).toBe(0);
    await store.close();
  });

  it('initializes a not-yet-initialized DataSource once under concurrent first calls, and never destroys it', async () => {
    const dataSource = new DataSource({ type: 'better-sqlite3', database: join(tmp, 'lazy.db') });
    const initialize = dataSource.initialize.bind(dataSource);
    let initializations = 0;
    dataSource.initialize = async () => {
      initializations++;
      await new Promise((done) => setTimeout(done, 20));
      return initialize();
    };
    const a = new TypeormStore({ dataSource, createTable: true, gcInterval: 0 });
    const b = new TypeormStore({ dataSource, createTable: true, gcInterval: 0 });
    const id = generateSessionId();
    await Promise.all([
      a.set(id, record({ a: '1' })),
      ...Array.from({ length: 5 }, () => a.get(generateSessionId())),
      ...Array.from({ length: 5 }, () => b.get(generateSessionId())),
    ]);
    expect(initializations).toBe(1);
    expect((await b.get(id))?.data).toEqual({ a: '1' });
    await a.close();
    await b.close();
    expect(dataSource.isInitialized).toBe(true);
    await dataSource.destroy();
  });

  it('runs gc on an unref()ed timer that close() stops', async () => {
    const dataSource = sqlite();
    const store = new CountingStore({ dataSource, createTable: true, gcInterval: 10 });
    expect(store.gcTimer?.hasRef()).toBe(false);
    await new Promise((done) => setTimeout(done, 80));
    expect(store.gcRuns).toBeGreaterThan(0);
    await store.close();
    const runs = store.gcRuns;
    await new Promise((done) => setTimeout(done, 50));
    expect(store.gcRuns).toBe(runs);
    expect(store.gcTimer).toBeUndefined();
    await dataSource.destroy();
  });
});

describe('TypeormStore against a database that is down', () => {
  it.each(['postgres', 'mysql'])('%s: every operation rejects with SESSION_STORE_UNAVAILABLE, and close() resolves', async (scheme) => {
    const store = await storeFromUrl(`${scheme}://root@127.0.0.1:${await freePort()}/test`, { gcInterval: 0 });
    const id = generateSessionId();
    const operations: [string, () => Promise<unknown>][] = [
      ['get', () => store.get(id)],
      ['set', () => store.set(id, record({}))],
      ['patch', () => store.patch(id, { set: {}, unset: [] }, Date.now() + LONG)],
      ['touch', () => store.touch(id, Date.now() + LONG)],
      ['destroy', () => store.destroy(id)],
      ['gc', () => store.gc()],
      ['findByPrincipal', () => store.findByPrincipal('p')],
      ['destroyByPrincipal', () => store.destroyByPrincipal('p')],
    ];
    for (const [name, operation] of operations) {
      const error = await rejection(operation());
      expect(error.code, name).toBe('SESSION_STORE_UNAVAILABLE');
      expect(error.statusCode, name).toBe(503);
      expect(error.cause, name).toBeDefined();
    }
    await expect(store.close()).resolves.toBeUndefined();
  });
});

describe('database URLs', () => {
  it('parses postgres, postgresql, mysql, mariadb and sqlite forms', () => {
    expect(parseDatabaseUrl('postgres://postgres@127.0.0.1:5432/test')).toEqual({
      dataSourceOptions: { type: 'postgres', host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' },
    });
    expect(parseDatabaseUrl('postgresql://u%40x:p%2Fw%3A@db.example:6543/app?table=auth.sessions')).toEqual({
      dataSourceOptions: { type: 'postgres', host: 'db.example', port: 6543, username: 'u@x', password: 'p/w:', database: 'app' },
      tableName: 'auth.sessions',
    });
    expect(parseDatabaseUrl('postgres://[::1]/app').dataSourceOptions).toMatchObject({ host: '::1', database: 'app' });
    expect(parseDatabaseUrl('mysql://root@127.0.0.1:3306/test?table=s').dataSourceOptions).toEqual({
      type: 'mysql',
      host: '127.0.0.1',
      port: 3306,
      username: 'root',
      database: 'test',
    });
    expect(parseDatabaseUrl('mariadb://root:pw@localhost/test').dataSourceOptions).toMatchObject({ type: 'mariadb', password: 'pw' });
    expect(parseDatabaseUrl('sqlite:./data/sessions.db?table=web_sessions')).toEqual({
      dataSourceOptions: { type: 'better-sqlite3', database: './data/sessions.db' },
      tableName: 'web_sessions',
    });
    expect(parseDatabaseUrl('sqlite:///var/lib/app/my%20sessions.db').dataSourceOptions).toEqual({
      type: 'better-sqlite3',
      database: '/var/lib/app/my sessions.db',
    });
    expect(parseDatabaseUrl('sqlite://localhost/abs.db').dataSourceOptions).toMatchObject({ database: '/abs.db' });
    expect(parseDatabaseUrl('sqlite::memory:').dataSourceOptions).toEqual({ type: 'better-sqlite3', database: ':memory:' });
  });

  it.each([
    ['postgres://127.0.0.1/test?sslmode=require', /"sslmode" is not supported/],
    ['postgres://127.0.0.1/test?table=a&table=b', /more than once/],
    ['mysql://127.0.0.1', /needs a database name/],
    ['mysql://127.0.0.1/a/b', /must be a database name/],
    ['postgres:///test', /names no host/],
    ['sqlite://server/x.db', /names a host/],
    ['sqlite:', /needs a file path/],
    ['sqlite:?table=x', /needs a file path/],
    ['sqlite:///x%zz.db', /malformed %-escape/],
  ])('rejects %s', async (url, message) => {
    const error = await rejection(createStoreFromUrl(url));
    expect(error.code).toBe('SESSION_OPTIONS_INVALID');
    expect(error.message).toMatch(message);
  });

  it('rejects a hostile ?table= name before connecting', async () => {
    const error = await rejection(createStoreFromUrl(`sqlite::memory:?table=${encodeURIComponent('x; DROP TABLE y')}`));
    expect(error.message).toContain('`tableName`');
  });

  it('sqlite::memory: and sqlite:///absolute paths work and create their table', async () => {
    const memory = await storeFromUrl('sqlite::memory:', { gcInterval: 0 });
    const id = generateSessionId();
    await memory.set(id, record({ m: '1' }));
    expect((await memory.get(id))?.data).toEqual({ m: '1' });
    await memory.close();

    const file = join(tmp, 'absolute.db');
    const absolute = await storeFromUrl(`sqlite://${file}`);
    // The gc timer runs by default on URL-built stores, passed through gcInterval otherwise.
    expect((absolute as unknown as { timer: NodeJS.Timeout | undefined }).timer?.hasRef()).toBe(false);
    await absolute.set(id, record({ f: '1' }));
    expect(existsSync(file)).toBe(true);
    await absolute.close();
  });
});

describe('TypeormStore in a Nest app with @nestjs/typeorm (e2e over HTTP)', () => {
  it('counts visits through the DataSource injected into SessionModule.forRootAsync', async () => {
    const database = join(tmp, 'nest.db');
    let store: TypeormStore | undefined;
    const session = SessionModule.forRootAsync({
      inject: [DataSource],
      useFactory: (dataSource: DataSource) => {
        store = new TypeormStore({ dataSource, createTable: true, tableName: 'web_sessions', gcInterval: 0 });
        return { secret: SECRET, store };
      },
    });
    const app = await startApp(testModule(session, [TypeOrmModule.forRoot({ type: 'better-sqlite3', database })]));
    try {
      const alice = app.client();
      const bob = app.client();
      for (const visits of [1, 2, 3]) expect((await alice.get('/visit')).json()).toEqual({ visits, degraded: false });
      expect((await bob.get('/visit')).json()).toEqual({ visits: 1, degraded: false });

      const dataSource = app.app.get(DataSource);
      const rows = (await dataSource.query('SELECT id, data FROM web_sessions')) as { id: string; data: string }[];
      expect(rows).toHaveLength(2);
      const visits = rows.map((row) => JSON.parse((JSON.parse(row.data) as Record<string, string>)['visits']) as number);
      expect(visits.sort()).toEqual([1, 3]);
    } finally {
      await app.close();
      await store?.close();
    }
  });
});
