import { SessionError } from '../../core/errors/session.error.js';
import { SessionMessages } from '../../core/errors/session.messages.js';
import type { SessionStore } from '../../core/session-store.interface.js';
import type { StoreUrlOptions } from '../store-url.options.js';
import { MongoStore } from './mongodb.store.js';

/** What a MongoDB store URL describes. */
export interface MongoUrl {
  /** The connection string for the driver: the URL without the store's own `collection` parameter. */
  url: string;
  /** The database named in the URL's path. */
  dbName: string;
  /** The `collection` query parameter, when given. */
  collection?: string;
}

const URL_FORMS =
  'Write e.g. "mongodb://localhost:27017/app", "mongodb://user:password@mongo-1,mongo-2/app?replicaSet=rs0&collection=web_sessions" or "mongodb+srv://user:password@cluster0.example.net/app".';

/**
 * Read a MongoDB store URL: a driver connection string (`mongodb://` or `mongodb+srv://`) that
 * must name a database in its path, plus an optional `collection` query parameter (default
 * `sessions`), which is removed before the string reaches the driver. Every other query
 * parameter (`replicaSet`, `tls`, `authSource`, …) is the driver's.
 *
 * @throws {SessionError} `SESSION_OPTIONS_INVALID` for a URL it cannot use.
 * @example parseMongoUrl('mongodb://localhost/app?collection=web_sessions&tls=false')
 * // { url: 'mongodb://localhost/app?tls=false', dbName: 'app', collection: 'web_sessions' }
 */
export function parseMongoUrl(url: string): MongoUrl {
  const match = /^(mongodb(?:\+srv)?:\/\/)([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?$/i.exec(url);
  if (!match) throw invalid('it is not a mongodb:// or mongodb+srv:// connection string', URL_FORMS);
  const [, scheme = '', authority = '', path = '', query] = match;
  if (authority === '' || authority.endsWith('@')) throw invalid('the MongoDB URL names no host', URL_FORMS);
  let dbName: string;
  try {
    dbName = decodeURIComponent(path);
  } catch {
    throw invalid('the database name in the MongoDB URL holds a malformed %-escape', URL_FORMS);
  }
  if (dbName === '') throw invalid('the MongoDB URL names no database (its path)', URL_FORMS);

  const kept: string[] = [];
  const collections: string[] = [];
  for (const part of query === undefined ? [] : query.split('&')) {
    const [name = ''] = part.split('=', 1);
    if (name !== 'collection') {
      if (part !== '') kept.push(part);
      continue;
    }
    collections.push(new URLSearchParams(part).get('collection') ?? '');
  }
  if (collections.length > 1) throw invalid('the MongoDB URL gives "collection" more than once', 'Give it once.');
  const driverUrl = `${scheme}${authority}/${path}${kept.length > 0 ? `?${kept.join('&')}` : ''}`;
  return { url: driverUrl, dbName, ...(collections.length === 1 ? { collection: collections[0] } : {}) };
}

/**
 * The {@link MongoStore} a `mongodb://` or `mongodb+srv://` URL describes (see
 * {@link parseMongoUrl}), for `createStoreFromUrl`. The store owns its client and closes it on
 * `close()`. `options.gcInterval`, when given, starts its sweep timer (the TTL index makes it
 * unnecessary).
 *
 * @throws {SessionError} `SESSION_OPTIONS_INVALID` (as a rejection) for a URL it cannot use.
 * @example await storeFromUrl('mongodb://localhost/app?collection=web_sessions', {})
 */
export async function storeFromUrl(url: string, options: StoreUrlOptions): Promise<SessionStore> {
  const parsed = parseMongoUrl(url);
  return new MongoStore({
    url: parsed.url,
    ...(parsed.collection === undefined ? {} : { collection: parsed.collection }),
    ...(options.gcInterval === undefined ? {} : { gcInterval: options.gcInterval }),
  });
}

function invalid(rule: string, fix: string): SessionError {
  return new SessionError('SESSION_OPTIONS_INVALID', SessionMessages.invalidOption('store', rule, fix));
}
