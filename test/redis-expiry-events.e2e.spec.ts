import 'reflect-metadata';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionManager, SessionModule, type SessionDestroyedEvent } from '../src/index.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { startRedis, startRedisCluster, type RedisClusterServers, type RedisServer } from './support/redis-servers.js';
import { createApp, SECRET, startApp, testModule } from './support/test-app.js';

/**
 * Sessions that Redis expires by itself, which no request reads again, reported as `destroyed`
 * events (reason `expired`) through keyspace notifications (`RedisStore`'s `expiryEvents`), on a
 * standalone server and on a 3-master cluster, each started for this file.
 */
const idOf = (jar: Map<string, string>): string => jar.get('sid')!.split('.')[0]!;

describe('expiryEvents on a standalone Redis', () => {
  let server: RedisServer;
  let admin: Redis;

  beforeAll(async () => {
    server = await startRedis();
    admin = new Redis({ host: server.host, port: server.port });
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.dispose();
  });

  it('refuses to start when the server notifies no expired keys, naming the option and the fix', async () => {
    await admin.config('SET', 'notify-keyspace-events', '');
    const store = new RedisStore({ host: server.host, port: server.port, expiryEvents: true });
    const module = testModule(SessionModule.forRoot({ secret: SECRET, store, events: { destroyed: () => undefined } }));
    const app = await createApp(module, 'express', { abortOnError: false });
    await expect(app.init()).rejects.toThrow(
      'invalid option `expiryEvents`: the Redis server notifies no expired keys (notify-keyspace-events is ""; it needs E and x). Run `CONFIG SET notify-keyspace-events Ex`',
    );
    await app.close().catch(() => undefined);
    await store.close();
  });

  it('reports a session Redis expired, once, with its handle and no request; locks and other keys are not sessions', async () => {
    await admin.config('SET', 'notify-keyspace-events', 'Ex');
    const destroyed: SessionDestroyedEvent[] = [];
    const store = new RedisStore({ host: server.host, port: server.port, keyPrefix: 'exp:', expiryEvents: true });
    const running = await startApp(
      testModule(
        SessionModule.forRoot({ secret: SECRET, store, idleTimeout: 600, events: { destroyed: (event) => void destroyed.push(event) } }),
      ),
    );
    try {
      const client = running.client();
      await client.post('/increment');
      const handle = running.app.get(SessionManager).handleOf(idOf(client.jar));
      // Keys that expire but are no sessions: another app's, and a lock of this one.
      await admin.set('other:{abcdefghijklmnopqrstuvwxyz012345}', '1', 'PX', 100);
      expect(await store.tryLock('a'.repeat(43), 'owner-1', 100)).toBe(true);
      await expect.poll(() => destroyed.length, { timeout: 5000 }).toBe(1);
      expect(destroyed[0]).toEqual({ handle, principal: undefined, reason: 'expired', req: undefined, at: expect.any(Number) });
      await new Promise((done) => setTimeout(done, 500));
      expect(destroyed).toHaveLength(1);
    } finally {
      await running.close();
    }
  });

  it('without listeners, nothing subscribes: the server sees no extra connection', async () => {
    await admin.config('SET', 'notify-keyspace-events', 'Ex');
    const store = new RedisStore({ host: server.host, port: server.port, keyPrefix: 'quiet:', expiryEvents: true });
    const running = await startApp(testModule(SessionModule.forRoot({ secret: SECRET, store })));
    try {
      await running.client().post('/increment');
      const clients = String(await admin.client('LIST'));
      expect(clients).not.toMatch(/cmd=psubscribe/);
    } finally {
      await running.close();
    }
  });
});

describe('expiryEvents on a 3-master Redis Cluster (notifications are per node)', () => {
  let cluster: RedisClusterServers;

  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    await Promise.all(
      cluster.nodes.map(async (node) => {
        const admin = new Redis(node);
        await admin.config('SET', 'notify-keyspace-events', 'Ex');
        admin.disconnect();
      }),
    );
  }, 60_000);
  afterAll(() => cluster?.stop());

  it('reports sessions expired on every master', async () => {
    const destroyed: SessionDestroyedEvent[] = [];
    const store = new RedisStore({ cluster: { nodes: cluster.nodes }, keyPrefix: 'cexp:', expiryEvents: true });
    const running = await startApp(
      testModule(
        SessionModule.forRoot({ secret: SECRET, store, idleTimeout: 800, events: { destroyed: (event) => void destroyed.push(event) } }),
      ),
    );
    try {
      const manager = running.app.get(SessionManager);
      const clients = Array.from({ length: 12 }, () => running.client());
      for (const client of clients) await client.post('/increment');
      // Twelve random IDs land on more than one of the three masters (all on one: 3 × (1/3)^12).
      const handles = clients.map((client) => manager.handleOf(idOf(client.jar))).sort();
      await expect.poll(() => destroyed.length, { timeout: 8000 }).toBe(12);
      expect(destroyed.map((event) => event.handle).sort()).toEqual(handles);
      for (const event of destroyed) expect(event.reason).toBe('expired');
    } finally {
      await running.close();
    }
  }, 30_000);
});
