import { Controller, Get, HttpCode, Module, Post, Req } from '@nestjs/common';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore, Session, SessionError, SessionManager, SessionModule } from '../src/index.js';
import { FaultyStore } from './support/faulty-store.js';
import { TestClient } from './support/http-client.js';
import { ADAPTERS, SECRET, startApp, type AdapterName, type RunningApp } from './support/test-app.js';

/**
 * `req.session`, the express-session compatible view, as application code sees it (on Express's
 * request, or on Fastify's, where the module exposes it too).
 */
type ViewRequest = IncomingMessage & { session: any };

/** What a handler that threw answers with, so a test can check the error itself. */
function caught(run: () => unknown): { threw: false } | { threw: true; name: string; code: unknown; message: string } {
  try {
    run();
    return { threw: false };
  } catch (error) {
    const { name, message, code } = error as SessionError;
    return { threw: true, name, code, message };
  }
}

/** The record ID a signed session cookie carries. */
function idOf(client: TestClient): string {
  return client.jar.get('sid')!.split('.')[0];
}

/** The routes of the bare Node server below: what it answers `view.url` with. */
function bareRoute(view: ViewRequest): unknown {
  switch (view.url) {
    case '/login':
      view.session.user = 'alice';
      return {};
    case '/logout-null':
      view.session = null;
      return { after: view.session };
    case '/assign-self':
      view.session = view.session;
      return { user: view.session.user ?? null };
    case '/assign-object':
      return { result: caught(() => (view.session = {})), user: view.session.user ?? null };
    default:
      return { user: view.session.user ?? null, string: String(view.session), ownX: view.session.hasOwnProperty('x') };
  }
}

@Controller()
class SafetyController {
  constructor(private readonly manager: SessionManager) {}

  @Post('login')
  @HttpCode(200)
  login(@Session() session: Session) {
    session.set('user', 'alice');
    return {};
  }

  @Post('login-with-tokens')
  @HttpCode(200)
  loginWithTokens(@Session() session: Session) {
    session.set('user', 'alice').set('auth:main', { accessToken: 'access-token-value', refreshToken: 'refresh-token-value' });
    return {};
  }

  @Post('tokens-only')
  @HttpCode(200)
  tokensOnly(@Session() session: Session) {
    session.set('auth:main', { accessToken: 'access-token-value' });
    return {};
  }

  @Post('set')
  @HttpCode(200)
  set(@Session() session: Session, @Req() req: { body: Record<string, unknown> }) {
    for (const [key, value] of Object.entries(req.body)) session.set(key, value);
    return {};
  }

  @Get('prototype-names')
  prototypeNames(@Session() session: Session) {
    return {
      hasConstructor: session.has('constructor'),
      hasToString: session.has('toString'),
      hasProto: session.has('__proto__'),
      toString: caught(() => session.get('toString')),
      constructor: caught(() => session.get('constructor')),
      keys: session.keys(),
    };
  }

  @Get('view-as-object')
  viewAsObject(@Req() req: ViewRequest) {
    const view = req.session;
    return {
      string: String(view),
      template: `${view}`,
      toString: view.toString(),
      toLocaleString: view.toLocaleString(),
      valueOfIsView: view.valueOf() === view,
      ownX: view.hasOwnProperty('x'),
      ownUser: view.hasOwnProperty('user'),
      callX: Object.prototype.hasOwnProperty.call(view, 'x'),
      callUser: Object.prototype.hasOwnProperty.call(view, 'user'),
      enumerable: view.propertyIsEnumerable('user'),
      json: JSON.parse(JSON.stringify(view)),
    };
  }

  @Get('view-stored-names')
  viewStoredNames(@Req() req: ViewRequest) {
    return { toString: req.session.toString, valueOf: req.session.valueOf };
  }

  @Get('polluted')
  async polluted(@Session() session: Session, @Req() req: ViewRequest) {
    return {
      get: session.get('isAdmin') ?? null,
      has: session.has('isAdmin'),
      keys: session.keys(),
      json: session.toJSON(),
      view: req.session.isAdmin ?? null,
      inView: 'isAdmin' in req.session,
      viewOwn: Object.prototype.hasOwnProperty.call(req.session, 'isAdmin'),
      peek: (await this.manager.peek(session, 'isAdmin')) ?? null,
      flash: session.consumeFlash() ?? null,
    };
  }

  @Get('whoami')
  whoami(@Session() session: Session) {
    return { user: session.get('user') ?? null, isAdmin: session.get('isAdmin') ?? null, keys: session.keys() };
  }

  @Post('logout-null')
  @HttpCode(200)
  logoutNull(@Req() req: ViewRequest) {
    req.session = null;
    return { after: req.session };
  }

  @Post('logout-undefined')
  @HttpCode(200)
  logoutUndefined(@Req() req: ViewRequest) {
    req.session = undefined;
    return { after: req.session === undefined };
  }

  @Post('assign-self')
  @HttpCode(200)
  assignSelf(@Req() req: ViewRequest) {
    const view = req.session;
    const result = caught(() => (req.session = req.session));
    return { result, same: req.session === view, user: req.session.user ?? null };
  }

  @Post('assign-object')
  @HttpCode(200)
  assignObject(@Req() req: ViewRequest) {
    const view = req.session;
    const result = caught(() => (req.session = { user: 'mallory' }));
    return { result, same: req.session === view, user: req.session.user ?? null };
  }

  @Get('json')
  json(@Session() session: Session) {
    return { json: session.toJSON(), inspected: inspect(session) };
  }

  @Get('view-json')
  viewJson(@Req() req: ViewRequest) {
    return {
      stringified: JSON.stringify(req.session),
      keys: Object.keys(req.session),
      entries: Object.entries(req.session),
      own: Object.prototype.hasOwnProperty.call(req.session, 'auth:main'),
      spread: { ...req.session },
      inspected: inspect(req.session),
    };
  }

  @Get('session-object')
  sessionObject(@Session() session: Session) {
    return session;
  }

  @Get('view-object')
  viewObject(@Req() req: ViewRequest) {
    return req.session;
  }

  @Get('token')
  token(@Session() session: Session) {
    return { token: session.get('auth:main') ?? null, has: session.has('auth:main') };
  }

  @Post('clear')
  @HttpCode(200)
  clear(@Session() session: Session) {
    session.clear();
    return { keys: session.keys() };
  }
}

async function startSafetyApp(
  adapter: AdapterName,
  store: MemoryStore | FaultyStore | 'cookie:',
  onError?: (error: SessionError) => void,
): Promise<RunningApp> {
  @Module({ imports: [SessionModule.forRoot({ secret: SECRET, store, ...(onError ? { onError } : {}) })], controllers: [SafetyController] })
  class SafetyApp {}
  return startApp(SafetyApp, { adapter });
}

/**
 * Start a safety app on a fresh memory store for the enclosing `describe` (closed after it);
 * `ready` runs once the app listens. Read the app through the returned function.
 */
function useMemoryApp(adapter: AdapterName, ready?: (running: RunningApp) => void): { app: () => RunningApp; store: MemoryStore } {
  let running: RunningApp;
  const store = new MemoryStore({ gcInterval: 0 });
  beforeAll(async () => {
    running = await startSafetyApp(adapter, store);
    ready?.(running);
  });
  afterAll(async () => {
    await running.close();
    await store.close();
  });
  return { app: () => running, store };
}

/**
 * Run `test` with `Object.prototype[key]` set to `value` (prototype pollution elsewhere in the
 * process), restoring the prototype whatever happens.
 */
async function withPollutedPrototype<R>(key: string, value: unknown, test: () => Promise<R>): Promise<R> {
  Object.defineProperty(Object.prototype, key, { value, writable: true, enumerable: false, configurable: true });
  try {
    return await test();
  } finally {
    delete (Object.prototype as Record<string, unknown>)[key];
  }
}

describe.each(ADAPTERS)('session data safety on %s', (adapter) => {
  describe('session data is read from the session only, never from Object.prototype', () => {
    const { app, store } = useMemoryApp(adapter);

    it('has() and get() see no inherited names (constructor, toString, __proto__)', async () => {
      const client = app().client();
      await client.post('/login');
      const response = await client.get('/prototype-names');
      expect(response.status).toBe(200);
      expect(response.json()).toEqual({
        hasConstructor: false,
        hasToString: false,
        hasProto: false,
        toString: { threw: false },
        constructor: { threw: false },
        keys: ['user'],
      });
    });

    it('a new session (nothing stored) sees no inherited names either', async () => {
      const response = await app().client().get('/prototype-names');
      expect(response.status).toBe(200);
      expect(response.json()).toMatchObject({ hasConstructor: false, hasToString: false, keys: [] });
    });

    it('req.session converts to a string and answers hasOwnProperty() like a plain object', async () => {
      const client = app().client();
      await client.post('/login');
      const response = await client.get('/view-as-object');
      expect(response.status).toBe(200);
      expect(response.json()).toEqual({
        string: '[object Object]',
        template: '[object Object]',
        toString: '[object Object]',
        toLocaleString: '[object Object]',
        valueOfIsView: true,
        ownX: false,
        ownUser: true,
        callX: false,
        callUser: true,
        enumerable: true,
        // `cookie` is listed too, as in express-session (issue 16).
        json: { cookie: expect.objectContaining({ path: '/', httpOnly: true }), user: 'alice' },
      });
    });

    it('a data key stored under a name of Object.prototype wins over the method on req.session', async () => {
      const client = app().client();
      await client.post('/set', { toString: 'stored', valueOf: 42 });
      expect((await client.get('/view-stored-names')).json()).toEqual({ toString: 'stored', valueOf: 42 });
    });

    it('a polluted Object.prototype does not forge session data, through any reader', async () => {
      const client = app().client();
      await client.post('/login');
      // Stores hold encoded values: '"yes"' is the string "yes" as the JSON codec stores it.
      const seen = await withPollutedPrototype('isAdmin', '"yes"', () =>
        withPollutedPrototype('__flash', '"forged flash"', async () => (await client.get('/polluted')).json()),
      );
      expect(seen).toEqual({
        get: null,
        has: false,
        keys: ['user'],
        json: { user: 'alice' },
        view: null,
        inView: false,
        viewOwn: false,
        peek: null,
        flash: null,
      });
    });

    it('a polluted Object.prototype does not stop a value equal to it from being written', async () => {
      const client = app().client();
      await client.post('/login');
      const response = await withPollutedPrototype('isAdmin', '"yes"', () => client.post('/set', { isAdmin: 'yes' }));
      expect(response.status).toBe(200);
      expect(await store.get(idOf(client))).toMatchObject({ data: { user: '"alice"', isAdmin: '"yes"' } });
      expect((await client.get('/whoami')).json()).toEqual({ user: 'alice', isAdmin: 'yes', keys: ['user', 'isAdmin'] });
    });

    it('a new session written while the prototype is polluted stores the value too', async () => {
      const client = app().client();
      await withPollutedPrototype('isAdmin', '"yes"', () => client.post('/set', { isAdmin: 'yes' }));
      expect((await client.get('/whoami')).json()).toEqual({ user: null, isAdmin: 'yes', keys: ['isAdmin'] });
    });
  });

  describe('req.session = null logs out', () => {
    const { app, store } = useMemoryApp(adapter);

    for (const [path, after] of [
      ['/logout-null', { after: null }],
      ['/logout-undefined', { after: true }],
    ] as const) {
      it(`${path}: the record is deleted, the cookie cleared, and the old cookie brings nothing back`, async () => {
        const client = app().client();
        await client.post('/login');
        const cookie = `sid=${client.jar.get('sid')}`;
        const id = idOf(client);
        expect(await store.get(id)).not.toBeNull();

        const response = await client.post(path);
        expect(response.status).toBe(200);
        expect(response.json()).toEqual(after);
        expect(response.cookie('sid')).toMatch(/^sid=;.*Max-Age=0/i);
        expect(await store.get(id)).toBeNull();

        // A client that kept the old cookie (a copy taken before the logout) gets no session back.
        const replay = await app().client().get('/whoami', { headers: { cookie } });
        expect(replay.json()).toEqual({ user: null, isAdmin: null, keys: [] });
        expect(await store.get(id)).toBeNull();
      });
    }

    it('assigning req.session to itself changes nothing', async () => {
      const client = app().client();
      await client.post('/login');
      const response = await client.post('/assign-self');
      expect(response.json()).toEqual({ result: { threw: false }, same: true, user: 'alice' });
      expect(response.setCookies).toEqual([]);
      expect(await store.get(idOf(client))).not.toBeNull();
      expect((await client.get('/whoami')).json()).toMatchObject({ user: 'alice' });
    });

    it('assigning an object to req.session throws a SessionError that says what to do instead', async () => {
      const client = app().client();
      await client.post('/login');
      const { result, same, user } = (await client.post('/assign-object')).json();
      expect(result).toMatchObject({ threw: true, name: 'SessionError', code: 'SESSION_READ_ONLY' });
      expect(result.message).toContain('req.session.<key> = ');
      expect(result.message).toContain('destroy()');
      expect({ same, user }).toEqual({ same: true, user: 'alice' });
      expect((await client.get('/whoami')).json()).toMatchObject({ user: 'alice' });
    });
  });

  describe('req.session = null with a slow or failing store', () => {
    let running: RunningApp;
    const store = new FaultyStore(new MemoryStore({ gcInterval: 0 }));
    const reported: string[] = [];

    beforeAll(async () => {
      running = await startSafetyApp(adapter, store, (error) => void reported.push(error.code));
    });
    afterAll(() => running.close());
    afterEach(() => {
      store.failing.clear();
      store.writeDelay = 0;
      reported.length = 0;
    });

    it('the response ends only once the record is deleted', async () => {
      const client = running.client();
      await client.post('/login');
      const id = idOf(client);
      store.writeDelay = 50;
      const response = await client.post('/logout-null');
      // Checked at once, without waiting: the destroy finished before the response did.
      expect(await store.inner.get(id)).toBeNull();
      expect(response.status).toBe(200);
      expect(response.cookie('sid')).toMatch(/^sid=;/);
    });

    it('a failed destroy answers 503, is reported, and leaves no unhandled rejection', async () => {
      const client = running.client();
      await client.post('/login');
      const id = idOf(client);
      store.failing.add('destroy');
      const response = await client.post('/logout-null');
      expect(response.status).toBe(503);
      expect(response.json()).toMatchObject({ error: 'SESSION_STORE_UNAVAILABLE' });
      expect(reported).toContain('SESSION_STORE_UNAVAILABLE');
      // The user is not logged out, and the client is told so rather than shown a success.
      expect(await store.inner.get(id)).not.toBeNull();
    });
  });

  describe('req.session = null with a session kept in the cookie (CookieStore)', () => {
    let running: RunningApp;

    beforeAll(async () => {
      running = await startSafetyApp(adapter, 'cookie:');
    });
    afterAll(() => running.close());

    it('clears the cookie, and the next request has no session', async () => {
      const client = running.client();
      await client.post('/login');
      expect((await client.get('/whoami')).json()).toMatchObject({ user: 'alice' });
      const response = await client.post('/logout-null');
      expect(response.json()).toEqual({ after: null });
      expect(response.cookie('sid')).toMatch(/^sid=;.*Max-Age=0/i);
      expect(client.jar.has('sid')).toBe(false);
      expect((await client.get('/whoami')).json()).toEqual({ user: null, isAdmin: null, keys: [] });
    });
  });

  describe("an extension's reserved keys (the auth module's tokens) are hidden from serialisation", () => {
    const { app, store } = useMemoryApp(adapter, (running) => running.app.get(SessionManager).reserveKeys('auth:'));

    it('toJSON(), inspect() and a controller returning the session omit them', async () => {
      const client = app().client();
      await client.post('/login-with-tokens');
      const { json, inspected } = (await client.get('/json')).json();
      expect(json).toEqual({ user: 'alice' });
      expect(inspected).toBe(`Session { id: [redacted], isNew: false, keys: [ 'user' ] }`);
      const returned = await client.get('/session-object');
      expect(returned.json()).toEqual({ user: 'alice' });
      expect(returned.text).not.toContain('token-value');
    });

    it('JSON.stringify(req.session), Object.keys(req.session) and a controller returning req.session omit them', async () => {
      const client = app().client();
      await client.post('/login-with-tokens');
      const response = await client.get('/view-json');
      const { stringified, keys, entries, own, spread, inspected } = response.json();
      // `cookie` is listed too, as in express-session (issue 16); the reserved keys are not.
      const cookie = expect.objectContaining({ path: '/', httpOnly: true });
      expect(JSON.parse(stringified)).toEqual({ cookie, user: 'alice' });
      expect(keys).toEqual(['cookie', 'user']);
      expect(entries).toEqual([
        ['cookie', cookie],
        ['user', 'alice'],
      ]);
      expect(own).toBe(false);
      expect(spread).toEqual({ cookie, user: 'alice' });
      // Printed as the session prints: keys, no values, no ID, and not the engine behind the view.
      expect(inspected).toBe(`Session { id: [redacted], isNew: false, keys: [ 'user' ] }`);
      expect(response.text).not.toContain('auth:main');
      const returned = await client.get('/view-object');
      expect(returned.json()).toEqual({ cookie, user: 'alice' });
      expect(returned.text).not.toContain('token-value');
    });

    it('get() and has() still read them', async () => {
      const client = app().client();
      await client.post('/login-with-tokens');
      expect((await client.get('/token')).json()).toEqual({
        token: { accessToken: 'access-token-value', refreshToken: 'refresh-token-value' },
        has: true,
      });
    });

    it('a session holding only reserved keys is still stored', async () => {
      const client = app().client();
      await client.post('/tokens-only');
      expect(client.jar.get('sid')).toBeDefined();
      expect((await client.get('/token')).json()).toEqual({ token: { accessToken: 'access-token-value' }, has: true });
    });

    it('clear() removes them too, so it logs out', async () => {
      const client = app().client();
      await client.post('/login-with-tokens');
      expect((await client.post('/clear')).json()).toEqual({ keys: [] });
      expect((await client.get('/token')).json()).toEqual({ token: null, has: false });
      expect((await store.get(idOf(client)))?.data).toEqual({});
    });
  });
});

// No platform: a bare Node server runs the engine's middleware (the Express app only provides the SessionManager).
describe('req.session = null outside Express (req.session set on the request itself)', () => {
  let running: RunningApp;
  let server: Server;
  let url: string;
  const store = new MemoryStore({ gcInterval: 0 });

  beforeAll(async () => {
    running = await startSafetyApp('express', store);
    const middleware = running.app.get(SessionManager).middleware();
    // A bare Node server: its requests' prototype is IncomingMessage's, which has no `app`.
    server = createServer((req: IncomingMessage, res: ServerResponse) =>
      middleware(req, res, () => {
        const view = req as ViewRequest;
        let body: unknown;
        try {
          body = bareRoute(view);
        } catch (error) {
          res.statusCode = 500;
          body = { error: String(error) };
        }
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(body));
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await running.close();
    await store.close();
  });

  it('logs out, and the view works as on Express', async () => {
    const client = new TestClient(url);
    await client.get('/login');
    const id = idOf(client);
    expect((await client.get('/whoami')).json()).toEqual({ user: 'alice', string: '[object Object]', ownX: false });
    expect((await client.get('/assign-self')).json()).toEqual({ user: 'alice' });
    const assigned = (await client.get('/assign-object')).json();
    expect(assigned).toMatchObject({ result: { threw: true, code: 'SESSION_READ_ONLY' }, user: 'alice' });

    const response = await client.get('/logout-null');
    expect(response.json()).toEqual({ after: null });
    expect(response.cookie('sid')).toMatch(/^sid=;/);
    expect(await store.get(id)).toBeNull();
    expect((await client.get('/whoami')).json()).toMatchObject({ user: null });
  });
});
