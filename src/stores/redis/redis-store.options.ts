import type { Cluster, ClusterOptions, NatMap, Redis, RedisOptions } from 'ioredis';

/** Host and port of one Redis server. */
export interface RedisNodeAddress {
  /** @example '10.0.0.5' */
  host: string;
  /** @example 7000 */
  port: number;
}

/** TLS settings for connections to Redis (Node `tls.connect` options). */
export interface RedisTlsOptions {
  /**
   * CA certificate(s) (PEM) to verify the server certificate with, instead of Node's bundled CAs.
   * @default Node's bundled root CAs
   * @example readFileSync('/etc/redis/ca.pem', 'utf8')
   */
  ca?: string | Buffer | Array<string | Buffer>;
  /**
   * Client certificate (PEM) for servers that require one (`tls-auth-clients yes`).
   * @default none
   * @example readFileSync('/etc/redis/client.crt', 'utf8')
   */
  cert?: string | Buffer;
  /**
   * Private key (PEM) of {@link RedisTlsOptions.cert}.
   * @default none
   * @example readFileSync('/etc/redis/client.key', 'utf8')
   */
  key?: string | Buffer;
  /**
   * Whether to refuse servers whose certificate does not verify against the CAs. Turning it off
   * exposes the connection to anyone on the network path; keep it for local experiments.
   * @default true
   * @example false
   */
  rejectUnauthorized?: boolean;
  /**
   * Host name sent with SNI and checked against the certificate, when it differs from `host`.
   * @default the host connected to
   * @example 'redis.internal.example.com'
   */
  servername?: string;
}

/** Cluster mode settings. */
export interface RedisClusterOptions {
  /**
   * Seed nodes; the client discovers the other nodes from them.
   * @default one node: `host` and `port` (or the URL's host)
   * @example [{ host: '10.0.0.5', port: 7000 }, { host: '10.0.0.6', port: 7000 }]
   */
  nodes?: RedisNodeAddress[];
  /**
   * Maps the addresses nodes announce to addresses the application can reach (NAT, Docker).
   * Passed to ioredis as `natMap`.
   * @default none
   * @example { '172.17.0.2:7000': { host: 'localhost', port: 7000 } }
   */
  natMap?: NatMap;
  /**
   * Further ioredis `Cluster` options, passed through (node connection options go in
   * {@link RedisStoreOptions.redisOptions}).
   * @default {}
   * @example { scaleReads: 'slave', slotsRefreshInterval: 10_000 }
   */
  clusterOptions?: Omit<ClusterOptions, 'redisOptions' | 'natMap'>;
}

/** Redis Sentinel settings: the store asks the sentinels for the current master of `name`. */
export interface RedisSentinelOptions {
  /**
   * Sentinels to ask; more than one so that one being down does not matter.
   * @example [{ host: 'sentinel-1', port: 26379 }, { host: 'sentinel-2', port: 26379 }]
   */
  sentinels: RedisNodeAddress[];
  /**
   * Name of the monitored master group.
   * @example 'mymaster'
   */
  name: string;
  /**
   * User name for the sentinels (Redis 6 ACL), when they require one.
   * @default none
   * @example 'sentinel-user'
   */
  username?: string;
  /**
   * Password for the sentinels (`requirepass` of the sentinels), when they require one.
   * @default none
   * @example process.env.SENTINEL_PASSWORD
   */
  password?: string;
  /**
   * TLS for the connections to the sentinels (TLS to the master is {@link RedisStoreOptions.tls}).
   * @default false
   * @example { ca: readFileSync('ca.pem', 'utf8') }
   */
  tls?: boolean | RedisTlsOptions;
}

/**
 * Options of {@link RedisStore}: either an ioredis `client` you created, or connection options
 * from which the store creates (and later closes) its own client.
 */
export interface RedisStoreOptions {
  /**
   * An ioredis `Redis` or `Cluster` instance to use. The store never closes it, and never adds
   * listeners to it: handle its `error` events yourself. Leave out every connection option
   * (`url`, `host`, `port`, `username`, `password`, `db`, `tls`, `cluster`, `sentinel`,
   * `connectTimeout`, `redisOptions`) when you pass one.
   * @default none: the store creates a client from the connection options
   * @example new Cluster([{ host: '10.0.0.5', port: 7000 }])
   */
  client?: Redis | Cluster;
  /**
   * Connection URL: `redis[s]://[[user][:password]@]host[:port][/db][?query]`, with the query
   * options `prefix`, `cluster=1`, `tls_ca`, `tls_cert`, `tls_key` (PEM file paths),
   * `rejectUnauthorized=false`, `servername`, `connectTimeout` and `commandTimeout`. `rediss:`
   * turns TLS on. Options given separately override what the URL says.
   * @default none
   * @example 'rediss://:secret@redis.example.com:6380/0?prefix=shop:&tls_ca=/etc/ssl/redis-ca.pem'
   */
  url?: string;
  /**
   * Host of the Redis server (the seed node in cluster mode).
   * @default '127.0.0.1'
   * @example 'redis.internal'
   */
  host?: string;
  /**
   * Port of the Redis server.
   * @default 6379
   * @example 6380
   */
  port?: number;
  /**
   * User name (Redis 6 ACL).
   * @default none ('default' user)
   * @example 'sessions'
   */
  username?: string;
  /**
   * Password (`requirepass` or the ACL user's password).
   * @default none
   * @example process.env.REDIS_PASSWORD
   */
  password?: string;
  /**
   * Database number. Cluster mode only has database 0.
   * @default 0
   * @example 2
   */
  db?: number;
  /**
   * TLS: `true` verifies the server against Node's bundled CAs; an object sets CA, client
   * certificate and verification. `rediss://` URLs turn it on.
   * @default false (plain TCP)
   * @example { ca: readFileSync('/etc/redis/ca.pem', 'utf8') }
   */
  tls?: boolean | RedisTlsOptions;
  /**
   * Cluster mode: `true` uses `host`/`port` as the seed node; an object names seed nodes and
   * cluster options.
   * @default false
   * @example { nodes: [{ host: '10.0.0.5', port: 7000 }, { host: '10.0.0.6', port: 7000 }] }
   */
  cluster?: boolean | RedisClusterOptions;
  /**
   * Sentinel mode: the master is looked up through these sentinels (and again after a failover).
   * Cannot be combined with `cluster`; `host` and `port` are ignored.
   * @default none
   * @example { sentinels: [{ host: 'sentinel-1', port: 26379 }], name: 'mymaster' }
   */
  sentinel?: RedisSentinelOptions;
  /**
   * Milliseconds a connection attempt may take before it is abandoned and retried.
   * @default 5000
   * @example 2000
   */
  connectTimeout?: number;
  /**
   * Milliseconds one store operation may wait for Redis before it fails with a `SessionError`
   * coded `SESSION_STORE_UNAVAILABLE`. The store enforces it for every client, including one you
   * pass in. A standalone client the store creates also gets it as ioredis's `commandTimeout`;
   * when a client's own ioredis `commandTimeout` is no longer than this, an operation that starts on
   * a ready connection is bounded per command by ioredis (one of two commands, such as a script that
   * has to be loaded first, may take up to twice as long). Otherwise, and while the client is
   * connecting, the store bounds the whole operation. Keep it below `SessionModule`'s
   * `storeTimeout`, which bounds every operation whatever the store does.
   * @default 2000
   * @example 500
   */
  commandTimeout?: number;
  /**
   * Prefix of every key the store writes. Give each application (or environment sharing a
   * server) its own. Must not be empty and must not contain `{` or `}` (the session ID is the
   * key's cluster hash tag). Glob characters are fine: they are escaped wherever a pattern is used.
   * @default 'sess:'
   * @example 'shop:sess:'
   */
  keyPrefix?: string;
  /**
   * Further ioredis options for the client the store creates (for each node in cluster mode),
   * applied last, so they can override the store's choices (at your own risk: see docs/stores.md's
   * notes on `maxRetriesPerRequest` and `commandTimeout`). Not `keyPrefix`: use the store's. In
   * cluster mode the options a `Cluster` manages itself (`host`, `port`, `retryStrategy`,
   * `enableOfflineQueue`, `readOnly`, …) are ignored here; set them in `cluster.clusterOptions`.
   * @default {}
   * @example { connectionName: 'sessions', family: 6 }
   */
  redisOptions?: RedisOptions;
  /**
   * Called with every `error` event of a client the store created (connection refused, TLS
   * failures, …). ioredis reconnects by itself; operations meanwhile fail with
   * `SESSION_STORE_UNAVAILABLE` carrying the cause. The store always listens, so such errors never
   * crash the process.
   * @default ignore them
   * @example (err) => logger.warn(`session Redis: ${err.message}`)
   */
  onClientError?: (error: Error) => void;
  /**
   * Report sessions Redis removes by itself when their time runs out, which no request reads
   * afterwards, as `destroyed` events (reason `expired`) of `SessionModule`'s `events`. Uses Redis
   * keyspace notifications: the server must have them on for expired keys (`notify-keyspace-events`
   * containing `E` and `x`, e.g. `CONFIG SET notify-keyspace-events Ex`, or in redis.conf); the
   * store checks that when the app starts and refuses to start otherwise (where `CONFIG` is not
   * allowed, as on some managed services, it cannot check and trusts you). One more connection per
   * server (per master in a cluster) listens while the app runs, only when something listens to the
   * events. Redis delivers notifications at most once and not while this connection is down, so an
   * expiry during an outage is not reported.
   * @default false
   * @example { url: 'redis://localhost:6379', expiryEvents: true }
   */
  expiryEvents?: boolean;
  /**
   * The clock deciding whether a record has expired, in epoch milliseconds. Meant for tests.
   * @default Date.now
   * @example () => fakeTime
   */
  now?: () => number;
}
