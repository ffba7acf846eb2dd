import 'reflect-metadata';
import { Body, Controller, HttpCode, Module, Post } from '@nestjs/common';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CookieStore,
  fromConnectStore,
  MemoryStore,
  Session,
  SessionError,
  SessionModule,
  type SessionHandle,
  type SessionStore,
} from '../src/index.js';
import { TestClient } from './support/http-client.js';
import { MORE_SERVER_STORE_BACKENDS, SHARED_STORE_BACKENDS, type OpenBackend } from './support/shared-store-backends.js';
import { ADAPTERS, SECRET, startApp, type AdapterName, type RunningApp } from './support/test-app.js';

/**
 * `session.update(key, fn)`: a read-modify-write of one key that no parallel request and no other
 * app instance can interleave with, on every server-side store, proven through HTTP: 50 parallel
 * increments, spread over two app instances that share the store through clients of their own,
 * end at exactly 50. Each update pauses between its read and its write, so without the store's
 * lock nearly all of them would overwrite each other.
 */
interface UpdateBody {
  key?: string;
  pause?: number;
  timeout?: number;
  set?: number;
}

@Controller()
class UpdateController {
  /** Answers the outcome, or the SessionError's code and message, so tests can read both. */
  @Post('update')
  @HttpCode(200)
  async update(@Session() session: SessionHandle, @Body() body: UpdateBody = {}) {
    const key = body.key ?? 'count';
    if (body.set !== undefined) session.set(key as never, body.set as never);
    try {
      const value = await session.update(
        key as never,
        async (current: unknown) => {
          if (body.pause) await new Promise((done) => setTimeout(done, body.pause));
          return (((current as number | undefined) ?? 0) + 1) as never;
        },
        body.timeout === undefined ? undefined : { timeout: body.timeout },
      );
      return { value, read: session.get(key as never) ?? null };
    } catch (error) {
      if (!(error instanceof SessionError)) throw error;
      return { code: error.code, message: error.message };
    }
  }

  @Post('read')
  @HttpCode(200)
  read(@Session() session: SessionHandle, @Body() body: UpdateBody = {}) {
    return { value: session.get((body.key ?? 'count') as never) ?? null };
  }
}

function updateModule(store: SessionStore | CookieStore) {
  @Module({ imports: [SessionModule.forRoot({ secret: SECRET, store })], controllers: [UpdateController] })
  class UpdateAppModule {}
  return UpdateAppModule;
}

const startUpdateApp = (store: SessionStore | CookieStore, adapter: AdapterName = 'express'): Promise<RunningApp> =>
  startApp(updateModule(store), { adapter });

/** Every server-side store on Express; the memory store and Redis on Fastify too. */
const cases = [
  ...[...SHARED_STORE_BACKENDS, ...MORE_SERVER_STORE_BACKENDS].map((backend) => ({ backend, adapter: 'express' as AdapterName })),
  ...SHARED_STORE_BACKENDS.slice(0, 2).map((backend) => ({ backend, adapter: 'fastify' as AdapterName })),
];

describe.each(cases.map(({ backend, adapter }) => ({ name: backend.name, backend, adapter })))(
  'session.update() on $name, two app instances on $adapter',
  ({ backend, adapter }) => {
    let opened: OpenBackend;
    let a: RunningApp;
    let b: RunningApp;

    beforeAll(async () => {
      opened = await backend.open();
      a = await startUpdateApp(opened.store, adapter);
      b = await startUpdateApp(await opened.peer(), adapter);
    }, 60_000);

    afterAll(async () => {
      await Promise.all([a?.close(), b?.close()]);
      await opened?.cleanup();
    });

    it('50 parallel increments through both instances end at exactly 50, each seeing a different value', async () => {
      const jar = new Map<string, string>();
      const first = await new TestClient(a.url, jar).post('/update', {});
      expect(first.json()).toEqual({ value: 1, read: 1 });
      const responses = await Promise.all(
        Array.from({ length: 49 }, (_, i) => new TestClient(i % 2 === 0 ? a.url : b.url, jar).post('/update', { pause: 2 })),
      );
      // Any refusal shows with its code and message rather than as a missing value.
      expect(responses.map((response) => response.json<{ code?: string; message?: string }>()).filter((body) => body.code)).toEqual([]);
      const values = responses.map((response) => response.json<{ value: number }>().value).sort((x, y) => x - y);
      expect(values).toEqual(Array.from({ length: 49 }, (_, i) => i + 2));
      expect((await new TestClient(b.url, jar).post('/read', {})).json()).toEqual({ value: 50 });
      expect((await new TestClient(a.url, jar).post('/read', {})).json()).toEqual({ value: 50 });
    }, 60_000);
  },
);

describe.each(ADAPTERS)('session.update() semantics, on %s', (adapter) => {
  let running: RunningApp;
  beforeAll(async () => {
    running = await startUpdateApp(new MemoryStore(), adapter);
  });
  afterAll(() => running.close());

  it('on a session not stored yet is a plain change, stored with the response', async () => {
    const client = running.client();
    expect((await client.post('/update', {})).json()).toEqual({ value: 1, read: 1 });
    expect(client.jar.has('sid')).toBe(true);
    expect((await client.post('/read', {})).json()).toEqual({ value: 1 });
  });

  it("replaces the request's own pending set() of the key with the stored value's update, and the end of the response keeps it", async () => {
    const client = running.client();
    await client.post('/update', {});
    await client.post('/update', {});
    // set(100) first: update() still counts from what the store holds (2), not from this request's copy.
    expect((await client.post('/update', { set: 100 })).json()).toEqual({ value: 3, read: 3 });
    expect((await client.post('/read', {})).json()).toEqual({ value: 3 });
  });

  it('gives up with SESSION_UPDATE_CONFLICT when the lock stays taken past its timeout, changing nothing', async () => {
    const client = running.client();
    await client.post('/update', {});
    const slow = client.post('/update', { pause: 600 });
    await new Promise((done) => setTimeout(done, 100));
    const refused = (await client.post('/update', { timeout: 50 })).json<{ code: string; message: string }>();
    expect(refused.code).toBe('SESSION_UPDATE_CONFLICT');
    expect(refused.message).toContain("session.update('count') could not take the key's lock within 50 ms");
    expect((await slow).json()).toEqual({ value: 2, read: 2 });
    expect((await client.post('/read', {})).json()).toEqual({ value: 2 });
  });

  it('different keys of one session do not wait for each other', async () => {
    const client = running.client();
    await client.post('/update', { key: 'a' });
    const slow = client.post('/update', { key: 'a', pause: 600 });
    await new Promise((done) => setTimeout(done, 100));
    expect((await client.post('/update', { key: 'b', timeout: 50 })).json()).toEqual({ value: 1, read: 1 });
    await slow;
  });

  it('refuses hidden and engine keys', async () => {
    const client = running.client();
    for (const key of ['__flash', '__cookie', '__device', '']) {
      expect((await client.post('/update', { key })).json<{ code: string }>().code).toBe('SESSION_OPTIONS_INVALID');
    }
  });
});

describe('session.update() where the store has no locks', () => {
  const redis = createClient({ url: 'redis://127.0.0.1:6379' });
  const prefix = `update-e2e:${randomBytes(4).toString('hex')}:`;
  beforeAll(() => redis.connect());
  afterAll(async () => {
    for await (const keys of redis.scanIterator({ MATCH: `${prefix}*` })) if (keys.length > 0) await redis.del(keys);
    redis.destroy();
  });

  it.each([
    ['CookieStore (the session lives in the browser)', () => new CookieStore(), 'CookieStore'],
    [
      'a connect store through fromConnectStore (connect-redis)',
      () => fromConnectStore(new ConnectRedisStore({ client: redis, prefix })),
      'update()',
    ],
  ])('%s: a stored session says clearly it cannot (SESSION_NOT_SUPPORTED)', async (_name, create, named) => {
    const running = await startUpdateApp(create());
    try {
      const client = running.client();
      expect((await client.post('/update', {})).json()).toEqual({ value: 1, read: 1 });
      const refused = (await client.post('/update', {})).json<{ code: string; message: string }>();
      expect(refused.code).toBe('SESSION_NOT_SUPPORTED');
      expect(refused.message).toContain(named);
      expect((await client.post('/read', {})).json()).toEqual({ value: 1 });
    } finally {
      await running.close();
    }
  });
});
