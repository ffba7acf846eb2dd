import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuthSessionReader } from '../src/auth/auth-session.reader.js';
import { LoginFlow } from '../src/auth/login.flow.js';
import { MemoryStore, SessionIndex, type SessionHandle } from '../src/index.js';
import { inRequest as runInRequest, probe, ProbeController } from './support/auth-probe.js';
import { startAuthApp, type RunningAuthApp } from './support/auth-app.js';
import { OidcTestBrowser } from './support/oidc-browser.js';
import { startTestIdp, type TestIdp } from './support/oidc-provider.js';
import { freePort } from './support/ports.js';

/**
 * LoginFlow on its own, taken from a running app: begun and completed inside real requests (its
 * cookie travels in a real browser's jar), against a real oidc-provider.
 */

describe('LoginFlow', () => {
  let idp: TestIdp;
  let running: RunningAuthApp;
  let app: string;
  let flow: LoginFlow;
  const store = new MemoryStore();

  const inRequest = <T>(browser: OidcTestBrowser, work: (session: SessionHandle) => Promise<T>): Promise<T> =>
    runInRequest(app, browser, work);

  /** Begin a login through the unit, go through the provider's login, and stop before the callback. */
  async function atCallback(
    browser: OidcTestBrowser,
    login: string,
    request: Parameters<LoginFlow['beginLogin']>[1] = {},
  ): Promise<URLSearchParams> {
    probe.work = (session) => flow.beginLogin(session, request);
    const { callbackUrl } = await browser.login(`${app}/probe/begin`, { login, stopAtCallback: '/auth/callback' });
    return new URLSearchParams(callbackUrl!.search);
  }

  const sessionId = (browser: OidcTestBrowser) =>
    browser
      .cookies(app)
      .find((c) => c.name === 'sid')
      ?.value.split('.')[0];

  beforeAll(async () => {
    const port = await freePort();
    app = `http://127.0.0.1:${port}`;
    idp = await startTestIdp({
      clients: [
        {
          clientId: 'app',
          clientSecret: 'app-secret',
          redirectUris: [`${app}/auth/callback`],
          backchannelLogoutUri: `${app}/auth/backchannel-logout`,
        },
      ],
    });
    running = await startAuthApp({
      port,
      controllers: [ProbeController],
      session: { store },
      auth: {
        allowInsecureIssuers: true,
        defaultReturnTo: '/home',
        providers: {
          main: {
            issuer: idp.issuer,
            clientId: 'app',
            clientSecret: 'app-secret',
            redirectUri: `${app}/auth/callback`,
            scope: 'openid profile email',
          },
        },
      },
    });
    flow = running.app.get(LoginFlow);
  });
  afterAll(async () => {
    await running?.close();
    await idp?.close();
  });
  beforeEach(() => idp.resetCounts());

  it('begins with PKCE (S256), state and nonce, and keeps the login in its cookie, not in the session store', async () => {
    const browser = new OidcTestBrowser();
    const sessions = store.size;
    const url = new URL(await inRequest(browser, (session) => flow.beginLogin(session, { returnTo: '/orders' })));
    expect(url.origin).toBe(idp.issuer);
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      client_id: 'app',
      response_type: 'code',
      redirect_uri: `${app}/auth/callback`,
      scope: 'openid profile email',
      code_challenge_method: 'S256',
      code_challenge: expect.stringMatching(/^[\w-]{43}$/),
      state: expect.stringMatching(/.{16,}/),
      nonce: expect.stringMatching(/.{16,}/),
    });
    expect(browser.cookies(app).map((c) => c.name)).toEqual(['sid.login']);
    expect(store.size).toBe(sessions);
  });

  it('a begun login round-trips through the cookie: completed once, with a new session ID, stored and indexed; a second completion is refused', async () => {
    const browser = new OidcTestBrowser();
    await browser.get(`${app}/visit`);
    const visitorId = sessionId(browser);
    const query = await atCallback(browser, 'alice', { returnTo: '/orders' });

    const done = await inRequest(browser, (session) => flow.completeLogin(session, query));
    expect(done).toMatchObject({ provider: 'main', returnTo: '/orders', claims: { sub: 'alice', name: 'Alice Example' } });
    const loggedInId = sessionId(browser);
    expect(loggedInId).not.toBe(visitorId);
    const login = await inRequest(browser, async (session) => running.app.get(AuthSessionReader).getLogin(session, 'main'));
    expect(login).toMatchObject({ provider: 'main', claims: { sub: 'alice' }, sid: expect.any(String) });
    expect(await running.app.get(SessionIndex).find('oidc:main:sub:alice')).toContain(loggedInId);
    expect(running.events.login.at(-1)).toEqual({ provider: 'main', claims: done.claims, returnTo: '/orders' });

    const again = await inRequest(browser, (session) => flow.completeLogin(session, query)).catch((error: unknown) => error);
    expect(again).toMatchObject({ code: 'AUTH_CALLBACK_INVALID', message: expect.stringMatching(/already used state/) });
    expect(idp.counts.grants.authorization_code).toBe(1);
  });

  it('keeps logins begun in several tabs apart: each completes with its own state', async () => {
    const browser = new OidcTestBrowser();
    const first = await atCallback(browser, 'bob', { returnTo: '/first' });
    const second = await atCallback(browser, 'bob', { returnTo: '/second' });
    expect(first.get('state')).not.toBe(second.get('state'));
    expect(await inRequest(browser, (session) => flow.completeLogin(session, second))).toMatchObject({ returnTo: '/second' });
    expect(await inRequest(browser, (session) => flow.completeLogin(session, first))).toMatchObject({ returnTo: '/first' });
    expect(idp.counts.grants.authorization_code).toBe(2);
  });

  it('refuses a state this browser never began, before any code is exchanged', async () => {
    const query = await atCallback(new OidcTestBrowser(), 'carol');
    const stranger = new OidcTestBrowser();
    const refused = await inRequest(stranger, (session) => flow.completeLogin(session, query)).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'AUTH_CALLBACK_INVALID' });
    const stateless = await inRequest(stranger, (session) => flow.completeLogin(session, new URLSearchParams({ code: 'x' }))).catch(
      (error: unknown) => error,
    );
    expect(stateless).toMatchObject({ code: 'AUTH_CALLBACK_INVALID', message: expect.stringMatching(/no state/) });
    expect(idp.counts.grants.authorization_code).toBe(0);
  });

  it('a provider error in the callback is AUTH_LOGIN_FAILED, and uses up the state', async () => {
    const browser = new OidcTestBrowser();
    const state = new URL(await inRequest(browser, (session) => flow.beginLogin(session))).searchParams.get('state')!;
    const denied = new URLSearchParams({ state, error: 'access_denied' });
    const failed = await inRequest(browser, (session) => flow.completeLogin(session, denied)).catch((error: unknown) => error);
    expect(failed).toMatchObject({ code: 'AUTH_LOGIN_FAILED', message: expect.stringMatching(/access_denied/) });
    const replay = await inRequest(browser, (session) => flow.completeLogin(session, denied)).catch((error: unknown) => error);
    expect(replay).toMatchObject({ code: 'AUTH_CALLBACK_INVALID' });
  });

  it('a returnTo that leaves the site becomes defaultReturnTo; an unknown provider is refused', async () => {
    const browser = new OidcTestBrowser();
    const query = await atCallback(browser, 'dave', { returnTo: 'https://evil.example/steal' });
    expect(await inRequest(browser, (session) => flow.completeLogin(session, query))).toMatchObject({ returnTo: '/home' });
    const unknown = await inRequest(browser, (session) => flow.beginLogin(session, { provider: 'nope' })).catch((error: unknown) => error);
    expect(unknown).toMatchObject({ code: 'AUTH_UNKNOWN_PROVIDER' });
  });
});
