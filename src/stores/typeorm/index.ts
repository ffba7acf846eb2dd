export {
  TypeormStore,
  type TypeormStoreOptions,
  type QueuedPatch,
  type SessionRow,
  type StatementResult,
  type VersionedRow,
} from './typeorm.store.js';
export { sessionTableSql, type SessionTableDialect } from './session-table.sql.js';
