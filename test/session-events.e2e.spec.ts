import 'reflect-metadata';
import { Controller, Get, HttpCode, Injectable, Module, Post } from '@nestjs/common';
import { EventEmitterModule, OnEvent } from '@nestjs/event-emitter';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CookieStore,
  MemoryStore,
  SESSION_EVENT_NAMES,
  SESSION_STORE,
  Session,
  SessionError,
  SessionManager,
  SessionModule,
  type SessionDestroyedEvent,
  type SessionEventBase,
  type SessionEventListeners,
  type SessionHandle,
  type SessionModuleOptions,
  type SessionRecord,
} from '../src/index.js';
import { ADAPTERS, SECRET, createApp, startApp, startSessionApp, type AdapterName, type RunningApp } from './support/test-app.js';

/** What the `events` listeners received, in order, as [name, event]. */
type Received = Array<[string, SessionEventBase & Record<string, unknown>]>;

function recorder(received: Received): SessionEventListeners {
  return {
    created: (event) => void received.push(['created', event as never]),
    regenerated: (event) => void received.push(['regenerated', event as never]),
    destroyed: (event) => void received.push(['destroyed', event as never]),
    principalSet: (event) => void received.push(['principalSet', event as never]),
  };
}

const idOf = (jar: Map<string, string>): string => jar.get('sid')!.split('.')[0]!;
const HANDLE = /^h\.[A-Za-z0-9_-]{43}$/;
/** An event as it may be logged: everything but the request object. */
const withoutReq = ({ req: _req, ...rest }: SessionEventBase & Record<string, unknown>) => rest;

describe.each(ADAPTERS)('session events through the `events` option, on %s', (adapter) => {
  const received: Received = [];
  const errors: SessionError[] = [];
  let running: RunningApp;
  let manager: SessionManager;
  let store: MemoryStore;

  beforeAll(async () => {
    store = new MemoryStore();
    running = await startSessionApp(
      { store, principal: 'user', events: recorder(received), onError: (error) => void errors.push(error) },
      { adapter },
    );
    manager = running.app.get(SessionManager);
  });
  afterAll(() => running.close());
  afterEach(() => {
    received.length = 0;
    errors.length = 0;
  });

  it('created: once, when a new session is first written, with its handle and the request, never its ID', async () => {
    const client = running.client();
    await client.get('/read'); // nothing stored: no event
    expect(received).toEqual([]);
    await client.post('/increment');
    await client.post('/increment');
    expect(received.map(([name]) => name)).toEqual(['created']);
    const [, event] = received[0]!;
    const id = idOf(client.jar);
    expect(event.handle).toMatch(HANDLE);
    expect(event.handle).toBe(manager.handleOf(id));
    expect(event.principal).toBeUndefined();
    expect(event.req).toBeDefined();
    expect(event.req!.url).toBe('/increment');
    expect(typeof event.at).toBe('number');
    expect(JSON.stringify(withoutReq(event))).not.toContain(id);
    expect(errors).toEqual([]);
  });

  it('a login (regenerate, then a principal): destroyed "regenerated" for the old handle, regenerated, principalSet', async () => {
    const client = running.client();
    await client.post('/increment');
    const before = manager.handleOf(idOf(client.jar));
    received.length = 0;
    await client.post('/login'); // regenerate(), then user = 'alice'
    const after = manager.handleOf(idOf(client.jar));
    expect(after).not.toBe(before);
    expect(received.map(([name, event]) => [name, withoutReq(event)])).toEqual([
      ['destroyed', { handle: before, principal: undefined, reason: 'regenerated', at: expect.any(Number) }],
      ['regenerated', { handle: after, previousHandle: before, principal: undefined, at: expect.any(Number) }],
      ['principalSet', { handle: after, principal: 'alice', previousPrincipal: undefined, at: expect.any(Number) }],
    ]);
  });

  it('a new session written with its principal at once reports created and principalSet', async () => {
    const client = running.client();
    await client.post('/set', { user: 'carol' });
    const handle = manager.handleOf(idOf(client.jar));
    expect(received.map(([name, event]) => [name, event.handle, event.principal])).toEqual([
      ['created', handle, 'carol'],
      ['principalSet', handle, 'carol'],
    ]);
  });

  it('logout: destroyed with reason "logout", the principal and the request', async () => {
    const client = running.client();
    await client.post('/login');
    const handle = manager.handleOf(idOf(client.jar));
    received.length = 0;
    await client.post('/logout');
    expect(received.map(([name, event]) => [name, withoutReq(event)])).toEqual([
      ['destroyed', { handle, principal: 'alice', reason: 'logout', at: expect.any(Number) }],
    ]);
    expect(received[0]![1].req!.url).toBe('/logout');
  });

  it('log out everywhere: destroyed with reason "revoked" for each session of the principal, without a request', async () => {
    const phone = running.client();
    const laptop = running.client();
    await phone.post('/set', { user: 'dora' });
    await laptop.post('/set', { user: 'dora' });
    received.length = 0;
    expect(await manager.destroyByPrincipal('dora')).toBe(2);
    const destroyed = received.filter(([name]) => name === 'destroyed').map(([, event]) => event as unknown as SessionDestroyedEvent);
    expect(destroyed.map((event) => event.handle).sort()).toEqual(
      [manager.handleOf(idOf(phone.jar)), manager.handleOf(idOf(laptop.jar))].sort(),
    );
    for (const event of destroyed) expect(event).toMatchObject({ reason: 'revoked', principal: 'dora' });
    for (const event of destroyed) expect(event.req).toBeUndefined();
    // The devices come back: their sessions ended already, with their reason; no second "expired".
    received.length = 0;
    await phone.get('/read');
    await laptop.get('/read');
    expect(received).toEqual([]);
  });

  it('expired: a request presents a session the store no longer has; reported once, and the cookie is cleared', async () => {
    const client = running.client();
    await client.post('/increment');
    const id = idOf(client.jar);
    await store.destroy(id); // as an expiry the app did not see would
    received.length = 0;
    await client.get('/read');
    expect(received.map(([name, event]) => [name, withoutReq(event)])).toEqual([
      ['destroyed', { handle: manager.handleOf(id), principal: undefined, reason: 'expired', at: expect.any(Number) }],
    ]);
    expect(client.jar.has('sid')).toBe(false);
    await client.get('/read');
    expect(received).toHaveLength(1);
  });

  it('a listener that throws, or rejects, is reported through onError and never fails the request', async () => {
    const failing = await startSessionApp(
      {
        events: {
          created: () => {
            throw new Error('listener bug');
          },
          destroyed: async () => Promise.reject(new Error('async listener bug')),
        },
        onError: (error) => void errors.push(error),
      },
      { adapter },
    );
    try {
      const client = failing.client();
      const created = await client.post('/increment');
      expect(created.status).toBe(200);
      expect(created.json()).toEqual({ count: 1 });
      const logout = await client.post('/logout');
      expect(logout.status).toBe(200);
      await expect.poll(() => errors.length).toBe(2);
      expect(errors.map((error) => [error.code, (error.cause as Error).message])).toEqual([
        ['SESSION_LISTENER_FAILED', 'listener bug'],
        ['SESSION_LISTENER_FAILED', 'async listener bug'],
      ]);
      expect(errors[0]!.message).toContain('"session.created"');
      expect((await client.post('/increment')).json()).toEqual({ count: 1 });
    } finally {
      await failing.close();
    }
  });

  it('a CookieStore session emits nothing (there is no server-side session to name)', async () => {
    const cookieReceived: Received = [];
    const cookieApp = await startSessionApp({ store: new CookieStore(), events: recorder(cookieReceived) }, { adapter });
    try {
      const client = cookieApp.client();
      await client.post('/increment');
      await client.post('/login');
      await client.post('/logout');
      expect(cookieReceived).toEqual([]);
    } finally {
      await cookieApp.close();
    }
  });
});

/**
 * A named fake: a store that keeps serving records after their expiry, as a custom store that
 * forgets to check `expiresAt` would. The real stores never do (the conformance suite forbids it),
 * so the engine's own deadline check, and its `idle`/`absolute` reasons, can only be reached so.
 */
class StaleRecordsStore extends MemoryStore {
  readonly kept = new Map<string, SessionRecord>();
  override set(id: string, record: SessionRecord) {
    this.kept.set(id, structuredClone(record));
    return super.set(id, record);
  }
  override get(id: string) {
    const record = this.kept.get(id);
    return record === undefined ? null : structuredClone(record);
  }
}

describe('the engine finding a served record past its deadline (a store that serves stale records, named fake)', () => {
  it.each([
    ['idle', { idleTimeout: 200, absoluteTimeout: 60_000 }],
    // Equal timeouts: the record's expiry is its absolute deadline.
    ['absolute', { idleTimeout: 200, absoluteTimeout: 200 }],
  ] as const)('reports destroyed with reason "%s" and starts over', async (reason, timeouts) => {
    const received: Received = [];
    const store = new StaleRecordsStore();
    const running = await startSessionApp({ store, events: recorder(received), ...timeouts, touchInterval: 0 });
    try {
      const client = running.client();
      await client.post('/increment');
      const handle = running.app.get(SessionManager).handleOf(idOf(client.jar));
      await new Promise((done) => setTimeout(done, 300));
      received.length = 0;
      expect((await client.get('/read')).json()).toMatchObject({ count: null, isNew: true });
      expect(received.map(([name, event]) => [name, event.handle, event.reason])).toEqual([['destroyed', handle, reason]]);
    } finally {
      await running.close();
    }
  });
});

@Injectable()
class SessionEventLog {
  readonly seen: Array<[string, SessionEventBase & Record<string, unknown>]> = [];

  @OnEvent(SESSION_EVENT_NAMES.created)
  created(event: SessionEventBase) {
    this.seen.push(['session.created', event as never]);
  }

  @OnEvent('session.destroyed')
  destroyed(event: SessionEventBase) {
    this.seen.push(['session.destroyed', event as never]);
  }

  @OnEvent('session.regenerated')
  regenerated(event: SessionEventBase) {
    this.seen.push(['session.regenerated', event as never]);
  }

  @OnEvent('session.principal-set')
  principalSet(event: SessionEventBase) {
    this.seen.push(['session.principal-set', event as never]);
  }

  // @nestjs/event-emitter logs a handler's error itself unless told not to (suppressErrors).
  @OnEvent('session.created', { suppressErrors: false })
  failing(event: SessionEventBase & { req?: { url?: string } }) {
    if (event.req?.url === '/fail-listener') throw new Error('@OnEvent handler bug');
  }
}

@Controller()
class EventsController {
  constructor(private readonly manager: SessionManager) {}

  @Post('login')
  @HttpCode(200)
  async login(@Session() session: SessionHandle) {
    await session.regenerate();
    session.set('user', 'eve');
    return { handle: this.manager.handleOf(session.id!) };
  }

  @Post('logout')
  @HttpCode(200)
  async logout(@Session() session: SessionHandle) {
    await session.destroy();
    return {};
  }

  @Post('fail-listener')
  @HttpCode(200)
  failListener(@Session() session: SessionHandle) {
    session.set('x', 1);
    return { ok: true };
  }

  @Get('visit')
  visit(@Session() session: SessionHandle) {
    session.set('visited', true);
    return {};
  }
}

function emitterModule(options: Partial<SessionModuleOptions>, withEmitter: boolean) {
  @Module({
    imports: [
      ...(withEmitter ? [EventEmitterModule.forRoot()] : []),
      SessionModule.forRoot({ secret: SECRET, principal: 'user', ...options }),
    ],
    controllers: [EventsController],
    providers: withEmitter ? [SessionEventLog] : [],
  })
  class EmitterAppModule {}
  return EmitterAppModule;
}

describe.each(ADAPTERS)('session events through @nestjs/event-emitter (@OnEvent), on %s', (adapter: AdapterName) => {
  const errors: SessionError[] = [];
  const received: Received = [];
  let running: RunningApp;
  let log: SessionEventLog;

  beforeAll(async () => {
    running = await startApp(emitterModule({ events: recorder(received), onError: (error) => void errors.push(error) }, true), { adapter });
    log = running.app.get(SessionEventLog);
  });
  afterAll(() => running.close());

  it('reach @OnEvent() handlers under the documented names, as the same objects the `events` listeners get', async () => {
    const client = running.client();
    await client.get('/visit');
    const first = running.app.get(SessionManager).handleOf(idOf(client.jar));
    const { handle: second } = (await client.post('/login')).json<{ handle: string }>();
    await client.post('/logout');
    expect(log.seen.map(([name, event]) => [name, event.handle, event.reason ?? null])).toEqual([
      ['session.created', first, null],
      ['session.destroyed', first, 'regenerated'],
      ['session.regenerated', second, null],
      ['session.principal-set', second, null],
      ['session.destroyed', second, 'logout'],
    ]);
    expect(log.seen.map(([, event]) => event)).toEqual(received.map(([, event]) => event));
    expect(errors).toEqual([]);
  });

  it('an @OnEvent() handler that throws (with suppressErrors: false) is reported through onError, and the request succeeds', async () => {
    const response = await running.client().post('/fail-listener');
    expect(response.status).toBe(200);
    await expect.poll(() => errors.length).toBe(1);
    expect(errors[0]!.code).toBe('SESSION_LISTENER_FAILED');
    expect((errors[0]!.cause as Error).message).toBe('@OnEvent handler bug');
  });
});

it('without EventEmitterModule in the app, and without listeners, sessions work and nothing is emitted', async () => {
  const running = await startApp(emitterModule({}, false));
  try {
    const manager = running.app.get(SessionManager);
    expect(manager.events.active).toBe(false);
    const client = running.client();
    expect((await client.get('/visit')).status).toBe(200);
    expect((await client.post('/login')).status).toBe(200);
    expect(running.app.get(SESSION_STORE)).toBeDefined();
  } finally {
    await running.close();
  }
});

it('refuses an `events` option that is not a listener per known event, naming it', async () => {
  const boot = (events: unknown) => createApp(emitterModule({ events: events as never }, false), 'express', { abortOnError: false });
  await expect(boot({ creatd: () => undefined })).rejects.toThrow(
    'invalid option `events.creatd`: is not a session event. Listen to created, regenerated, destroyed, principalSet.',
  );
  await expect(boot({ destroyed: 'log' })).rejects.toThrow('invalid option `events.destroyed`: must be a function');
});
