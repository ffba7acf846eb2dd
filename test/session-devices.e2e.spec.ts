import 'reflect-metadata';
import { Body, Controller, Get, HttpCode, Module, Post } from '@nestjs/common';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fromConnectStore,
  MemoryStore,
  Session,
  SessionDevices,
  SessionError,
  SessionManager,
  SessionModule,
  type SessionDevice,
  type SessionEventBase,
  type SessionHandle,
  type SessionModuleOptions,
  type SessionStore,
} from '../src/index.js';
import { TestClient } from './support/http-client.js';
import { MORE_SERVER_STORE_BACKENDS, SHARED_STORE_BACKENDS, type SharedStoreBackend } from './support/shared-store-backends.js';
import { ADAPTERS, SECRET, startApp, type AdapterName, type RunningApp } from './support/test-app.js';

/**
 * "Where am I logged in": a user's sessions listed by handle with their metadata, one revoked,
 * the others logged out, through HTTP, on every server-side store that lists sessions by principal
 * (its own index, or the engine's for memcached and connect stores).
 */
@Controller()
class DevicesController {
  constructor(private readonly devices: SessionDevices) {}

  @Post('login')
  @HttpCode(200)
  async login(@Session() session: SessionHandle, @Body() body: { user: string }) {
    await session.regenerate();
    session.set('user', body.user);
    return {};
  }

  @Get('me')
  me(@Session() session: SessionHandle) {
    return { user: session.get('user') ?? null };
  }

  @Get('all')
  all(@Session() session: SessionHandle) {
    return { keys: session.keys(), json: session.toJSON() };
  }

  @Get('devices')
  async list(@Session() session: SessionHandle) {
    return this.answer(() => this.devices.list(session));
  }

  @Post('devices/revoke')
  @HttpCode(200)
  async revoke(@Session() session: SessionHandle, @Body() body: { handle: string }) {
    return this.answer(async () => {
      await this.devices.revoke(session, body.handle);
      return { revoked: true };
    });
  }

  @Post('devices/revoke-others')
  @HttpCode(200)
  async revokeOthers(@Session() session: SessionHandle) {
    return this.answer(async () => ({ count: await this.devices.revokeOthers(session) }));
  }

  private async answer(work: () => Promise<unknown>) {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof SessionError)) throw error;
      return { code: error.code, status: error.statusCode, message: error.message };
    }
  }
}

function devicesModule(options: Partial<SessionModuleOptions>) {
  @Module({
    imports: [
      SessionModule.forRoot({ secret: SECRET, principal: 'user', deviceInfo: true, trustProxy: true, touchInterval: 100, ...options }),
    ],
    controllers: [DevicesController],
  })
  class DevicesAppModule {}
  return DevicesAppModule;
}

/** A browser on a device: its own cookie jar, user agent and (through the trusted proxy) address. */
function device(running: RunningApp, userAgent: string, ip: string) {
  const client = new TestClient(running.url);
  const headers = { 'user-agent': userAgent, 'x-forwarded-for': `${ip}, 10.0.0.1` };
  return {
    jar: client.jar,
    get: (path: string) => client.get(path, { headers }),
    post: (path: string, json?: unknown) => client.post(path, json, { headers }),
  };
}

const idOf = (jar: Map<string, string>): string => jar.get('sid')!.split('.')[0]!;

const connectRedis: SharedStoreBackend = {
  name: 'connect-redis through fromConnectStore (the engine indexes principals)',
  async open() {
    const redis = createClient({ url: 'redis://127.0.0.1:6379' });
    await redis.connect();
    const prefix = `devices-e2e:${randomBytes(4).toString('hex')}:`;
    const create = async (): Promise<SessionStore> => fromConnectStore(new ConnectRedisStore({ client: redis, prefix }));
    return {
      store: await create(),
      peer: create,
      async cleanup() {
        for await (const keys of redis.scanIterator({ MATCH: `${prefix}*` })) if (keys.length > 0) await redis.del(keys);
        redis.destroy();
      },
    };
  },
};

const backends = [...SHARED_STORE_BACKENDS, ...MORE_SERVER_STORE_BACKENDS, connectRedis];
const cases = [
  ...backends.map((backend) => ({ name: backend.name, backend, adapter: 'express' as AdapterName })),
  { name: SHARED_STORE_BACKENDS[0]!.name, backend: SHARED_STORE_BACKENDS[0]!, adapter: 'fastify' as AdapterName },
];

describe.each(cases)("a user's devices on $name, on $adapter", ({ backend, adapter }) => {
  let close: () => Promise<void>;
  let running: RunningApp;
  let manager: SessionManager;
  const destroyed: SessionEventBase[] = [];

  beforeAll(async () => {
    const opened = await backend.open();
    running = await startApp(devicesModule({ store: opened.store, events: { destroyed: (event) => void destroyed.push(event) } }), {
      adapter,
    });
    manager = running.app.get(SessionManager);
    close = async () => {
      await running.close();
      await opened.cleanup();
    };
  }, 60_000);
  afterAll(() => close?.());

  it('lists, revokes one, refuses another user’s handle, and logs out the others', async () => {
    const user = `u-${randomBytes(4).toString('hex')}`;
    const laptop = device(running, 'Laptop/1.0 (Firefox)', '203.0.113.7');
    const phone = device(running, 'Phone/2.0 (Safari)', '198.51.100.23');
    const tablet = device(running, 'Tablet/3.0', '2001:db8::5');
    const other = device(running, 'Other/1.0', '192.0.2.9');
    for (const browser of [laptop, phone, tablet]) await browser.post('/login', { user });
    await other.post('/login', { user: `${user}-other` });

    const list = (await laptop.get('/devices')).json<SessionDevice[]>();
    expect(list).toHaveLength(3);
    const byAgent = new Map(list.map((entry) => [entry.userAgent, entry]));
    const expected = [
      [laptop, 'Laptop/1.0 (Firefox)', '203.0.113.7'],
      [phone, 'Phone/2.0 (Safari)', '198.51.100.23'],
      [tablet, 'Tablet/3.0', '2001:db8::5'],
    ] as const;
    for (const [browser, agent, ip] of expected) {
      const entry = byAgent.get(agent)!;
      expect(entry).toEqual({
        handle: manager.handleOf(idOf(browser.jar)),
        current: browser === laptop,
        createdAt: expect.any(Number),
        lastSeenAt: expect.any(Number),
        expiresAt: expect.any(Number),
        userAgent: agent,
        ip,
      });
      expect(entry.lastSeenAt).toBeGreaterThanOrEqual(entry.createdAt);
      expect(entry.expiresAt).toBeGreaterThan(Date.now());
    }
    // No session ID anywhere in the listing; a handle is not a cookie either.
    const text = JSON.stringify(list);
    for (const browser of [laptop, phone, tablet, other]) expect(text).not.toContain(idOf(browser.jar));
    const forged = new TestClient(running.url);
    forged.jar.set('sid', byAgent.get('Phone/2.0 (Safari)')!.handle);
    expect((await forged.get('/me')).json()).toEqual({ user: null });

    // Another user's handle is never found, and that session lives on.
    const otherHandle = manager.handleOf(idOf(other.jar));
    expect((await laptop.post('/devices/revoke', { handle: otherHandle })).json()).toMatchObject({
      code: 'SESSION_HANDLE_UNKNOWN',
      status: 404,
    });
    expect((await other.get('/me')).json()).toEqual({ user: `${user}-other` });

    // Revoke the phone from the laptop.
    destroyed.length = 0;
    const phoneHandle = manager.handleOf(idOf(phone.jar));
    expect((await laptop.post('/devices/revoke', { handle: phoneHandle })).json()).toEqual({ revoked: true });
    expect(destroyed).toMatchObject([{ handle: phoneHandle, reason: 'revoked', principal: user }]);
    expect((await phone.get('/me')).json()).toEqual({ user: null });
    expect(
      (await laptop.get('/devices'))
        .json<SessionDevice[]>()
        .map((entry) => entry.userAgent)
        .sort(),
    ).toEqual(['Laptop/1.0 (Firefox)', 'Tablet/3.0']);
    // Revoking it again: it is gone.
    expect((await laptop.post('/devices/revoke', { handle: phoneHandle })).json()).toMatchObject({ code: 'SESSION_HANDLE_UNKNOWN' });

    // Log out every other device: the tablet goes, the laptop stays.
    expect((await laptop.post('/devices/revoke-others')).json()).toEqual({ count: 1 });
    expect((await tablet.get('/me')).json()).toEqual({ user: null });
    expect((await laptop.get('/me')).json()).toEqual({ user });
    expect((await laptop.get('/devices')).json<SessionDevice[]>()).toMatchObject([{ current: true, userAgent: 'Laptop/1.0 (Firefox)' }]);

    // Revoking the current session is a logout.
    const own = manager.handleOf(idOf(laptop.jar));
    expect((await laptop.post('/devices/revoke', { handle: own })).json()).toEqual({ revoked: true });
    expect((await laptop.get('/me')).json()).toEqual({ user: null });
  }, 60_000);

  it('last seen moves with the touch, at most once per touchInterval', async () => {
    const user = `seen-${randomBytes(4).toString('hex')}`;
    const browser = device(running, 'Seen/1.0', '203.0.113.8');
    await browser.post('/login', { user });
    const first = (await browser.get('/devices')).json<SessionDevice[]>()[0]!;
    // The login's write, just after the session was created.
    expect(first.lastSeenAt - first.createdAt).toBeLessThan(100);
    await new Promise((done) => setTimeout(done, 150));
    await browser.get('/me'); // the touch is due: last seen moves
    const second = (await browser.get('/devices')).json<SessionDevice[]>()[0]!;
    expect(second.lastSeenAt).toBeGreaterThanOrEqual(first.createdAt + 150);
    await browser.get('/me'); // within touchInterval of the last touch: nothing written
    const third = (await browser.get('/devices')).json<SessionDevice[]>()[0]!;
    expect(third.lastSeenAt).toBe(second.lastSeenAt);
  });
});

describe.each(ADAPTERS)('device metadata options, on %s', (adapter) => {
  it('without deviceInfo, only the times are kept; the user agent and the address are not stored at all', async () => {
    const store = new MemoryStore();
    const running = await startApp(devicesModule({ store, deviceInfo: false }), { adapter });
    try {
      const browser = device(running, 'Private/1.0', '203.0.113.9');
      await browser.post('/login', { user: 'pat' });
      const [entry] = (await browser.get('/devices')).json<SessionDevice[]>();
      expect(Object.keys(entry!).sort()).toEqual(['createdAt', 'current', 'expiresAt', 'handle', 'lastSeenAt']);
      const record = await store.get(idOf(browser.jar));
      expect(JSON.stringify(record)).not.toContain('Private/1.0');
      expect(JSON.stringify(record)).not.toContain('203.0.113.9');
    } finally {
      await running.close();
    }
  });

  it('without trustProxy the address is the socket’s, not what X-Forwarded-For claims; only the user agent when asked', async () => {
    const running = await startApp(devicesModule({ store: new MemoryStore(), trustProxy: false, deviceInfo: { ip: true } }), { adapter });
    try {
      const browser = device(running, 'Agent/1.0', '203.0.113.10');
      await browser.post('/login', { user: 'quinn' });
      const [entry] = (await browser.get('/devices')).json<SessionDevice[]>();
      expect(entry!.ip).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
      expect(entry!.userAgent).toBeUndefined();
    } finally {
      await running.close();
    }
  });

  it('the device keys stay out of the session data the app sees', async () => {
    const running = await startApp(devicesModule({ store: new MemoryStore() }), { adapter });
    try {
      const browser = device(running, 'Agent/1.0', '203.0.113.11');
      await browser.post('/login', { user: 'ruth' });
      const session = await running.app.get(SessionManager).readStored(idOf(browser.jar));
      expect(Object.keys(session!.data).sort()).toEqual(['__device', 'user']);
      expect((await browser.get('/all')).json()).toEqual({ keys: ['user'], json: { user: 'ruth' } });
    } finally {
      await running.close();
    }
  });

  it('without the principal option, SessionDevices says which option it needs', async () => {
    const running = await startApp(devicesModule({ store: new MemoryStore(), principal: undefined }), { adapter });
    try {
      const browser = device(running, 'Agent/1.0', '203.0.113.12');
      await browser.post('/login', { user: 'sam' });
      expect((await browser.get('/devices')).json()).toMatchObject({
        code: 'SESSION_OPTIONS_INVALID',
        message: expect.stringContaining("Give SessionModule the principal option, e.g. principal: 'userId'."),
      });
    } finally {
      await running.close();
    }
  });
});
