import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuthSessionReader } from '../src/auth/auth-session.reader.js';
import { LogoutFlow } from '../src/auth/logout.flow.js';
import { SessionIndex, type SessionHandle } from '../src/index.js';
import { inRequest as runInRequest, ProbeController } from './support/auth-probe.js';
import { startAuthApp, type RunningAuthApp } from './support/auth-app.js';
import { OidcTestBrowser } from './support/oidc-browser.js';
import { startTestIdp, type TestIdp } from './support/oidc-provider.js';
import { freePort } from './support/ports.js';

/**
 * LogoutFlow on its own, taken from a running app with two real oidc-providers: logouts run inside
 * real requests of browsers that logged in for real.
 */

describe('LogoutFlow', () => {
  let idp: TestIdp;
  let idp2: TestIdp;
  let running: RunningAuthApp;
  let app: string;
  let flow: LogoutFlow;
  let reader: AuthSessionReader;
  let index: SessionIndex;

  const inRequest = <T>(browser: OidcTestBrowser, work: (session: SessionHandle) => Promise<T>): Promise<T> =>
    runInRequest(app, browser, work);

  /** A browser logged in as `login` with each of `providers`, in that order. */
  async function loggedIn(login: string, providers: string[]): Promise<OidcTestBrowser> {
    const browser = new OidcTestBrowser();
    for (const provider of providers) {
      const result = await browser.login(`${app}/auth/login?provider=${provider}&returnTo=%2Fwhoami`, { login });
      expect(result.response.status).toBe(200);
    }
    return browser;
  }

  const providersOf = (browser: OidcTestBrowser) => inRequest(browser, async (session) => reader.loggedInProviders(session));
  const sessionId = (browser: OidcTestBrowser) =>
    browser
      .cookies(app)
      .find((c) => c.name === 'sid')
      ?.value.split('.')[0];

  beforeAll(async () => {
    const port = await freePort();
    app = `http://127.0.0.1:${port}`;
    const client = (clientId: string) => ({
      clientId,
      clientSecret: `${clientId}-secret`,
      redirectUris: [`${app}/auth/callback`],
      postLogoutRedirectUris: [`${app}/auth/logout/continue`],
      backchannelLogoutUri: `${app}/auth/backchannel-logout`,
    });
    [idp, idp2] = await Promise.all([startTestIdp({ clients: [client('app')] }), startTestIdp({ clients: [client('app2')] })]);
    const provider = (issuer: string, clientId: string) => ({
      issuer,
      clientId,
      clientSecret: `${clientId}-secret`,
      redirectUri: `${app}/auth/callback`,
      postLogoutRedirectUri: `${app}/auth/logout/continue`,
      scope: 'openid profile',
    });
    running = await startAuthApp({
      port,
      controllers: [ProbeController],
      auth: {
        allowInsecureIssuers: true,
        postLogoutRedirect: '/bye',
        providers: { main: provider(idp.issuer, 'app'), second: provider(idp2.issuer, 'app2') },
      },
    });
    flow = running.app.get(LogoutFlow);
    reader = running.app.get(AuthSessionReader);
    index = running.app.get(SessionIndex);
  });
  afterAll(async () => {
    await running?.close();
    await Promise.all([idp?.close(), idp2?.close()]);
  });
  beforeEach(() => {
    running.events.logout.length = 0;
  });

  it('logs out of every provider: the session is destroyed, both logins unindexed and reported, and the end-session URLs chained', async () => {
    const browser = await loggedIn('alice', ['main', 'second']);
    const loggedInId = sessionId(browser);
    const idTokens = await inRequest(browser, async (session) => reader.logins(session).map((login) => login.idToken));
    expect(idTokens).toHaveLength(2);

    const first = new URL(await inRequest(browser, (session) => flow.logout(session)));
    const next = new URL(await inRequest(browser, (session) => flow.continueLogout(session)));
    const last = await inRequest(browser, (session) => flow.continueLogout(session));

    const urls = [first, next];
    expect(urls.map((url) => url.origin).sort()).toEqual([idp.issuer, idp2.issuer].sort());
    for (const url of urls) {
      expect(url.pathname).toBe('/session/end');
      expect(idTokens).toContain(url.searchParams.get('id_token_hint'));
      expect(url.searchParams.get('post_logout_redirect_uri')).toBe(`${app}/auth/logout/continue`);
    }
    expect(last).toBe('/bye');
    expect(sessionId(browser)).not.toBe(loggedInId);
    expect(await providersOf(browser)).toEqual([]);
    expect(await index.find('oidc:main:sub:alice')).toEqual([]);
    expect(await index.find('oidc:second:sub:alice')).toEqual([]);
    expect(running.events.logout.map((event) => [event.provider, event.reason, event.sub]).sort()).toEqual([
      ['main', 'user', 'alice'],
      ['second', 'user', 'alice'],
    ]);
  });

  it('logs out of one provider only: the other login and the session stay', async () => {
    const browser = await loggedIn('bob', ['main', 'second']);
    const id = sessionId(browser);
    const target = new URL(await inRequest(browser, (session) => flow.logout(session, { provider: 'second' })));
    expect(target.origin).toBe(idp2.issuer);
    expect(await providersOf(browser)).toEqual(['main']);
    expect(sessionId(browser)).toBe(id);
    expect(await index.find('oidc:main:sub:bob')).toEqual([id]);
    expect(await index.find('oidc:second:sub:bob')).toEqual([]);
    expect(await inRequest(browser, (session) => flow.continueLogout(session))).toBe('/bye');
    expect(running.events.logout).toEqual([{ provider: 'second', sub: 'bob', reason: 'user' }]);
  });

  it('refuses an unknown provider before anything ends', async () => {
    const browser = await loggedIn('carol', ['main']);
    const refused = await inRequest(browser, (session) => flow.logout(session, { provider: 'nope' })).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'AUTH_UNKNOWN_PROVIDER' });
    expect(await providersOf(browser)).toEqual(['main']);
    expect(running.events.logout).toEqual([]);
  });

  it('without a login, logging out goes to postLogoutRedirect and reports nothing', async () => {
    const browser = new OidcTestBrowser();
    expect(await inRequest(browser, (session) => flow.logout(session))).toBe('/bye');
    expect(await inRequest(browser, (session) => flow.continueLogout(session))).toBe('/bye');
    expect(running.events.logout).toEqual([]);
  });
});
