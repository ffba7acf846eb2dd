import { readFileSync } from 'node:fs';
import { SessionError } from '../../core/errors/session.error.js';
import { SessionMessages } from '../../core/errors/session.messages.js';
import type { RedisStoreOptions, RedisTlsOptions } from './redis-store.options.js';

/** The options a `redis://` or `rediss://` URL can carry. */
export type RedisUrlOptions = Pick<
  RedisStoreOptions,
  'host' | 'port' | 'username' | 'password' | 'db' | 'tls' | 'cluster' | 'keyPrefix' | 'connectTimeout' | 'commandTimeout'
>;

const QUERY_OPTIONS = [
  'prefix',
  'cluster',
  'tls_ca',
  'tls_cert',
  'tls_key',
  'rejectUnauthorized',
  'servername',
  'connectTimeout',
  'commandTimeout',
] as const;

const FORMS =
  'Write e.g. "redis://user:password@host:6379/0?prefix=app:", "rediss://host:6380?tls_ca=/path/ca.pem" or "redis://seed-host:7000?cluster=1".';

/**
 * The store options in a Redis URL:
 * `redis[s]://[[user][:password]@]host[:port][/db][?query]`. `rediss:` turns TLS on. Query options:
 * `prefix` (keyPrefix), `cluster=1` (the host is a cluster seed node), `tls_ca`, `tls_cert`,
 * `tls_key` (paths of PEM files, read once here), `rejectUnauthorized=false`, `servername`,
 * `connectTimeout` and `commandTimeout` (milliseconds). User and password are percent-decoded.
 *
 * @throws SessionError `SESSION_OPTIONS_INVALID` for anything else, naming the fix.
 * @example parseRedisUrl('redis://:secret@cache:6379/2?prefix=shop:') // { host: 'cache', port: 6379, password: 'secret', db: 2, keyPrefix: 'shop:' }
 */
export function parseRedisUrl(url: string): RedisUrlOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid('it is not a valid URL', FORMS);
  }
  const scheme = parsed.protocol.slice(0, -1).toLowerCase();
  if (scheme !== 'redis' && scheme !== 'rediss') throw invalid(`its scheme "${scheme}:" is not redis: or rediss:`, FORMS);
  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  if (host === '') throw invalid('it names no host', FORMS);

  const options: RedisUrlOptions = { host };
  if (parsed.port !== '') options.port = Number(parsed.port);
  const username = decode(parsed.username, 'user name');
  const password = decode(parsed.password, 'password');
  if (username !== '') options.username = username;
  if (password !== '') options.password = password;

  const path = parsed.pathname;
  if (path !== '' && path !== '/') {
    if (!/^\/\d+$/.test(path))
      throw invalid(
        `its path "${path}" is not a database number`,
        'Write e.g. "redis://host:6379/2", or leave the path out for database 0.',
      );
    options.db = Number(path.slice(1));
  }

  const query = parsed.searchParams;
  for (const name of new Set(query.keys())) {
    if (!(QUERY_OPTIONS as readonly string[]).includes(name)) {
      throw invalid(`it has the unknown query option "${name}"`, `Known options: ${QUERY_OPTIONS.join(', ')}.`);
    }
    if (query.getAll(name).length > 1) throw invalid(`it repeats the query option "${name}"`, 'Give each option once.');
  }
  const prefix = query.get('prefix');
  if (prefix !== null) options.keyPrefix = prefix;
  const cluster = flag(query.get('cluster'), 'cluster');
  if (cluster !== undefined) options.cluster = cluster;
  for (const name of ['connectTimeout', 'commandTimeout'] as const) {
    const value = query.get(name);
    if (value === null) continue;
    if (!/^[1-9]\d*$/.test(value))
      throw invalid(`\`${name}\` must be a positive whole number of milliseconds, not "${value}"`, `Write e.g. "?${name}=2000".`);
    options[name] = Number(value);
  }

  const tls: RedisTlsOptions = {};
  for (const [name, field] of [
    ['tls_ca', 'ca'],
    ['tls_cert', 'cert'],
    ['tls_key', 'key'],
  ] as const) {
    const file = query.get(name);
    if (file === null) continue;
    try {
      tls[field] = readFileSync(file, 'utf8');
    } catch (cause) {
      throw new SessionError(
        'SESSION_OPTIONS_INVALID',
        SessionMessages.invalidOption(
          'url',
          `\`${name}\` names the file "${file}", which cannot be read`,
          'Give the path of a readable PEM file.',
        ),
        { cause },
      );
    }
  }
  const rejectUnauthorized = flag(query.get('rejectUnauthorized'), 'rejectUnauthorized');
  if (rejectUnauthorized !== undefined) tls.rejectUnauthorized = rejectUnauthorized;
  const servername = query.get('servername');
  if (servername !== null) tls.servername = servername;
  if (scheme === 'rediss') options.tls = tls;
  else if (Object.keys(tls).length > 0) {
    throw invalid('it has TLS options but the scheme is redis:', 'Use "rediss://" for TLS connections.');
  }
  return options;
}

/** `true`/`1`/`yes` or `false`/`0`/`no`; `undefined` when the option is absent. */
function flag(value: string | null, name: string): boolean | undefined {
  if (value === null) return undefined;
  if (/^(1|true|yes)$/i.test(value)) return true;
  if (/^(0|false|no)$/i.test(value)) return false;
  throw invalid(`\`${name}\` must be true or false, not "${value}"`, `Write e.g. "?${name}=true".`);
}

function decode(value: string, what: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw invalid(`its ${what} is not correctly percent-encoded`, 'Encode reserved characters, e.g. "@" as %40 and "%" as %25.');
  }
}

function invalid(rule: string, fix: string): SessionError {
  return new SessionError('SESSION_OPTIONS_INVALID', SessionMessages.invalidOption('url', rule, fix));
}
