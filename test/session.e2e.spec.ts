import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore, SessionSigner, generateSessionId } from '../src/index.js';
import { CountingStore } from './support/counting-store.js';
import { ADAPTERS, SECRET, startApp, startSessionApp, testModule, type RunningApp } from './support/test-app.js';
import { SessionModule } from '../src/index.js';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(ADAPTERS)('on %s', (adapter) => {
  describe('sessions over HTTP', () => {
    let running: RunningApp;
    let store: CountingStore;

    beforeAll(async () => {
      store = new CountingStore(new MemoryStore());
      running = await startSessionApp({ store }, { adapter });
    });
    afterAll(() => running.close());
    afterEach(() => store.reset());

    it('creates nothing for a visitor until something is stored (no cookie, no store call)', async () => {
      const client = running.client();
      const response = await client.get('/read');
      expect(response.json()).toEqual({ count: null, id: null, isNew: true });
      expect(response.setCookies).toEqual([]);
      expect(store.calls).toEqual([]);
    });

    it('issues a signed cookie with secure attributes on the first write and reads it back', async () => {
      const client = running.client();
      const first = await client.post('/increment');
      expect(first.json()).toEqual({ count: 1 });
      const cookie = first.cookie('sid')!;
      expect(cookie).toMatch(/^sid=[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]{43};/);
      expect(cookie).toContain('; Path=/');
      expect(cookie).toContain('; HttpOnly');
      expect(cookie).toContain('; Secure');
      expect(cookie).toContain('; SameSite=Lax');
      expect(cookie).toMatch(/; Max-Age=\d+; Expires=/);
      expect(store.count('set')).toBe(1);

      const second = await client.post('/increment');
      expect(second.json()).toEqual({ count: 2 });
      expect(second.setCookies).toEqual([]);
      expect(store.count('patch')).toBe(1);
      expect((await client.get('/value')).json()).toEqual({ count: 2 });
    });

    it('does not write to the store for a request that changed nothing', async () => {
      const client = running.client();
      await client.post('/increment');
      store.reset();
      await client.get('/read');
      await client.get('/read');
      expect(store.calls).toEqual(['get', 'get']);
    });

    it('never sends a malformed or badly signed ID to the store and issues a fresh ID on write', async () => {
      const client = running.client();
      await client.post('/increment');
      const [id] = client.jar.get('sid')!.split('.');
      const forged = `${id}.${'A'.repeat(43)}`;
      for (const value of [forged, 'garbage', '', `${id}`, `../../etc.passwd`, `${'x'.repeat(5000)}.sig`]) {
        store.reset();
        const response = await client.get('/read', { headers: { cookie: `sid=${value}` } });
        expect(response.status).toBe(200);
        expect(response.json().count).toBeNull();
        expect(store.calls).toEqual([]);
      }
      const fresh = await client.post('/increment', undefined, { headers: { cookie: `sid=${forged}` } });
      expect(fresh.json()).toEqual({ count: 1 });
      expect(fresh.cookie('sid')!.split('.')[0]).not.toBe(`sid=${id}`);
    });

    it('never adopts an unknown ID, even correctly signed, and clears the stale cookie', async () => {
      const client = running.client();
      const unknownId = generateSessionId();
      const token = new SessionSigner([SECRET]).sign(unknownId);
      const read = await client.get('/read', { headers: { cookie: `sid=${token}` } });
      expect(read.json().count).toBeNull();
      expect(read.cookie('sid')).toMatch(
        /^sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
      );

      const write = await client.post('/increment', undefined, { headers: { cookie: `sid=${token}` } });
      const newId = write.cookie('sid')!.slice(4).split('.')[0];
      expect(newId).not.toBe(unknownId);
      expect(await store.inner.get(unknownId)).toBeNull();
    });

    it('answers a malformed Cookie header without crashing', async () => {
      const client = running.client();
      const response = await client.get('/read', { headers: { cookie: '=;;; sid; =sid=; %%%' } });
      expect(response.status).toBe(200);
    });

    it('gives guards the same session', async () => {
      const client = running.client();
      expect((await client.get('/guarded')).status).toBe(403);
      await client.post('/login');
      const response = await client.get('/guarded');
      expect(response.status).toBe(200);
      expect(response.json()).toEqual({ user: 'alice' });
    });

    it('regenerate() issues a new ID, keeps the data and deletes the old record', async () => {
      const client = running.client();
      await client.post('/increment');
      const oldToken = client.jar.get('sid')!;
      const oldId = oldToken.split('.')[0];
      const login = await client.post('/login');
      expect(login.json()).toEqual({ changed: true });
      const newToken = client.jar.get('sid')!;
      expect(newToken).not.toBe(oldToken);
      expect(await store.inner.get(oldId)).toBeNull();
      const read = await client.get('/all');
      expect(read.json()).toEqual({ count: 1, user: 'alice' });
      const withOld = await running.client().get('/all', { headers: { cookie: `sid=${oldToken}` } });
      expect(withOld.json()).toEqual({});
    });

    it('destroy() deletes the record and clears the cookie with the attributes it was set with', async () => {
      const client = running.client();
      await client.post('/increment');
      const id = client.jar.get('sid')!.split('.')[0];
      const response = await client.post('/logout');
      expect(response.cookie('sid')).toBe('sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; Secure; SameSite=Lax');
      expect(await store.inner.get(id)).toBeNull();
      expect(client.jar.has('sid')).toBe(false);
      expect((await client.get('/read')).json().count).toBeNull();
    });

    it('a flash set after destroy() starts a new session carrying only the flash', async () => {
      const client = running.client();
      await client.post('/increment');
      const oldToken = client.jar.get('sid');
      await client.post('/logout-with-flash');
      expect(client.jar.get('sid')).toBeDefined();
      expect(client.jar.get('sid')).not.toBe(oldToken);
      expect((await client.get('/show-flash')).json()).toEqual({ message: 'You are logged out' });
      expect((await client.get('/all')).json()).toEqual({});
    });

    it('@Flash() gives what the previous request set, exactly once', async () => {
      const client = running.client();
      const post = await client.post('/flash', { message: { text: 'Saved', level: 2 } });
      expect(post.status).toBe(303);
      expect(post.headers.get('location')).toBe('/show-flash');
      expect((await client.get('/show-flash')).json()).toEqual({ message: { text: 'Saved', level: 2 } });
      expect((await client.get('/show-flash')).json()).toEqual({ message: null });
    });

    it('keyed flash messages accumulate and are consumed per key', async () => {
      const client = running.client();
      await client.post('/flash-keyed');
      expect((await client.get('/show-flash/success')).json()).toEqual({ success: ['Saved', 'Mailed'] });
      expect((await client.get('/show-flash/success')).json()).toEqual({ success: null });
      expect((await client.get('/show-flash')).json()).toEqual({ message: { error: ['Slow'] } });
      expect((await client.get('/show-flash')).json()).toEqual({ message: null });
    });

    it('the store write has finished before the response ends, so a redirect sees the new data', async () => {
      const client = running.client();
      for (let i = 0; i < 5; i++) {
        const post = await client.post('/flash', { message: `m${i}` });
        expect(post.status).toBe(303);
        expect((await client.get(post.headers.get('location')!)).json()).toEqual({ message: `m${i}` });
      }
    });

    it('writes objects edited in place without set()', async () => {
      const client = running.client();
      await client.post('/push', { item: 'a' });
      await client.post('/push', { item: 'b' });
      expect((await client.get('/all')).json()).toEqual({ list: ['a', 'b'] });
    });

    it('writes only changed keys, so parallel requests keep each other’s writes', async () => {
      const client = running.client();
      await client.post('/set', { seed: 1 });
      const writes = Array.from({ length: 20 }, (_, i) => client.post('/set', { [`k${i}`]: i }));
      await Promise.all(writes);
      const all = (await client.get('/all')).json();
      for (let i = 0; i < 20; i++) expect(all[`k${i}`]).toBe(i);
      expect(all.seed).toBe(1);
    });

    it('stores keys named like Object.prototype members as ordinary keys', async () => {
      // Fastify's JSON parser refuses "__proto__" and "constructor" keys (400) by default; this
      // test is about the session, so its app lets them through, as Express's parser does.
      const own =
        adapter === 'fastify'
          ? await startSessionApp({ store }, { adapter, fastify: { onProtoPoisoning: 'ignore', onConstructorPoisoning: 'ignore' } })
          : undefined;
      try {
        const client = (own ?? running).client();
        const seeded = await client.request('/set', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"__proto__":"p","constructor":"c","toString":"t"}',
        });
        expect(seeded.status).toBe(200);
        await client.post('/set', { other: 1 });
        expect((await client.get('/all')).text).toBe('{"__proto__":"p","constructor":"c","toString":"t","other":1}');
      } finally {
        await own?.close();
      }
    });

    it('deletes keys', async () => {
      const client = running.client();
      await client.post('/set', { a: 1, b: 2 });
      await client.post('/delete', { keys: ['a'] });
      expect((await client.get('/all')).json()).toEqual({ b: 2 });
    });

    describe('responses that do not go through the interceptor', () => {
      it('sets the cookie and saves on an @Res() response', async () => {
        const client = running.client();
        const response = await client.post('/raw-res');
        expect(response.status).toBe(201);
        expect(response.cookie('sid')).toBeDefined();
        expect((await client.get('/all')).json()).toEqual({ via: 'raw' });
      });

      it('sets the cookie and saves on a streamed response', async () => {
        const client = running.client();
        const response = await client.post('/stream');
        expect(response.text).toBe('chunk-1 chunk-2');
        expect(response.cookie('sid')).toBeDefined();
        expect((await client.get('/all')).json()).toEqual({ via: 'stream' });
      });

      it('sets the cookie and saves on a server-sent events response', async () => {
        const client = running.client();
        const response = await client.get('/events', { headers: { accept: 'text/event-stream' } });
        expect(response.text).toContain('data: {"n":1}');
        expect(response.cookie('sid')).toBeDefined();
        expect((await client.get('/all')).json()).toEqual({ via: 'sse' });
      });

      it('sets the cookie on a response written by an exception filter', async () => {
        const client = running.client();
        const response = await client.post('/throws');
        expect(response.status).toBe(400);
        expect(response.cookie('sid')).toBeDefined();
        expect((await client.get('/all')).json()).toEqual({ via: 'error' });
      });

      it('keeps cookies the route sets itself, with res.cookie() and with writeHead()', async () => {
        const client = running.client();
        const viaExpress = await client.post('/own-cookie');
        expect(viaExpress.cookie('theme')).toBe('theme=dark; Path=/');
        expect(viaExpress.cookie('sid')).toBeDefined();
        expect(viaExpress.setCookies).toHaveLength(2); // each cookie once
        const other = running.client();
        const viaWriteHead = await other.post('/own-cookie-writehead');
        expect(viaWriteHead.cookie('lang')).toBe('lang=en; Path=/');
        expect(viaWriteHead.cookie('sid')).toBeDefined();
        expect(viaWriteHead.setCookies).toHaveLength(2);
        expect((await other.get('/all')).json()).toEqual({ via: 'writehead' });
      });
    });

    it('req.session works like express-session for passport-style code', async () => {
      const client = running.client();
      await client.post('/increment');
      const before = client.jar.get('sid');
      const response = await client.post('/express-compat');
      expect(response.status).toBe(200);
      expect(response.json().keys.sort()).toEqual(['cookie', 'count', 'passport']);
      expect(client.jar.get('sid')).not.toBe(before);
      expect((await client.get('/express-compat')).json()).toEqual({ passport: { user: 'bob' }, hasCookie: true });
    });

    it('req.session is one view per request, and assigning null to it logs out (the session is gone for the next request)', async () => {
      const client = running.client();
      await client.post('/increment');
      // The destroy finishes before the response ends; the handler still read its value before it.
      expect((await client.get('/assign-req-session')).json()).toEqual({ sameViewTwice: true, afterAssign: null, sessionStillThere: 1 });
      expect((await client.get('/read')).json()).toMatchObject({ count: null, isNew: true });
      expect((await client.get('/express-compat')).json()).toMatchObject({ hasCookie: true });
    });
  });

  describe('the memory store (writes finished in the same tick)', () => {
    let running: RunningApp;
    const reported: string[] = [];

    beforeAll(async () => {
      running = await startSessionApp(
        {
          store: new MemoryStore(),
          cookie: { secure: false },
          onError: (error) => void reported.push(error.code),
        },
        { adapter },
      );
    });
    afterAll(() => running.close());

    it('answers 409 and brings nothing back when the record was destroyed while the request ran', async () => {
      const client = running.client();
      await client.post('/increment');
      const response = await client.post('/set-after-remote-destroy');
      expect(response.status).toBe(409);
      expect(response.json().error).toBe('SESSION_LOST');
      expect(response.cookie('sid')).toMatch(/^sid=; Max-Age=0/);
      expect((await client.get('/read')).json()).toMatchObject({ count: null, isNew: true });
      expect(reported).toEqual(['SESSION_LOST']);
    });

    it('fails a request with 503 when the in-process store cannot be read, or goes on anonymous when told to', async () => {
      // A fault a real MemoryStore cannot produce: its synchronous read throws.
      class BrokenMemoryStore extends MemoryStore {
        broken = false;
        override get(id: string) {
          if (this.broken) throw new Error('memory is on fire');
          return super.get(id);
        }
      }
      for (const onStoreUnavailable of ['fail', 'anonymous'] as const) {
        const store = new BrokenMemoryStore();
        const app = await startSessionApp({ store, cookie: { secure: false }, onStoreUnavailable, onError: () => undefined }, { adapter });
        try {
          const client = app.client();
          await client.post('/increment');
          store.broken = true;
          const read = await client.get('/read');
          if (onStoreUnavailable === 'fail') {
            expect(read.status).toBe(503);
            expect(read.json()).toMatchObject({ statusCode: 503, error: 'SESSION_STORE_UNAVAILABLE' });
          } else {
            expect(read.status).toBe(200);
            expect(read.json()).toMatchObject({ count: null });
            expect(read.setCookies).toEqual([]);
          }
          store.broken = false;
          expect((await client.get('/read')).json()).toMatchObject({ count: 1 });
        } finally {
          await app.close();
        }
      }
    });

    it('writes a changed key of a stored session before the response ends', async () => {
      const client = running.client();
      await client.post('/increment');
      const results = await Promise.all([client.post('/set', { a: 1 }), client.post('/set', { b: 2 })]);
      expect(results.map((r) => r.status)).toEqual([200, 200]);
      expect((await client.get('/all')).json()).toEqual({ count: 1, a: 1, b: 2 });
    });
  });

  describe('responses whose methods other middleware replaced', () => {
    let running: RunningApp;
    const wrapped: string[] = [];

    beforeAll(async () => {
      running = await startApp(testModule(SessionModule.forRoot({ secret: SECRET, cookie: { secure: false } })), {
        adapter,
        configure: (app) => {
          // Like compression or on-headers: own writeHead/end on the response, set before the session loads.
          app.use((req: IncomingMessage, res: ServerResponse, next: () => void) => {
            if (req.url === '/answered-early') {
              res.setHeader('content-type', 'text/plain');
              res.end('early');
              return;
            }
            // Chosen by a header, not a path prefix: Fastify has routed the request before any middleware runs.
            if (req.headers['x-wrap'] === '1') {
              const { writeHead, end } = res;
              res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
                wrapped.push('writeHead');
                return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
              };
              res.end = function (this: ServerResponse, ...args: unknown[]) {
                wrapped.push('end');
                return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
              } as ServerResponse['end'];
            }
            next();
          });
        },
      });
    });
    afterAll(() => running.close());

    it('sets the cookie and saves when the response has its own writeHead/end', async () => {
      const client = running.client();
      const wrap = { headers: { 'x-wrap': '1' } };
      expect((await client.post('/increment', undefined, wrap)).json()).toEqual({ count: 1 });
      expect(client.jar.get('sid')).toBeDefined();
      expect((await client.post('/increment', undefined, wrap)).json()).toEqual({ count: 2 });
      expect(wrapped).toContain('writeHead');
      expect(wrapped).toContain('end');
      // The same app's unwrapped responses (on Express hooked through the app's response prototype) see the same session.
      expect((await client.get('/read')).json()).toMatchObject({ count: 2 });
      expect((await client.post('/increment')).json()).toEqual({ count: 3 });
      expect((await client.post('/increment', undefined, wrap)).json()).toEqual({ count: 4 });
    });

    it('leaves alone a response answered before the session loaded', async () => {
      const client = running.client();
      await client.post('/increment');
      const early = await client.get('/answered-early');
      expect(early.status).toBe(200);
      expect(early.text).toBe('early');
      expect(early.setCookies).toEqual([]);
    });
  });

  describe('timeouts and touch', () => {
    it('expires a session after idleTimeout without activity', async () => {
      const running = await startSessionApp({ idleTimeout: 400, absoluteTimeout: 10_000, touchInterval: 50 }, { adapter });
      try {
        const client = running.client();
        await client.post('/increment');
        await sleep(200);
        expect((await client.get('/value')).json()).toEqual({ count: 1 });
        await sleep(250); // 450ms after the write, but the read at 200ms moved the idle deadline
        expect((await client.get('/value')).json()).toEqual({ count: 1 });
        await sleep(600);
        expect((await client.get('/value')).json()).toEqual({ count: null });
      } finally {
        await running.close();
      }
    });

    it('ends a session at absoluteTimeout however active it is', async () => {
      const running = await startSessionApp({ idleTimeout: 500, absoluteTimeout: 900, touchInterval: 20 }, { adapter });
      try {
        const client = running.client();
        await client.post('/increment');
        const started = Date.now();
        while (Date.now() - started < 700) {
          expect((await client.get('/value')).json()).toEqual({ count: 1 });
          await sleep(100);
        }
        await sleep(Math.max(0, 950 - (Date.now() - started)));
        expect((await client.get('/value')).json()).toEqual({ count: null });
      } finally {
        await running.close();
      }
    });

    it('moves the idle deadline at most once per touchInterval', async () => {
      const store = new CountingStore(new MemoryStore());
      const running = await startSessionApp({ store, idleTimeout: 60_000, touchInterval: 300 }, { adapter });
      try {
        const client = running.client();
        await client.post('/increment');
        store.reset();
        for (let i = 0; i < 5; i++) await client.get('/read');
        expect(store.count('touch')).toBe(0);
        await sleep(350);
        for (let i = 0; i < 5; i++) await client.get('/read');
        expect(store.count('touch')).toBe(1);
        await client.post('/touch');
        expect(store.count('touch')).toBe(2);
      } finally {
        await running.close();
      }
    });
  });

  describe('secrets', () => {
    it('verifies with every secret and signs with the first, so secrets rotate without logging anyone out', async () => {
      const store = new MemoryStore();
      const oldSecret = 'old-secret-old-secret-old-secret-0000';
      const newSecret = 'new-secret-new-secret-new-secret-1111';
      const before = await startSessionApp({ store, secret: oldSecret }, { adapter });
      const client = before.client();
      await client.post('/increment');
      await before.close();

      const after = await startSessionApp({ store, secret: [newSecret, oldSecret] }, { adapter });
      try {
        const rotated = after.client();
        rotated.jar.set('sid', client.jar.get('sid')!);
        expect((await rotated.get('/value')).json()).toEqual({ count: 1 });
        const fresh = after.client();
        const cookie = (await fresh.post('/increment')).cookie('sid')!;
        const token = cookie.slice(4, cookie.indexOf(';'));
        expect(new SessionSigner([newSecret]).unsign(token)).toBeDefined();
        expect(new SessionSigner([oldSecret]).unsign(token)).toBeUndefined();
      } finally {
        await after.close();
      }
    });
  });

  describe('the session slot of a request', () => {
    let running: RunningApp;
    const seen: boolean[] = [];

    beforeAll(async () => {
      running = await startApp(testModule(SessionModule.forRoot({ secret: SECRET, cookie: { secure: false } })), {
        adapter,
        configure: (app) => {
          // Runs after the platform wrapped the request (Express: gave it its prototype) and before the session loads.
          app.use((req: IncomingMessage, _res: ServerResponse, next: () => void) => {
            seen.push(Object.getOwnPropertySymbols(req).some((symbol) => symbol.description === 'nest-sessions:session'));
            next();
          });
        },
      });
    });
    afterAll(() => running.close());

    it('is on every request before any middleware runs, reserved by one listener on the HTTP server', async () => {
      const client = running.client();
      expect((await client.post('/increment')).json()).toEqual({ count: 1 });
      expect((await client.get('/read')).json()).toMatchObject({ count: 1 });
      expect(seen).toEqual([true, true]);
      // The platform's own listener and the one that reserves the slot.
      const server = running.app.getHttpServer() as Server;
      expect(server.listeners('request')).toHaveLength(2);
    });
  });
});
