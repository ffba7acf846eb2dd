import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInstance, type Instance } from './support/instances.js';
import { startRedisCluster, type RedisClusterServers } from './support/redis-servers.js';
import { ADAPTERS, type AdapterName } from './support/test-app.js';

/**
 * Two app processes behind "a load balancer" (one cookie jar used against both) on one 3-master
 * Redis Cluster started for this file, through the `?cluster=1` URL of a single seed node: sessions,
 * flash, regenerate and log-out-everywhere work whichever instance a request reaches, and sessions
 * spread over every master. Both processes on Express, then both on Fastify.
 */
const run = randomBytes(4).toString('hex');
const idOf = (jar: Map<string, string>): string => jar.get('sid')!.split('.')[0]!;

let cluster: RedisClusterServers;

beforeAll(async () => {
  cluster = await startRedisCluster(3);
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

describe.each(ADAPTERS)('two app instances on a 3-master Redis Cluster, on %s', (adapter: AdapterName) => {
  const prefix = `cl-${run}-${adapter}:`;
  let a: Instance;
  let b: Instance;

  beforeAll(async () => {
    // One seed node only: the instances discover the other masters themselves.
    const seed = cluster.nodes[0]!;
    const url = `redis://${seed.host}:${seed.port}?cluster=1&prefix=${prefix}`;
    [a, b] = await Promise.all([
      startInstance(url, { PRINCIPAL_KEY: 'user' }, adapter),
      startInstance(url, { PRINCIPAL_KEY: 'user' }, adapter),
    ]);
    expect([a.platform, b.platform]).toEqual([adapter, adapter]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('a session created through one instance is read and changed through the other', async () => {
    const jar = new Map<string, string>();
    expect((await a.client(jar).post('/set', { cart: ['book'], user: 'alice' })).status).toBe(200);
    expect((await b.client(jar).get('/all')).json()).toMatchObject({ cart: ['book'], user: 'alice', servedBy: b.pid });
    await b.client(jar).post('/set', { cart: ['book', 'pen'] });
    expect((await a.client(jar).get('/all')).json()).toMatchObject({ cart: ['book', 'pen'], user: 'alice', servedBy: a.pid });
  });

  it('a flash set through one instance is shown once, through the other', async () => {
    const jar = new Map<string, string>();
    await a.client(jar).post('/flash', { message: 'Saved.' });
    expect((await b.client(jar).get('/flash')).json()).toEqual({ flash: 'Saved.', servedBy: b.pid });
    expect((await a.client(jar).get('/flash')).json()).toEqual({ flash: null, servedBy: a.pid });
    expect((await b.client(jar).get('/flash')).json()).toEqual({ flash: null, servedBy: b.pid });
    // And the other way round.
    await b.client(jar).post('/flash', { message: { error: 'Name is required' } });
    expect((await a.client(jar).get('/flash')).json()).toEqual({ flash: { error: 'Name is required' }, servedBy: a.pid });
    expect((await b.client(jar).get('/flash')).json()).toEqual({ flash: null, servedBy: b.pid });
  });

  it('regenerate through one instance: the old cookie is dead on the other, the new one alive on both', async () => {
    const jar = new Map<string, string>();
    await a.client(jar).post('/set', { cart: ['book'] });
    const old = new Map(jar);
    expect((await b.client(new Map(old)).get('/all')).json()).toMatchObject({ cart: ['book'] });

    expect((await a.client(jar).post('/regenerate')).status).toBe(200);
    expect(idOf(jar)).not.toBe(idOf(old));
    expect((await b.client(jar).get('/all')).json()).toMatchObject({ cart: ['book'], servedBy: b.pid });
    expect((await a.client(jar).get('/all')).json()).toMatchObject({ cart: ['book'], servedBy: a.pid });
    for (const instance of [b, a]) {
      const stale = await instance.client(new Map(old)).get('/all');
      expect(stale.status).toBe(200);
      expect(stale.json()).not.toHaveProperty('cart');
    }
  });

  it('log out everywhere through one instance ends every session of the user, made through either, and no other', async () => {
    const alice = [new Map<string, string>(), new Map<string, string>(), new Map<string, string>()];
    const bob = new Map<string, string>();
    await a.client(alice[0]).post('/login', { user: `alice-${adapter}` });
    await b.client(alice[1]).post('/login', { user: `alice-${adapter}` });
    await a.client(alice[2]).post('/login', { user: `alice-${adapter}` });
    await b.client(bob).post('/login', { user: `bob-${adapter}` });
    for (const jar of alice) {
      for (const instance of [a, b]) expect((await instance.client(jar).get('/all')).json()).toMatchObject({ user: `alice-${adapter}` });
    }

    const out = await b.client(new Map(alice[1])).post('/logout-everywhere');
    expect(out.status).toBe(200);
    expect(out.json()).toEqual({ destroyed: 3, servedBy: b.pid });

    for (const jar of alice) {
      for (const instance of [a, b]) expect((await instance.client(new Map(jar)).get('/all')).json()).not.toHaveProperty('user');
    }
    for (const instance of [a, b]) expect((await instance.client(bob).get('/all')).json()).toMatchObject({ user: `bob-${adapter}` });
  });

  it('20 sessions spread over all three masters, each written through one instance and read through the other', async () => {
    const jars = Array.from({ length: 20 }, () => new Map<string, string>());
    await Promise.all(jars.map((jar, i) => (i % 2 ? a : b).client(jar).post('/set', { n: i, note: `written-${i}` })));
    // Every session's record is on exactly one master, and every master holds some.
    const masters = await Promise.all(
      cluster.nodes.map(async ({ host, port }) => {
        const node = new Redis({ host, port, lazyConnect: true });
        await node.connect();
        try {
          const keys: string[] = [];
          let cursor = '0';
          do {
            const [next, batch] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
            cursor = next;
            keys.push(...batch);
          } while (cursor !== '0');
          return keys;
        } finally {
          node.disconnect();
        }
      }),
    );
    const holders = jars.map((jar) => masters.flatMap((keys, m) => (keys.includes(`${prefix}{${idOf(jar)}}`) ? [m] : [])));
    for (const held of holders) expect(held).toHaveLength(1);
    expect(new Set(holders.map(([m]) => m)).size).toBe(3);

    for (const [i, jar] of jars.entries()) {
      const reader = i % 2 ? b : a;
      expect((await reader.client(jar).get('/all')).json()).toMatchObject({ n: i, note: `written-${i}`, servedBy: reader.pid });
    }
    // Changed through the reader, read back through the writer.
    await Promise.all(jars.map((jar, i) => (i % 2 ? b : a).client(jar).post('/increment', { key: 'n' })));
    for (const [i, jar] of jars.entries()) expect((await (i % 2 ? a : b).client(jar).get('/all')).json()).toMatchObject({ n: i + 1 });
  });
});
