import { DataSource, DriverPackageNotInstalledError, type DataSourceOptions } from 'typeorm';
import { SessionError } from '../../core/errors/session.error.js';
import { SessionMessages } from '../../core/errors/session.messages.js';
import type { SessionStore } from '../../core/session-store.interface.js';
import type { StoreUrlOptions } from '../store-url.options.js';
import { TypeormStore } from './typeorm.store.js';

/** What a database URL describes: how to connect, and the optional `?table=` name. */
export interface DatabaseUrl {
  dataSourceOptions: DataSourceOptions;
  tableName?: string;
}

const DRIVER_PACKAGES: Record<string, string> = { postgres: 'pg', mysql: 'mysql2', mariadb: 'mysql2', 'better-sqlite3': 'better-sqlite3' };
const URL_FORMS =
  'Write e.g. "postgres://user:password@host:5432/db", "mysql://user@host:3306/db", "mariadb://…", "sqlite:./sessions.db", "sqlite:///var/lib/app/sessions.db" or "sqlite::memory:", optionally followed by "?table=name".';

/**
 * Build a {@link TypeormStore} from a database URL, with a DataSource of its own:
 *
 * - `postgres://user:password@host:5432/database` or `postgresql://…` (driver `pg`);
 * - `mysql://user:password@host:3306/database` or `mariadb://…` (driver `mysql2`);
 * - `sqlite:./relative/path.db`, `sqlite:///absolute/path.db` or `sqlite::memory:` (driver `better-sqlite3`).
 *
 * `?table=name` picks the table (default `sessions`); no other query parameter is accepted. The
 * store creates its table when missing (`createTable: true`), connects on first use, and destroys
 * its DataSource on `close()`. For any other connection setting (TLS, pool size, …) build a
 * DataSource yourself and pass `new TypeormStore({ dataSource })` instead.
 *
 * @throws {SessionError} `SESSION_OPTIONS_INVALID` for a URL it cannot use or a missing driver package.
 */
export async function storeFromUrl(url: string, options: StoreUrlOptions): Promise<SessionStore> {
  const { dataSourceOptions, tableName } = parseDatabaseUrl(url);
  let dataSource: DataSource;
  try {
    dataSource = new DataSource(dataSourceOptions);
  } catch (cause) {
    if (!(cause instanceof DriverPackageNotInstalledError)) throw cause;
    const driver = DRIVER_PACKAGES[dataSourceOptions.type];
    throw new SessionError(
      'SESSION_OPTIONS_INVALID',
      SessionMessages.invalidOption(
        'store',
        `"${dataSourceOptions.type}" session stores need ${driver}, which is not installed`,
        `Run \`npm install ${driver}\`.`,
      ),
      { cause },
    );
  }
  return new TypeormStore({
    dataSource,
    createTable: true,
    destroyDataSourceOnClose: true,
    ...(tableName === undefined ? {} : { tableName }),
    ...(options.gcInterval === undefined ? {} : { gcInterval: options.gcInterval }),
  });
}

/**
 * The DataSource options and table name a database URL describes (see {@link storeFromUrl}).
 *
 * @throws {SessionError} `SESSION_OPTIONS_INVALID` for a URL it cannot use.
 */
export function parseDatabaseUrl(url: string): DatabaseUrl {
  const colon = url.indexOf(':');
  const scheme = colon > 0 ? url.slice(0, colon).toLowerCase() : '';
  if (scheme === 'sqlite') return parseSqliteUrl(url, url.slice(colon + 1));
  const type =
    scheme === 'postgres' || scheme === 'postgresql' ? 'postgres' : scheme === 'mysql' || scheme === 'mariadb' ? scheme : undefined;
  if (!type) throw invalid(`"${scheme}:" is not a database URL scheme`, URL_FORMS);

  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid('the database URL cannot be parsed', URL_FORMS);
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw invalid('the database URL names no host', URL_FORMS);
  const database = decode(parsed.pathname.replace(/^\//, ''));
  if (database.includes('/')) throw invalid('the database URL path must be a database name', URL_FORMS);
  if (type !== 'postgres' && !database) throw invalid(`a ${scheme}: URL needs a database name`, URL_FORMS);
  const tableName = tableParam(parsed.searchParams);

  const connection = {
    host,
    ...(parsed.port ? { port: Number(parsed.port) } : {}),
    ...(parsed.username ? { username: decode(parsed.username) } : {}),
    ...(parsed.password ? { password: decode(parsed.password) } : {}),
    ...(database ? { database } : {}),
  };
  const dataSourceOptions: DataSourceOptions = { type, ...connection };
  return { dataSourceOptions, ...(tableName === undefined ? {} : { tableName }) };
}

/** `sqlite:<path>[?table=name]`, where `<path>` is relative, `///absolute` or `:memory:`. */
function parseSqliteUrl(url: string, rest: string): DatabaseUrl {
  const question = rest.indexOf('?');
  let path = question === -1 ? rest : rest.slice(0, question);
  const tableName = tableParam(new URLSearchParams(question === -1 ? '' : rest.slice(question + 1)));
  if (path.startsWith('//')) {
    const slash = path.indexOf('/', 2);
    const host = slash === -1 ? path.slice(2) : path.slice(2, slash);
    if (host !== '' && host !== 'localhost') {
      throw invalid(`"${url}" names a host; SQLite URLs take a file path`, URL_FORMS);
    }
    path = slash === -1 ? '' : decode(path.slice(slash));
  }
  if (!path || path === '/') throw invalid('a sqlite: URL needs a file path or ":memory:"', URL_FORMS);
  return { dataSourceOptions: { type: 'better-sqlite3', database: path }, ...(tableName === undefined ? {} : { tableName }) };
}

/** The `table` query parameter; any other parameter is refused rather than silently ignored. */
function tableParam(params: URLSearchParams): string | undefined {
  for (const key of params.keys()) {
    if (key !== 'table') {
      throw invalid(
        `the database URL parameter "${key}" is not supported (only "table" is)`,
        'For other connection settings, build a TypeORM DataSource and pass `new TypeormStore({ dataSource })` as the store.',
      );
    }
  }
  const tables = params.getAll('table');
  if (tables.length > 1) throw invalid('the database URL gives "table" more than once', 'Give it once.');
  return tables[0];
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw invalid('the database URL holds a malformed %-escape', URL_FORMS);
  }
}

function invalid(rule: string, fix: string): SessionError {
  return new SessionError('SESSION_OPTIONS_INVALID', SessionMessages.invalidOption('store', rule, fix));
}
