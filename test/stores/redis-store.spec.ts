import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionError } from '../../src/core/errors/session.error.js';
import { generateSessionId } from '../../src/core/session-id.js';
import { RedisStore, parseRedisUrl, type RedisStoreOptions } from '../../src/stores/redis/index.js';
import type { SessionRecord } from '../../src/core/session-store.interface.js';
import { WRITE_SCRIPT } from '../../src/stores/redis/redis-scripts.js';
import { createStoreFromUrl } from '../../src/stores/store-url.js';
import {
  createTlsFiles,
  freePort,
  startRedis,
  startRedisCluster,
  startRedisSentinel,
  type RedisClusterServers,
  type RedisServer,
  type TlsFiles,
} from '../support/redis-servers.js';
import { describeStoreConformance } from '../../src/store-kit/store-conformance.js';

/** Every key of this run starts with it, on the shared server too, so runs never see each other. */
const RUN = `test:${randomBytes(4).toString('hex')}:`;
const LOCAL = { host: '127.0.0.1', port: 6379 };
const HOUR = 60 * 60_000;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));
const rejection = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => undefined,
    (err: unknown) => err,
  );
const record = (data: Record<string, string> = { a: '1' }, ttl = HOUR, principal?: string): SessionRecord => ({
  data,
  createdAt: Date.now() - 1000,
  expiresAt: Date.now() + ttl,
  ...(principal === undefined ? {} : { principal }),
});
const quiet = <T extends Redis | Cluster>(client: T): T => {
  client.on('error', () => {
    // Tests assert on command results, not on connection events.
  });
  return client;
};

/** Keys matching `pattern` on a standalone server or on every master of a cluster. */
async function scanKeys(client: Redis | Cluster, pattern: string): Promise<string[]> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  const keys: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
  }
  return keys.sort();
}

/** Delete every key of this run (the run prefix has no glob characters). */
async function deleteRunKeys(client: Redis | Cluster): Promise<void> {
  for (const key of await scanKeys(client, `${RUN}*`)) await client.del(key);
}

/** Counts the commands clients send for given keys, through MONITOR on a separate connection. */
class CommandMonitor {
  private entries: { args: string[]; source: string }[] = [];
  private constructor(
    private readonly monitor: Redis,
    private readonly admin: Redis,
  ) {
    monitor.on('monitor', (_time: string, args: string[], source: string) => this.entries.push({ args, source }));
  }

  static async open(admin: Redis): Promise<CommandMonitor> {
    return new CommandMonitor(await quiet(new Redis(LOCAL)).monitor(), admin);
  }

  /** Commands that clients (not Lua scripts) sent naming any of `keys`, while `work` ran. */
  async commandsFor(keys: string[], work: () => Promise<unknown>): Promise<string[]> {
    await this.settle();
    this.entries = [];
    await work();
    await this.settle();
    return this.entries
      .filter(({ args, source }) => source !== 'lua' && args.some((arg) => keys.includes(arg)))
      .map(({ args }) => args[0].toLowerCase());
  }

  async close(): Promise<void> {
    this.monitor.disconnect();
  }

  /** Wait until everything sent so far has shown up: MONITOR reports commands in server order. */
  private async settle(): Promise<void> {
    const marker = `marker-${randomBytes(6).toString('hex')}`;
    await this.admin.echo(marker);
    for (let i = 0; i < 200 && !this.entries.some(({ args }) => args.includes(marker)); i++) await sleep(5);
  }
}

/**
 * A TCP relay to the local Redis that holds each new connection's traffic for `holdMs` before
 * relaying it: a slow link on which a connection stays "connecting" for a known time.
 */
async function slowLink(holdMs: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    socket.pause();
    const upstream = connect(LOCAL.port, LOCAL.host);
    for (const end of [socket, upstream]) {
      sockets.add(end);
      end.on('error', () => end.destroy());
      end.on('close', () => {
        sockets.delete(end);
        socket.destroy();
        upstream.destroy();
      });
    }
    setTimeout(() => {
      socket.pipe(upstream);
      upstream.pipe(socket);
      socket.resume();
    }, holdMs);
  });
  await new Promise<void>((resolve) => server.listen(0, LOCAL.host, resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A TCP relay to the local Redis that relays normally until `stall()`, after which it forwards
 * nothing more either way while keeping every connection open: a Redis that stopped answering on
 * a connection the client still sees as ready.
 */
async function stallableLink(): Promise<{ port: number; stall(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let stalled = false;
  const server: Server = createServer((socket) => {
    const upstream = connect(LOCAL.port, LOCAL.host);
    for (const [from, to] of [
      [socket, upstream],
      [upstream, socket],
    ] as const) {
      sockets.add(from);
      from.on('data', (chunk) => {
        if (!stalled) to.write(chunk);
      });
      from.on('error', () => from.destroy());
      from.on('close', () => {
        sockets.delete(from);
        to.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, LOCAL.host, resolve));
  return {
    port: (server.address() as { port: number }).port,
    stall: () => {
      stalled = true;
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('RedisStore on the local Redis (6379)', () => {
  const prefix = `${RUN}local:`;
  let admin: Redis;
  const stores: RedisStore[] = [];
  const create = (options: RedisStoreOptions = {}): RedisStore => {
    const store = new RedisStore({ ...LOCAL, keyPrefix: prefix, ...options });
    stores.push(store);
    return store;
  };

  beforeAll(() => {
    admin = quiet(new Redis(LOCAL));
  });

  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    if (admin) {
      await deleteRunKeys(admin);
      admin.disconnect();
    }
  });

  describeStoreConformance('RedisStore (standalone)', () => create({ keyPrefix: `${RUN}conformance:` }), {
    supportsGc: false,
    supportsLocks: true,
  });

  it('keeps a lock as the string <prefix>l:{<key>} holding its owner, expiring with the lock', async () => {
    const lockPrefix = `${RUN}locks:`;
    const store = create({ keyPrefix: lockPrefix });
    const key = generateSessionId(43);
    expect(await store.tryLock(key, 'owner-a', 60_000)).toBe(true);
    const lockKey = `${lockPrefix}l:{${key}}`;
    expect(await scanKeys(admin, `${lockPrefix}*`)).toEqual([lockKey]);
    expect(await admin.get(lockKey)).toBe('owner-a');
    const ttl = await admin.pttl(lockKey);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);

    // Re-taking extends; unlock by another owner leaves it; unlock by the owner deletes it.
    expect(await store.tryLock(key, 'owner-a', 120_000)).toBe(true);
    expect(await admin.pttl(lockKey)).toBeGreaterThan(60_000);
    await store.unlock(key, 'owner-b');
    expect(await admin.get(lockKey)).toBe('owner-a');
    await store.unlock(key, 'owner-a');
    expect(await admin.exists(lockKey)).toBe(0);
    expect(await store.clear()).toBe(0);
  });

  it('keeps one hash per session at <prefix>{<id>} and a principal index at <prefix>p:{sha256}', async () => {
    const store = create();
    const id = generateSessionId();
    const rec = record({ user: '"42"', 'a:b': '1' }, HOUR, 'alice@example.com');
    await store.set(id, rec);

    const sessionKey = `${prefix}{${id}}`;
    const indexKey = `${prefix}p:{${sha256('alice@example.com')}}`;
    expect(await scanKeys(admin, `${prefix}*`)).toEqual([sessionKey, indexKey].sort());
    expect(await admin.type(sessionKey)).toBe('hash');
    expect(await admin.hgetall(sessionKey)).toEqual({
      'd:user': '"42"',
      'd:a:b': '1',
      'm:c': String(rec.createdAt),
      'm:e': String(rec.expiresAt),
      'm:p': 'alice@example.com',
      'm:x': expect.any(String),
    });
    expect(await admin.type(indexKey)).toBe('zset');
    expect(await admin.zrange(indexKey, '0', '-1')).toEqual([id]);
    expect(Number(await admin.zscore(indexKey, id))).toBeGreaterThanOrEqual(rec.expiresAt);
    // The index never expires before the sessions it lists.
    expect(await admin.pexpiretime(indexKey)).toBeGreaterThanOrEqual(rec.expiresAt);

    await store.destroy(id);
    expect(await admin.exists(sessionKey)).toBe(0);
  });

  it('sets the TTL with every write, and touch moves it without rewriting data', async () => {
    const store = create();
    const id = generateSessionId();
    const key = `${prefix}{${id}}`;
    const rec = record({ a: '1', b: '2' }, 60_000);
    await store.set(id, rec);
    expect(await admin.pexpiretime(key)).toBe(rec.expiresAt);

    expect(await store.patch(id, { set: { c: '3' }, unset: ['a'] }, rec.expiresAt + 10_000)).toBe(true);
    expect(await admin.pexpiretime(key)).toBe(rec.expiresAt + 10_000);
    const before = await admin.hgetall(key);

    expect(await store.touch(id, rec.expiresAt + 20_000)).toBe(true);
    expect(await admin.pexpiretime(key)).toBe(rec.expiresAt + 20_000);
    expect(await admin.pttl(key)).toBeGreaterThan(60_000);
    expect(await admin.hgetall(key)).toEqual({ ...before, 'm:e': String(rec.expiresAt + 20_000) });
  });

  it('judges expiry by its own clock too, not only by the Redis TTL', async () => {
    const id = generateSessionId();
    await create().set(id, record({ a: '1' }, HOUR));
    const later = create({ now: () => Date.now() + 2 * HOUR });
    expect(await later.get(id)).toBeNull();
    expect(await later.patch(id, { set: { b: '2' }, unset: [] }, Date.now() + 3 * HOUR)).toBe(false);
    expect(await later.touch(id, Date.now() + 3 * HOUR)).toBe(false);
    expect(await admin.hexists(`${prefix}{${id}}`, 'd:b')).toBe(0);
    expect(await admin.hget(`${prefix}{${id}}`, 'm:e')).not.toBe(String(Date.now() + 3 * HOUR));
  });

  // The write script sets fields straight from its arguments, or in batches when there are more
  // than Lua's stack takes in one call; both ways, with and without a principal.
  it.each([[undefined], ['carol']])('writes and deletes thousands of keys in one patch (principal %s)', async (principal) => {
    const store = create();
    const id = generateSessionId();
    const many = (count: number, value: string) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, value]));
    await store.set(id, record(many(3000, 'old'), HOUR, principal));
    const unset = Array.from({ length: 1200 }, (_, i) => `k${i}`);
    const set = Object.fromEntries(Array.from({ length: 1600 }, (_, i) => [`k${1400 + i}`, 'new']));
    expect(await store.patch(id, { set, unset }, Date.now() + HOUR)).toBe(true);
    const found = await store.get(id);
    expect(found?.principal).toBe(principal);
    const expected = { ...Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${1200 + i}`, 'old'])), ...set };
    expect(found?.data).toEqual(expected);
    // And a small patch after it, the usual case.
    expect(await store.patch(id, { set: { k0: 'back' }, unset: ['k1200'] }, Date.now() + HOUR)).toBe(true);
    const again = (await store.get(id))!.data;
    expect(again.k0).toBe('back');
    expect(again.k1200).toBeUndefined();
    expect(Object.keys(again)).toHaveLength(1800);
    await store.destroy(id);
  });

  it('costs one command per read, patch, touch and destroy; two for a set with a principal', async () => {
    const store = create();
    const monitor = await CommandMonitor.open(admin);
    try {
      // Loads the scripts into the server's cache, so no EVALSHA below falls back to EVAL.
      const warmUp = generateSessionId();
      await store.set(warmUp, record({}, HOUR, 'warm-up'));
      await store.patch(warmUp, { set: { a: '1' }, unset: [] }, Date.now() + HOUR);

      const id = generateSessionId();
      const key = `${prefix}{${id}}`;
      const alice = `${prefix}p:{${sha256('alice')}}`;
      const bob = `${prefix}p:{${sha256('bob')}}`;
      const keys = [key, alice, bob];

      expect(await monitor.commandsFor(keys, () => store.set(id, record({ a: '1' }, HOUR, 'alice')))).toEqual(['evalsha', 'evalsha']);
      expect(await monitor.commandsFor(keys, () => store.get(id))).toEqual(['hgetall']);
      expect(await monitor.commandsFor(keys, () => store.patch(id, { set: { b: '2' }, unset: ['a'] }, Date.now() + HOUR))).toEqual([
        'evalsha',
      ]);
      expect(await monitor.commandsFor(keys, () => store.touch(id, Date.now() + HOUR))).toEqual(['evalsha']);
      // A new principal: its index first, then the session; then the old index is cleaned up.
      expect(await monitor.commandsFor(keys, () => store.patch(id, { set: {}, unset: [], principal: 'bob' }, Date.now() + HOUR))).toEqual([
        'evalsha',
        'evalsha',
        'zrem',
      ]);
      expect(await monitor.commandsFor(keys, () => store.destroy(id))).toEqual(['del']);

      const plain = generateSessionId();
      expect(await monitor.commandsFor([`${prefix}{${plain}}`], () => store.set(plain, record()))).toEqual(['evalsha']);
    } finally {
      await monitor.close();
    }
  });

  it('extends the principal index when a touch outlives it, so the session stays findable', async () => {
    const store = create();
    const id = generateSessionId();
    const principal = `touchy-${generateSessionId()}`;
    const indexKey = `${prefix}p:{${sha256(principal)}}`;
    const rec = record({}, 300, principal);
    await store.set(id, rec);
    const firstExpiry = await admin.pexpiretime(indexKey);
    expect(firstExpiry).toBeLessThan(rec.expiresAt + 1000);

    const later = Date.now() + 5000;
    expect(await store.touch(id, later)).toBe(true);
    expect(await admin.pexpiretime(indexKey)).toBeGreaterThanOrEqual(later);
    await sleep(Math.max(0, firstExpiry - Date.now()) + 100);
    expect((await store.findByPrincipal(principal)).map((session) => session.id)).toEqual([id]);
  });

  it('prunes dead IDs from a principal index and lets it expire with its last session', async () => {
    const store = create();
    const principal = `pruned-${generateSessionId()}`;
    const indexKey = `${prefix}p:{${sha256(principal)}}`;
    const shortLived = generateSessionId();
    await store.set(shortLived, record({}, 200, principal));
    await sleep(500);
    const live = generateSessionId();
    await store.set(live, record({}, 300, principal));
    expect(await admin.zrange(indexKey, '0', '-1')).toEqual([live]);
    await sleep(Math.max(0, (await admin.pexpiretime(indexKey)) - Date.now()) + 50);
    expect(await admin.exists(indexKey)).toBe(0);
  });

  it('destroyByPrincipal touches only the sessions of that principal, never keys outside the prefix', async () => {
    const store = create();
    const principal = `victim-${generateSessionId()}`;
    const mine = generateSessionId();
    await store.set(mine, record({}, HOUR, principal));
    // Look-alikes: the same ID and principal under another prefix, and a prefix sharing the start.
    const outside = [`${RUN}other:{${mine}}`, `${prefix.slice(0, -1)}{${mine}}`, `${prefix}x{${mine}}`];
    for (const key of outside) await admin.hset(key, 'm:p', principal, 'm:e', String(Date.now() + HOUR), 'm:c', '1');
    await admin.zadd(`${RUN}other:p:{${sha256(principal)}}`, Date.now() + HOUR, mine);

    expect(await store.destroyByPrincipal(principal)).toBe(1);
    expect(await store.get(mine)).toBeNull();
    for (const key of outside) expect(await admin.exists(key), key).toBe(1);
    expect(await admin.exists(`${RUN}other:p:{${sha256(principal)}}`)).toBe(1);
  });

  it('destroyByPrincipal spares a session that changed hands after it was indexed', async () => {
    const store = create();
    const id = generateSessionId();
    await store.set(id, record({}, HOUR, 'first-owner'));
    // Simulates a principal change whose index cleanup was lost: the old index still lists it.
    await admin.hset(`${prefix}{${id}}`, 'm:p', 'second-owner');
    expect(await store.findByPrincipal('first-owner')).toEqual([]);
    expect(await store.destroyByPrincipal('first-owner')).toBe(0);
    expect((await store.get(id))?.principal).toBe('second-owner');
  });

  it('clear() deletes every key under a prefix with glob characters, and nothing else', async () => {
    const globPrefix = `${RUN}g[1]*?\\:`;
    const store = create({ keyPrefix: globPrefix });
    const ids = [generateSessionId(), generateSessionId()];
    await store.set(ids[0], record({}, HOUR, 'someone'));
    await store.set(ids[1], record());
    // Each of these matches the unescaped pattern `${globPrefix}*`.
    const bystanders = [`${RUN}g1xy:{${ids[0]}}`, `${RUN}g1:`, `${RUN}g1-sess:p:{x}`];
    for (const key of bystanders) await admin.set(key, 'keep');

    expect(await store.clear()).toBe(2);
    expect(await scanKeys(admin, `${RUN}g\\[1\\]*`)).toEqual([]);
    for (const key of bystanders) expect(await admin.get(key), key).toBe('keep');
    expect(await store.get(ids[1])).toBeNull();
  });

  it('never closes a client it was given, and closes the one it created', async () => {
    const client = quiet(new Redis(LOCAL));
    try {
      const given = new RedisStore({ client, keyPrefix: prefix });
      const id = generateSessionId();
      await given.set(id, record());
      await given.close();
      expect(client.status).toBe('ready');
      expect(await given.get(id)).not.toBeNull();

      const owned = create();
      await owned.get(id);
      await owned.close();
      expect(owned.client.status).toBe('end');
      const error = await rejection(owned.get(id));
      expect((error as SessionError).code).toBe('SESSION_STORE_UNAVAILABLE');
    } finally {
      client.disconnect();
    }
  });

  it.each([
    ['a client the store created (ioredis times each command out)', undefined],
    ['a client passed in without a commandTimeout of its own (the store times the operation out)', {}],
    ['a client passed in with a shorter commandTimeout of its own', { commandTimeout: 200 }],
  ])('fails within commandTimeout when Redis stops answering on a ready connection: %s', async (_name, clientOptions) => {
    const link = await stallableLink();
    const client =
      clientOptions === undefined
        ? undefined
        : quiet(new Redis({ host: LOCAL.host, port: link.port, maxRetriesPerRequest: 1, ...clientOptions }));
    const store =
      client === undefined
        ? create({ port: link.port, commandTimeout: 400 })
        : new RedisStore({ client, keyPrefix: prefix, commandTimeout: 400 });
    try {
      const id = generateSessionId();
      await store.set(id, record());
      expect(store.client.status).toBe('ready');
      link.stall();
      const started = Date.now();
      for (const operation of [
        store.get(id),
        store.patch(id, { set: { b: '2' }, unset: [] }, Date.now() + HOUR),
        store.touch(id, Date.now() + HOUR),
      ]) {
        const error = await rejection(operation);
        expect((error as SessionError).code).toBe('SESSION_STORE_UNAVAILABLE');
      }
      // The three run at once and each fails after about 400 ms (200 with the client's own timeout),
      // not after SessionModule's 5 s storeTimeout, and the connection stays up for the next ones.
      expect(Date.now() - started).toBeLessThan(2000);
      expect(store.client.status).toBe('ready');
    } finally {
      if (client === undefined) await store.close();
      else client.disconnect();
      await link.close();
    }
  });

  it('sends the commands of operations started in one turn of the event loop together, on a client it created only', async () => {
    const owned = create();
    const given = quiet(new Redis(LOCAL));
    try {
      const ids = Array.from({ length: 20 }, () => generateSessionId());
      await Promise.all(ids.map((id, i) => owned.set(id, record({ n: String(i) }))));
      await given.ping();
      const stream = (owned.client as Redis).stream;

      // Twenty reads in one turn: all twenty HGETALLs wait in the socket's buffer, written out together afterwards.
      const reads = ids.map((id) => owned.get(id));
      const resp = (...args: string[]): number =>
        Buffer.byteLength(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
      expect(stream.writableCorked).toBe(1);
      expect(stream.writableLength).toBe(ids.reduce((sum, id) => sum + resp('hgetall', `${prefix}{${id}}`), 0));
      expect((await Promise.all(reads)).map((found) => found?.data['n'])).toEqual(ids.map((_, i) => String(i)));
      expect(stream.writableCorked).toBe(0);
      expect(stream.writableLength).toBe(0);

      // Writes too, and what was written reads back.
      const patches = ids.map((id) => owned.patch(id, { set: { n: 'x' }, unset: [] }, Date.now() + HOUR));
      expect(stream.writableCorked).toBe(1);
      expect(await Promise.all(patches)).toEqual(ids.map(() => true));
      expect((await owned.get(ids[0]))?.data).toEqual({ n: 'x' });

      // A client passed in keeps its own write timing.
      const byGiven = new RedisStore({ client: given, keyPrefix: prefix });
      const givenReads = ids.map((id) => byGiven.get(id));
      expect(given.stream.writableCorked).toBe(0);
      expect((await Promise.all(givenReads)).every((found) => found?.data['n'] === 'x')).toBe(true);
    } finally {
      given.disconnect();
    }
  });

  it('writes after Redis lost its scripts (SCRIPT FLUSH, as after a restart): EVALSHA falls back to EVAL', async () => {
    // A server of its own: flushing the scripts of the shared one would change what other tests see.
    const server = await startRedis();
    const own = quiet(new Redis({ port: server.port }));
    const store = new RedisStore({ port: server.port, keyPrefix: prefix });
    try {
      const id = generateSessionId();
      await store.set(id, record({ a: '1' }));
      await own.script('FLUSH');
      expect(await own.script('EXISTS', WRITE_SCRIPT.sha)).toEqual([0]);
      expect(await store.patch(id, { set: { b: '2' }, unset: [] }, Date.now() + HOUR)).toBe(true);
      expect((await store.get(id))?.data).toEqual({ a: '1', b: '2' });
      // Only EVAL caches a script: the write went through it, and the next one is an EVALSHA again.
      expect(await own.script('EXISTS', WRITE_SCRIPT.sha)).toEqual([1]);
    } finally {
      own.disconnect();
      await store.close();
      await server.dispose();
    }
  });

  it('writes and deletes more keys in one patch than one script call takes at once (batches of 500)', async () => {
    const store = create();
    const id = generateSessionId();
    const many = (count: number, tag: string): Record<string, string> =>
      Object.fromEntries(Array.from({ length: count }, (_, i) => [`${tag}${i}`, `"${tag}${i}"`]));
    await store.set(id, record(many(1_200, 'old')));
    const unset = Object.keys(many(1_100, 'old'));
    expect(await store.patch(id, { set: many(1_300, 'new'), unset }, Date.now() + HOUR)).toBe(true);
    const data = (await store.get(id))!.data;
    expect(Object.keys(data)).toHaveLength(100 + 1_300);
    expect(data).toEqual({ ...Object.fromEntries(Object.entries(many(1_200, 'old')).slice(1_100)), ...many(1_300, 'new') });
  });

  it('never writes an operation it reported as failed, even once the connection comes up', async () => {
    const link = await slowLink(800);
    // The store gives up after 300 ms; ioredis's own handshake may take as long as the link needs.
    const store = create({ port: link.port, commandTimeout: 300, redisOptions: { commandTimeout: 5000 } });
    try {
      const id = generateSessionId();
      const error = await rejection(store.set(id, record()));
      expect((error as SessionError).code).toBe('SESSION_STORE_UNAVAILABLE');
      const deadline = Date.now() + 5000;
      while (store.client.status !== 'ready' && Date.now() < deadline) await sleep(20);
      expect(store.client.status).toBe('ready');
      await sleep(50);
      expect(await admin.exists(`${prefix}{${id}}`)).toBe(0);
      expect(await store.get(id)).toBeNull();
    } finally {
      await store.close();
      await link.close();
    }
  });

  it('connects a lazyConnect client it was given on first use', async () => {
    const client = quiet(new Redis({ ...LOCAL, lazyConnect: true }));
    try {
      const store = new RedisStore({ client, keyPrefix: prefix });
      expect(client.status).toBe('wait');
      const id = generateSessionId();
      await Promise.all([store.set(id, record({ a: '1' })), store.get(generateSessionId())]);
      expect((await store.get(id))?.data).toEqual({ a: '1' });
    } finally {
      client.disconnect();
    }
  });

  it('works with a client that has an ioredis keyPrefix of its own', async () => {
    const client = quiet(new Redis({ ...LOCAL, keyPrefix: `${RUN}client:` }));
    try {
      const store = new RedisStore({ client, keyPrefix: 'sess:' });
      const id = generateSessionId();
      await store.set(id, record({ a: '1' }, HOUR, 'p'));
      expect(await admin.exists(`${RUN}client:sess:{${id}}`)).toBe(1);
      expect((await store.findByPrincipal('p')).map((s) => s.id)).toEqual([id]);
      expect(await store.clear()).toBe(1);
      expect(await scanKeys(admin, `${RUN}client:*`)).toEqual([]);
    } finally {
      client.disconnect();
    }
  });

  it('reads and writes the database the URL names', async () => {
    const store = (await createStoreFromUrl(`redis://127.0.0.1:6379/3?prefix=${encodeURIComponent(prefix)}`)) as RedisStore;
    stores.push(store);
    expect(store).toBeInstanceOf(RedisStore);
    const id = generateSessionId();
    await store.set(id, record());
    const db3 = quiet(new Redis({ ...LOCAL, db: 3 }));
    try {
      expect(await db3.exists(`${prefix}{${id}}`)).toBe(1);
      expect(await admin.exists(`${prefix}{${id}}`)).toBe(0);
      await deleteRunKeys(db3);
    } finally {
      db3.disconnect();
    }
  });
});

describe('RedisStore when Redis is down', () => {
  it('fails fast with SESSION_STORE_UNAVAILABLE, never crashes, and recovers when Redis is back', async () => {
    const port = await freePort();
    const errors: Error[] = [];
    const store = new RedisStore({
      port,
      connectTimeout: 200,
      commandTimeout: 400,
      keyPrefix: `${RUN}down:`,
      onClientError: (err) => errors.push(err),
    });
    let server: RedisServer | undefined;
    try {
      for (const operation of [() => store.get(generateSessionId()), () => store.set(generateSessionId(), record())]) {
        const started = Date.now();
        const error = await rejection(operation());
        expect(Date.now() - started).toBeLessThan(1000);
        expect(error).toBeInstanceOf(SessionError);
        expect((error as SessionError).code).toBe('SESSION_STORE_UNAVAILABLE');
        expect((error as SessionError).cause).toBeInstanceOf(Error);
      }
      expect(errors.some((err) => (err as NodeJS.ErrnoException).code === 'ECONNREFUSED')).toBe(true);
      const failedWrites = Array.from({ length: 5 }, () => generateSessionId());
      for (const id of failedWrites) expect(await rejection(store.set(id, record()))).toBeInstanceOf(SessionError);

      server = await startRedis({ port });
      const id = generateSessionId();
      const deadline = Date.now() + 5000;
      for (;;) {
        const ok = await store.set(id, record()).then(
          () => true,
          () => false,
        );
        if (ok) break;
        if (Date.now() > deadline) throw new Error('the store did not reconnect within 5 s');
        await sleep(100);
      }
      expect(await store.get(id)).not.toBeNull();
      // Writes that failed during the outage were not queued to be replayed now.
      await sleep(100);
      for (const failed of failedWrites) expect(await store.get(failed)).toBeNull();
    } finally {
      await store.close();
      await server?.dispose();
    }
  });

  it('fails while its Redis is stopped and works again once it restarts on the same port', async () => {
    const server = await startRedis();
    const store = new RedisStore({ port: server.port, commandTimeout: 500, keyPrefix: RUN });
    try {
      const id = generateSessionId();
      await store.set(id, record({ a: '1' }));
      await server.stop();
      const started = Date.now();
      expect(((await rejection(store.get(id))) as SessionError).code).toBe('SESSION_STORE_UNAVAILABLE');
      expect(((await rejection(store.patch(id, { set: { b: '2' }, unset: [] }, Date.now() + HOUR))) as SessionError).code).toBe(
        'SESSION_STORE_UNAVAILABLE',
      );
      expect(Date.now() - started).toBeLessThan(1500);

      await server.start();
      const deadline = Date.now() + 5000;
      // The restarted server has no persistence, so the session is gone: null, not an error.
      while (
        (await store.get(id).then(
          () => 'ok',
          () => 'down',
        )) === 'down' &&
        Date.now() < deadline
      )
        await sleep(100);
      expect(await store.get(id)).toBeNull();
      await store.set(id, record({ a: '2' }));
      expect((await store.get(id))?.data).toEqual({ a: '2' });
    } finally {
      await store.close();
      await server.dispose();
    }
  });

  it('fails within commandTimeout for a cluster with no reachable node', async () => {
    const store = new RedisStore({ cluster: { nodes: [{ host: '127.0.0.1', port: await freePort() }] }, commandTimeout: 300 });
    try {
      const started = Date.now();
      const error = await rejection(store.get(generateSessionId()));
      expect(Date.now() - started).toBeLessThan(1000);
      expect((error as SessionError).code).toBe('SESSION_STORE_UNAVAILABLE');
    } finally {
      await store.close();
    }
  });
});

describe('RedisStore on a 3-master cluster', () => {
  const prefix = `${RUN}cluster:`;
  let cluster: RedisClusterServers | undefined;
  let admin: Cluster;
  const stores: RedisStore[] = [];
  const create = (): RedisStore => {
    const store = new RedisStore({ cluster: { nodes: cluster!.nodes }, keyPrefix: prefix });
    stores.push(store);
    return store;
  };

  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    admin = quiet(new Cluster(cluster.nodes));
  });

  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    admin?.disconnect();
    await cluster?.stop();
  });

  describeStoreConformance(
    'RedisStore (cluster)',
    () => new RedisStore({ cluster: { nodes: cluster!.nodes }, keyPrefix: `${RUN}conformance:` }),
    { supportsGc: false, supportsLocks: true },
  );

  it('keeps each session on the slot of its ID, and sessions spread over the masters', async () => {
    const store = create();
    const ids = Array.from({ length: 12 }, () => generateSessionId());
    for (const id of ids) await store.set(id, record({ id }));
    const slots = new Set<number>();
    for (const id of ids) {
      const key = `${prefix}{${id}}`;
      const slot = await admin.cluster('KEYSLOT', key);
      expect(slot).toBe(await admin.cluster('KEYSLOT', id));
      slots.add(slot);
      expect(await admin.hget(key, 'd:id')).toBe(id);
    }
    const perMaster = await Promise.all(admin.nodes('master').map((node) => node.dbsize()));
    expect(perMaster.filter((count) => count > 0).length).toBeGreaterThan(1);
  });

  it('finds and destroys the sessions of a principal across slots and masters', async () => {
    const store = create();
    const principal = `user-${generateSessionId()}`;
    const ids = Array.from({ length: 8 }, () => generateSessionId());
    for (const id of ids) await store.set(id, record({}, HOUR, principal));
    const bystander = generateSessionId();
    await store.set(bystander, record({}, HOUR, `${principal}-2`));
    const keys = new Set(ids.map((id) => `${prefix}{${id}}`));
    const holders = await Promise.all(
      admin.nodes('master').map(async (node) => (await scanKeys(node, `${prefix}*`)).some((key) => keys.has(key))),
    );
    expect(holders.filter(Boolean).length).toBeGreaterThan(1);

    expect((await store.findByPrincipal(principal)).map((s) => s.id).sort()).toEqual([...ids].sort());
    expect(await store.patch(ids[0], { set: {}, unset: [], principal: `${principal}-2` }, Date.now() + HOUR)).toBe(true);
    expect((await store.findByPrincipal(`${principal}-2`)).map((s) => s.id).sort()).toEqual([ids[0], bystander].sort());
    expect(await store.destroyByPrincipal(principal)).toBe(7);
    for (const id of ids.slice(1)) expect(await store.get(id)).toBeNull();
    expect(await store.get(ids[0])).not.toBeNull();
    expect(await store.get(bystander)).not.toBeNull();
  });

  it('clear() scans every master and deletes only keys under the prefix', async () => {
    const store = create();
    const ids = Array.from({ length: 9 }, () => generateSessionId());
    for (const id of ids) await store.set(id, record({}, HOUR, 'someone'));
    const bystanders = ids.slice(0, 3).map((id) => `${RUN}cluster-other:{${id}}`);
    for (const key of bystanders) await admin.set(key, 'keep');

    expect(await store.clear()).toBeGreaterThanOrEqual(9);
    expect(await scanKeys(admin, `${prefix}*`)).toEqual([]);
    for (const key of bystanders) expect(await admin.get(key)).toBe('keep');
  });

  it('works from a redis://…?cluster=1 URL with one seed node', async () => {
    const seed = cluster!.nodes[1];
    const store = (await createStoreFromUrl(
      `redis://${seed.host}:${seed.port}?cluster=1&prefix=${encodeURIComponent(prefix)}`,
    )) as RedisStore;
    stores.push(store);
    expect(store.client).toBeInstanceOf(Cluster);
    const id = generateSessionId();
    await store.set(id, record({ via: 'url' }));
    expect((await store.get(id))?.data).toEqual({ via: 'url' });
  });
});

describe('RedisStore over TLS', () => {
  const prefix = `${RUN}tls:`;
  let files: TlsFiles | undefined;
  let server: RedisServer | undefined;
  const pem = { ca: '', cert: '', key: '' };
  const stores: RedisStore[] = [];

  beforeAll(async () => {
    files = await createTlsFiles();
    pem.ca = await readFile(files.ca, 'utf8');
    pem.cert = await readFile(files.clientCert, 'utf8');
    pem.key = await readFile(files.clientKey, 'utf8');
    // Clients must present a certificate, so the suite also checks that cert and key reach ioredis.
    server = await startRedis({ tls: files, tlsAuthClients: 'yes' });
  });

  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await server?.dispose();
    await files?.remove();
  });

  describeStoreConformance('RedisStore (TLS)', () => new RedisStore({ port: server!.port, tls: pem, keyPrefix: prefix }), {
    supportsGc: false,
    supportsLocks: true,
  });

  it('refuses a server certificate from an unknown CA by default, failing without crashing', async () => {
    const errors: Error[] = [];
    const store = new RedisStore({
      port: server!.port,
      tls: { cert: pem.cert, key: pem.key },
      commandTimeout: 500,
      keyPrefix: prefix,
      onClientError: (err) => errors.push(err),
    });
    stores.push(store);
    const error = await rejection(store.get(generateSessionId()));
    expect((error as SessionError).code).toBe('SESSION_STORE_UNAVAILABLE');
    // The exact code depends on whether the server sends its CA along (SELF_SIGNED_CERT_IN_CHAIN) or not.
    const codes = errors.map((err) => String((err as NodeJS.ErrnoException).code));
    expect(
      codes.some((code) => /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/.test(code)),
      codes.join(),
    ).toBe(true);
  });

  it('connects to that server with rejectUnauthorized: false', async () => {
    const store = new RedisStore({ port: server!.port, tls: { ...pem, ca: undefined, rejectUnauthorized: false }, keyPrefix: prefix });
    stores.push(store);
    const id = generateSessionId();
    await store.set(id, record());
    expect(await store.get(id)).not.toBeNull();
  });

  it('connects through a rediss:// URL with CA, client certificate and key files', async () => {
    const query = new URLSearchParams({ tls_ca: files!.ca, tls_cert: files!.clientCert, tls_key: files!.clientKey, prefix });
    const store = (await createStoreFromUrl(`rediss://localhost:${server!.port}?${query}`)) as RedisStore;
    stores.push(store);
    const id = generateSessionId();
    await store.set(id, record({ tls: 'yes' }));
    expect((await store.get(id))?.data).toEqual({ tls: 'yes' });
  });
});

describe('RedisStore through Sentinel', () => {
  let master: RedisServer | undefined;
  let sentinel: RedisServer | undefined;

  beforeAll(async () => {
    master = await startRedis();
    sentinel = await startRedisSentinel(master.port, 'sessions-master');
  });

  afterAll(async () => {
    await sentinel?.dispose();
    await master?.dispose();
  });

  it('finds the master through the sentinels and stores sessions there', async () => {
    const store = new RedisStore({
      sentinel: { sentinels: [{ host: '127.0.0.1', port: sentinel!.port }], name: 'sessions-master' },
      keyPrefix: RUN,
    });
    const direct = quiet(new Redis({ host: '127.0.0.1', port: master!.port }));
    try {
      const id = generateSessionId();
      await store.set(id, record({ via: 'sentinel' }));
      expect((await store.get(id))?.data).toEqual({ via: 'sentinel' });
      expect(await direct.hget(`${RUN}{${id}}`, 'd:via')).toBe('sentinel');
    } finally {
      direct.disconnect();
      await store.close();
    }
  });
});

describe('RedisStore options', () => {
  const optionError = (create: () => unknown): SessionError => {
    let error: unknown;
    try {
      create();
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SessionError);
    expect((error as SessionError).code).toBe('SESSION_OPTIONS_INVALID');
    return error as SessionError;
  };
  const client = { evalsha: () => undefined, hgetall: () => undefined, status: 'ready' } as unknown as Redis;

  it.each<[string, RedisStoreOptions]>([
    ['keyPrefix', { keyPrefix: '' }],
    ['keyPrefix', { keyPrefix: 'app:{sess}:' }],
    ['keyPrefix', { keyPrefix: 'app}' }],
    ['commandTimeout', { commandTimeout: 0 }],
    ['commandTimeout', { commandTimeout: Number.NaN }],
    ['connectTimeout', { connectTimeout: -5 }],
    ['port', { port: 0 }],
    ['port', { port: 70_000 }],
    ['port', { port: 63.5 }],
    ['host', { host: '' }],
    ['db', { db: -1 }],
    ['db', { db: 1, cluster: true }],
    ['password', { password: 42 as unknown as string }],
    ['tls', { tls: 'yes' as unknown as boolean }],
    ['tls.rejectUnauthorized', { tls: { rejectUnauthorized: 'false' as unknown as boolean } }],
    ['cluster.nodes', { cluster: { nodes: [] } }],
    ['cluster.nodes', { cluster: { nodes: [{ host: 'a', port: 0 }] } }],
    ['sentinel', { sentinel: { sentinels: [{ host: 'a', port: 1 }], name: 'm' }, cluster: true }],
    ['sentinel.sentinels', { sentinel: { sentinels: [], name: 'm' } }],
    ['sentinel.name', { sentinel: { sentinels: [{ host: 'a', port: 26379 }], name: '' } }],
    ['redisOptions.keyPrefix', { redisOptions: { keyPrefix: 'x:' } }],
    ['client', { client: {} as Redis }],
    ['host', { client, host: 'localhost' }],
    ['redisOptions', { client, redisOptions: {} }],
    ['url', { url: 'http://localhost:6379' }],
    ['url', { url: 'redis://localhost?prefix=a{b}' }],
  ])('rejects an invalid %s option before connecting', (option, options) => {
    expect(optionError(() => new RedisStore(options)).message).toContain(`\`${option}\``);
  });

  it.each([
    ['not a url'],
    ['redis://'],
    ['redis:///0'],
    ['redis://host:99999'],
    ['redis://host/db1'],
    ['redis://host/1/2'],
    ['redis://host?cluster=maybe'],
    ['redis://host?prefix='],
    ['redis://host?rejectUnauthorized=false'],
    ['redis://host?tls_ca=/no/such/file.pem'],
    ['rediss://host?tls_ca=/no/such/file.pem'],
    ['redis://host?connectTimeout=fast'],
    ['redis://host?unknown=1'],
    ['redis://host?prefix=a&prefix=b'],
    ['redis://us%er@host'],
    ['redis://host/2?cluster=1'],
    ['redis://user:secret@host/abc'],
  ])('rejects the URL %s', async (url) => {
    const error = await rejection(createStoreFromUrl(url));
    expect(error).toBeInstanceOf(SessionError);
    expect((error as SessionError).code).toBe('SESSION_OPTIONS_INVALID');
    expect((error as SessionError).message).not.toContain('secret');
  });

  it('parses every part of a Redis URL', () => {
    expect(parseRedisUrl('redis://us%40er:p%3Ass%40@cache.internal:6380/2?prefix=shop%3A&connectTimeout=1500&commandTimeout=700')).toEqual({
      host: 'cache.internal',
      port: 6380,
      username: 'us@er',
      password: 'p:ss@',
      db: 2,
      keyPrefix: 'shop:',
      connectTimeout: 1500,
      commandTimeout: 700,
    });
    expect(parseRedisUrl('redis://:secret@[::1]')).toEqual({ host: '::1', password: 'secret' });
    expect(parseRedisUrl('rediss://h?rejectUnauthorized=false&servername=redis.example.com&cluster=true')).toEqual({
      host: 'h',
      cluster: true,
      tls: { rejectUnauthorized: false, servername: 'redis.example.com' },
    });
    expect(parseRedisUrl('rediss://h:6390/')).toEqual({ host: 'h', port: 6390, tls: {} });
  });

  it('lets explicit options override the URL', async () => {
    const store = new RedisStore({ url: `redis://127.0.0.1:1/5?prefix=from-url:`, port: 6379, db: 0, keyPrefix: `${RUN}override:` });
    try {
      const id = generateSessionId();
      await store.set(id, record());
      const admin = quiet(new Redis(LOCAL));
      try {
        expect(await admin.exists(`${RUN}override:{${id}}`)).toBe(1);
        await admin.del(`${RUN}override:{${id}}`);
      } finally {
        admin.disconnect();
      }
    } finally {
      await store.close();
    }
  });
});
