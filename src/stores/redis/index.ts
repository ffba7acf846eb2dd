export { RedisStore } from './redis.store.js';
export type {
  RedisClusterOptions,
  RedisNodeAddress,
  RedisSentinelOptions,
  RedisStoreOptions,
  RedisTlsOptions,
} from './redis-store.options.js';
export { parseRedisUrl, type RedisUrlOptions } from './redis-url.js';
