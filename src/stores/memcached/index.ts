export { FailFastMemcached } from './fail-fast-memcached.js';
export { MemcachedStore, type MemcachedClientOptions, type MemcachedStoreOptions } from './memcached.store.js';
export { parseMemcachedUrl, type MemcachedUrlOptions } from './memcached-store.url.js';
