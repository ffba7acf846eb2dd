import { SessionError } from '../../core/errors/session.error.js';
import { SessionMessages } from '../../core/errors/session.messages.js';
import { parseRedisUrl } from './redis-url.js';
import type { RedisNodeAddress, RedisStoreOptions, RedisTlsOptions } from './redis-store.options.js';

/*
 * Validation of RedisStore options: every check throws a SessionError coded
 * SESSION_OPTIONS_INVALID naming the option and the fix, before any connection is made.
 */

/** The options in the `url` option (see `parseRedisUrl`). */
export function parseUrlOption(url: unknown): RedisStoreOptions {
  if (typeof url !== 'string') {
    throw invalidOption('url', 'it must be a string', 'Pass e.g. "redis://localhost:6379".');
  }
  return parseRedisUrl(url);
}

/** `prefix`, when it is a usable key prefix: non-empty, without `{` or `}`. */
export function checkPrefix(option: string, prefix: unknown): string {
  if (typeof prefix !== 'string' || prefix === '') {
    throw invalidOption(option, 'the key prefix must be a non-empty string', "Pass e.g. 'sess:' or 'my-app:sess:'.");
  }
  if (/[{}]/.test(prefix)) {
    throw invalidOption(
      option,
      `the key prefix "${prefix}" contains { or }, which would change the cluster hash tag of session keys`,
      "Use a prefix without braces, e.g. 'my-app:sess:'.",
    );
  }
  return prefix;
}

/** Throws unless `value` is a positive, finite number of milliseconds. */
export function checkTimeout(option: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw invalidOption(option, 'it must be a positive number of milliseconds', 'Pass e.g. 2000.');
  }
}

function checkAddress(option: string, address: unknown): void {
  const { host, port } = (address ?? {}) as Partial<RedisNodeAddress>;
  if (typeof host !== 'string' || host === '') {
    throw invalidOption(option, 'every address needs a non-empty `host`', "Pass e.g. { host: '10.0.0.5', port: 7000 }.");
  }
  checkPort(option, port);
}

function checkPort(option: string, port: unknown): void {
  if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65_535) {
    throw invalidOption(option, 'the port must be a whole number from 1 to 65535', 'Pass e.g. 6379.');
  }
}

function checkTls(option: string, tls: unknown): void {
  if (tls === undefined || typeof tls === 'boolean') return;
  if (typeof tls !== 'object' || tls === null) {
    throw invalidOption(option, 'it must be true, false or an object of TLS options', 'Pass e.g. { ca: readFileSync("ca.pem", "utf8") }.');
  }
  const { rejectUnauthorized, servername } = tls as RedisTlsOptions;
  if (rejectUnauthorized !== undefined && typeof rejectUnauthorized !== 'boolean') {
    throw invalidOption(`${option}.rejectUnauthorized`, 'it must be true or false', 'Leave it out to verify the server (recommended).');
  }
  if (servername !== undefined && (typeof servername !== 'string' || servername === '')) {
    throw invalidOption(`${option}.servername`, 'it must be a non-empty host name', "Pass e.g. 'redis.example.com'.");
  }
}

/** Checks the connection options of a client the store creates. */
export function validateConnection(options: RedisStoreOptions): void {
  if (options.host !== undefined && (typeof options.host !== 'string' || options.host === '')) {
    throw invalidOption('host', 'it must be a non-empty host name or address', "Pass e.g. 'localhost'.");
  }
  if (options.port !== undefined) checkPort('port', options.port);
  for (const name of ['username', 'password'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'string') {
      throw invalidOption(name, 'it must be a string', 'Read it from the environment, e.g. process.env.REDIS_PASSWORD.');
    }
  }
  if (options.db !== undefined && (!Number.isSafeInteger(options.db) || options.db < 0)) {
    throw invalidOption('db', 'it must be a database number (a whole number from 0)', 'Pass e.g. 0.');
  }
  checkTls('tls', options.tls);
  if (options.connectTimeout !== undefined) checkTimeout('connectTimeout', options.connectTimeout);
  if (options.redisOptions !== undefined) {
    if (typeof options.redisOptions !== 'object' || options.redisOptions === null) {
      throw invalidOption('redisOptions', 'it must be an object of ioredis options', 'Pass e.g. { connectionName: "sessions" }.');
    }
    if (options.redisOptions.keyPrefix !== undefined) {
      throw invalidOption('redisOptions.keyPrefix', 'the store prefixes its keys itself', 'Use the store option `keyPrefix` instead.');
    }
  }
  if (options.onClientError !== undefined && typeof options.onClientError !== 'function') {
    throw invalidOption('onClientError', 'it must be a function', 'Pass e.g. (err) => logger.warn(err.message).');
  }

  const { cluster, sentinel } = options;
  if (cluster !== undefined && typeof cluster !== 'boolean') {
    if (typeof cluster !== 'object' || cluster === null) {
      throw invalidOption(
        'cluster',
        'it must be true, false or an object of cluster options',
        'Pass e.g. { nodes: [{ host: "10.0.0.5", port: 7000 }] }.',
      );
    }
    if (cluster.nodes !== undefined) {
      if (!Array.isArray(cluster.nodes) || cluster.nodes.length === 0) {
        throw invalidOption(
          'cluster.nodes',
          'it must be a non-empty array of { host, port }',
          'Pass e.g. [{ host: "10.0.0.5", port: 7000 }].',
        );
      }
      for (const node of cluster.nodes) checkAddress('cluster.nodes', node);
    }
  }
  if (cluster && sentinel !== undefined) {
    throw invalidOption('sentinel', 'it cannot be combined with `cluster`', 'Choose cluster mode or sentinel mode.');
  }
  if (cluster && (options.db ?? 0) !== 0) {
    throw invalidOption('db', 'Redis Cluster only has database 0', 'Leave `db` out (or use 0) in cluster mode.');
  }
  if (sentinel !== undefined) {
    if (typeof sentinel !== 'object' || sentinel === null) {
      throw invalidOption(
        'sentinel',
        'it must be an object with `sentinels` and `name`',
        'Pass e.g. { sentinels: [{ host: "sentinel-1", port: 26379 }], name: "mymaster" }.',
      );
    }
    if (!Array.isArray(sentinel.sentinels) || sentinel.sentinels.length === 0) {
      throw invalidOption(
        'sentinel.sentinels',
        'it must be a non-empty array of { host, port }',
        'Pass e.g. [{ host: "sentinel-1", port: 26379 }].',
      );
    }
    for (const node of sentinel.sentinels) checkAddress('sentinel.sentinels', node);
    if (typeof sentinel.name !== 'string' || sentinel.name === '') {
      throw invalidOption('sentinel.name', 'it must name the monitored master group', "Pass e.g. 'mymaster'.");
    }
    for (const name of ['username', 'password'] as const) {
      if (sentinel[name] !== undefined && typeof sentinel[name] !== 'string') {
        throw invalidOption(`sentinel.${name}`, 'it must be a string', 'Read it from the environment.');
      }
    }
    checkTls('sentinel.tls', sentinel.tls);
  }
}

function invalidOption(option: string, rule: string, fix: string): SessionError {
  return new SessionError('SESSION_OPTIONS_INVALID', SessionMessages.invalidOption(option, rule, fix));
}
