import 'reflect-metadata';
import { Controller, Get, Res } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuthClaims } from '../src/auth/index.js';
import { CookieStore, MemoryStore, Session, SessionIndex, type SessionHandle } from '../src/index.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { startAuthApp, type AuthAppOptions, type RunningAuthApp } from './support/auth-app.js';
import { FaultyLockingStore } from './support/faulty-store.js';
import { OidcTestBrowser } from './support/oidc-browser.js';
import { startTestIdp, type TestIdp } from './support/oidc-provider.js';
import { freePort } from './support/ports.js';
import { SHARED_STORE_BACKENDS, type OpenBackend } from './support/shared-store-backends.js';
import { ADAPTERS } from './support/test-app.js';

/**
 * Regression tests of the outside review's auth findings (issue 10): each runs the real login
 * against oidc-provider on loopback, through real HTTP.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const BACKCHANNEL = 'http://schemas.openid.net/event/backchannel-logout';

interface Setup {
  idp: TestIdp;
  idp2: TestIdp;
  app: string;
  port: number;
}

/** Two providers with one client each, both redirecting to an app on `port`. */
async function providers(options: { accessToken?: number } = {}): Promise<Setup> {
  const port = await freePort();
  const app = `http://127.0.0.1:${port}`;
  const client = (clientId: string) => ({
    clientId,
    clientSecret: `${clientId}-secret`,
    redirectUris: [`${app}/auth/callback`],
    postLogoutRedirectUris: [`${app}/`],
    backchannelLogoutUri: `${app}/auth/backchannel-logout`,
  });
  const ttl = { accessToken: options.accessToken ?? 60 };
  const [idp, idp2] = await Promise.all([
    startTestIdp({ clients: [client('app')], ttl }),
    startTestIdp({ clients: [client('app2')], ttl }),
  ]);
  return { idp, idp2, app, port };
}

function authOptions(setup: Setup, extra: Partial<NonNullable<AuthAppOptions['auth']>> = {}): NonNullable<AuthAppOptions['auth']> {
  return {
    allowInsecureIssuers: true,
    providers: {
      main: {
        issuer: setup.idp.issuer,
        clientId: 'app',
        clientSecret: 'app-secret',
        redirectUri: `${setup.app}/auth/callback`,
        scope: 'openid profile email groups offline_access',
      },
      second: {
        issuer: setup.idp2.issuer,
        clientId: 'app2',
        clientSecret: 'app2-secret',
        redirectUri: `${setup.app}/auth/callback`,
        scope: 'openid profile email offline_access',
      },
    },
    ...extra,
  };
}

const logoutToken = (idp: TestIdp, claims: Record<string, unknown>, aud = 'app') =>
  idp.signJwt(
    {
      iss: idp.issuer,
      aud,
      iat: Math.floor(Date.now() / 1000),
      jti: randomBytes(12).toString('hex'),
      events: { [BACKCHANNEL]: {} },
      ...claims,
    },
    { key: 'provider', header: { typ: 'logout+jwt' } },
  );

const postLogoutToken = (app: string, token: string) =>
  fetch(`${app}/auth/backchannel-logout`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ logout_token: token }),
  });

async function whoami(browser: OidcTestBrowser, app: string): Promise<{ sub: string | null; second: string | null; providers: string[] }> {
  const response = await browser.get(`${app}/whoami`, { headers: { accept: 'application/json' } });
  expect(response.status).toBe(200);
  return JSON.parse(response.text);
}

async function loggedIn(app: string, login: string, provider = 'main'): Promise<OidcTestBrowser> {
  const browser = new OidcTestBrowser();
  const result = await browser.login(`${app}/auth/login?provider=${provider}&returnTo=%2Fwhoami`, { login });
  expect(result.response.status).toBe(200);
  return browser;
}

const sessionId = (browser: OidcTestBrowser, app: string) =>
  browser
    .cookies(app)
    .find((c) => c.name === 'sid')
    ?.value.split('.')[0];

describe.each(ADAPTERS)('on %s', (adapter) => {
  // On every store several processes can share (MemoryStore, Redis, PostgreSQL): the re-link on an ID
  // change goes through each store's own index records.
  for (const backend of SHARED_STORE_BACKENDS) {
    describe(`index entries follow the session when its ID changes (back-channel logout still finds it), on ${backend.name}`, () => {
      let setup: Setup;
      let running: RunningAuthApp;
      let opened: OpenBackend;

      beforeAll(async () => {
        setup = await providers();
        opened = await backend.open();
        running = await startAuthApp({
          adapter,
          port: setup.port,
          auth: authOptions(setup),
          session: { store: opened.store },
        });
      });
      afterAll(async () => {
        await running?.close();
        await opened?.cleanup();
        await Promise.all([setup?.idp.close(), setup?.idp2.close()]);
      });

      it('login with A, then with B (which regenerates): a back-channel logout from A ends A’s login in that session', async () => {
        const browser = await loggedIn(setup.app, 'alice');
        const idWithA = sessionId(browser, setup.app);
        await browser.login(`${setup.app}/auth/login?provider=second&returnTo=%2Fwhoami`, { login: 'dave' });
        const idWithBoth = sessionId(browser, setup.app);
        expect(idWithBoth).not.toBe(idWithA);
        const index = running.app.get(SessionIndex);
        expect(await index.find('oidc:main:sub:alice')).toEqual([idWithBoth]);
        expect(await opened.store.get(idWithA!)).toBeNull();
        expect(await opened.store.get(idWithBoth!)).not.toBeNull();
        expect(await whoami(browser, setup.app)).toMatchObject({ sub: 'alice', second: 'dave' });

        const response = await postLogoutToken(setup.app, await logoutToken(setup.idp, { sub: 'alice' }));
        expect(response.status).toBe(200);
        // A's login is over in that session (the whole session is destroyed, as for any back-channel logout).
        expect(await whoami(browser, setup.app)).toMatchObject({ sub: null });
        expect(await opened.store.get(idWithBoth!)).toBeNull();
        expect(running.events.logout.at(-1)).toMatchObject({ provider: 'main', reason: 'backchannel', sessions: 1 });
      });

      it('login, then the app regenerates the session: a back-channel logout by sid ends the login', async () => {
        const browser = await loggedIn(setup.app, 'bob');
        const before = sessionId(browser, setup.app);
        expect((await browser.request(`${setup.app}/regenerate`, { method: 'POST' })).status).toBe(201);
        const after = sessionId(browser, setup.app);
        expect(after).not.toBe(before);
        const index = running.app.get(SessionIndex);
        expect(await index.find('oidc:main:sub:bob')).toEqual([after]);
        // The provider's own logout page sends a logout token naming the sid.
        await browser.confirmLogoutAtProvider(new URL(`${setup.idp.issuer}/session/end`));
        await expect.poll(() => setup.idp.counts.backchannel.success, { timeout: 5000 }).toBeGreaterThanOrEqual(1);
        expect(await opened.store.get(after!)).toBeNull();
        expect(await whoami(browser, setup.app)).toMatchObject({ sub: null });
      });

      it('a route that returns the session returns no token: the module’s records are hidden like the flash', async () => {
        const browser = await loggedIn(setup.app, 'dora');
        const response = await browser.get(`${setup.app}/session-json`, { headers: { accept: 'application/json' } });
        expect(response.status).toBe(200);
        expect(response.text).not.toMatch(/eyJ[\w-]+\.eyJ/);
        expect(response.text).not.toContain('auth:');
        const keys = JSON.parse((await browser.get(`${setup.app}/flash-and-session`)).text).keys;
        expect(keys).not.toContain('auth:main');
        expect(await whoami(browser, setup.app)).toMatchObject({ sub: 'dora', providers: ['main'] });
      });

      it('a regenerated session is no longer listed under its old ID', async () => {
        const browser = await loggedIn(setup.app, 'carol');
        const before = sessionId(browser, setup.app)!;
        await browser.request(`${setup.app}/regenerate`, { method: 'POST' });
        const ids = await running.app.get(SessionIndex).find('oidc:main:sub:carol');
        expect(ids).not.toContain(before);
        expect(ids).toHaveLength(1);
      });
    });
  }

  describe('mapClaims applies on refresh too', () => {
    let setup: Setup;
    let running: RunningAuthApp;

    beforeAll(async () => {
      // Access tokens live 3 s and are refreshed 2 s before expiry.
      setup = await providers({ accessToken: 3 });
      running = await startAuthApp({
        adapter,
        port: setup.port,
        auth: authOptions(setup, {
          refreshBefore: '2s',
          // Narrow groups (no admin from the provider) and keep no e-mail address.
          mapClaims: (claims) => ({
            sub: claims.sub,
            name: claims.name,
            groups: ((claims.groups as string[] | undefined) ?? []).filter((g) => g !== 'admin'),
          }),
        }),
      });
    });
    afterAll(async () => {
      await running?.close();
      await Promise.all([setup?.idp.close(), setup?.idp2.close()]);
    });

    it('claims the app narrowed or removed do not come back after a refresh, and @RequireClaims still says no', async () => {
      const browser = await loggedIn(setup.app, 'bob');
      const me = async () => JSON.parse((await browser.get(`${setup.app}/me`, { headers: { accept: 'application/json' } })).text).user;
      expect(await me()).toEqual({ sub: 'bob', name: 'Bob', groups: ['staff'] });
      expect((await browser.get(`${setup.app}/admin`, { headers: { accept: 'application/json' } })).status).toBe(403);
      await sleep(1200);
      expect((await browser.get(`${setup.app}/token`, { headers: { accept: 'application/json' } })).status).toBe(200);
      expect(setup.idp.counts.grants.refresh_token).toBe(1);
      expect(await me()).toEqual({ sub: 'bob', name: 'Bob', groups: ['staff'] });
      expect((await browser.get(`${setup.app}/admin`, { headers: { accept: 'application/json' } })).status).toBe(403);
    });
  });

  // `sub` is how the index and back-channel logout find a login: a mapping that drops or rewrites it
  // must not move the login, neither at login nor at a refresh (mappedClaims pins it to the login's).
  describe.each([
    // The type requires sub; a JavaScript app, or one that casts, can still leave it out.
    ['drops sub', (claims: AuthClaims): AuthClaims => ({ name: claims.name }) as unknown as AuthClaims],
    ['changes sub', (claims: AuthClaims): AuthClaims => ({ sub: `mapped-${String(claims.sub)}`, name: claims.name })],
  ])('sub stays the login’s across a refresh when mapClaims %s', (_what, mapClaims) => {
    let setup: Setup;
    let running: RunningAuthApp;
    const seen: AuthClaims[] = [];

    beforeAll(async () => {
      // Access tokens live 3 s and are refreshed 2 s before expiry.
      setup = await providers({ accessToken: 3 });
      running = await startAuthApp({
        adapter,
        port: setup.port,
        auth: authOptions(setup, {
          refreshBefore: '2s',
          mapClaims: (claims) => {
            seen.push(claims);
            return mapClaims(claims);
          },
        }),
      });
    });
    afterAll(async () => {
      await running?.close();
      await Promise.all([setup?.idp.close(), setup?.idp2.close()]);
    });

    it('the user, the refresh event, the index and a back-channel logout by sub all still name the provider’s sub', async () => {
      const browser = await loggedIn(setup.app, 'bob');
      const me = async () => JSON.parse((await browser.get(`${setup.app}/me`, { headers: { accept: 'application/json' } })).text).user;
      const index = running.app.get(SessionIndex);
      const id = sessionId(browser, setup.app);
      expect(await me()).toEqual({ sub: 'bob', name: 'Bob' });
      expect(await index.find('oidc:main:sub:bob')).toEqual([id]);

      await sleep(1200);
      const calls = seen.length;
      expect((await browser.get(`${setup.app}/token`, { headers: { accept: 'application/json' } })).status).toBe(200);
      expect(setup.idp.counts.grants.refresh_token).toBe(1);
      // mapClaims ran on the refresh, and was given the provider's sub.
      expect(seen.length).toBe(calls + 1);
      expect(seen.at(-1)).toMatchObject({ sub: 'bob' });
      expect(running.events.refresh.at(-1)).toMatchObject({ provider: 'main', sub: 'bob' });
      expect(await me()).toEqual({ sub: 'bob', name: 'Bob' });
      expect(await whoami(browser, setup.app)).toMatchObject({ sub: 'bob' });
      expect(await index.find('oidc:main:sub:bob')).toEqual([sessionId(browser, setup.app)]);
      expect(await index.find('oidc:main:sub:mapped-bob')).toEqual([]);
      expect(await index.find('oidc:main:sub:undefined')).toEqual([]);

      // The provider logs bob out: the refreshed login is found by the sub it had at login.
      expect((await postLogoutToken(setup.app, await logoutToken(setup.idp, { sub: 'bob' }))).status).toBe(200);
      expect(running.events.logout.at(-1)).toMatchObject({ provider: 'main', sub: 'bob', reason: 'backchannel', sessions: 1 });
      expect(await whoami(browser, setup.app)).toMatchObject({ sub: null });
    });
  });

  describe('logout tokens: jti recorded only after the sessions are destroyed, and across instances', () => {
    let setup: Setup;
    let first: RunningAuthApp;
    let second: RunningAuthApp;
    let faulty: FaultyLockingStore;
    const prefix = `ns-jti-${process.pid}-${randomBytes(3).toString('hex')}:`;
    const stores: RedisStore[] = [];

    beforeAll(async () => {
      setup = await providers();
      const redis = (): RedisStore => {
        const store = new RedisStore({ host: '127.0.0.1', port: 6379, keyPrefix: prefix });
        stores.push(store);
        return store;
      };
      // FAULT INJECTION, named as such: a real Redis under a wrapper that can fail `destroy` on cue,
      // an outage at the one moment between reading the index and deleting the sessions.
      faulty = new FaultyLockingStore(redis());
      first = await startAuthApp({
        adapter,
        port: setup.port,
        auth: authOptions(setup),
        session: { store: faulty, storeTimeout: '2s' },
      });
      // A second instance on the same Redis (its own client), as behind a load balancer.
      second = await startAuthApp({
        adapter,
        port: await freePort(),
        auth: authOptions(setup),
        session: { store: redis() },
      });
    });
    afterAll(async () => {
      await Promise.all([first?.close(), second?.close()]);
      const cleaner = new Redis({ host: '127.0.0.1', port: 6379 });
      const keys = await cleaner.keys(`${prefix}*`);
      if (keys.length > 0) await cleaner.del(...keys);
      cleaner.disconnect();
      for (const store of stores) await store.close?.();
      await Promise.all([setup?.idp.close(), setup?.idp2.close()]);
    });
    afterEach(() => {
      faulty.failing.clear();
    });

    it('a delivery that failed on a store outage is not "already used": the provider’s retry logs the user out', async () => {
      const browser = await loggedIn(setup.app, 'erin');
      const token = await logoutToken(setup.idp, { sub: 'erin' });
      faulty.failing.add('destroy');
      const failed = await postLogoutToken(setup.app, token);
      expect(failed.status).toBe(503);
      expect(await whoami(browser, setup.app)).toMatchObject({ sub: 'erin' });
      faulty.failing.clear();
      const retried = await postLogoutToken(setup.app, token);
      expect(retried.status).toBe(200);
      expect(await whoami(browser, setup.app)).toMatchObject({ sub: null });
    });

    it('a token used at one instance is refused as a replay at another', async () => {
      const token = await logoutToken(setup.idp, { sub: 'nobody-here' });
      expect((await postLogoutToken(setup.app, token)).status).toBe(200);
      const replay = await postLogoutToken(second.url, token);
      expect(replay.status).toBe(400);
      expect(((await replay.json()) as { message: string }).message).toMatch(/already used/);
    });

    it('a replayed token cannot log out a user who logged in again after it was used', async () => {
      const token = await logoutToken(setup.idp, { sub: 'frank' });
      await loggedIn(setup.app, 'frank');
      expect((await postLogoutToken(second.url, token)).status).toBe(200);
      const again = await loggedIn(setup.app, 'frank');
      expect((await postLogoutToken(setup.app, token)).status).toBe(400);
      expect(await whoami(again, setup.app)).toMatchObject({ sub: 'frank' });
    });
  });

  describe('pending logins cost the session store nothing', () => {
    let setup: Setup;
    let running: RunningAuthApp;
    const store = new MemoryStore({ maxSessions: 20 });

    beforeAll(async () => {
      setup = await providers();
      running = await startAuthApp({
        adapter,
        port: setup.port,
        auth: authOptions(setup, { loginTimeout: '3s' }),
        session: { store },
      });
    });
    afterAll(async () => {
      await running?.close();
      await Promise.all([setup?.idp.close(), setup?.idp2.close()]);
    });

    it('a flood of anonymous login starts writes no session and evicts no logged-in user', async () => {
      const browser = await loggedIn(setup.app, 'grace');
      const stored = store.size;
      for (let i = 0; i < 200; i++) {
        const start = await fetch(`${setup.app}/auth/login`, { redirect: 'manual' });
        expect(start.status).toBe(302);
        const cookies = start.headers.getSetCookie();
        expect(cookies.some((c) => c.startsWith('sid='))).toBe(false);
      }
      expect(store.size).toBe(stored);
      expect(await whoami(browser, setup.app)).toMatchObject({ sub: 'grace' });
    });

    it('keeps the login in flight in a sealed, HttpOnly, SameSite=Lax cookie that names no secret', async () => {
      const start = await fetch(`${setup.app}/auth/login?returnTo=%2Fsecret-page`, { redirect: 'manual' });
      const cookie = start.headers.getSetCookie().find((c) => c.startsWith('sid.login='))!;
      expect(cookie).toMatch(/; HttpOnly/);
      expect(cookie).toMatch(/; SameSite=Lax/);
      const value = cookie.split(';')[0].slice('sid.login='.length);
      const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
      const decoded = Buffer.from(value, 'base64url').toString('latin1');
      expect(decoded).not.toContain(state);
      expect(decoded).not.toContain('secret-page');
    });

    it('refuses a callback that arrives after loginTimeout', async () => {
      const browser = new OidcTestBrowser();
      const { callbackUrl } = await browser.login(`${setup.app}/auth/login`, { login: 'heidi', stopAtCallback: '/auth/callback' });
      setup.idp.resetCounts();
      await sleep(3300);
      const late = await browser.get(callbackUrl!, { headers: { accept: 'application/json' } });
      expect(late.status).toBe(400);
      expect(setup.idp.counts.grants.authorization_code).toBe(0);
    });

    it('refuses a login-state cookie that was tampered with', async () => {
      const browser = new OidcTestBrowser();
      const { callbackUrl } = await browser.login(`${setup.app}/auth/login`, { login: 'ivan', stopAtCallback: '/auth/callback' });
      const sealed = browser.cookies(setup.app).find((c) => c.name === 'sid.login')!.value;
      const flipped = `${sealed.slice(0, 20)}${sealed[20] === 'A' ? 'B' : 'A'}${sealed.slice(21)}`;
      const response = await fetch(callbackUrl!, {
        redirect: 'manual',
        headers: { cookie: `sid.login=${flipped}`, accept: 'application/json' },
      });
      expect(response.status).toBe(400);
    });
  });

  describe('POST /auth/logout refuses cross-origin requests', () => {
    let setup: Setup;
    let running: RunningAuthApp;

    beforeAll(async () => {
      setup = await providers();
      running = await startAuthApp({
        adapter,
        port: setup.port,
        auth: authOptions(setup, { trustedOrigins: ['https://front.example.com'] }),
      });
    });
    afterAll(async () => {
      await running?.close();
      await Promise.all([setup?.idp.close(), setup?.idp2.close()]);
    });

    it.each([
      ['Origin of another site', { origin: 'https://evil.example' }],
      ['Origin of a sibling subdomain', { origin: 'http://sub.127.0.0.1.nip.example' }],
      ['Origin: null (a sandboxed frame)', { origin: 'null' }],
      ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }],
      ['Sec-Fetch-Site: same-site', { 'sec-fetch-site': 'same-site' }],
      ['Sec-Fetch-Site: cross-site with our own Origin', { 'sec-fetch-site': 'cross-site', origin: 'APP' }],
    ])('%s: 403, and the user stays logged in', async (_what, headers: Record<string, string>) => {
      const browser = await loggedIn(setup.app, 'judy');
      const sent = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v === 'APP' ? setup.app : v]));
      const response = await browser.postForm(`${setup.app}/auth/logout`, {}, { headers: { ...sent, accept: 'application/json' } });
      expect(response.status).toBe(403);
      expect(JSON.parse(response.text)).toMatchObject({ statusCode: 403, message: expect.stringMatching(/came from another site/) });
      expect(await whoami(browser, setup.app)).toMatchObject({ sub: 'judy' });
    });

    it.each([
      ['our own Origin', { origin: 'APP' }],
      ['Sec-Fetch-Site: same-origin', { 'sec-fetch-site': 'same-origin', origin: 'APP' }],
      ['a trusted origin', { origin: 'https://front.example.com', 'sec-fetch-site': 'cross-site' }],
      ['no Origin and no Sec-Fetch-Site (not a browser)', {}],
    ])('%s: logs out', async (_what, headers: Record<string, string>) => {
      const browser = await loggedIn(setup.app, 'kim');
      const sent = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v === 'APP' ? setup.app : v]));
      const response = await browser.postForm(`${setup.app}/auth/logout`, {}, { headers: sent });
      expect(response.status).toBe(303);
      expect(await whoami(browser, setup.app)).toMatchObject({ sub: null });
    });

    it('the back-channel logout route (server to server) is not subject to the check', async () => {
      const response = await fetch(`${setup.app}/auth/backchannel-logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://op.example' },
        body: new URLSearchParams({ logout_token: await logoutToken(setup.idp, { sub: 'nobody' }) }),
      });
      expect(response.status).toBe(200);
    });
  });

  // The provider posts the logout token as a form. Nest parses forms by default on both platforms;
  // without its parsers the route reads the form itself (Express), and AuthModule gives Fastify,
  // which refuses a media type it has no parser for (415), a text parser for forms.
  describe('back-channel logout in an app created with bodyParser: false', () => {
    let setup: Setup;
    let running: RunningAuthApp;
    const post = (body: string, contentType = 'application/x-www-form-urlencoded') =>
      fetch(`${setup.app}/auth/backchannel-logout`, { method: 'POST', headers: { 'content-type': contentType }, body });

    beforeAll(async () => {
      setup = await providers();
      running = await startAuthApp({ adapter, port: setup.port, auth: authOptions(setup), bodyParser: false });
    });
    afterAll(async () => {
      await running?.close();
      await Promise.all([setup?.idp.close(), setup?.idp2.close()]);
    });

    it('the provider logging the user out at its own logout page ends the session', async () => {
      const browser = await loggedIn(setup.app, 'alice');
      setup.idp.resetCounts();
      await browser.confirmLogoutAtProvider(new URL(`${setup.idp.issuer}/session/end`));
      await expect.poll(() => setup.idp.counts.backchannel.success, { timeout: 5000 }).toBe(1);
      expect(setup.idp.counts.backchannel.errors).toEqual([]);
      expect(await whoami(browser, setup.app)).toMatchObject({ sub: null });
    });

    it('a token posted with a charset parameter ends the session; the same token again is refused', async () => {
      const browser = await loggedIn(setup.app, 'bob');
      const form = new URLSearchParams({ logout_token: await logoutToken(setup.idp, { sub: 'bob' }) }).toString();
      const response = await post(form, 'application/x-www-form-urlencoded; charset=UTF-8');
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(await whoami(browser, setup.app)).toMatchObject({ sub: null });
      expect((await post(form)).status).toBe(400);
    });

    it.each([
      ['no logout_token field', async () => 'other=1'],
      ['an empty body', async () => ''],
      [
        'logout_token twice',
        async () =>
          `logout_token=${await logoutToken(setup.idp, { sub: 'carol' })}&logout_token=${await logoutToken(setup.idp, { sub: 'carol' })}`,
      ],
      ['a body over 64 KiB', async () => `logout_token=${await logoutToken(setup.idp, { sub: 'carol' })}&pad=${'x'.repeat(70_000)}`],
    ])('%s: 400, and the user stays logged in', async (_what, body) => {
      const browser = await loggedIn(setup.app, 'carol');
      expect((await post(await body())).status).toBe(400);
      expect(await whoami(browser, setup.app)).toMatchObject({ sub: 'carol' });
    });
  });

  // An app that turned Nest's parsers off and parses forms with a plugin of its own: AuthModule finds
  // that parser and leaves it in place (adding a second would fail Fastify's start-up).
  // Fastify's own plugins: registered only in the Fastify app, so these run there alone.
  if (adapter === 'fastify') {
    describe('back-channel logout with bodyParser: false and @fastify/formbody registered', () => {
      let setup: Setup;
      let running: RunningAuthApp;

      beforeAll(async () => {
        // @fastify/formbody: a dependency of @nestjs/platform-fastify, which registers it itself for
        // apps with bodyParser on (older Nest versions) and leaves it to the app otherwise.
        const { default: formbody } = await import('@fastify/formbody');
        setup = await providers();
        running = await startAuthApp({
          adapter,
          port: setup.port,
          auth: authOptions(setup),
          bodyParser: false,
          configure: async (app) => {
            await (app as NestFastifyApplication).register(formbody);
          },
        });
      });
      afterAll(async () => {
        await running?.close();
        await Promise.all([setup?.idp.close(), setup?.idp2.close()]);
      });

      it('starts, and a logout token posted as a form ends the session', async () => {
        const browser = await loggedIn(setup.app, 'dave');
        expect((await postLogoutToken(setup.app, await logoutToken(setup.idp, { sub: 'dave' }))).status).toBe(200);
        expect(await whoami(browser, setup.app)).toMatchObject({ sub: null });
      });
    });
  }

  // Fastify apps often register @fastify/cookie: its reply.setCookie() and the module's cookies (the
  // session's, the login state's) must all go out, once each.
  // Fastify's own plugins: registered only in the Fastify app, so these run there alone.
  if (adapter === 'fastify') {
    describe('with @fastify/cookie registered', () => {
      let setup: Setup;
      let running: RunningAuthApp;

      @Controller()
      class ThemeController {
        @Get('theme')
        theme(@Session() session: SessionHandle, @Res({ passthrough: true }) reply: object) {
          session.set('theme', 'dark');
          (reply as { setCookie(name: string, value: string, options: object): void }).setCookie('theme', 'dark', { path: '/' });
          return { theme: 'dark' };
        }
      }

      beforeAll(async () => {
        const { default: fastifyCookie } = await import('@fastify/cookie');
        setup = await providers();
        running = await startAuthApp({
          adapter,
          port: setup.port,
          auth: authOptions(setup),
          controllers: [ThemeController],
          configure: async (app) => {
            await (app as NestFastifyApplication).register(fastifyCookie);
          },
        });
      });
      afterAll(async () => {
        await running?.close();
        await Promise.all([setup?.idp.close(), setup?.idp2.close()]);
      });

      const names = (response: { headers: Headers }) =>
        response.headers
          .getSetCookie()
          .map((line) => line.split('=')[0])
          .sort();

      it('login: the callback sets the new session cookie and clears the login state, once each; logout and back-channel logout work', async () => {
        const start = await fetch(`${setup.app}/auth/login`, { redirect: 'manual' });
        expect(start.status).toBe(302);
        expect(names(start)).toEqual(['sid.login']);
        const browser = new OidcTestBrowser();
        const { callbackUrl } = await browser.login(`${setup.app}/auth/login?returnTo=%2Fwhoami`, {
          login: 'alice',
          stopAtCallback: '/auth/callback',
        });
        const callback = await browser.get(callbackUrl!);
        expect(callback.status).toBe(303);
        expect(callback.location).toBe(`${setup.app}/whoami`);
        expect(names(callback)).toEqual(['sid', 'sid.login']);
        expect(await whoami(browser, setup.app)).toMatchObject({ sub: 'alice' });

        const theme = await browser.get(`${setup.app}/theme`);
        expect(theme.status).toBe(200);
        expect(names(theme)).toEqual(['theme']);

        const logout = await browser.postForm(`${setup.app}/auth/logout`, {});
        expect(logout.status).toBe(303);
        expect(new URL(logout.location!).origin).toBe(setup.idp.issuer);
        expect(await whoami(browser, setup.app)).toMatchObject({ sub: null });

        const again = await loggedIn(setup.app, 'alice');
        expect((await postLogoutToken(setup.app, await logoutToken(setup.idp, { sub: 'alice' }))).status).toBe(200);
        expect(await whoami(again, setup.app)).toMatchObject({ sub: null });
      });
    });
  }

  describe('AuthModule over a client-side store', () => {
    let setup: Setup;
    beforeAll(async () => {
      setup = await providers();
    });
    afterAll(async () => {
      await Promise.all([setup?.idp.close(), setup?.idp2.close()]);
    });

    it('refuses to start over CookieStore, naming the option that accepts the trade-off', async () => {
      const started = startAuthApp({
        adapter,
        port: setup.port,
        auth: authOptions(setup),
        session: { store: new CookieStore() },
      });
      const error = await started.then(
        async (running) => {
          await running.close();
          return expect.unreachable('the app started');
        },
        (err: unknown) => err as { code: string; message: string },
      );
      expect(error.code).toBe('AUTH_OPTIONS_INVALID');
      expect(error.message).toMatch(/allowCookieStore/);
      expect(error.message).toMatch(/browser/);
    });

    it('starts with allowCookieStore: true, and a login works', async () => {
      const running = await startAuthApp({
        adapter,
        port: setup.port,
        auth: authOptions(setup, { allowCookieStore: true }),
        session: { store: new CookieStore() },
      });
      try {
        const browser = await loggedIn(setup.app, 'lena');
        expect(await whoami(browser, setup.app)).toMatchObject({ sub: 'lena' });
      } finally {
        await running.close();
      }
    });
  });

  // Over a store without locks the used jti are remembered per process (docs/openid-connect.md: "Over
  // `CookieStore` (with `allowCookieStore`) there is nothing to destroy and replay protection is per
  // process").
  describe('logout tokens over CookieStore (allowCookieStore: true): replays refused within one process', () => {
    let setup: Setup;
    let running: RunningAuthApp;

    beforeAll(async () => {
      setup = await providers();
      running = await startAuthApp({
        adapter,
        port: setup.port,
        auth: authOptions(setup, { allowCookieStore: true }),
        session: { store: new CookieStore() },
      });
      // A user logged in at the provider and here, as the provider's logout token will name.
      await loggedIn(setup.app, 'mia');
    });
    afterAll(async () => {
      await running?.close();
      await Promise.all([setup?.idp.close(), setup?.idp2.close()]);
    });

    // Regression: the handler called SessionIndex.destroy() over a client-side store, which throws
    // SESSION_NOT_SUPPORTED, so every delivery answered 500 and the jti was never remembered.
    it('a logout token used twice is refused within one process, and of parallel deliveries exactly one is taken', async () => {
      const token = await logoutToken(setup.idp, { sub: 'mia' });
      const first = await postLogoutToken(setup.app, token);
      expect(first.status).toBe(200);
      const replay = await postLogoutToken(setup.app, token);
      expect(replay.status).toBe(400);
      expect(((await replay.json()) as { message: string }).message).toMatch(/already used/);

      const another = await logoutToken(setup.idp, { sub: 'mia' });
      const statuses = await Promise.all(Array.from({ length: 5 }, async () => (await postLogoutToken(setup.app, another)).status));
      expect(statuses.sort()).toEqual([200, 400, 400, 400, 400]);
      expect(running.events.logout.filter((event) => event.reason === 'backchannel')).toHaveLength(2);
    });
  });
});
