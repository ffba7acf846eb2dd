import type { SessionStore } from '../session-store.interface.js';
import type { StoreUrlOptions } from '../store-url.js';

// PLACEHOLDER until the memcached store lands; replaced by its real implementation.
export async function storeFromUrl(url: string, options: StoreUrlOptions): Promise<SessionStore> {
  throw new Error(`not implemented: ${url} ${JSON.stringify(options)}`);
}
