import { Body, Controller, Get, HttpCode, Inject, Logger, Module, Post, Req } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import express, { type Request } from 'express';
import expressSession from 'express-session';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CookieStore,
  fromExpressSessionOptions,
  MemoryStore,
  SESSION_STORE,
  SessionError,
  SessionModule,
  type ConnectSessionStore,
  type ExpressSessionOptions,
  type SessionModuleOptions,
  type SessionStore,
} from '../src/index.js';
import { CountingStore } from './support/counting-store.js';
import { TestClient } from './support/http-client.js';

/**
 * `fromExpressSessionOptions()` (issue 16): an express-session options object, unchanged, gives
 * a Nest app that behaves as express-session did, option by option, over real HTTP; what cannot be
 * honoured is refused at once, naming the option; and a user logged in by express-session stays
 * logged in after the switch.
 */
const LEGACY_SECRET = 'keyboard cat';
const COOKIE = 'connect.sid';

type View = Record<string, unknown> | null | undefined;
const viewOf = (req: Request): View => (req as unknown as { session: View }).session;

/** Routes written as an express-session app writes them: through `req.session`. */
@Controller()
class ExpressStyleController {
  constructor(@Inject(SESSION_STORE) private readonly store: SessionStore) {}

  /** Touches nothing; says whether the request got a session. */
  @Get(['noop', 'admin/noop', 'foo/noop', 'foo/bar/noop', 'foo/barx/noop'])
  noop(@Req() req: Request) {
    return { session: typeof viewOf(req) };
  }

  @Post('set')
  @HttpCode(200)
  set(@Req() req: Request, @Body() body: Record<string, unknown>) {
    Object.assign(viewOf(req)!, body);
    return { id: viewOf(req)!.id };
  }

  @Get('get')
  get(@Req() req: Request) {
    const view = viewOf(req);
    // The data keys only: `cookie`, listed as in express-session, is not data.
    const { cookie: _cookie, ...data } = view ? (JSON.parse(JSON.stringify(view)) as Record<string, unknown>) : {};
    return { id: view?.id ?? null, data: view ? data : null };
  }

  /** Counts in the session, then lets go of it (`req.session = null`), as express-session's `unset` examples do. */
  @Post('unset')
  @HttpCode(200)
  unset(@Req() req: Request) {
    const view = viewOf(req)!;
    view.count = ((view.count as number | undefined) ?? 0) + 1;
    (req as unknown as { session: View }).session = null;
    return {};
  }

  @Get('store')
  storeKind() {
    return { kind: this.store.constructor.name };
  }
}

const running: Array<{ close(): Promise<unknown> | void }> = [];

afterEach(async () => {
  vi.restoreAllMocks();
  for (const item of running.splice(0).reverse()) await item.close();
});

/** A Nest app with `SessionModule.forRoot(options)` and the express-style routes. */
async function startNest(
  options: SessionModuleOptions,
  configure?: (app: NestExpressApplication) => void,
): Promise<{ app: NestExpressApplication; client: (jar?: Map<string, string>) => TestClient }> {
  @Module({ imports: [SessionModule.forRoot(options)], controllers: [ExpressStyleController] })
  class MigratedApp {}
  const app = await NestFactory.create<NestExpressApplication>(MigratedApp, { logger: false, abortOnError: false });
  configure?.(app);
  await app.listen(0, '127.0.0.1');
  running.push(app);
  const url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  return { app, client: (jar) => new TestClient(url, jar) };
}

/** A memory store of ours whose calls are counted (it passes through `fromExpressSessionOptions` as it is). */
function countingStore(): CountingStore {
  const inner = new MemoryStore({ gcInterval: 0 });
  running.push(inner);
  return new CountingStore(inner);
}

function idOf(token: string | undefined): string {
  expect(token).toBeDefined();
  return decodeURIComponent(token!)
    .replace(/^s:/, '')
    .replace(/\.[^.]*$/, '');
}

function attributesOf(line: string | undefined): string[] {
  expect(line).toBeDefined();
  return line!.split('; ').slice(1);
}

const warnings = () => vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
const warned = (spy: ReturnType<typeof warnings>, text: string) =>
  spy.mock.calls.filter(([message]) => String(message).includes(text)).length;

describe('fromExpressSessionOptions: the mapping', () => {
  it("turns express-session's defaults into options of ours that behave like them", () => {
    const store = new MemoryStore({ gcInterval: 0 });
    running.push(store);
    const mapped = fromExpressSessionOptions({ secret: LEGACY_SECRET, store });
    const { cookie, ...rest } = mapped;
    expect(rest).toStrictEqual({
      secret: [LEGACY_SECRET],
      legacyCookies: { secrets: [LEGACY_SECRET] },
      allowShortSecrets: true,
      store,
      touchInterval: 0,
      eagerSessions: true,
      rolling: false,
      unset: 'keep',
      trustProxy: 'express',
    });
    expect(cookie).toStrictEqual({
      name: COOKIE,
      path: '/',
      httpOnly: true,
      secure: false,
      sameSite: false,
      partitioned: false,
      persistent: false,
      matchPath: true,
      withholdOverHttp: true,
    });
  });

  it('maps maxAge to idleTimeout (absoluteTimeout at least 7 days), and the other options one to one', () => {
    const genid = () => randomUUID();
    const mapped = fromExpressSessionOptions({
      secret: ['a-new-secret-that-is-long-enough-0123', LEGACY_SECRET],
      name: 'app.sid',
      resave: false,
      saveUninitialized: false,
      rolling: true,
      unset: 'destroy',
      proxy: true,
      genid,
      cookie: {
        maxAge: 3_600_000,
        secure: 'auto',
        sameSite: 'Lax' as 'lax',
        priority: 'HIGH' as 'high',
        domain: 'example.com',
        path: '/app',
      },
    });
    expect(mapped).toMatchObject({
      idleTimeout: 3_600_000,
      absoluteTimeout: 7 * 86_400_000,
      eagerSessions: false,
      rolling: true,
      unset: 'destroy',
      trustProxy: true,
      generateId: genid,
      cookie: { name: 'app.sid', path: '/app', domain: 'example.com', secure: 'auto', sameSite: 'lax', priority: 'high', persistent: true },
    });
    expect(mapped.touchInterval).toBeUndefined();
    expect(fromExpressSessionOptions({ secret: LEGACY_SECRET, cookie: { maxAge: 30 * 86_400_000 } }).absoluteTimeout).toBe(30 * 86_400_000);
    expect(fromExpressSessionOptions({ secret: LEGACY_SECRET, proxy: false }).trustProxy).toBe(false);
    expect(fromExpressSessionOptions({ secret: LEGACY_SECRET, key: 'old.sid' }).cookie?.name).toBe('old.sid');
    expect(fromExpressSessionOptions({ secret: LEGACY_SECRET, cookie: { sameSite: true } }).cookie?.sameSite).toBe('strict');
    expect(fromExpressSessionOptions({ secret: 'x'.repeat(32) }).allowShortSecrets).toBeUndefined();
  });

  it('reads null as express-session does: false for the switches, its default for proxy, genid and sameSite', () => {
    const mapped = fromExpressSessionOptions({
      secret: LEGACY_SECRET,
      resave: null,
      saveUninitialized: null,
      rolling: null,
      proxy: null,
      genid: null,
      unset: null,
      cookie: { sameSite: null, maxAge: null },
    } as unknown as ExpressSessionOptions);
    expect(mapped).toMatchObject({
      eagerSessions: false,
      rolling: false,
      trustProxy: 'express',
      unset: 'keep',
      cookie: { sameSite: false, persistent: false },
    });
    expect(mapped.touchInterval).toBeUndefined();
    expect(mapped.generateId).toBeUndefined();
  });

  it('wraps a connect store with fromConnectStore, passes ours through, and leaves the default without one', () => {
    const connectStore = new expressSession.MemoryStore();
    const wrapped = fromExpressSessionOptions({ secret: LEGACY_SECRET, store: connectStore }).store as ConnectSessionStore;
    expect(wrapped.connectStore).toBe(connectStore);
    void wrapped.close();
    expect(fromExpressSessionOptions({ secret: LEGACY_SECRET, store: 'redis://127.0.0.1:6379' }).store).toBe('redis://127.0.0.1:6379');
    expect('store' in fromExpressSessionOptions({ secret: LEGACY_SECRET })).toBe(false);
  });

  it('accepts the SessionOptions type of @types/express-session unchanged', () => {
    const typed: expressSession.SessionOptions = {
      secret: LEGACY_SECRET,
      store: new expressSession.MemoryStore(),
      cookie: (req) => ({ secure: req.secure }),
      genid: () => randomUUID(),
    };
    const accepted: ExpressSessionOptions = typed;
    expect(() => fromExpressSessionOptions(accepted)).not.toThrow();
  });
});

describe('fromExpressSessionOptions: refusals, thrown at once and naming the option', () => {
  const refusal = (options: unknown): SessionError => {
    try {
      fromExpressSessionOptions(options as ExpressSessionOptions);
    } catch (error) {
      expect(error).toBeInstanceOf(SessionError);
      expect((error as SessionError).code).toBe('SESSION_OPTIONS_INVALID');
      return error as SessionError;
    }
    throw new Error('expected a refusal');
  };
  const M = (option: string) => `nest-sessions: invalid option \`${option}\`: `;

  it.each([
    ['no options', undefined, 'options'],
    ['no secret', {}, 'secret'],
    ['an empty secret', { secret: '' }, 'secret'],
    ['an empty list of secrets', { secret: [] }, 'secret'],
    ['a Buffer secret', { secret: Buffer.from('keyboard cat') }, 'secret'],
    ['a number in the list', { secret: [LEGACY_SECRET, 42] }, 'secret[1]'],
    ['an empty string in the list', { secret: [LEGACY_SECRET, ''] }, 'secret[1]'],
    ['an unknown option', { secret: LEGACY_SECRET, cookieName: 'x' }, 'cookieName'],
    ['genid that is no function', { secret: LEGACY_SECRET, genid: 'uuid' }, 'genid'],
    ['an unknown unset', { secret: LEGACY_SECRET, unset: 'forget' }, 'unset'],
    ['resave that is no boolean', { secret: LEGACY_SECRET, resave: 'yes' }, 'resave'],
    ['proxy that is no boolean', { secret: LEGACY_SECRET, proxy: 1 }, 'proxy'],
    ['an invalid cookie name', { secret: LEGACY_SECRET, name: 'my sid' }, 'name'],
    ['a cookie that is neither object nor function', { secret: LEGACY_SECRET, cookie: 42 }, 'cookie'],
    ['cookie.expires', { secret: LEGACY_SECRET, cookie: { expires: new Date(Date.now() + 60_000) } }, 'cookie.expires'],
    ['maxAge 0', { secret: LEGACY_SECRET, cookie: { maxAge: 0 } }, 'cookie.maxAge'],
    ['a negative maxAge', { secret: LEGACY_SECRET, cookie: { maxAge: -1 } }, 'cookie.maxAge'],
    ['maxAge as text', { secret: LEGACY_SECRET, cookie: { maxAge: '60000' } }, 'cookie.maxAge'],
    ['maxAge as a Date', { secret: LEGACY_SECRET, cookie: { maxAge: new Date() } }, 'cookie.maxAge'],
    ['maxAge over 400 days', { secret: LEGACY_SECRET, cookie: { maxAge: 401 * 86_400_000 } }, 'cookie.maxAge'],
    ['cookie.encode', { secret: LEGACY_SECRET, cookie: { encode: encodeURIComponent } }, 'cookie.encode'],
    ['cookie.signed: false', { secret: LEGACY_SECRET, cookie: { signed: false } }, 'cookie.signed'],
    ['an unknown cookie option', { secret: LEGACY_SECRET, cookie: { maxage: 60_000 } }, 'cookie.maxage'],
    ['an unknown sameSite', { secret: LEGACY_SECRET, cookie: { sameSite: 'sideways' } }, 'cookie.sameSite'],
    ["sameSite 'none' without secure", { secret: LEGACY_SECRET, cookie: { sameSite: 'none' } }, 'cookie.sameSite'],
    ["sameSite 'auto' without secure", { secret: LEGACY_SECRET, cookie: { sameSite: 'auto' } }, 'cookie.sameSite'],
    ['partitioned without secure', { secret: LEGACY_SECRET, cookie: { partitioned: true } }, 'cookie.partitioned'],
    ['an unknown priority', { secret: LEGACY_SECRET, cookie: { priority: 'urgent' } }, 'cookie.priority'],
    ['secure that is no boolean', { secret: LEGACY_SECRET, cookie: { secure: 'yes' } }, 'cookie.secure'],
    ['a path that is no string', { secret: LEGACY_SECRET, cookie: { path: 42 } }, 'cookie.path'],
    ['a relative path', { secret: LEGACY_SECRET, cookie: { path: 'app' } }, 'cookie.path'],
    ['a client-side store', { secret: LEGACY_SECRET, store: new CookieStore() }, 'store'],
    ['a store without get/set/destroy', { secret: LEGACY_SECRET, store: { get() {} } }, 'store'],
    ['a store that is no object', { secret: LEGACY_SECRET, store: 42 }, 'store'],
  ])('refuses %s', (_label, options, option) => {
    const error = refusal(options);
    expect(error.message.startsWith(M(option))).toBe(true);
  });

  it('says what to do instead', () => {
    expect(refusal({ secret: LEGACY_SECRET, cookie: { expires: new Date() } }).message).toBe(
      'nest-sessions: invalid option `cookie.expires`: one expiry date for every session cannot be honoured (express-session documents it as not to be set). Give the lifetime as maxAge (milliseconds) instead.',
    );
    expect(refusal({ secret: Buffer.from('x') }).message).toContain('must be a string (a Buffer secret is not supported)');
    expect(refusal({ secret: LEGACY_SECRET, cookieName: 'x' }).message).toContain(
      '{ ...fromExpressSessionOptions(options), cookieName: ... }',
    );
  });
});

describe('fromExpressSessionOptions over HTTP', () => {
  it("behaves like express-session's defaults: an eager connect.sid browser-session cookie, written on every response", async () => {
    const warn = warnings();
    const store = countingStore();
    const { client } = await startNest(fromExpressSessionOptions({ secret: LEGACY_SECRET, store }));
    expect(warned(warn, 'secret is shorter than 32 characters (12)')).toBe(1);
    const browser = client();
    const first = await browser.get('/noop');
    expect(first.json()).toEqual({ session: 'object' });
    expect(attributesOf(first.cookie(COOKIE))).toEqual(['Path=/', 'HttpOnly']);
    expect(store.count('set')).toBe(1);

    store.reset();
    const second = await browser.get('/noop');
    expect(second.setCookies).toEqual([]);
    // resave (true by default): an unchanged session is written back on every response.
    expect(store.calls).toEqual(['get', 'touch']);
  });

  it('saveUninitialized: false stores and sends nothing until something is set', async () => {
    const store = countingStore();
    const { client } = await startNest(
      fromExpressSessionOptions({ secret: LEGACY_SECRET, store, saveUninitialized: false, resave: false }),
    );
    const browser = client();
    expect((await browser.get('/noop')).setCookies).toEqual([]);
    expect(store.calls).toEqual([]);
    expect((await browser.post('/set', { user: 'bob' })).cookie(COOKIE)).toBeDefined();
    store.reset();
    await browser.get('/noop');
    // resave: false writes nothing for an unchanged session (the expiry at most once a minute).
    expect(store.calls).toEqual(['get']);
  });

  it('name and key name the cookie', async () => {
    const named = await startNest(fromExpressSessionOptions({ secret: LEGACY_SECRET, name: 'app.sid' }));
    expect((await named.client().get('/noop')).cookie('app.sid')).toBeDefined();
    const keyed = await startNest(fromExpressSessionOptions({ secret: LEGACY_SECRET, key: 'old.sid' }));
    expect((await keyed.client().get('/noop')).cookie('old.sid')).toBeDefined();
  });

  it('rolling sends the cookie on every response of a stored session', async () => {
    const { client } = await startNest(fromExpressSessionOptions({ secret: LEGACY_SECRET, rolling: true, cookie: { maxAge: 60_000 } }));
    const browser = client();
    await browser.post('/set', { user: 'bob' });
    const token = browser.jar.get(COOKIE);
    const again = await browser.get('/get');
    expect(again.cookie(COOKIE)).toBeDefined();
    expect(browser.jar.get(COOKIE)).toBe(token);
    expect(attributesOf(again.cookie(COOKIE))).toEqual(expect.arrayContaining(['Max-Age=60', 'Path=/', 'HttpOnly']));
  });

  it('cookie.maxAge is the idle timeout: activity keeps the session, maxAge without any ends it', async () => {
    const { client } = await startNest(fromExpressSessionOptions({ secret: LEGACY_SECRET, cookie: { maxAge: 1500 } }));
    const browser = client();
    const created = await browser.post('/set', { user: 'bob' });
    expect(attributesOf(created.cookie(COOKIE)).some((attribute) => attribute.startsWith('Expires='))).toBe(true);
    const id = idOf(browser.jar.get(COOKIE));
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 450));
      expect((await browser.get('/get')).json()).toEqual({ id, data: { user: 'bob' } });
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const after = (await browser.get('/get')).json<{ id: string; data: unknown }>();
    expect(after.data).toEqual({});
    expect(after.id).not.toBe(id);
  });

  it('a cookie function gives the attributes per request; its maxAge makes the cookie persistent, with a warning once', async () => {
    const warn = warnings();
    const { client } = await startNest(
      fromExpressSessionOptions({
        secret: LEGACY_SECRET,
        cookie: (req) => (req.url?.startsWith('/admin') ? { path: '/admin', maxAge: 60_000, sameSite: 'strict' } : { httpOnly: false }),
      }),
    );
    const admin = await client().get('/admin/noop');
    expect(attributesOf(admin.cookie(COOKIE))).toEqual([
      'Max-Age=604800',
      expect.stringMatching(/^Expires=/),
      'Path=/admin',
      'HttpOnly',
      'SameSite=Strict',
    ]);
    const other = await client().get('/noop');
    expect(attributesOf(other.cookie(COOKIE))).toEqual(['Path=/']);
    await client().get('/admin/noop');
    expect(warned(warn, "express-session's cookie(req) returned a maxAge")).toBe(1);
  });

  it('a request outside cookie.path gets no session: no store read, no cookie, req.session undefined', async () => {
    const store = countingStore();
    const { client } = await startNest(fromExpressSessionOptions({ secret: LEGACY_SECRET, store, cookie: { path: '/foo/bar' } }));
    const browser = client();
    const inside = await browser.get('/foo/bar/noop');
    expect(inside.json()).toEqual({ session: 'object' });
    expect(attributesOf(inside.cookie(COOKIE))).toContain('Path=/foo/bar');
    store.reset();
    for (const path of ['/noop', '/foo/noop', '/foo/barx/noop']) {
      const outside = await browser.get(path);
      expect(outside.json()).toEqual({ session: 'undefined' });
      expect(outside.setCookies).toEqual([]);
    }
    expect(store.calls).toEqual([]);
  });

  describe('secure cookies and proxies', () => {
    it('does not set a Secure cookie on a plain-HTTP request, and logs it once', async () => {
      const warn = warnings();
      const store = countingStore();
      const { client } = await startNest(fromExpressSessionOptions({ secret: LEGACY_SECRET, store, cookie: { secure: true } }));
      expect((await client().get('/noop')).setCookies).toEqual([]);
      expect((await client().post('/set', { user: 'bob' })).setCookies).toEqual([]);
      expect(warned(warn, 'a Secure session cookie was not set')).toBe(1);
      // As express-session, the session itself is saved.
      expect(store.count('set')).toBe(2);
    });

    it('proxy: true trusts X-Forwarded-Proto (its first value)', async () => {
      const { client } = await startNest(fromExpressSessionOptions({ secret: LEGACY_SECRET, proxy: true, cookie: { secure: true } }));
      for (const proto of ['https', 'https,http']) {
        expect(attributesOf((await client().get('/noop', { headers: { 'x-forwarded-proto': proto } })).cookie(COOKIE))).toContain('Secure');
      }
      expect((await client().get('/noop')).setCookies).toEqual([]);
    });

    it('proxy: false ignores X-Forwarded-Proto, and Express trust proxy too', async () => {
      const { client } = await startNest(
        fromExpressSessionOptions({ secret: LEGACY_SECRET, proxy: false, cookie: { secure: true } }),
        (app) => app.set('trust proxy', true),
      );
      expect((await client().get('/noop', { headers: { 'x-forwarded-proto': 'https' } })).setCookies).toEqual([]);
    });

    it("proxy unset follows Express's trust proxy setting (req.secure)", async () => {
      const trusting = await startNest(fromExpressSessionOptions({ secret: LEGACY_SECRET, cookie: { secure: true } }), (app) =>
        app.set('trust proxy', true),
      );
      expect(attributesOf((await trusting.client().get('/noop', { headers: { 'x-forwarded-proto': 'https' } })).cookie(COOKIE))).toContain(
        'Secure',
      );
      const wary = await startNest(fromExpressSessionOptions({ secret: LEGACY_SECRET, cookie: { secure: true } }));
      expect((await wary.client().get('/noop', { headers: { 'x-forwarded-proto': 'https' } })).setCookies).toEqual([]);
    });

    it("secure: 'auto' and sameSite: 'auto' follow the request: Secure and None on HTTPS, Lax over HTTP", async () => {
      const { client } = await startNest(
        fromExpressSessionOptions({ secret: LEGACY_SECRET, proxy: true, cookie: { secure: 'auto', sameSite: 'auto' } }),
      );
      expect(attributesOf((await client().get('/noop', { headers: { 'x-forwarded-proto': 'https' } })).cookie(COOKIE))).toEqual([
        'Path=/',
        'HttpOnly',
        'Secure',
        'SameSite=None',
      ]);
      expect(attributesOf((await client().get('/noop')).cookie(COOKIE))).toEqual(['Path=/', 'HttpOnly', 'SameSite=Lax']);
    });
  });

  describe('genid', () => {
    it('names new sessions with the IDs it returns, given the request', async () => {
      const seen: string[] = [];
      const made: string[] = [];
      const { client } = await startNest(
        fromExpressSessionOptions({
          secret: LEGACY_SECRET,
          genid: (req) => {
            seen.push(req.url ?? '');
            made.push(randomUUID());
            return made[made.length - 1];
          },
        }),
      );
      const browser = client();
      await browser.get('/noop');
      expect(idOf(browser.jar.get(COOKIE))).toBe(made[0]);
      expect(seen).toEqual(['/noop']);
    });

    it('fails the request when it returns an ID of another shape, rather than using or replacing it', async () => {
      const errors: SessionError[] = [];
      const { client } = await startNest({
        ...fromExpressSessionOptions({ secret: LEGACY_SECRET, genid: () => 'apple' }),
        onError: (error) => errors.push(error),
      });
      const response = await client().get('/noop');
      expect(response.status).toBe(500);
      expect(response.setCookies).toEqual([]);
      expect(errors[0].message).toContain('invalid option `generateId`: it returned a string of 5 characters, not a session ID');
    });
  });

  describe('unset', () => {
    it("'keep' (the default) keeps the stored session and drops the request's changes", async () => {
      const store = countingStore();
      const { client } = await startNest(fromExpressSessionOptions({ secret: LEGACY_SECRET, store, resave: false }));
      const browser = client();
      await browser.post('/set', { count: 1 });
      const id = idOf(browser.jar.get(COOKIE));
      const dropped = await browser.post('/unset');
      expect(dropped.setCookies).toEqual([]);
      expect((await browser.get('/get')).json()).toEqual({ id, data: { count: 1 } });
    });

    it("'destroy' destroys the session, and a new session destroyed at once sends no cookie", async () => {
      const store = countingStore();
      const { client } = await startNest(fromExpressSessionOptions({ secret: LEGACY_SECRET, store, unset: 'destroy' }));
      const browser = client();
      await browser.post('/set', { count: 1 });
      const id = idOf(browser.jar.get(COOKIE));
      await browser.post('/unset');
      expect(await store.inner.get(id)).toBeNull();

      const fresh = await client().post('/unset');
      expect(fresh.setCookies).toEqual([]);
    });
  });

  describe('store', () => {
    it("uses a connect store (express-session's MemoryStore) through fromConnectStore, ours as it is, and ours by default", async () => {
      const connect = await startNest(fromExpressSessionOptions({ secret: LEGACY_SECRET, store: new expressSession.MemoryStore() }));
      expect((await connect.client().get('/store')).json()).toEqual({ kind: 'ConnectStoreAdapter' });
      const ours = await startNest(fromExpressSessionOptions({ secret: LEGACY_SECRET, store: countingStore() }));
      expect((await ours.client().get('/store')).json()).toEqual({ kind: 'CountingStore' });
      const none = await startNest(fromExpressSessionOptions({ secret: LEGACY_SECRET }));
      expect((await none.client().get('/store')).json()).toEqual({ kind: 'MemoryStore' });
    });
  });
});

describe('fromExpressSessionOptions: nobody is logged out by the switch', () => {
  /** The app before the switch: express-session with `options` and the same routes. */
  async function startExpress(options: expressSession.SessionOptions): Promise<string> {
    const app = express();
    app.use(express.json());
    app.use(expressSession(options));
    app.post('/set', (req, res) => {
      Object.assign(req.session, req.body as object);
      res.json({ id: req.session.id });
    });
    const server: Server = await new Promise((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
    running.push({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('serves the session of a cookie express-session issued, from its own store, and re-issues the cookie once', async () => {
    warnings();
    // The same object an express-session app has in its configuration.
    const options: expressSession.SessionOptions = {
      secret: LEGACY_SECRET,
      store: new expressSession.MemoryStore(),
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 86_400_000 },
    };
    const before = new TestClient(await startExpress(options));
    await before.post('/set', { user: 'bob', cart: ['tea'] });
    const legacyToken = before.jar.get(COOKIE)!;
    expect(legacyToken.startsWith('s%3A')).toBe(true);
    const id = idOf(legacyToken);

    const { client } = await startNest(fromExpressSessionOptions(options));
    const after = client(before.jar);
    const first = await after.get('/get');
    expect(first.json()).toEqual({ id, data: { user: 'bob', cart: ['tea'] } });
    expect(first.cookie(COOKIE)).toBeDefined();
    const ours = after.jar.get(COOKIE)!;
    expect(ours.startsWith('s%3A')).toBe(false);
    expect(idOf(ours)).toBe(id);

    const second = await after.get('/get');
    expect(second.json()).toEqual(first.json());
    expect(second.setCookies).toEqual([]);
  });

  it('accepts cookies signed with any secret of the list, as express-session did', async () => {
    warnings();
    const store = new expressSession.MemoryStore();
    const before = new TestClient(await startExpress({ secret: 'old secret', store, resave: false, saveUninitialized: false }));
    await before.post('/set', { user: 'bob' });
    const { client } = await startNest(fromExpressSessionOptions({ secret: ['new secret', 'old secret'], store }));
    expect((await client(before.jar).get('/get')).json()).toMatchObject({ data: { user: 'bob' } });
  });
});
