import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from './support/http-client.js';
import { startInstance, type Instance } from './support/instances.js';
import { ADAPTERS, type AdapterName } from './support/test-app.js';

/**
 * Two app processes behind "a load balancer" (one cookie jar used against both), sharing one
 * real store: the way users scale past one machine. Both processes on Express, then both on Fastify.
 */
const run = randomBytes(4).toString('hex');
const targets = (adapter: AdapterName) => [
  {
    name: 'Redis',
    adapter,
    url: `redis://127.0.0.1:6379/0?prefix=multi-${run}-${adapter}:`,
    async cleanup() {
      const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
      await redis.connect();
      const keys = await redis.keys(`multi-${run}-${adapter}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    },
  },
  {
    name: 'PostgreSQL',
    adapter,
    url: `postgres://postgres@127.0.0.1:5432/test?table=multi_${run}_${adapter}`,
    async cleanup() {
      const client = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
      await client.connect();
      await client.query(`DROP TABLE IF EXISTS "multi_${run}_${adapter}"`);
      await client.end();
    },
  },
];

/** Express names itself in X-Powered-By by default; Fastify sends no such header. */
const POWERED_BY = { express: 'Express', fastify: null };

const cases = ADAPTERS.flatMap(([adapter]) => targets(adapter));

describe.each(cases)('two app instances on one $name, on $adapter', ({ adapter, url, cleanup }) => {
  let a: Instance;
  let b: Instance;

  beforeAll(async () => {
    [a, b] = await Promise.all([startInstance(url, {}, adapter), startInstance(url, {}, adapter)]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await cleanup();
  });

  it('a session created through one instance is read and changed through the other', async () => {
    const jar = new Map<string, string>();
    const viaA = a.client(jar);
    const viaB = b.client(jar);
    await viaA.post('/set', { cart: ['book'], user: 'alice' });
    const read = await viaB.get('/all');
    expect(read.json()).toMatchObject({ cart: ['book'], user: 'alice', servedBy: b.pid });
    // Both processes really run on the platform under test: as their Nest adapter reports it, and as
    // their responses show.
    expect([a.platform, b.platform]).toEqual([adapter, adapter]);
    expect(read.headers.get('x-powered-by')).toBe(POWERED_BY[adapter]);
    await viaB.post('/set', { cart: ['book', 'pen'] });
    expect((await viaA.get('/all')).json()).toMatchObject({ cart: ['book', 'pen'], user: 'alice', servedBy: a.pid });
  });

  it('writes to different keys through both instances at once all survive', async () => {
    const jar = new Map<string, string>();
    await a.client(jar).post('/set', { seed: 1 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).client(jar).post('/set', { [`k${i}`]: i })));
    const all = (await a.client(jar).get('/all')).json();
    for (let i = 0; i < 20; i++) expect(all[`k${i}`]).toBe(i);
  });

  it('stopping one instance loses nothing: the other serves every session, and so does a new one', async () => {
    const jars = Array.from({ length: 5 }, () => new Map<string, string>());
    for (const [i, jar] of jars.entries()) await (i % 2 ? a : b).client(jar).post('/set', { n: i });
    await a.stop();
    expect(a.alive()).toBe(false);
    for (const [i, jar] of jars.entries()) expect((await b.client(jar).get('/all')).json()).toMatchObject({ n: i });
    a = await startInstance(url, {}, adapter);
    expect(a.platform).toBe(adapter);
    for (const [i, jar] of jars.entries()) expect((await a.client(jar).get('/all')).json()).toMatchObject({ n: i, servedBy: a.pid });
  });

  it('a cookie from one instance is refused by nobody and forged by nobody', async () => {
    const jar = new Map<string, string>();
    await a.client(jar).post('/set', { ok: true });
    const forged = new TestClient(b.url, new Map([['sid', `${jar.get('sid')!.split('.')[0]}.${'A'.repeat(43)}`]]));
    expect((await forged.get('/all')).json()).not.toHaveProperty('ok');
    expect((await b.client(jar).get('/all')).json()).toMatchObject({ ok: true });
  });
});
