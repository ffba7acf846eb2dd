import { RedisStore as ConnectRedisStore } from 'connect-redis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromConnectStore, MemoryStore, SessionError, SessionIndex, SessionManager, type SessionStore } from '../src/index.js';
import { MemcachedStore } from '../src/stores/memcached/memcached.store.js';
import { CountingStore } from './support/counting-store.js';
import { MemcachedTestServer } from './support/memcached-server.js';
import { ADAPTERS, startSessionApp, type RunningApp } from './support/test-app.js';

/**
 * "Log out everywhere" is one mechanism on every server-side store: the sessions of a principal
 * are the `SessionIndex` key `principal:<principal>`, answered by the store's own principal index
 * where it has one (MemoryStore, Redis, SQL, file) and by index records the engine keeps
 * otherwise (memcached, a connect store; any store without findByPrincipal, here also a wrapper
 * that hides MemoryStore's).
 */
const memcached = new MemcachedTestServer();
const redis = createClient({ url: 'redis://127.0.0.1:6379' });
const prefix = `principal-e2e:${process.pid}:${Date.now()}:`;
beforeAll(async () => {
  await memcached.start();
  await redis.connect();
});
afterAll(async () => {
  await memcached.stop();
  for await (const keys of redis.scanIterator({ MATCH: `${prefix}*` })) if (keys.length > 0) await redis.del(keys);
  redis.destroy();
});

const stores: Array<{ name: string; native: boolean; create: () => SessionStore }> = [
  { name: 'MemoryStore (its own principal index)', native: true, create: () => new MemoryStore() },
  {
    name: 'a store without a principal index (CountingStore over MemoryStore)',
    native: false,
    create: () => new CountingStore(new MemoryStore()),
  },
  { name: 'MemcachedStore (no principal index)', native: false, create: () => new MemcachedStore({ servers: memcached.address }) },
  {
    name: 'connect-redis through fromConnectStore (no principal index)',
    native: false,
    create: () => fromConnectStore(new ConnectRedisStore({ client: redis, prefix })),
  },
];

const idOf = (running: RunningApp, jar: Map<string, string>) => jar.get('sid')!.split('.')[0];

describe.each(ADAPTERS.flatMap(([adapter]) => stores.map((store) => ({ ...store, adapter }))))(
  'sessions by principal on $name, $adapter',
  ({ native, create, adapter }) => {
    let running: RunningApp;
    let manager: SessionManager;

    beforeAll(async () => {
      running = await startSessionApp({ store: create(), principal: 'user' }, { adapter });
      manager = running.app.get(SessionManager);
    });
    afterAll(() => running.close());

    it('is answered by the store itself only where it has a principal index', () => {
      expect(running.app.get(SessionIndex).storeIndexesPrincipals).toBe(native);
      expect(running.app.get(SessionIndex)).toBe(manager.index);
    });

    it("lists a user's sessions through logins, regenerations and a change of user, and logs them out everywhere", async () => {
      const laptop = running.client();
      const phone = running.client();
      const tablet = running.client();
      const bob = running.client();
      await laptop.post('/login'); // regenerate(), then user = 'alice'
      await phone.post('/login');
      await tablet.post('/login');
      await bob.post('/set', { user: 'bob' });
      const anonymous = running.client();
      await anonymous.post('/increment');

      // The tablet logs in again: a new ID, still alice's; the old ID is listed no more.
      const tabletBefore = idOf(running, tablet.jar);
      await tablet.post('/login');
      expect(idOf(running, tablet.jar)).not.toBe(tabletBefore);

      // The phone hands over to bob: it leaves alice's list and joins bob's.
      await phone.post('/set', { user: 'bob' });

      const alice = (await manager.findByPrincipal('alice')).map((session) => session.id).sort();
      expect(alice).toEqual([idOf(running, laptop.jar), idOf(running, tablet.jar)].sort());
      expect((await manager.findByPrincipal('bob')).map((session) => session.id).sort()).toEqual(
        [idOf(running, bob.jar), idOf(running, phone.jar)].sort(),
      );
      expect(await running.app.get(SessionIndex).find('principal:alice')).toEqual(expect.arrayContaining(alice));

      expect(await manager.destroyByPrincipal('alice')).toBe(2);
      expect((await laptop.get('/all')).json()).toEqual({});
      expect((await tablet.get('/all')).json()).toEqual({});
      expect((await phone.get('/all')).json()).toEqual({ user: 'bob' });
      expect((await bob.get('/all')).json()).toEqual({ user: 'bob' });
      expect((await anonymous.get('/value')).json()).toEqual({ count: 1 });
      expect(await manager.findByPrincipal('alice')).toEqual([]);

      // Logging out (the key deleted) and destroying a session both take it off the list.
      await bob.post('/delete', { keys: ['user'] });
      await phone.post('/logout');
      expect(await manager.findByPrincipal('bob')).toEqual([]);
    });

    it('a request whose session another device destroyed while it ran cannot write it back (409), and is listed no more', async () => {
      const client = running.client();
      await client.post('/login');
      // The route destroys the session's record as another device would, then writes to the session.
      const late = await client.post('/set-after-remote-destroy');
      expect(late.status).toBe(409);
      expect(await manager.findByPrincipal('alice')).toEqual([]);
    });
  },
);

describe.each(ADAPTERS)('principal keys belong to the engine, on %s', (adapter) => {
  it('SessionIndex.link and unlink refuse them, naming the option that keeps them', async () => {
    const running = await startSessionApp({ principal: 'user' }, { adapter });
    try {
      const index = running.app.get(SessionIndex);
      for (const call of [
        () => index.link('principal:alice', 'a'.repeat(32), Date.now() + 1000),
        () => index.unlink('principal:alice', 'a'.repeat(32)),
      ]) {
        const error = await call().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(SessionError);
        expect((error as SessionError).code).toBe('SESSION_OPTIONS_INVALID');
        expect((error as SessionError).message).toContain(
          "keys starting with 'principal:' are kept by the engine from the `principal` option",
        );
      }
    } finally {
      await running.close();
    }
  });
});
