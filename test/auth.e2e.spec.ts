import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fingerprint, startAuthApp, startResourceServer, type ResourceServer, type RunningAuthApp } from './support/auth-app.js';
import { OidcTestBrowser } from './support/oidc-browser.js';
import { Injectable } from '@nestjs/common';
import { EventEmitterModule, OnEvent } from '@nestjs/event-emitter';
import { AUTH_EVENT_NAMES, type AuthLoginEvent, type AuthLogoutEvent } from '../src/auth/index.js';
import { SESSION_EVENT_NAMES, SessionIndex, type SessionDestroyedEvent } from '../src/index.js';
import { startTestIdp, type TestIdp } from './support/oidc-provider.js';
import { freePort } from './support/ports.js';
import { HOST_LIKE_RETURN_TOS, leavesOrigin } from './support/return-to-cases.js';
import { ADAPTERS } from './support/test-app.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const SECRET_MAIN = 'main-client-secret';
const SECRET_SECOND = 'second-client-secret';
/** Access tokens live 4 s and are refreshed 2 s before expiry: fresh for 2 s after each login or refresh. */
const ACCESS_TOKEN_TTL = 4;
const REFRESH_BEFORE = '2s';
const STALE_AFTER_MS = 2_200;

/** What reached @OnEvent() listeners: the auth module's events and the sessions' ends. */
@Injectable()
class EventLog {
  readonly seen: Array<[string, object]> = [];

  @OnEvent(AUTH_EVENT_NAMES.login)
  login(event: AuthLoginEvent) {
    this.seen.push(['auth.login', event]);
  }

  @OnEvent(AUTH_EVENT_NAMES.logout)
  logout(event: AuthLogoutEvent) {
    this.seen.push(['auth.logout', event]);
  }

  @OnEvent(SESSION_EVENT_NAMES.destroyed)
  destroyed(event: SessionDestroyedEvent) {
    this.seen.push(['session.destroyed', event]);
  }
}

describe.each(ADAPTERS)('AuthModule against a real OpenID provider (oidc-provider on loopback) on %s', (adapter) => {
  let idp: TestIdp;
  let idp2: TestIdp;
  let running: RunningAuthApp;
  let resource: ResourceServer;
  let app: string;

  beforeAll(async () => {
    const port = await freePort();
    app = `http://127.0.0.1:${port}`;
    const client = (clientId: string, clientSecret: string) => ({
      clientId,
      clientSecret,
      redirectUris: [`${app}/auth/callback`],
      postLogoutRedirectUris: [`${app}/auth/logout/continue`, `${app}/bye`],
      backchannelLogoutUri: `${app}/auth/backchannel-logout`,
    });
    [idp, idp2] = await Promise.all([
      startTestIdp({ clients: [client('app', SECRET_MAIN)], ttl: { accessToken: ACCESS_TOKEN_TTL } }),
      startTestIdp({ clients: [client('app2', SECRET_SECOND)], ttl: { accessToken: ACCESS_TOKEN_TTL } }),
    ]);
    resource = await startResourceServer();
    process.env.AUTH_TEST_RESOURCE_URL = resource.url;
    running = await startAuthApp({
      port,
      adapter,
      imports: [EventEmitterModule.forRoot()],
      providers: [EventLog],
      auth: {
        allowInsecureIssuers: true,
        refreshBefore: REFRESH_BEFORE,
        providers: {
          main: {
            issuer: idp.issuer,
            clientId: 'app',
            clientSecret: SECRET_MAIN,
            redirectUri: `${app}/auth/callback`,
            postLogoutRedirectUri: `${app}/auth/logout/continue`,
            scope: 'openid profile email groups offline_access',
          },
          second: {
            issuer: idp2.issuer,
            clientId: 'app2',
            clientSecret: SECRET_SECOND,
            redirectUri: `${app}/auth/callback`,
            postLogoutRedirectUri: `${app}/bye`,
            scope: 'openid profile email offline_access',
          },
        },
      },
    });
  });

  afterAll(async () => {
    await running?.close();
    await Promise.all([idp?.close(), idp2?.close(), resource?.close()]);
  });

  beforeEach(() => {
    idp.resetCounts();
    idp2.resetCounts();
  });

  const sid = (browser: OidcTestBrowser) => browser.cookies(app).find((c) => c.name === 'sid')?.value;
  const getJson = async (browser: OidcTestBrowser, path: string) => {
    const response = await browser.get(`${app}${path}`, { headers: { accept: 'application/json' } });
    return { status: response.status, body: response.text ? JSON.parse(response.text) : undefined, response };
  };
  async function loggedIn(login = 'alice', returnTo = '/whoami'): Promise<OidcTestBrowser> {
    const browser = new OidcTestBrowser();
    const result = await browser.login(`${app}/auth/login?returnTo=${encodeURIComponent(returnTo)}`, { login });
    expect(result.response.status).toBe(200);
    return browser;
  }

  it('logs in with PKCE, state and nonce, regenerates the session ID and keeps the tokens server-side', async () => {
    const browser = new OidcTestBrowser();
    // A session that existed before the login (a visitor who had something stored).
    expect((await browser.get(`${app}/visit`)).status).toBe(200);
    const start = await browser.get(`${app}/auth/login?returnTo=%2Fme`);
    expect(start.status).toBe(302);
    const authorize = new URL(start.location!);
    expect(authorize.origin).toBe(idp.issuer);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize.searchParams.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    expect(authorize.searchParams.get('state')).toBeTruthy();
    expect(authorize.searchParams.get('nonce')).toBeTruthy();
    const before = sid(browser);
    expect(before).toBeDefined();

    const result = await browser.login(start.location!);
    const final = result.response;
    expect(final.url).toBe(`${app}/me`);
    expect(final.status).toBe(200);
    const body = JSON.parse(final.text);
    expect(body.user).toMatchObject({ sub: 'alice', name: 'Alice Example', email: 'alice@example.test' });
    expect(body.email).toBe('alice@example.test');
    expect(body.user).not.toHaveProperty('nonce');
    expect(sid(browser)).not.toBe(before);
    expect(sid(browser)!.split('.')[0]).not.toBe(before!.split('.')[0]);
    // Nothing that looks like a JWT reached the browser: not in the page, not in a cookie.
    expect(final.text).not.toMatch(/eyJ[\w-]+\.eyJ/);
    for (const cookie of browser.cookies(app)) expect(cookie.value).not.toMatch(/eyJ/);
    expect(running.events.login.at(-1)).toMatchObject({ provider: 'main', claims: { sub: 'alice' }, returnTo: '/me' });
    expect(idp.counts.grants.authorization_code).toBe(1);
  });

  it('rejects a callback whose state does not match any login in flight', async () => {
    const browser = new OidcTestBrowser();
    const { callbackUrl } = await browser.login(`${app}/auth/login`, { stopAtCallback: '/auth/callback' });
    const forged = new URL(callbackUrl!);
    forged.searchParams.set('state', 'not-the-state');
    const response = await browser.get(forged, { headers: { accept: 'application/json' } });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).message).toMatch(/unknown or already used state/);
    expect(idp.counts.grants.authorization_code).toBe(0);
    expect((await getJson(browser, '/whoami')).body.sub).toBeNull();
  });

  it('rejects a replayed callback: the state is consumed before the code exchange', async () => {
    const browser = new OidcTestBrowser();
    const { callbackUrl } = await browser.login(`${app}/auth/login`, { stopAtCallback: '/auth/callback' });
    expect((await browser.get(callbackUrl!)).status).toBe(303);
    const replay = await browser.get(callbackUrl!);
    expect(replay.status).toBe(400);
    expect(idp.counts.grants.authorization_code).toBe(1);
    // Replayed from another browser (a stolen callback URL): no login there either.
    const thief = new OidcTestBrowser();
    expect((await thief.get(callbackUrl!)).status).toBe(400);
    expect((await getJson(thief, '/whoami')).body.sub).toBeNull();
  });

  it('rejects a code used twice (the provider refuses it)', async () => {
    const browser = new OidcTestBrowser();
    const first = await browser.login(`${app}/auth/login`, { stopAtCallback: '/auth/callback' });
    expect((await browser.get(first.callbackUrl!)).status).toBe(303);
    const second = await browser.login(`${app}/auth/login`, { stopAtCallback: '/auth/callback' });
    const reused = new URL(second.callbackUrl!);
    reused.searchParams.set('code', first.callbackUrl!.searchParams.get('code')!);
    const response = await browser.get(reused, { headers: { accept: 'application/json' } });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).message).toMatch(/invalid_grant/);
    expect(idp.counts.grantErrors.map((e) => e.error)).toContain('invalid_grant');
  });

  it.each([
    ['nonce', (c: Record<string, unknown>) => ({ ...c, nonce: 'someone-elses-nonce' }), /nonce/],
    ['audience', (c: Record<string, unknown>) => ({ ...c, aud: 'another-client' }), /aud/],
    ['issuer', (c: Record<string, unknown>) => ({ ...c, iss: 'https://evil.example' }), /iss/],
    [
      'expiry',
      (c: Record<string, unknown>) => ({ ...c, iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 }),
      /exp|timestamp/,
    ],
  ])('rejects an ID token with the wrong %s', async (_what, mutate, message) => {
    const browser = new OidcTestBrowser();
    const { callbackUrl } = await browser.login(`${app}/auth/login`, { stopAtCallback: '/auth/callback' });
    idp.tamperNextIdToken(mutate);
    const response = await browser.get(callbackUrl!, { headers: { accept: 'application/json' } });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).message).toMatch(message);
    expect((await getJson(browser, '/whoami')).body.sub).toBeNull();
  });

  it('keeps several logins in flight in different tabs apart', async () => {
    const browser = new OidcTestBrowser();
    const tab1 = await browser.login(`${app}/auth/login?returnTo=%2Ftab1`, { stopAtCallback: '/auth/callback' });
    const tab2 = await browser.login(`${app}/auth/login?returnTo=%2Ftab2`, { stopAtCallback: '/auth/callback' });
    const done1 = await browser.get(tab1.callbackUrl!);
    expect(done1.status).toBe(303);
    expect(done1.location).toBe(`${app}/tab1`);
    const done2 = await browser.get(tab2.callbackUrl!);
    expect(done2.status).toBe(303);
    expect(done2.location).toBe(`${app}/tab2`);
  });

  it.each([
    ['https://evil.example/x', '/'],
    ['//evil.example/x', '/'],
    ['/\\evil.example', '/'],
    ['javascript:alert(1)', '/'],
    ['http:evil.example', '/'],
    // Dot segments, plain or percent-encoded, that normalise into a protocol-relative URL.
    ['/.//evil.example', '/'],
    ['/%2e%2e//evil.example', '/'],
    ['/a/..//evil.example/x', '/'],
    ['/.%2E//evil.example', '/'],
    ['/./\\evil.example', '/'],
    ['/a/%2e%2e/%2fevil.example', '/'],
    ['/a/%2e%2e/b', '/b'],
    ['/account?tab=keys#top', '/account?tab=keys#top'],
  ])('sends returnTo=%s to %s after the login', async (returnTo, expected) => {
    const browser = new OidcTestBrowser();
    const { callbackUrl } = await browser.login(`${app}/auth/login?returnTo=${encodeURIComponent(returnTo)}`, {
      stopAtCallback: '/auth/callback',
    });
    const done = await browser.get(callbackUrl!);
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe(expected);
  });

  describe('returnTo: the whole class of dot segments and encoded separators, end to end', () => {
    // One browser, logged in at the provider once (consent given): each login below goes through
    // the provider silently and through the real /auth/callback, in a few milliseconds.
    const browser = new OidcTestBrowser();

    beforeAll(async () => {
      const first = await browser.login(`${app}/auth/login?returnTo=%2Fwhoami`, { login: 'rita' });
      expect(first.response.status).toBe(200);
    });

    it.each(HOST_LIKE_RETURN_TOS)('never redirects to another host after a login with returnTo=%s', async (returnTo) => {
      const { callbackUrl, sawLoginForm } = await browser.login(`${app}/auth/login?returnTo=${encodeURIComponent(returnTo)}`, {
        stopAtCallback: '/auth/callback',
      });
      expect(sawLoginForm).toBe(false);
      const done = await browser.get(callbackUrl!);
      expect(done.status).toBe(303);
      const location = done.headers.get('location');
      expect(location).toEqual(expect.any(String));
      expect(leavesOrigin(location!, app)).toBeUndefined();
      expect(running.events.login.at(-1)).toMatchObject({ provider: 'main', claims: { sub: 'rita' }, returnTo: location });
    });
  });

  it('redirects a browser without a login to the login route with returnTo, and answers API requests 401', async () => {
    const browser = new OidcTestBrowser();
    const page = await browser.get(`${app}/me?x=1`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/auth/login?returnTo=%2Fme%3Fx%3D1');
    const api = await browser.get(`${app}/me`, { headers: { accept: 'application/json' } });
    expect(api.status).toBe(401);
    expect(JSON.parse(api.text)).toMatchObject({ statusCode: 401 });
    const xhr = await browser.get(`${app}/me`, { headers: { 'x-requested-with': 'XMLHttpRequest' } });
    expect(xhr.status).toBe(401);
  });

  it('requires claims: 403 without them, 200 with them', async () => {
    const alice = await loggedIn('alice');
    expect((await getJson(alice, '/admin')).status).toBe(403);
    const bob = await loggedIn('bob');
    expect(await getJson(bob, '/admin')).toMatchObject({ status: 200, body: { admin: true } });
    expect((await getJson(new OidcTestBrowser(), '/admin')).status).toBe(401);
  });

  it('refreshes the access token shortly before it expires, with a rotated refresh token', async () => {
    const browser = await loggedIn();
    const first = (await getJson(browser, '/token')).body;
    expect((await getJson(browser, '/token')).body).toEqual(first);
    expect(idp.counts.grants.refresh_token).toBe(0);
    await sleep(STALE_AFTER_MS);
    const second = (await getJson(browser, '/token')).body;
    expect(second.at).not.toBe(first.at);
    expect(second.rt).not.toBe(first.rt);
    expect(idp.counts.grants.refresh_token).toBe(1);
    expect(running.events.refresh.at(-1)).toMatchObject({ provider: 'main', sub: 'alice' });
    // The refreshed tokens were saved: the next request uses them without another refresh.
    expect((await getJson(browser, '/token')).body).toEqual(second);
    expect(idp.counts.grants.refresh_token).toBe(1);
  });

  it('refreshes once for many parallel requests that find the token stale', async () => {
    const browser = await loggedIn();
    await sleep(STALE_AFTER_MS);
    const results = await Promise.all(Array.from({ length: 8 }, () => getJson(browser, '/token')));
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(new Set(results.map((r) => r.body.at)).size).toBe(1);
    expect(idp.counts.grants.refresh_token).toBe(1);
    expect(idp.counts.grantErrors).toEqual([]);
  });

  it('logs the provider out cleanly when the refresh is refused (invalid_grant)', async () => {
    const browser = await loggedIn('carol');
    expect(await idp.revokeGrants('carol')).toBeGreaterThan(0);
    await sleep(STALE_AFTER_MS);
    const refused = await getJson(browser, '/token');
    expect(refused.status).toBe(401);
    expect(refused.body.message).toMatch(/login with "main" has ended/);
    expect((await getJson(browser, '/whoami')).body).toMatchObject({ sub: null, providers: [] });
    expect(running.events.logout.at(-1)).toMatchObject({ provider: 'main', sub: 'carol', reason: 'refresh-failed' });
  });

  it('calls APIs with the access token, refreshing and retrying once when the API says 401', async () => {
    const browser = await loggedIn();
    const token = (await getJson(browser, '/token')).body.at;
    resource.authorizations.length = 0;
    const ok = await browser.request(`${app}/call-api`, { method: 'POST', headers: { accept: 'application/json' } });
    expect(JSON.parse(ok.text)).toEqual({ status: 200, body: 'resource' });
    expect(resource.authorizations.map((h) => fingerprint(h.replace(/^Bearer /, '')))).toEqual([token]);
    resource.refuseNext(1);
    const retried = await browser.request(`${app}/call-api`, { method: 'POST', headers: { accept: 'application/json' } });
    expect(JSON.parse(retried.text)).toEqual({ status: 200, body: 'resource' });
    expect(idp.counts.grants.refresh_token).toBe(1);
    const [, refused, retry] = resource.authorizations.map((h) => fingerprint(h.replace(/^Bearer /, '')));
    expect(refused).toBe(token);
    expect(retry).not.toBe(token);
  });

  it('logs out: destroys the session and sends the browser to the provider with id_token_hint (RP-initiated logout)', async () => {
    const browser = await loggedIn();
    const confirm = await browser.get(`${app}/auth/logout`);
    expect(confirm.text).toContain('method="post"');
    const response = await browser.postForm(`${app}/auth/logout`, {});
    expect(response.status).toBe(303);
    const endSession = new URL(response.location!);
    expect(endSession.origin).toBe(idp.issuer);
    expect(endSession.searchParams.get('id_token_hint')).toMatch(/^eyJ/);
    expect(endSession.searchParams.get('post_logout_redirect_uri')).toBe(`${app}/auth/logout/continue`);
    expect((await getJson(browser, '/whoami')).body.sub).toBeNull();
    expect(running.events.logout.at(-1)).toMatchObject({ provider: 'main', reason: 'user', sub: 'alice' });
    // The same events reach @OnEvent() listeners, with the session's end.
    const log = running.app.get(EventLog).seen;
    expect(log.filter(([name]) => name === 'auth.login').at(-1)).toEqual(['auth.login', running.events.login.at(-1)]);
    expect(log.filter(([name]) => name === 'auth.logout').at(-1)).toEqual(['auth.logout', running.events.logout.at(-1)]);
    expect(log.filter(([name]) => name === 'session.destroyed').at(-1)).toMatchObject(['session.destroyed', { reason: 'logout' }]);
    const done = await browser.confirmLogoutAtProvider(endSession, { stopAt: (url) => url.origin === app && url.pathname === '/' });
    expect(done.visited).toContain(`${app}/auth/logout/continue`);
    // Logged out at the provider too: the next login shows its login form again.
    const again = await browser.login(`${app}/auth/login`);
    expect(again.sawLoginForm).toBe(true);
  });

  it('indexes a login by sub and sid for back-channel logout, and a logout removes it', async () => {
    const index = running.app.get(SessionIndex);
    const browser = await loggedIn('ivan');
    const [linked] = await index.find('oidc:main:sub:ivan');
    expect(linked).toBe(sid(browser)!.split('.')[0]);
    expect(await index.find('oidc:main:sub:ivan')).toHaveLength(1);
    await browser.postForm(`${app}/auth/logout`, {});
    expect(await index.find('oidc:main:sub:ivan')).toEqual([]);
  });

  it('logs in with a second provider at the same time and logs out of both in a chain', async () => {
    const browser = await loggedIn('alice');
    await browser.login(`${app}/auth/login?provider=second&returnTo=%2Fwhoami`, { login: 'dave' });
    const who = await getJson(browser, '/whoami');
    expect(who.body).toEqual({ sub: 'alice', second: 'dave', providers: expect.arrayContaining(['main', 'second']) });
    expect(idp2.counts.grants.authorization_code).toBe(1);
    const logout = await browser.postForm(`${app}/auth/logout`, {});
    const first = new URL(logout.location!);
    const chain = await browser.confirmLogoutAtProvider(first, { stopAt: (url) => url.origin === idp2.issuer });
    expect(chain.visited).toContain(`${app}/auth/logout/continue`);
    const second = chain.stoppedAt!;
    expect(second.origin).toBe(idp2.issuer);
    expect(second.searchParams.get('post_logout_redirect_uri')).toBe(`${app}/bye`);
    expect((await getJson(browser, '/whoami')).body).toMatchObject({ sub: null, second: null });
  });

  it('answers 400 for an unknown provider', async () => {
    const response = await new OidcTestBrowser().get(`${app}/auth/login?provider=nope`, { headers: { accept: 'application/json' } });
    expect(response.status).toBe(400);
  });

  describe('back-channel logout', () => {
    const logoutToken = async (
      claims: Record<string, unknown>,
      key: 'provider' | 'foreign' = 'provider',
      header: Record<string, unknown> = { typ: 'logout+jwt' },
    ) =>
      idp.signJwt(
        {
          iss: idp.issuer,
          aud: 'app',
          iat: Math.floor(Date.now() / 1000),
          jti: crypto.randomUUID(),
          events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
          ...claims,
        },
        { key, header },
      );
    const post = (token: string | undefined) =>
      fetch(`${app}/auth/backchannel-logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: token === undefined ? '' : new URLSearchParams({ logout_token: token }),
      });

    it('the provider logging the user out (its own logout page) destroys the session at once', async () => {
      const browser = await loggedIn('erin');
      const op = new URL(`${idp.issuer}/session/end`);
      await browser.confirmLogoutAtProvider(op);
      await expect.poll(() => idp.counts.backchannel.success, { timeout: 5000 }).toBe(1);
      expect(idp.counts.backchannel.errors).toEqual([]);
      expect((await getJson(browser, '/whoami')).body.sub).toBeNull();
      expect(running.events.logout.at(-1)).toMatchObject({ provider: 'main', reason: 'backchannel', sessions: 1 });
      const ends = running.app.get(EventLog).seen.filter(([name]) => name === 'session.destroyed');
      expect(ends.at(-1)).toMatchObject(['session.destroyed', { reason: 'backchannel', req: undefined }]);
    });

    it('a valid token naming sub destroys every session of that user, and only those', async () => {
      const phone = await loggedIn('frank');
      const laptop = await loggedIn('frank');
      const other = await loggedIn('grace');
      const response = await post(await logoutToken({ sub: 'frank' }));
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect((await getJson(phone, '/whoami')).body.sub).toBeNull();
      expect((await getJson(laptop, '/whoami')).body.sub).toBeNull();
      expect((await getJson(other, '/whoami')).body.sub).toBe('grace');
    });

    it.each([
      ['no token', undefined],
      ['not a JWT', 'garbage'],
      ['a foreign signature', 'foreign'],
      ['no logout event', { events: undefined, sub: 'x' }],
      ['events: null', { events: null, sub: 'x' }],
      ['events as an array', { events: ['http://schemas.openid.net/event/backchannel-logout'], sub: 'x' }],
      ['a null back-channel event', { events: { 'http://schemas.openid.net/event/backchannel-logout': null }, sub: 'x' }],
      ['a string back-channel event', { events: { 'http://schemas.openid.net/event/backchannel-logout': 'yes' }, sub: 'x' }],
      ['typ: JWT', { sub: 'x' }, { typ: 'JWT' }],
      ['typ: at+jwt', { sub: 'x' }, { typ: 'at+jwt' }],
      ['a nonce', { nonce: 'n', sub: 'x' }],
      ['neither sid nor sub', {}],
      ['another audience', { aud: 'someone-else', sub: 'x' }],
      ['no iat', { iat: undefined, sub: 'x' }],
    ])('answers 400 for a token with %s and destroys nothing', async (_what, spec, header?: Record<string, unknown>) => {
      const browser = await loggedIn('heidi');
      let token: string | undefined;
      if (spec === undefined || typeof spec === 'string')
        token = spec === 'foreign' ? await logoutToken({ sub: 'heidi' }, 'foreign') : spec;
      else token = await logoutToken({ ...spec, ...('sub' in spec ? { sub: 'heidi' } : {}) }, 'provider', header);
      const response = await post(token);
      expect(response.status).toBe(400);
      const body = (await response.json()) as { message: string };
      expect(body.message).toMatch(/logout token|logout_token/);
      expect((await getJson(browser, '/whoami')).body.sub).toBe('heidi');
    });

    it.each([
      ['no typ header', { typ: undefined }],
      ['typ: application/logout+jwt', { typ: 'application/logout+jwt' }],
      ['typ: Logout+JWT', { typ: 'Logout+JWT' }],
    ])('accepts a logout token with %s', async (_what, header) => {
      const browser = await loggedIn('judy');
      expect((await post(await logoutToken({ sub: 'judy' }, 'provider', header))).status).toBe(200);
      expect((await getJson(browser, '/whoami')).body.sub).toBeNull();
    });

    it('refuses a logout token used twice', async () => {
      const token = await logoutToken({ sub: 'nobody-in-particular' });
      expect((await post(token)).status).toBe(200);
      expect((await post(token)).status).toBe(400);
    });
  });
});
