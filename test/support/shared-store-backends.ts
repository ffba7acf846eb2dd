import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { MemoryStore, type SessionStore } from '../../src/index.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import { TypeormStore } from '../../src/stores/typeorm/index.js';

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
  {
    name: 'TypeormStore (local PostgreSQL)',
    async open() {
      const tableName = `ns_index_locks_${process.pid}_${randomBytes(3).toString('hex')}`;
      const sources: DataSource[] = [];
      const stores: TypeormStore[] = [];
      const create = async (): Promise<TypeormStore> => {
        const dataSource = new DataSource(PG);
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
          await sources[0]!.query(`DROP TABLE IF EXISTS "${tableName}"`);
          await Promise.all(sources.map((source) => source.destroy()));
        },
      };
    },
  },
];
