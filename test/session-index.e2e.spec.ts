import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CookieStore, generateSessionId, MemoryStore, SessionError, SessionIndex, SessionModule } from '../src/index.js';
import { FaultyLockingStore, FaultyStore } from './support/faulty-store.js';
import { MORE_SERVER_STORE_BACKENDS, SHARED_STORE_BACKENDS, type OpenBackend } from './support/shared-store-backends.js';
import { ADAPTERS, SECRET, startApp, testModule, type RunningApp } from './support/test-app.js';

const HOUR = 60 * 60_000;

/** The index record ID the README documents for `key`. */
const indexIdOf = (key: string, secret = SECRET): string =>
  createHmac('sha256', secret).update(`nest-sessions:index:${key}`).digest('base64url').slice(0, 43);

/** A unique index key, so tests never share an index. */
const keyOf = (label: string): string => `oidc:main:${label}:${generateSessionId(12)}`;

/** The session ID a browser's cookie carries (`<id>.<signature>`). */
const sessionIdOf = (cookie: string | undefined): string => {
  expect(cookie).toBeDefined();
  return cookie!.split('.')[0];
};

/** The rejection of `promise`, which must reject with a SessionError. */
async function rejectionOf(promise: Promise<unknown>): Promise<SessionError> {
  const error: unknown = await promise.then(
    () => expect.unreachable('expected a rejection'),
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(SessionError);
  return error as SessionError;
}

describe.each(ADAPTERS)('SessionIndex on %s', (adapter) => {
  // Every server-side store: back-channel logout finds the sessions of a provider login through this index.
  for (const backend of [...SHARED_STORE_BACKENDS, ...MORE_SERVER_STORE_BACKENDS]) {
    describe(`SessionIndex on ${backend.name} (real app over HTTP)`, () => {
      let opened: OpenBackend;
      let running: RunningApp;
      let index: SessionIndex;

      beforeAll(async () => {
        opened = await backend.open();
        running = await startApp(testModule(SessionModule.forRoot({ secret: SECRET, store: opened.store })), { adapter });
        index = running.app.get(SessionIndex);
      });

      afterAll(async () => {
        await running?.close();
        await opened?.cleanup();
      });

      it('finds the sessions linked to a key, and destroying the index logs their browsers out', async () => {
        const [alice, aliceOnPhone, bob] = [running.client(), running.client(), running.client()];
        for (const browser of [alice, aliceOnPhone, bob]) expect((await browser.post('/increment')).status).toBe(200);
        const [laptopId, phoneId, bobId] = [alice, aliceOnPhone, bob].map((browser) => sessionIdOf(browser.jar.get('sid')));
        const key = keyOf('sub');
        const bobKey = keyOf('sub');

        expect(index.supported).toBe(true);
        await index.link(key, laptopId, Date.now() + HOUR);
        await index.link(key, phoneId, Date.now() + HOUR);
        await index.link(bobKey, bobId, Date.now() + HOUR);
        expect((await index.find(key)).sort()).toEqual([laptopId, phoneId].sort());
        expect(await index.find(bobKey)).toEqual([bobId]);
        expect(await index.find(keyOf('nobody'))).toEqual([]);

        expect(await index.destroy(key)).toBe(2);
        for (const browser of [alice, aliceOnPhone]) {
          expect((await browser.get('/read')).json()).toEqual({ count: null, id: null, isNew: true });
        }
        expect(await index.find(key)).toEqual([]);
        expect(await index.destroy(key)).toBe(0);
        expect((await bob.get('/read')).json()).toMatchObject({ count: 1, id: bobId, isNew: false });
        expect(await index.find(bobKey)).toEqual([bobId]);
      });

      it('keeps every entry when 20 sessions link to one new key at once', async () => {
        const key = keyOf('sid');
        const ids = Array.from({ length: 20 }, () => generateSessionId());
        await Promise.all(ids.map((id) => index.link(key, id, Date.now() + HOUR)));
        expect((await index.find(key)).sort()).toEqual([...ids].sort());

        await index.unlink(key, ids[0]);
        await index.unlink(key, generateSessionId());
        expect((await index.find(key)).sort()).toEqual(ids.slice(1).sort());
      });

      it('keeps the index as an ordinary record under the documented HMAC ID, which no request can adopt', async () => {
        const key = keyOf('sub');
        const id = generateSessionId();
        const expiresAt = Date.now() + HOUR;
        await index.link(key, id, expiresAt);

        const record = await opened.store.get(indexIdOf(key));
        expect(record?.data).toEqual({ [id]: String(expiresAt) });
        expect(record!.expiresAt).toBeGreaterThanOrEqual(expiresAt);
        expect(record!.principal).toBeUndefined();
        // Another secret, another index: the key alone names nothing.
        expect(await opened.store.get(indexIdOf(key, `${SECRET}-other`))).toBeNull();

        // Presented as a session, unsigned or with a made-up signature, the index ID is no session.
        for (const cookie of [indexIdOf(key), `${indexIdOf(key)}.${indexIdOf(key)}`]) {
          const stranger = running.client();
          stranger.jar.set('sid', cookie);
          expect((await stranger.get('/read')).json()).toEqual({ count: null, id: null, isNew: true });
        }
        expect((await opened.store.get(indexIdOf(key)))?.data).toEqual({ [id]: String(expiresAt) });
      });

      it('leaves out and prunes entries whose expiry has passed, and moves an expiry on a new link', async () => {
        const key = keyOf('sub');
        const [fading, lasting, renewed] = [generateSessionId(), generateSessionId(), generateSessionId()];
        const soon = Date.now() + 300;
        await index.link(key, fading, soon);
        await index.link(key, lasting, Date.now() + HOUR);
        await index.link(key, renewed, soon);
        await index.link(key, renewed, Date.now() + HOUR);
        expect((await index.find(key)).sort()).toEqual([fading, lasting, renewed].sort());

        while (Date.now() <= soon + 20) await new Promise((done) => setTimeout(done, 50));
        expect((await index.find(key)).sort()).toEqual([lasting, renewed].sort());
        expect(Object.keys((await opened.store.get(indexIdOf(key)))!.data).sort()).toEqual([lasting, renewed].sort());
        expect(await index.destroy(key)).toBe(2);
      });

      it('drops the entries whose expiry has passed on the next link, so repeated logins do not grow the record', async () => {
        const key = keyOf('sub');
        const lasting = generateSessionId();
        const lastingUntil = Date.now() + HOUR;
        await index.link(key, lasting, lastingUntil);
        // A script logging in over and over: each earlier session's linked expiry has passed.
        for (let i = 0; i < 6; i++) await index.link(key, generateSessionId(), Date.now() - 1);
        const fresh = generateSessionId();
        const freshUntil = Date.now() + HOUR;
        await index.link(key, fresh, freshUntil);

        expect((await opened.store.get(indexIdOf(key)))?.data).toEqual({ [lasting]: String(lastingUntil), [fresh]: String(freshUntil) });
        expect((await index.find(key)).sort()).toEqual([lasting, fresh].sort());
      });

      it('keeps at most maxIndexEntries entries per key, dropping the earliest expiries without destroying their sessions', async () => {
        const capped = await startApp(testModule(SessionModule.forRoot({ secret: SECRET, store: opened.store, maxIndexEntries: 5 })), {
          adapter,
        });
        try {
          const cappedIndex = capped.app.get(SessionIndex);
          const key = keyOf('sub');
          const base = Date.now() + HOUR;
          const ids = Array.from({ length: 8 }, () => generateSessionId());
          const expiryOf = (i: number): number => base + i * 1000;
          await opened.store.set(ids[0], { data: { user: '"alice"' }, createdAt: Date.now(), expiresAt: expiryOf(0) });
          // Out of expiry order, so the entries dropped are the earliest expiries, not the first links.
          for (const i of [3, 0, 6, 1, 7, 2, 5, 4]) await cappedIndex.link(key, ids[i], expiryOf(i));

          const latest = Object.fromEntries([3, 4, 5, 6, 7].map((i) => [ids[i], String(expiryOf(i))]));
          expect((await opened.store.get(indexIdOf(key)))?.data).toEqual(latest);
          expect((await cappedIndex.find(key)).sort()).toEqual(Object.keys(latest).sort());
          // Dropped from the index only: the session itself lives on.
          expect((await opened.store.get(ids[0]))?.data).toEqual({ user: '"alice"' });

          // Linking a listed session again moves its expiry and drops nothing.
          await cappedIndex.link(key, ids[3], expiryOf(9));
          expect((await opened.store.get(indexIdOf(key)))?.data).toEqual({ ...latest, [ids[3]]: String(expiryOf(9)) });
          expect(await cappedIndex.destroy(key)).toBe(5);
          // A logout by the key no longer reaches the dropped session: the documented trade-off.
          expect(await opened.store.get(ids[0])).not.toBeNull();
        } finally {
          await capped.close();
        }
      });

      it('refuses a malformed session ID and an empty key', async () => {
        expect((await rejectionOf(index.link(keyOf('sub'), '../../etc/passwd', Date.now() + HOUR))).code).toBe('SESSION_INVALID_ID');
        const empty = await rejectionOf(index.find(''));
        expect(empty.code).toBe('SESSION_OPTIONS_INVALID');
        expect(empty.message).toContain('`key`');
        expect((await rejectionOf(index.link(keyOf('sub'), generateSessionId(), Number.NaN))).code).toBe('SESSION_OPTIONS_INVALID');
      });
    });
  }

  describe('SessionIndex on a store without locks', () => {
    it('creates the index with set, reads it back, and keeps both of two first links made at once', async () => {
      const store = new FaultyStore(new MemoryStore({ gcInterval: 0 }));
      const running = await startApp(testModule(SessionModule.forRoot({ secret: SECRET, store })), { adapter });
      try {
        const index = running.app.get(SessionIndex);
        const key = keyOf('sid');
        const ids = [generateSessionId(), generateSessionId()];
        await Promise.all(ids.map((id) => index.link(key, id, Date.now() + HOUR)));
        expect((await index.find(key)).sort()).toEqual([...ids].sort());
        expect(await index.destroy(key)).toBe(2);
      } finally {
        await running.close();
      }
    });
  });

  describe('SessionIndex with a client-side store', () => {
    it('throws SESSION_NOT_SUPPORTED from every method, naming the fix', async () => {
      const running = await startApp(testModule(SessionModule.forRoot({ secret: SECRET, store: new CookieStore() })), { adapter });
      try {
        const index = running.app.get(SessionIndex);
        expect(index.supported).toBe(false);
        const key = keyOf('sub');
        for (const call of [
          () => index.link(key, generateSessionId(), Date.now() + HOUR),
          () => index.unlink(key, generateSessionId()),
          () => index.find(key),
          () => index.destroy(key),
        ]) {
          const error = await rejectionOf(call());
          expect(error.code).toBe('SESSION_NOT_SUPPORTED');
          expect(error.message).toContain('server-side store');
          expect(error.message).toContain('`store`');
        }
      } finally {
        await running.close();
      }
    });
  });

  describe('SessionIndex when the store fails', () => {
    let running: RunningApp;
    let store: FaultyLockingStore;
    let index: SessionIndex;

    beforeAll(async () => {
      store = new FaultyLockingStore(new MemoryStore({ gcInterval: 0 }));
      running = await startApp(
        testModule(SessionModule.forRoot({ secret: SECRET, store: store, storeTimeout: 300, onError: () => undefined })),
        { adapter },
      );
      index = running.app.get(SessionIndex);
    });

    afterAll(() => running.close());

    it('rejects with SESSION_STORE_UNAVAILABLE within storeTimeout when the store stalls, and works again afterwards', async () => {
      const key = keyOf('sub');
      const id = generateSessionId();
      store.stalling.add('patch');
      const stalled = await rejectionOf(index.link(key, id, Date.now() + HOUR));
      expect(stalled.code).toBe('SESSION_STORE_UNAVAILABLE');
      expect(stalled.statusCode).toBe(503);
      expect((stalled.cause as Error).message).toBe('no answer from the store within 300 ms');
      store.stalling.clear();

      store.stalling.add('get');
      expect((await rejectionOf(index.find(key))).code).toBe('SESSION_STORE_UNAVAILABLE');
      store.stalling.clear();

      await index.link(key, id, Date.now() + HOUR);
      expect(await index.find(key)).toEqual([id]);
    });

    it('keeps the index when a linked session cannot be destroyed, so destroy can be retried', async () => {
      const key = keyOf('sid');
      const id = generateSessionId();
      await store.inner.set(id, { data: { user: '"alice"' }, createdAt: Date.now(), expiresAt: Date.now() + HOUR });
      await index.link(key, id, Date.now() + HOUR);

      store.failing.add('destroy');
      const failed = await rejectionOf(index.destroy(key));
      expect(failed.code).toBe('SESSION_STORE_UNAVAILABLE');
      expect((failed.cause as Error).message).toContain('injected destroy failure');
      store.failing.clear();

      expect(await index.find(key)).toEqual([id]);
      expect(await index.destroy(key)).toBe(1);
      expect(await store.inner.get(id)).toBeNull();
    });
  });
});
