/**
 * WebSocket gateways with sessions, for real: a Nest app on loopback (Express and Fastify), a
 * gateway behind Nest's socket.io and `ws` adapters wrapped by `withSessions()`, and real clients
 * (socket.io-client, ws) that send the handshake headers a browser would. The session is logged in
 * and out over HTTP with the same cookie, as in a browser.
 */
import 'reflect-metadata';
import {
  type CallHandler,
  type NestInterceptor,
  type CanActivate,
  type ExecutionContext,
  Inject,
  Injectable,
  type INestApplication,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { WsAdapter } from '@nestjs/platform-ws';
import type { Observable } from 'rxjs';
import { ConnectedSocket, type OnGatewayConnection, SubscribeMessage, WebSocketGateway, WsException } from '@nestjs/websockets';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  Flash,
  MemoryStore,
  Session,
  SESSION_STORE,
  SessionInterceptor,
  SessionModule,
  getSessionFromContext,
  getSessionFromSocket,
  withSessions,
  type SessionGatewayOptions,
  type SessionHandle,
  type SessionModuleOptions,
  type SessionStore,
} from '../src/index.js';
import { CountingStore } from './support/counting-store.js';
import { FaultyStore } from './support/faulty-store.js';
import type { TestClient } from './support/http-client.js';
import { ADAPTERS, SECRET, startApp, testModule, type RunningApp } from './support/test-app.js';
import { WS_PLATFORMS, WsTestClient, type WsPlatform } from './support/ws-test-client.js';

/** Refuses a message whose session has no user, as an app's own guard would. */
@Injectable()
class WsLoggedInGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (getSessionFromContext<SessionHandle>(context).get('user') === undefined) throw new WsException('login required');
    return true;
  }
}

/** An interceptor that does nothing but be there, like a logging one. */
@Injectable()
class PassThroughInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle();
  }
}

@WebSocketGateway()
class SessionGateway implements OnGatewayConnection {
  /** What `handleConnection` saw of each socket's session. */
  readonly connections: Array<{ user: unknown; id: string | null }> = [];
  /** How many times a handler body ran. */
  handled = 0;

  constructor(@Inject(SESSION_STORE) private readonly store: SessionStore) {}

  handleConnection(client: object): void {
    const session = getSessionFromSocket<SessionHandle>(client);
    this.connections.push({ user: session?.get('user') ?? null, id: session?.id ?? null });
  }

  @SubscribeMessage('whoami')
  whoami(@Session() session: SessionHandle, @Session('count') count?: number) {
    this.handled++;
    return { event: 'whoami', data: { user: session.get('user') ?? null, count: count ?? null, isNew: session.isNew } };
  }

  @UseGuards(WsLoggedInGuard)
  @SubscribeMessage('secret')
  secret(@Session('user') user: string) {
    this.handled++;
    return { event: 'secret', data: { user } };
  }

  /** Changes the session and returns: the adapter saves it before the reply goes out. */
  @SubscribeMessage('bump')
  bump(@Session() session: SessionHandle) {
    this.handled++;
    const count = ((session.get('count') as number | undefined) ?? 0) + 1;
    session.set('count', count);
    return { event: 'bump', data: { count } };
  }

  /** Writes explicitly, then looks at the store: the write is done when `save()` resolves. */
  @SubscribeMessage('bump-save')
  async bumpSave(@Session() session: SessionHandle) {
    this.handled++;
    session.set('saved', 'yes');
    await session.save();
    const record = session.id === undefined ? null : await this.store.get(session.id);
    return { event: 'bump-save', data: { storedBeforeReply: record !== null && 'saved' in record.data } };
  }

  /** Waits first, then finds its session through the socket: the message's own, not the one a later message loaded. */
  @SubscribeMessage('slow-bump')
  async slowBump(@ConnectedSocket() client: object) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const session = getSessionFromSocket<SessionHandle>(client)!;
    const count = ((session.get('count') as number | undefined) ?? 0) + 1;
    session.set('count', count);
    return { event: 'slow-bump', data: { count } };
  }

  @SubscribeMessage('flash')
  flash(@Flash() message?: unknown) {
    this.handled++;
    return { event: 'flash', data: { message: message ?? null } };
  }

  @SubscribeMessage('logout')
  async logout(@Session() session: SessionHandle) {
    this.handled++;
    await session.destroy();
    return { event: 'logout', data: { ok: true } };
  }

  /** Any interceptor makes Nest run the handler lazily, when the adapter subscribes to its result. */
  @UseInterceptors(PassThroughInterceptor)
  @SubscribeMessage('bump-intercepted')
  bumpIntercepted(@Session() session: SessionHandle) {
    this.handled++;
    const count = ((session.get('count') as number | undefined) ?? 0) + 1;
    session.set('count', count);
    return { event: 'bump-intercepted', data: { count } };
  }

  /** The old way: SessionInterceptor on a handler; with the adapter it steps aside. */
  @UseInterceptors(SessionInterceptor)
  @SubscribeMessage('intercepted')
  intercepted(@Session() session: SessionHandle) {
    this.handled++;
    const count = ((session.get('count') as number | undefined) ?? 0) + 100;
    session.set('count', count);
    return { event: 'intercepted', data: { count } };
  }
}

const APP_ORIGIN = 'https://app.example.com';

interface GatewayApp extends RunningApp {
  gateway: SessionGateway;
  store: CountingStore;
}

async function startGatewayApp(
  adapter: (typeof ADAPTERS)[number][0],
  platform: WsPlatform,
  gatewayOptions: SessionGatewayOptions = { allowedOrigins: [APP_ORIGIN] },
  backing: SessionStore = new MemoryStore(),
  globalInterceptor = false,
  sessionOptions: Partial<SessionModuleOptions> = {},
): Promise<GatewayApp> {
  const store = new CountingStore(backing);
  const module = testModule(
    SessionModule.forRoot({ secret: SECRET, ...sessionOptions, store, isGlobal: true, interceptor: globalInterceptor }),
    [{ module: class GatewayModule {}, providers: [SessionGateway] } as never],
  );
  const running = await startApp(module, {
    adapter,
    configure: (app: INestApplication) => {
      const Adapter = withSessions(platform === 'ws' ? WsAdapter : IoAdapter, gatewayOptions);
      app.useWebSocketAdapter(new Adapter(app));
    },
  });
  return { ...running, gateway: running.app.get(SessionGateway), store };
}

function cookieOf(client: TestClient): string {
  return `sid=${client.jar.get('sid')}`;
}

describe('withSessions() options', () => {
  it('refuses allowedOrigins that are not http(s) origins, naming the entry', () => {
    expect(() => withSessions(IoAdapter, { allowedOrigins: ['https://app.example.com/path'] })).toThrow(
      expect.objectContaining({ code: 'SESSION_OPTIONS_INVALID', message: expect.stringContaining('allowedOrigins[0]') }),
    );
    expect(() => withSessions(WsAdapter, { allowedOrigins: ['ok.example.com'] })).toThrow(/allowedOrigins\[0\]/);
    expect(() => withSessions(WsAdapter, { allowedOrigins: 'https://app.example.com' as never })).toThrow(/allowedOrigins/);
  });

  it('keeps the adapter class it extends', () => {
    const Adapter = withSessions(WsAdapter);
    expect(new Adapter()).toBeInstanceOf(WsAdapter);
  });
});

describe.each(ADAPTERS)('on %s', (adapter) => {
  describe.each(WS_PLATFORMS)('gateway sessions over %s', (platform) => {
    let app: GatewayApp;
    const sockets: WsTestClient[] = [];
    const open = async (headers: { cookie?: string; origin?: string } = {}) => {
      const socket = await WsTestClient.open(platform, app.url, headers);
      sockets.push(socket);
      return socket;
    };
    /** A browser logged in over HTTP, and a socket it opened with its cookie. */
    const loggedIn = async () => {
      const http = app.client();
      await http.post('/login');
      return { http, socket: await open({ cookie: cookieOf(http) }) };
    };

    beforeAll(async () => {
      app = await startGatewayApp(adapter, platform);
    });
    afterEach(() => {
      for (const socket of sockets.splice(0)) socket.close();
    });
    afterAll(() => app.close());

    it('loads the session from the handshake before handleConnection and guards', async () => {
      const { http, socket } = await loggedIn();
      const sid = http.jar.get('sid')!;
      expect(app.gateway.connections.at(-1)).toEqual({ user: 'alice', id: expect.any(String) });
      expect(sid.startsWith(app.gateway.connections.at(-1)!.id!)).toBe(true);
      expect(await socket.request('secret')).toEqual({ event: 'secret', data: { user: 'alice' } });
      expect((await socket.request('whoami')).data).toMatchObject({ user: 'alice', isNew: false });
    });

    it('a guard refuses a socket without a logged-in session (the guard reads the session, no SESSION_NOT_FOUND)', async () => {
      const socket = await open();
      expect(app.gateway.connections.at(-1)).toEqual({ user: null, id: null });
      const before = app.gateway.handled;
      const reply = await socket.request('secret');
      expect(reply.event).toBe('exception');
      expect(reply.data).toMatchObject({ status: 'error', message: 'login required' });
      expect(app.gateway.handled).toBe(before);
    });

    it('reads the session again for every message: changes made over HTTP meanwhile are seen', async () => {
      const { http, socket } = await loggedIn();
      await http.post('/set', { count: 5 });
      expect((await socket.request('whoami')).data.count).toBe(5);
      await http.post('/set', { count: 7 });
      expect((await socket.request('whoami')).data.count).toBe(7);
    });

    it("saves a handler's changes before its reply goes out", async () => {
      const { http, socket } = await loggedIn();
      expect((await socket.request('bump')).data).toEqual({ count: 1 });
      // The reply has arrived, so the write is done: HTTP sees it at once.
      expect((await http.get('/all')).json()).toMatchObject({ count: 1, user: 'alice' });
      expect((await socket.request('bump')).data).toEqual({ count: 2 });
      expect((await http.get('/all')).json()).toMatchObject({ count: 2 });
    });

    it('await session.save() writes within the handler', async () => {
      const { http, socket } = await loggedIn();
      expect((await socket.request('bump-save')).data).toEqual({ storedBeforeReply: true });
      expect((await http.get('/all')).json()).toMatchObject({ saved: 'yes' });
    });

    it('messages of one socket in flight together each keep their own session', async () => {
      const { http, socket } = await loggedIn();
      await http.post('/set', { count: 1 });
      socket.send('slow-bump');
      socket.send('slow-bump');
      const replies = [await socket.next('slow-bump'), await socket.next('slow-bump')];
      // Both read count 1 before either wrote: each wrote 2 from its own session, none saw the other's.
      expect(replies.map((reply) => reply.data.count)).toEqual([2, 2]);
      expect((await http.get('/all')).json()).toMatchObject({ count: 2 });
    });

    it('@Flash() consumes the flash and the consumption is saved', async () => {
      const { http, socket } = await loggedIn();
      await http.post('/flash', { message: 'Saved!' });
      expect((await socket.request('flash')).data).toEqual({ message: 'Saved!' });
      expect((await http.get('/show-flash')).json()).toEqual({ message: null });
    });

    it('a socket without a session cannot start one (no cookie can be sent over it)', async () => {
      const socket = await open();
      const calls = app.store.calls.length;
      expect((await socket.request('bump')).data).toEqual({ count: 1 });
      expect((await socket.request('bump')).data).toEqual({ count: 1 });
      expect(app.store.calls.slice(calls).filter((call) => call !== 'get')).toEqual([]);
    });

    it('after the session is destroyed over HTTP, the next message is refused and its handler does not run', async () => {
      const { http, socket } = await loggedIn();
      expect((await socket.request('whoami')).data.user).toBe('alice');
      await http.post('/logout');
      const before = app.gateway.handled;
      for (const event of ['whoami', 'secret', 'bump']) {
        const reply = await socket.request(event);
        expect(reply).toEqual({ event: 'exception', data: { status: 'error', code: 'SESSION_LOST', message: expect.any(String) } });
      }
      expect(app.gateway.handled).toBe(before);
    });

    it('a login over HTTP (a new session ID) ends the session of sockets opened before it', async () => {
      const { http, socket } = await loggedIn();
      await http.post('/login'); // regenerate(): the record moves to a new ID
      expect((await socket.request('whoami')).data).toMatchObject({ code: 'SESSION_LOST' });
      // A socket opened with the new cookie has the session.
      const fresh = await open({ cookie: cookieOf(http) });
      expect((await fresh.request('whoami')).data.user).toBe('alice');
    });

    it('a handler that destroys the session (logout over the socket) refuses the next message', async () => {
      const { http, socket } = await loggedIn();
      expect((await socket.request('logout')).data).toEqual({ ok: true });
      expect((await http.get('/all')).json()).toEqual({});
      expect((await socket.request('whoami')).data).toMatchObject({ code: 'SESSION_LOST' });
    });

    it('a handler behind an interceptor gets the message session, saved before its reply', async () => {
      const { http, socket } = await loggedIn();
      await http.post('/set', { count: 4 });
      expect((await socket.request('bump-intercepted')).data).toEqual({ count: 5 });
      expect((await http.get('/all')).json()).toMatchObject({ count: 5 });
    });

    it('SessionInterceptor on a handler steps aside: one session, saved once', async () => {
      const { http, socket } = await loggedIn();
      await http.post('/set', { count: 1 });
      expect((await socket.request('intercepted')).data).toEqual({ count: 101 });
      expect((await http.get('/all')).json()).toMatchObject({ count: 101 });
    });

    describe('Origin check (cross-site WebSocket hijacking)', () => {
      it('refuses a foreign Origin carrying a valid session cookie, before any session is loaded', async () => {
        const http = app.client();
        await http.post('/login');
        const connections = app.gateway.connections.length;
        app.store.reset();
        const handshake = await WsTestClient.connect(platform, app.url, { cookie: cookieOf(http), origin: 'https://evil.example' });
        expect(handshake.ok).toBe(false);
        if (!handshake.ok && platform === 'ws') expect(handshake.status).toBe(403);
        expect(app.store.calls).toEqual([]);
        expect(app.gateway.connections.length).toBe(connections);
      });

      it("refuses Origin: null and lets the app's own origin and the listed ones in", async () => {
        const http = app.client();
        await http.post('/login');
        const cookie = cookieOf(http);
        expect((await WsTestClient.connect(platform, app.url, { cookie, origin: 'null' })).ok).toBe(false);
        // The request's own origin: scheme and the Host the client connected to.
        const own = await open({ cookie, origin: app.url });
        expect((await own.request('whoami')).data.user).toBe('alice');
        const listed = await open({ cookie, origin: APP_ORIGIN.toUpperCase() });
        expect((await listed.request('whoami')).data.user).toBe('alice');
        // A sibling subdomain is another origin.
        expect((await WsTestClient.connect(platform, app.url, { cookie, origin: 'https://evil.app.example.com' })).ok).toBe(false);
      });

      it('lets a client without Origin in (not a browser)', async () => {
        const { socket } = await loggedIn();
        expect((await socket.request('whoami')).data.user).toBe('alice');
      });
    });
  });

  describe.each(WS_PLATFORMS)('disconnectOnSessionEnd over %s', (platform) => {
    let app: GatewayApp;
    beforeAll(async () => {
      app = await startGatewayApp(adapter, platform, { disconnectOnSessionEnd: true });
    });
    afterAll(() => app.close());

    it('refuses the message, then closes the socket', async () => {
      const http = app.client();
      await http.post('/login');
      const socket = await WsTestClient.open(platform, app.url, { cookie: cookieOf(http) });
      await http.post('/logout');
      expect((await socket.request('whoami')).data).toMatchObject({ code: 'SESSION_LOST' });
      expect(await socket.closed).toBe(platform === 'ws' ? 4401 : 'io server disconnect');
    });
  });

  describe.each(WS_PLATFORMS)('a store outage over %s', (platform) => {
    let app: GatewayApp;
    const faulty = new FaultyStore(new MemoryStore());
    beforeAll(async () => {
      app = await startGatewayApp(adapter, platform, {}, faulty);
    });
    afterEach(() => {
      faulty.failing.clear();
    });
    afterAll(() => app.close());

    it('refuses the handshake when the session cannot be read', async () => {
      const http = app.client();
      await http.post('/login');
      faulty.failing.add('get');
      const handshake = await WsTestClient.connect(platform, app.url, { cookie: cookieOf(http) });
      expect(handshake.ok).toBe(false);
      if (!handshake.ok && platform === 'ws') expect(handshake.status).toBe(503);
    });

    it('refuses a message whose session cannot be read, and serves the next once the store is back', async () => {
      const http = app.client();
      await http.post('/login');
      const socket = await WsTestClient.open(platform, app.url, { cookie: cookieOf(http) });
      const before = app.gateway.handled;
      faulty.failing.add('get');
      expect((await socket.request('whoami')).data).toMatchObject({ status: 'error', code: 'SESSION_STORE_UNAVAILABLE' });
      expect(app.gateway.handled).toBe(before);
      faulty.failing.clear();
      expect((await socket.request('whoami')).data.user).toBe('alice');
      socket.close();
    });

    it('answers a failed write with SESSION_STORE_UNAVAILABLE instead of the reply', async () => {
      const http = app.client();
      await http.post('/login');
      const socket = await WsTestClient.open(platform, app.url, { cookie: cookieOf(http) });
      faulty.failing.add('patch');
      expect(await socket.request('bump')).toEqual({
        event: 'exception',
        data: { status: 'error', code: 'SESSION_STORE_UNAVAILABLE', message: expect.any(String) },
      });
      faulty.failing.clear();
      expect((await http.get('/all')).json()).not.toHaveProperty('count');
      socket.close();
    });
  });

  describe.each(WS_PLATFORMS)('with the global SessionInterceptor (interceptor: true) over %s', (platform) => {
    let app: GatewayApp;
    beforeAll(async () => {
      app = await startGatewayApp(adapter, platform, {}, new MemoryStore(), true);
    });
    afterAll(() => app.close());

    it('guards, handlers and writes behave as without it', async () => {
      const http = app.client();
      await http.post('/login');
      const socket = await WsTestClient.open(platform, app.url, { cookie: cookieOf(http) });
      expect(await socket.request('secret')).toEqual({ event: 'secret', data: { user: 'alice' } });
      expect((await socket.request('bump')).data).toEqual({ count: 1 });
      expect((await http.get('/all')).json()).toMatchObject({ count: 1 });
      await http.post('/logout');
      expect((await socket.request('bump')).data).toMatchObject({ code: 'SESSION_LOST' });
      socket.close();
    });
  });

  describe.each(WS_PLATFORMS)('the header transport over %s', (platform) => {
    let app: GatewayApp;
    beforeAll(async () => {
      app = await startGatewayApp(adapter, platform, {}, new MemoryStore(), false, { transport: ['cookie', 'header'] });
    });
    afterAll(() => app.close());

    it('loads the session from X-Session-Id on the handshake', async () => {
      const http = app.client();
      await http.post('/login');
      const socket = await WsTestClient.open(platform, app.url, { 'x-session-id': http.jar.get('sid') });
      expect(await socket.request('secret')).toEqual({ event: 'secret', data: { user: 'alice' } });
      socket.close();
    });
  });

  describe('allowedOrigins as a function', () => {
    let app: GatewayApp;
    beforeAll(async () => {
      app = await startGatewayApp(adapter, 'ws', { allowedOrigins: (origin) => origin.endsWith('.trusted.example') });
    });
    afterAll(() => app.close());

    it('decides for origins other than the request own', async () => {
      expect((await WsTestClient.connect('ws', app.url, { origin: 'https://a.trusted.example' })).ok).toBe(true);
      expect((await WsTestClient.connect('ws', app.url, { origin: 'https://a.untrusted.example' })).ok).toBe(false);
      expect((await WsTestClient.connect('ws', app.url, { origin: app.url })).ok).toBe(true);
    });
  });
});
