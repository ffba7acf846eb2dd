import { createHash } from 'node:crypto';
import { SessionError } from '../../core/errors/session.error.js';
import { SessionMessages } from '../../core/errors/session.messages.js';

/**
 * The databases the TypeORM store supports, named as TypeORM's `DataSource` option `type` names
 * them (so `dataSource.options.type` can be passed as is), plus `'sqlite'` for SQLite in general.
 */
export type SessionTableDialect = 'postgres' | 'mysql' | 'mariadb' | 'better-sqlite3' | 'sqlite';

/** SQL families: the dialects that share one set of statements. */
export type SqlFamily = 'postgres' | 'mysql' | 'sqlite';

/** One part of a table name: a plain SQL identifier that needs no escaping in any dialect. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** Longest index name PostgreSQL keeps (63 bytes) and MySQL accepts (64). */
const MAX_INDEX_NAME = 63;

const FAMILIES: Record<SessionTableDialect, SqlFamily> = {
  postgres: 'postgres',
  mysql: 'mysql',
  mariadb: 'mysql',
  'better-sqlite3': 'sqlite',
  sqlite: 'sqlite',
};

/** A validated table name: the table itself and, on PostgreSQL and MySQL, the schema it lives in. */
export interface TableName {
  schema?: string;
  table: string;
}

/** The SQL family of `dialect`, or `undefined` when the store does not support it. */
export function sqlFamily(dialect: string): SqlFamily | undefined {
  return Object.hasOwn(FAMILIES, dialect) ? FAMILIES[dialect as SessionTableDialect] : undefined;
}

/**
 * Check `tableName` and split it into schema and table. Each part must match
 * `^[A-Za-z_][A-Za-z0-9_]{0,62}$`; `schema.table` is accepted on PostgreSQL (a schema) and MySQL
 * (a database), not on SQLite.
 *
 * @throws {SessionError} `SESSION_OPTIONS_INVALID` for any other name.
 */
export function parseTableName(tableName: unknown, family: SqlFamily): TableName {
  const parts = typeof tableName === 'string' ? tableName.split('.') : [];
  const allowed = family === 'sqlite' ? 1 : 2;
  if (parts.length < 1 || parts.length > allowed || !parts.every((part) => IDENTIFIER.test(part))) {
    throw new SessionError(
      'SESSION_OPTIONS_INVALID',
      SessionMessages.invalidOption(
        'tableName',
        `${JSON.stringify(String(tableName))} is not a plain SQL identifier (letters, digits and _, not starting with a digit, at most 63 characters${family === 'sqlite' ? '' : ', optionally as schema.table'})`,
        "Pass for example 'sessions'.",
      ),
    );
  }
  return parts.length === 2 ? { schema: parts[0], table: parts[1] } : { table: parts[0] };
}

/** `name` quoted for SQL by `escape` (a TypeORM driver's `escape`), schema-qualified when it has a schema. */
export function quoteTableName(name: TableName, escape: (identifier: string) => string): string {
  return name.schema === undefined ? escape(name.table) : `${escape(name.schema)}.${escape(name.table)}`;
}

/**
 * The name of the index on `column` of `table`: `<table>_<column>_idx`, or, when that is longer
 * than the 63 characters every supported database keeps, a shortened name with a hash of the table
 * name, so two long table names never share an index name.
 */
export function indexName(table: string, column: string): string {
  const name = `${table}_${column}_idx`;
  if (name.length <= MAX_INDEX_NAME) return name;
  const hash = createHash('sha256').update(table).digest('hex').slice(0, 12);
  const suffix = `_${hash}_${column}_idx`;
  return `${table.slice(0, MAX_INDEX_NAME - suffix.length)}${suffix}`;
}

/** Statements creating the session table and its indexes when missing, for `family`, quoting with `escape`. */
export function createTableStatements(family: SqlFamily, name: TableName, escape: (identifier: string) => string): string[] {
  const table = quoteTableName(name, escape);
  const expiresIndex = escape(indexName(name.table, 'expires_at'));
  const principalIndex = escape(indexName(name.table, 'principal'));
  if (family === 'mysql') {
    // MySQL has no CREATE INDEX IF NOT EXISTS (MariaDB does), so the indexes come with the table.
    // ascii_bin and utf8mb4_bin compare exactly: a case-insensitive collation would make session
    // IDs that differ only in case the same row.
    return [
      `CREATE TABLE IF NOT EXISTS ${table} (
  id varchar(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  data longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  principal varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  version int NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  KEY ${expiresIndex} (expires_at),
  KEY ${principalIndex} (principal)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
    ];
  }
  return [
    `CREATE TABLE IF NOT EXISTS ${table} (
  id varchar(128) NOT NULL PRIMARY KEY,
  data text NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  principal varchar(255) NULL,
  version integer NOT NULL DEFAULT 0
)`,
    `CREATE INDEX IF NOT EXISTS ${expiresIndex} ON ${table} (expires_at)`,
    `CREATE INDEX IF NOT EXISTS ${principalIndex} ON ${table} (principal)`,
  ];
}

/**
 * The statements that create the session table of `TypeormStore` and its two indexes (on
 * `expires_at` and `principal`), each a separate string to run in order. Every statement uses
 * `IF NOT EXISTS`, so running them again changes nothing. For applications that manage their
 * schema with migrations instead of the store's `createTable` option.
 *
 * The layout: `id` varchar(128) primary key, `data` text (`longtext` on MySQL/MariaDB; a JSON
 * object of the encoded session values), `created_at` and `expires_at` bigint (epoch
 * milliseconds), `principal` varchar(255) nullable, `version` integer (optimistic concurrency).
 *
 * @param dialect The database, as TypeORM's `type` option names it (`dataSource.options.type`).
 * @param tableName The table, as given to the store's `tableName` option.
 * @throws {SessionError} `SESSION_OPTIONS_INVALID` for an unsupported dialect or an unsafe table name.
 * @example
 * ```ts
 * for (const sql of sessionTableSql('postgres', 'sessions')) await queryRunner.query(sql);
 * ```
 */
export function sessionTableSql(dialect: SessionTableDialect, tableName = 'sessions'): string[] {
  const family = sqlFamily(dialect);
  if (!family) throw unsupportedDialect(dialect);
  const quote = family === 'mysql' ? (id: string) => `\`${id}\`` : (id: string) => `"${id}"`;
  return createTableStatements(family, parseTableName(tableName, family), quote);
}

/** The error for a database the store does not support. */
export function unsupportedDialect(dialect: unknown): SessionError {
  return new SessionError(
    'SESSION_OPTIONS_INVALID',
    SessionMessages.invalidOption(
      'dataSource',
      `the TypeORM store does not support databases of type ${JSON.stringify(String(dialect))}`,
      'Use a DataSource of type postgres, mysql, mariadb or better-sqlite3.',
    ),
  );
}
