import { SessionError } from '../../core/errors/session.error.js';
import { SessionMessages } from '../../core/errors/session.messages.js';
import type { SessionStore } from '../../core/session-store.interface.js';
import type { StoreUrlOptions } from '../store-url.options.js';
import { MemcachedStore, type MemcachedStoreOptions } from './memcached.store.js';

/** The {@link MemcachedStoreOptions} a `memcached://` URL can carry. */
export type MemcachedUrlOptions = Pick<MemcachedStoreOptions, 'keyPrefix' | 'timeout' | 'maxItemSize'> & {
  /** The servers of the URL, as `host:port`. */
  servers: string[];
};

const URL_FORMS =
  'Write e.g. "memcached://localhost:11211", "memcached://cache-1:11211,cache-2:11211?prefix=shop:sess:" or "memcached://cache:11211?timeout=500&maxItemSize=4194304".';
const HOST_PATTERN = /^([A-Za-z0-9._-]+)(?::(\d{1,5}))?$/;
const PARAMS = ['prefix', 'timeout', 'maxItemSize'] as const;

/**
 * The store options a memcached URL describes:
 * `memcached://host[:port][,host2[:port2]…][/][?prefix=…&timeout=…&maxItemSize=…]`.
 *
 * The port defaults to 11211. `prefix` is the `keyPrefix` (default `sess:`), `timeout` the
 * per-command timeout in milliseconds, `maxItemSize` the servers' `-I` in bytes. Other query
 * parameters, user names and passwords (the `memcached` client has no SASL) are refused.
 *
 * @throws {SessionError} `SESSION_OPTIONS_INVALID` for a URL it cannot use.
 * @example parseMemcachedUrl('memcached://cache-1,cache-2:11212?prefix=shop:')
 * // { servers: ['cache-1:11211', 'cache-2:11212'], keyPrefix: 'shop:' }
 */
export function parseMemcachedUrl(url: string): MemcachedUrlOptions {
  const match = /^memcached:\/\/([^/?#]*)\/?(?:\?([^#]*))?$/i.exec(url);
  if (!match) throw invalid('it is not a memcached:// URL of hosts and an optional query', URL_FORMS);
  const [, authority = '', query = ''] = match;
  if (authority.includes('@')) {
    throw invalid('memcached URLs take no user name or password (the memcached client has no SASL)', URL_FORMS);
  }
  if (authority === '') throw invalid('the memcached URL names no server', URL_FORMS);
  const servers = authority.split(',').map((host) => {
    const parts = HOST_PATTERN.exec(host);
    const port = parts?.[2] === undefined ? 11211 : Number(parts[2]);
    if (!parts || port < 1 || port > 65535) {
      throw invalid(`"${host}" is not a host name or IPv4 address with an optional port`, URL_FORMS);
    }
    return `${parts[1]}:${port}`;
  });

  const params = new URLSearchParams(query);
  for (const key of params.keys()) {
    if (!(PARAMS as readonly string[]).includes(key)) {
      throw invalid(
        `the memcached URL parameter "${key}" is not supported (only ${PARAMS.join(', ')} are)`,
        'For other settings, create the store yourself: `new MemcachedStore({ servers, clientOptions })`.',
      );
    }
    if (params.getAll(key).length > 1) throw invalid(`the memcached URL gives "${key}" more than once`, 'Give it once.');
  }
  const result: MemcachedUrlOptions = { servers };
  const prefix = params.get('prefix');
  if (prefix !== null) result.keyPrefix = prefix;
  const timeout = params.get('timeout');
  if (timeout !== null) result.timeout = wholeNumber('timeout', timeout);
  const maxItemSize = params.get('maxItemSize');
  if (maxItemSize !== null) result.maxItemSize = wholeNumber('maxItemSize', maxItemSize);
  return result;
}

/**
 * The {@link MemcachedStore} a `memcached://` URL describes (see {@link parseMemcachedUrl}), for
 * `createStoreFromUrl`. The store owns its client and ends it on `close()`.
 * `options.gcInterval` does not apply: memcached expires items itself.
 *
 * @throws {SessionError} `SESSION_OPTIONS_INVALID` (as a rejection) for a URL it cannot use.
 * @example await storeFromUrl('memcached://cache-1:11211,cache-2:11211?prefix=shop:', {})
 */
export async function storeFromUrl(url: string, _options: StoreUrlOptions): Promise<SessionStore> {
  return new MemcachedStore(parseMemcachedUrl(url));
}

function wholeNumber(name: string, text: string): number {
  if (!/^[1-9]\d*$/.test(text)) throw invalid(`\`${name}\` in the memcached URL must be a positive whole number`, URL_FORMS);
  return Number(text);
}

function invalid(rule: string, fix: string): SessionError {
  return new SessionError('SESSION_OPTIONS_INVALID', SessionMessages.invalidOption('store', rule, fix));
}
