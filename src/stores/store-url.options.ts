import type { SessionStore } from '../core/session-store.interface.js';

/** Settings a URL cannot carry, applied to the store it builds. */
export interface StoreUrlOptions {
  /** Milliseconds between sweeps of expired sessions; `undefined` keeps the store's default. */
  gcInterval?: number;
}

/** What a store's URL module (`*-store.url.ts`) exports, loaded on demand. */
export interface UrlStoreModule {
  storeFromUrl(url: string, options: StoreUrlOptions): Promise<SessionStore>;
}
