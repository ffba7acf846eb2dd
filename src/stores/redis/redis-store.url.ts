import type { SessionStore } from '../../core/session-store.interface.js';
import type { StoreUrlOptions } from '../store-url.options.js';
import { RedisStore } from './redis.store.js';

/**
 * The {@link RedisStore} a `redis://` or `rediss://` URL describes (see `parseRedisUrl` for the
 * query options), for `createStoreFromUrl`. The store owns its client and closes it on `close()`.
 * `options.gcInterval` does not apply: Redis expires records by itself.
 *
 * @throws SessionError `SESSION_OPTIONS_INVALID` (as a rejection) for a URL it cannot use.
 * @example await storeFromUrl('redis://:secret@cache:6379/0?prefix=shop:', {})
 */
export async function storeFromUrl(url: string, _options: StoreUrlOptions): Promise<SessionStore> {
  return new RedisStore({ url });
}
