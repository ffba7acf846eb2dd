import { Body, Controller, Get, HttpCode, Logger, Module, Post, Req, type INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryStore, Session, SessionError, SessionModule, type SessionHandle, type SessionModuleOptions } from '../src/index.js';
import { CountingStore } from './support/counting-store.js';
import { TestClient } from './support/http-client.js';
import { ADAPTERS, createApp, type AdapterName } from './support/test-app.js';

/**
 * The engine options that express-session users need (issue 16), each on its own through
 * `SessionModule.forRoot()`, over real HTTP against a real Nest app: eager sessions, rolling
 * cookies, `unset: 'keep'`, `generateId`, `cookie.matchPath`, `cookie.withholdOverHttp`,
 * `cookie.sameSite: 'auto'`, `cookie.perRequest`, `trustProxy: 'express'`, `allowShortSecrets` and
 * `touchInterval: 0`. Each also checks that the default stays as it was. Every option runs on
 * Express and on Fastify, but `trustProxy: 'express'`, which is about Express's own setting.
 */
const SECRET = 'engine-options-secret-long-enough-0123456789';
const DAY = 86_400_000;

type View = Record<string, unknown> | null | undefined;
/** `req.session` of Express's request, or of Fastify's (which the module exposes there too). */
type AnyRequest = object;
const viewOf = (req: AnyRequest): View => (req as { session?: View }).session;

@Controller()
class OptionsController {
  @Get('read')
  read(@Session() session: SessionHandle) {
    return { id: session.id ?? null, data: session.toJSON() };
  }

  @Post('set')
  @HttpCode(200)
  set(@Session() session: SessionHandle, @Body() body: Record<string, unknown>) {
    for (const [key, value] of Object.entries(body)) session.set(key, value);
    return { id: session.id ?? null };
  }

  @Post('destroy')
  @HttpCode(200)
  async destroy(@Session() session: SessionHandle) {
    await session.destroy();
    return {};
  }

  @Post('regenerate')
  @HttpCode(200)
  async regenerate(@Session() session: SessionHandle) {
    await session.regenerate();
    return { id: session.id };
  }

  /** Changes the session through `req.session`, then lets go of it (`req.session = null`). */
  @Post('drop')
  @HttpCode(200)
  drop(@Req() req: AnyRequest) {
    const view = viewOf(req)!;
    view.count = 2;
    (req as unknown as { session: View }).session = null;
    return { after: viewOf(req) };
  }

  /** As `drop`, then gives the view back: the session counts again. */
  @Post('drop-and-restore')
  @HttpCode(200)
  dropAndRestore(@Req() req: AnyRequest) {
    const view = viewOf(req)!;
    (req as unknown as { session: View }).session = null;
    (req as unknown as { session: View }).session = view;
    view.count = 3;
    return {};
  }

  /** Whether the request got a session, without asking for one. */
  @Get(['probe', 'app/probe', 'application/probe'])
  probe(@Req() req: AnyRequest) {
    return { session: typeof viewOf(req) };
  }

  @Get(['app/read', 'admin/read'])
  readUnder(@Session() session: SessionHandle) {
    return { id: session.id ?? null };
  }
}

const running: Array<{ close(): Promise<unknown> }> = [];

afterEach(async () => {
  vi.restoreAllMocks();
  for (const item of running.splice(0).reverse()) await item.close();
});

async function startOn(
  adapter: AdapterName,
  options: Partial<SessionModuleOptions>,
  configure?: (app: INestApplication) => void,
): Promise<{ client: (jar?: Map<string, string>) => TestClient }> {
  @Module({ imports: [SessionModule.forRoot({ secret: SECRET, ...options })], controllers: [OptionsController] })
  class OptionsApp {}
  const app = await createApp(OptionsApp, adapter, { abortOnError: false });
  configure?.(app);
  await app.listen(0, '127.0.0.1');
  running.push(app);
  const url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  return { client: (jar) => new TestClient(url, jar) };
}

/** A memory store whose calls are counted, closed after the test. */
function countingStore(): CountingStore {
  const inner = new MemoryStore({ gcInterval: 0 });
  running.push(inner);
  return new CountingStore(inner);
}

/** The ID inside our signed token (`<id>.<signature>`). */
function idOf(token: string | undefined): string | undefined {
  return token === undefined ? undefined : token.slice(0, token.lastIndexOf('.'));
}

/** `Expires` of a Set-Cookie line, in epoch ms. */
function expiresOf(line: string | undefined): number {
  const match = /; Expires=([^;]+)/.exec(line ?? '');
  expect(match).not.toBeNull();
  return Date.parse(match![1]);
}

describe.each(ADAPTERS)('engine options on %s', (adapter) => {
  const start = (options: Partial<SessionModuleOptions>) => startOn(adapter, options);

  describe('eagerSessions', () => {
    it('stores an empty session and sets its cookie on the first response, then reads it back', async () => {
      const store = countingStore();
      const { client } = await start({ store, eagerSessions: true });
      const browser = client();
      const first = await browser.get('/read');
      expect(first.cookie('sid')).toBeDefined();
      expect(store.count('set')).toBe(1);
      const id = idOf(browser.jar.get('sid'))!;
      expect(await store.inner.get(id)).toMatchObject({ data: {} });

      store.reset();
      const second = await browser.get('/read');
      expect(second.json()).toEqual({ id, data: {} });
      expect(second.cookie('sid')).toBeUndefined();
      expect(store.calls).toEqual(['get']);
    });

    it('replaces a stale cookie with a new session', async () => {
      const { client } = await start({ eagerSessions: true });
      const browser = client();
      await browser.get('/read');
      const staleJar = new Map(browser.jar);
      const other = await start({ eagerSessions: true });
      const response = await other.client(staleJar).get('/read');
      expect(response.cookie('sid')).toBeDefined();
      expect(idOf(staleJar.get('sid'))).not.toBe(idOf(browser.jar.get('sid')));
    });

    it('does not start again a session the request destroyed', async () => {
      const store = countingStore();
      const { client } = await start({ store, eagerSessions: true });
      const response = await client().post('/destroy');
      expect(response.setCookies).toEqual([]);
      expect(store.count('set')).toBe(0);
    });

    it('is off by default: a visitor costs no cookie and no store call until something is stored', async () => {
      const store = countingStore();
      const { client } = await start({ store });
      const response = await client().get('/read');
      expect(response.setCookies).toEqual([]);
      expect(store.calls).toEqual([]);
    });
  });

  describe('rolling', () => {
    it('re-sends the cookie of a stored session on every response, expiring at the idle deadline', async () => {
      const { client } = await start({ rolling: true, idleTimeout: '1h', absoluteTimeout: '7d' });
      const browser = client();
      await browser.post('/set', { a: 1 });
      const token = browser.jar.get('sid');
      for (let i = 0; i < 2; i++) {
        const before = Date.now();
        const response = await browser.get('/read');
        const line = response.cookie('sid');
        expect(line).toBeDefined();
        expect(browser.jar.get('sid')).toBe(token);
        const expires = expiresOf(line);
        // Expires has whole seconds.
        expect(expires).toBeGreaterThanOrEqual(before + 3_600_000 - 1000);
        expect(expires).toBeLessThanOrEqual(Date.now() + 3_600_000);
      }
    });

    it('sends no cookie to a visitor without a session', async () => {
      const { client } = await start({ rolling: true });
      expect((await client().get('/read')).setCookies).toEqual([]);
    });

    it('is off by default: the cookie goes out when the ID changes, and expires at the absolute deadline', async () => {
      const { client } = await start({ idleTimeout: '1h', absoluteTimeout: '7d' });
      const browser = client();
      const created = await browser.post('/set', { a: 1 });
      expect(expiresOf(created.cookie('sid'))).toBeGreaterThan(Date.now() + 6 * DAY);
      expect((await browser.get('/read')).setCookies).toEqual([]);
    });
  });

  describe("unset: 'keep'", () => {
    it('keeps the stored session as it was when req.session is set to null, dropping the change and sending no cookie', async () => {
      const store = countingStore();
      const { client } = await start({ store, unset: 'keep' });
      const browser = client();
      await browser.post('/set', { count: 1 });
      const id = idOf(browser.jar.get('sid'))!;
      store.reset();

      const dropped = await browser.post('/drop');
      expect(dropped.json()).toEqual({ after: null });
      expect(dropped.setCookies).toEqual([]);
      expect(store.calls).toEqual(['get']);
      expect((await browser.get('/read')).json()).toEqual({ id, data: { count: 1 } });
    });

    it('counts the session again when the view is assigned back', async () => {
      const { client } = await start({ unset: 'keep' });
      const browser = client();
      await browser.post('/set', { count: 1 });
      await browser.post('/drop-and-restore');
      expect((await browser.get('/read')).json()).toMatchObject({ data: { count: 3 } });
    });

    it("is 'destroy' by default: req.session = null destroys the session", async () => {
      const store = countingStore();
      const { client } = await start({ store });
      const browser = client();
      await browser.post('/set', { count: 1 });
      const id = idOf(browser.jar.get('sid'))!;
      const dropped = await browser.post('/drop');
      expect(dropped.cookie('sid')).toMatch(/^sid=; Max-Age=0/);
      expect(await store.inner.get(id)).toBeNull();
    });
  });

  describe('generateId', () => {
    it('names new and regenerated sessions with the IDs it returns', async () => {
      const made: string[] = [];
      const store = countingStore();
      const { client } = await start({
        store,
        generateId: (req) => {
          expect(req.url).toBeDefined();
          made.push(randomUUID());
          return made[made.length - 1];
        },
      });
      const browser = client();
      await browser.post('/set', { a: 1 });
      expect(idOf(browser.jar.get('sid'))).toBe(made[0]);
      expect(await store.inner.get(made[0])).not.toBeNull();
      const regenerated = await browser.post('/regenerate');
      expect(regenerated.json()).toEqual({ id: made[1] });
      expect(idOf(browser.jar.get('sid'))).toBe(made[1]);
      expect(await store.inner.get(made[0])).toBeNull();
    });

    it('refuses an ID of another shape: the request fails, nothing is stored, no cookie, onError names the option (not the value)', async () => {
      const errors: SessionError[] = [];
      const store = countingStore();
      const { client } = await start({ store, generateId: () => 'apple', onError: (error) => errors.push(error) });
      const response = await client().post('/set', { a: 1 });
      expect(response.status).toBe(500);
      expect(response.cookie('sid')).toBeUndefined();
      expect(store.count('set')).toBe(0);
      expect(errors).toHaveLength(1);
      expect(errors[0].code).toBe('SESSION_OPTIONS_INVALID');
      expect(errors[0].message).toContain('invalid option `generateId`: it returned a string of 5 characters, not a session ID');
      expect(errors[0].message).not.toContain('apple');
    });

    it('fails regenerate() with the same error', async () => {
      const { client } = await start({ generateId: () => 'too-short' });
      expect((await client().post('/regenerate')).status).toBe(500);
    });
  });

  describe('cookie.matchPath', () => {
    it('gives no session to a request outside the cookie path: no store read, no cookie, req.session undefined', async () => {
      const store = countingStore();
      const { client } = await start({ store, eagerSessions: true, cookie: { path: '/app', matchPath: true } });
      const browser = client();
      const inside = await browser.get('/app/probe');
      expect(inside.json()).toEqual({ session: 'object' });
      expect(inside.cookie('sid')).toMatch(/; Path=\/app;/);
      store.reset();

      // The browser would not send a /app cookie to these paths; a client that does gets nothing read.
      for (const path of ['/probe', '/application/probe']) {
        const outside = await browser.get(path);
        expect(outside.json()).toEqual({ session: 'undefined' });
        expect(outside.setCookies).toEqual([]);
      }
      expect(store.calls).toEqual([]);
      expect((await browser.get('/read')).status).toBe(500);
      expect((await browser.get('/app/read')).status).toBe(200);
    });

    it('is off by default: every request gets a session whatever the cookie path', async () => {
      const { client } = await start({ cookie: { path: '/app' } });
      expect((await client().get('/probe')).json()).toEqual({ session: 'object' });
    });
  });

  describe('cookie.withholdOverHttp', () => {
    it('does not set a Secure cookie over plain HTTP, saves the session and logs it once', async () => {
      const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
      const store = countingStore();
      const { client } = await start({ store, cookie: { withholdOverHttp: true } });
      for (let i = 0; i < 2; i++) {
        const response = await client().post('/set', { a: 1 });
        expect(response.status).toBe(200);
        expect(response.setCookies).toEqual([]);
      }
      expect(store.count('set')).toBe(2);
      const withheld = warn.mock.calls.filter(([message]) => String(message).includes('a Secure session cookie was not set'));
      expect(withheld).toHaveLength(1);
    });

    it('sets it on a request a trusted proxy says came over HTTPS', async () => {
      const { client } = await start({ trustProxy: true, cookie: { withholdOverHttp: true } });
      const response = await client().post('/set', { a: 1 }, { headers: { 'x-forwarded-proto': 'https' } });
      expect(response.cookie('sid')).toMatch(/; Secure; SameSite=Lax$/);
    });

    it('is off by default: the Secure cookie is set over plain HTTP (browsers keep it from localhost)', async () => {
      const { client } = await start({});
      expect((await client().post('/set', { a: 1 })).cookie('sid')).toMatch(/; Secure; SameSite=Lax$/);
    });
  });

  describe("cookie.sameSite: 'auto'", () => {
    it('is None (and Secure) on HTTPS and Lax over plain HTTP', async () => {
      const { client } = await start({ trustProxy: true, cookie: { secure: 'auto', sameSite: 'auto' } });
      const https = await client().post('/set', { a: 1 }, { headers: { 'x-forwarded-proto': 'https' } });
      expect(https.cookie('sid')).toMatch(/; HttpOnly; Secure; SameSite=None$/);
      const http = await client().post('/set', { a: 1 });
      expect(http.cookie('sid')).toMatch(/; HttpOnly; SameSite=Lax$/);
    });
  });

  describe('cookie.perRequest', () => {
    it('takes the attributes of each request from the function, over the module ones', async () => {
      const { client } = await start({
        cookie: {
          perRequest: (req) => (req.url?.startsWith('/admin') ? { path: '/admin', sameSite: 'strict', persistent: false } : {}),
        },
        eagerSessions: true,
      });
      const admin = await client().get('/admin/read');
      expect(admin.cookie('sid')).toMatch(/^sid=[^;]+; Path=\/admin; HttpOnly; Secure; SameSite=Strict$/);
      const other = await client().get('/read');
      expect(other.cookie('sid')).toMatch(/; Max-Age=\d+; Expires=[^;]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    });

    it('reports attributes it gets wrong and sends no cookie, without failing the response', async () => {
      const errors: SessionError[] = [];
      const { client } = await start({
        cookie: { perRequest: () => ({ sameSite: 'none', secure: false }) },
        onError: (error) => errors.push(error),
      });
      const response = await client().post('/set', { a: 1 });
      expect(response.status).toBe(200);
      expect(response.cookie('sid')).toBeUndefined();
      expect(errors.map((error) => error.message)).toEqual([
        "nest-sessions: invalid option `cookie.perRequest(req).sameSite`: 'none' needs a secure cookie, or browsers refuse it. Set cookie.secure to true or 'auto'.",
      ]);
    });
  });

  describe('allowShortSecrets', () => {
    it('runs with a short secret, warning at bootstrap', async () => {
      const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
      const { client } = await start({ secret: 'keyboard cat', allowShortSecrets: true });
      expect(warn.mock.calls.some(([message]) => String(message).includes('secret is shorter than 32 characters (12)'))).toBe(true);
      const browser = client();
      await browser.post('/set', { a: 1 });
      expect((await browser.get('/read')).json()).toMatchObject({ data: { a: 1 } });
    });

    it('is off by default: a short secret stops the app', async () => {
      await expect(start({ secret: 'keyboard cat' })).rejects.toThrow(
        'invalid option `secret`: must be a string of at least 32 characters',
      );
    });
  });

  describe('touchInterval: 0', () => {
    it('writes the expiry of an unchanged session on every response', async () => {
      const store = countingStore();
      const { client } = await start({ store, touchInterval: 0 });
      const browser = client();
      await browser.post('/set', { a: 1 });
      store.reset();
      await browser.get('/read');
      await browser.get('/read');
      expect(store.calls).toEqual(['get', 'touch', 'get', 'touch']);
    });

    it('is a minute by default: a second read within it writes nothing', async () => {
      const store = countingStore();
      const { client } = await start({ store });
      const browser = client();
      await browser.post('/set', { a: 1 });
      store.reset();
      await browser.get('/read');
      await browser.get('/read');
      expect(store.calls).toEqual(['get', 'get']);
    });
  });
});

// Express only: the option follows Express's own `trust proxy` setting (`app.set()`), which Fastify has not.
describe("trustProxy: 'express' on express", () => {
  const start = (options: Partial<SessionModuleOptions>, configure?: (app: NestExpressApplication) => void) =>
    startOn('express', options, (app) => configure?.(app as NestExpressApplication));

  it("follows Express's trust proxy setting (req.secure)", async () => {
    const trusting = await start({ trustProxy: 'express', cookie: { secure: 'auto' } }, (app) => app.set('trust proxy', true));
    const viaProxy = await trusting.client().post('/set', { a: 1 }, { headers: { 'x-forwarded-proto': 'https' } });
    expect(viaProxy.cookie('sid')).toContain('; Secure');

    const wary = await start({ trustProxy: 'express', cookie: { secure: 'auto' } });
    const ignored = await wary.client().post('/set', { a: 1 }, { headers: { 'x-forwarded-proto': 'https' } });
    expect(ignored.cookie('sid')).not.toContain('Secure');
  });
});
