import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, SessionError } from '../src/index.js';
import { FaultyStore } from './support/faulty-store.js';
import { ADAPTERS, startSessionApp, type RunningApp } from './support/test-app.js';

/**
 * A store that fails at a chosen moment of a request. The failures come from FaultyStore, a fault
 * injector wrapped around a real MemoryStore (outages of real servers are tested with the Redis
 * store, where a server can be stopped).
 */
describe.each(ADAPTERS)('on %s', (adapter) => {
  describe('when the store fails', () => {
    let running: RunningApp;
    let store: FaultyStore;
    const reported: SessionError[] = [];

    beforeAll(async () => {
      store = new FaultyStore(new MemoryStore());
      running = await startSessionApp({ store, storeTimeout: 300, onError: (error) => reported.push(error) }, { adapter });
    });
    afterAll(() => running.close());
    beforeEach(() => {
      store.failing.clear();
      store.stalling.clear();
      store.throwing.clear();
      store.writeDelay = 0;
      reported.length = 0;
    });

    it('answers 503 with a clear message when the session cannot be read, and recovers afterwards', async () => {
      const client = running.client();
      await client.post('/increment');
      store.failing.add('get');
      const failed = await client.get('/value');
      expect(failed.status).toBe(503);
      expect(failed.json()).toMatchObject({
        statusCode: 503,
        message: 'nest-sessions: the session store failed to read the session; the request was not completed.',
      });
      expect(failed.text).not.toContain('injected');
      expect(failed.text).not.toContain('at ');
      expect(reported.map((e) => e.code)).toEqual(['SESSION_STORE_UNAVAILABLE']);
      expect((reported[0].cause as Error).message).toContain('injected get failure');

      store.failing.clear();
      expect((await client.get('/value')).json()).toEqual({ count: 1 });
    });

    it('answers 503 instead of the handler’s success when a change cannot be saved, and keeps the saved data', async () => {
      const client = running.client();
      await client.post('/increment');
      store.failing.add('patch');
      const failed = await client.post('/increment');
      expect(failed.status).toBe(503);
      expect(failed.json()).toEqual({
        statusCode: 503,
        message: 'nest-sessions: the session store failed to save the session; the request was not completed.',
        error: 'SESSION_STORE_UNAVAILABLE',
      });
      expect(failed.headers.get('cache-control')).toBe('no-store');
      store.failing.clear();
      expect((await client.get('/value')).json()).toEqual({ count: 1 });
    });

    it('issues no cookie for a new session that could not be saved', async () => {
      const client = running.client();
      store.failing.add('set');
      const failed = await client.post('/increment');
      expect(failed.status).toBe(503);
      expect(failed.setCookies).toEqual([]);
      store.failing.clear();
      const retry = await client.post('/increment');
      expect(retry.json()).toEqual({ count: 1 });
      expect(retry.cookie('sid')).toBeDefined();
    });

    it('fails a regenerate() that cannot complete with 503 and leaves the old session working', async () => {
      const client = running.client();
      await client.post('/increment');
      store.failing.add('set');
      expect((await client.post('/login')).status).toBe(503);
      store.failing.clear();
      expect((await client.get('/all')).json()).toEqual({ count: 1 });
    });

    it('answers 409 and brings nothing back when the session is destroyed elsewhere while a write is under way', async () => {
      const client = running.client();
      await client.post('/increment');
      const id = client.jar.get('sid')!.split('.')[0];
      store.writeDelay = 150;
      const pending = client.post('/set', { cart: ['book'] });
      await new Promise((resolve) => setTimeout(resolve, 50));
      await store.inner.destroy(id); // e.g. "log out everywhere" from another device
      const response = await pending;
      expect(response.status).toBe(409);
      expect(response.json().error).toBe('SESSION_LOST');
      expect(response.cookie('sid')).toMatch(/^sid=; Max-Age=0/);
      expect(await store.inner.get(id)).toBeNull();
      expect(reported.map((e) => e.code)).toEqual(['SESSION_LOST']);
    });

    it('holds the response until a slow store write has finished', async () => {
      const client = running.client();
      store.writeDelay = 200;
      const started = Date.now();
      const response = await client.post('/increment');
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
      const id = response.cookie('sid')!.slice(4).split('.')[0];
      const record = await store.inner.get(id);
      expect(record?.data).toEqual({ count: '1' });
    });

    it('fails a request within storeTimeout when the store does not answer, instead of hanging', async () => {
      const client = running.client();
      await client.post('/increment');
      store.stalling.add('get');
      const started = Date.now();
      const read = await client.get('/value');
      expect(read.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(String((reported.at(-1)!.cause as Error).message)).toBe('no answer from the store within 300 ms');
      store.stalling.clear();
      store.stalling.add('patch');
      expect((await client.post('/increment')).status).toBe(503);
      store.stalling.clear();
      expect((await client.get('/value')).json()).toEqual({ count: 1 });
    });

    it('answers a store that throws instead of rejecting like an outage, on read, save and touch, and keeps running', async () => {
      const client = running.client();
      await client.post('/increment');
      for (const [operation, request, message] of [
        ['get', () => client.get('/value'), 'read the session'],
        ['patch', () => client.post('/increment'), 'save the session'],
        ['touch', () => client.post('/touch'), 'extend the session'],
      ] as const) {
        store.throwing.add(operation);
        const failed = await request();
        expect(failed.status).toBe(503);
        expect(failed.json().message).toBe(`nest-sessions: the session store failed to ${message}; the request was not completed.`);
        expect((reported.at(-1)!.cause as Error).message).toBe(`injected synchronous ${operation} throw`);
        store.throwing.clear();
      }
      expect(reported).toHaveLength(3);
      expect((await client.get('/value')).json()).toEqual({ count: 1 });
    });

    it('fails the response with SESSION_CODEC_ERROR when a changed value cannot be encoded, and keeps the stored session', async () => {
      const codecStore = new FaultyStore(new MemoryStore());
      const errors: SessionError[] = [];
      // A codec that refuses one marker value, as 'json' refuses a BigInt.
      const codec = {
        name: 'picky-json',
        encode: (value: unknown) => {
          if (value === 'unencodable') throw new TypeError('cannot encode this value');
          return JSON.stringify(value);
        },
        decode: (text: string) => JSON.parse(text) as unknown,
      };
      const app = await startSessionApp({ store: codecStore, codec, onError: (error) => errors.push(error) }, { adapter });
      try {
        const client = app.client();
        await client.post('/set', { a: 1 });
        const failed = await client.post('/set', { a: 2, b: 'unencodable' });
        expect(failed.status).toBe(500);
        expect(failed.json().error).toBe('SESSION_CODEC_ERROR');
        expect(failed.text).not.toContain('    at ');
        expect(errors.map((e) => e.code)).toEqual(['SESSION_CODEC_ERROR']);
        expect((await client.get('/all')).json()).toEqual({ a: 1 });
      } finally {
        await app.close();
      }
    });

    it('never reports the session ID to the error hook', async () => {
      const client = running.client();
      await client.post('/increment');
      const token = client.jar.get('sid')!;
      store.failing.add('get');
      await client.get('/value');
      store.failing.add('patch');
      store.failing.delete('get');
      await client.post('/increment');
      expect(reported).toHaveLength(2);
      for (const error of reported) {
        expect(error).toBeInstanceOf(SessionError);
        expect(`${error.message} ${String(error.cause)}`).not.toContain(token.split('.')[0]);
      }
    });
  });

  describe("onStoreUnavailable: 'anonymous'", () => {
    it('lets read-only requests go on without the session, and fails writes and other methods', async () => {
      const store = new FaultyStore(new MemoryStore());
      const running = await startSessionApp({ store, onStoreUnavailable: 'anonymous', onError: () => undefined }, { adapter });
      try {
        const client = running.client();
        await client.post('/increment');
        const token = client.jar.get('sid');
        store.failing.add('get');

        const read = await client.get('/read');
        expect(read.status).toBe(200);
        expect(read.json()).toEqual({ count: null, id: null, isNew: true });
        expect(read.setCookies).toEqual([]); // the cookie of the unreadable session is kept
        expect(client.jar.get('sid')).toBe(token);

        expect((await client.post('/increment')).status).toBe(503); // not a safe method
        const write = await client.get('/visit'); // a GET that writes to the session it could not read
        expect(write.status).toBe(503);
        expect(write.setCookies).toEqual([]);
        expect((await client.post('/push', { item: 'x' })).status).toBe(503);

        store.failing.clear();
        expect((await client.get('/value')).json()).toEqual({ count: 1 });
      } finally {
        await running.close();
      }
    });
  });

  describe('SessionManager.middleware() mounted with app.use()', () => {
    it('answers a store outage with the same 503 JSON, never with a stack trace', async () => {
      const { SessionManager, SessionModule } = await import('../src/index.js');
      const { SECRET, createApp, testModule } = await import('./support/test-app.js');
      const { TestClient } = await import('./support/http-client.js');
      const store = new FaultyStore(new MemoryStore());
      const app = await createApp(testModule(SessionModule.forRoot({ secret: SECRET, store, onError: () => undefined })), adapter);
      app.use(app.get(SessionManager).middleware());
      await app.listen(0, '127.0.0.1');
      try {
        const client = new TestClient(`http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`);
        await client.post('/increment');
        store.failing.add('get');
        const failed = await client.get('/value');
        expect(failed.status).toBe(503);
        expect(failed.json()).toEqual({
          statusCode: 503,
          message: 'nest-sessions: the session store failed to read the session; the request was not completed.',
          error: 'SESSION_STORE_UNAVAILABLE',
        });
        expect(failed.text).not.toContain('    at ');
        store.failing.clear();
        expect((await client.get('/value')).json()).toEqual({ count: 1 });
      } finally {
        await app.close();
      }
    });
  });
});
