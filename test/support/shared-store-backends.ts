import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { FileStore, MemoryStore, type SessionStore } from '../../src/index.js';
import { MemcachedStore } from '../../src/stores/memcached/index.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import { TypeormStore } from '../../src/stores/typeorm/index.js';
import { MemcachedTestServer } from './memcached-server.js';
import { startRedisCluster } from './redis-servers.js';

/** One backend opened for a test file: a store, more stores on the same data, and the cleanup. */
export interface OpenBackend {
  /** The store the test app uses. */
  store: SessionStore;
  /**
   * Another store instance on the same data, as a second process sharing the backend would have
   * (its own client or connection pool). For the memory store, which lives in one process, the
   * same instance.
   */
  peer(): Promise<SessionStore>;
  /** Close every store and connection, and delete every key or table the backend created. */
  cleanup(): Promise<void>;
}

/** A store backend on this machine that several processes can share. */
export interface SharedStoreBackend {
  name: string;
  open(): Promise<OpenBackend>;
}

const PG: DataSourceOptions = { type: 'postgres', host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };
const MARIADB: DataSourceOptions = { type: 'mysql', host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test' };

/**
 * A TypeormStore backend in a table of its own (created by the store, dropped by `cleanup`), every
 * store instance with its own DataSource. `dropTable` quotes the table name for its database.
 */
function typeormBackend(
  name: string,
  options: () => Promise<{ source: DataSourceOptions; dropTable(table: string): string; cleanup?(): Promise<void> }>,
): SharedStoreBackend {
  return {
    name,
    async open() {
      const { source, dropTable, cleanup } = await options();
      const tableName = `ns_index_locks_${process.pid}_${randomBytes(3).toString('hex')}`;
      const sources: DataSource[] = [];
      const stores: TypeormStore[] = [];
      const create = async (): Promise<TypeormStore> => {
        const dataSource = new DataSource(source);
        await dataSource.initialize();
        sources.push(dataSource);
        const store = new TypeormStore({ dataSource, tableName, createTable: true, gcInterval: 0 });
        stores.push(store);
        return store;
      };
      const store = await create();
      return {
        store,
        peer: create,
        async cleanup() {
          await Promise.all(stores.map((s) => s.close()));
          await sources[0].query(dropTable(tableName));
          await Promise.all(sources.map((source) => source.destroy()));
          await cleanup?.();
        },
      };
    },
  };
}

/**
 * The memory store, the local Redis (6379, under a key prefix of its own, cleared afterwards) and
 * the local PostgreSQL (5432, database `test`, in a table of its own, dropped afterwards).
 *
 * @example for (const backend of SHARED_STORE_BACKENDS) describe(backend.name, () => { ... });
 */
export const SHARED_STORE_BACKENDS: SharedStoreBackend[] = [
  {
    name: 'MemoryStore',
    async open() {
      const store = new MemoryStore({ gcInterval: 0 });
      return { store, peer: async () => store, cleanup: () => store.close() };
    },
  },
  {
    name: 'RedisStore (local Redis)',
    async open() {
      const keyPrefix = `test:index-locks:${randomBytes(4).toString('hex')}:`;
      const stores: RedisStore[] = [];
      const create = (): RedisStore => {
        const store = new RedisStore({ host: '127.0.0.1', port: 6379, keyPrefix });
        stores.push(store);
        return store;
      };
      const store = create();
      return {
        store,
        peer: async () => create(),
        async cleanup() {
          await store.clear();
          await Promise.all(stores.map((s) => s.close()));
        },
      };
    },
  },
  typeormBackend('TypeormStore (local PostgreSQL)', async () => ({ source: PG, dropTable: (table) => `DROP TABLE IF EXISTS "${table}"` })),
];

/**
 * The other server-side stores, each on data of its own: FileStore (a temporary directory), SQLite
 * (better-sqlite3, a file in a temporary directory), the local MariaDB (3306, database `test`, a
 * table of its own, dropped afterwards), memcached (a server the backend starts) and a 3-master
 * Redis Cluster (servers the backend starts, a few seconds). Kept apart from
 * {@link SHARED_STORE_BACKENDS}, whose users run timing-bound lock tests; `open()` starts servers.
 */
export const MORE_SERVER_STORE_BACKENDS: SharedStoreBackend[] = [
  {
    name: 'FileStore (temporary directory)',
    async open() {
      const dir = await mkdtemp(join(tmpdir(), 'nest-sessions-shared-file-'));
      const stores: FileStore[] = [];
      const create = (): FileStore => {
        const store = new FileStore({ directory: join(dir, 'sessions'), gcInterval: 0 });
        stores.push(store);
        return store;
      };
      const store = create();
      return {
        store,
        peer: async () => create(),
        async cleanup() {
          await Promise.all(stores.map((s) => s.close()));
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  },
  typeormBackend('TypeormStore (SQLite file, better-sqlite3)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nest-sessions-shared-sqlite-'));
    return {
      source: { type: 'better-sqlite3', database: join(dir, 'sessions.db') },
      dropTable: (table) => `DROP TABLE IF EXISTS "${table}"`,
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  }),
  typeormBackend('TypeormStore (local MariaDB)', async () => ({
    source: MARIADB,
    dropTable: (table) => `DROP TABLE IF EXISTS \`${table}\``,
  })),
  {
    name: 'MemcachedStore (memcached started for the test)',
    async open() {
      const server = new MemcachedTestServer();
      await server.start();
      const stores: MemcachedStore[] = [];
      const create = (): MemcachedStore => {
        const store = new MemcachedStore({ servers: server.address });
        stores.push(store);
        return store;
      };
      const store = create();
      return {
        store,
        peer: async () => create(),
        async cleanup() {
          await Promise.all(stores.map((s) => s.close()));
          await server.stop();
        },
      };
    },
  },
  {
    name: 'RedisStore (3-master Redis Cluster started for the test)',
    async open() {
      const cluster = await startRedisCluster(3);
      const keyPrefix = `test:index-locks:${randomBytes(4).toString('hex')}:`;
      const stores: RedisStore[] = [];
      const create = (): RedisStore => {
        const store = new RedisStore({ cluster: { nodes: cluster.nodes }, keyPrefix });
        stores.push(store);
        return store;
      };
      const store = create();
      return {
        store,
        peer: async () => create(),
        async cleanup() {
          await Promise.all(stores.map((s) => s.close()));
          await cluster.stop();
        },
      };
    },
  },
];
