import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuthSessionReader } from '../src/auth/auth-session.reader.js';
import { TokenRefresher } from '../src/auth/token.refresher.js';
import type { StoredLogin } from '../src/auth/index.js';
import { CookieStore, SessionIndex, SessionLocks, type SessionHandle } from '../src/index.js';
import { inRequest as runInRequest, probe, ProbeController } from './support/auth-probe.js';
import { startAuthApp, type RunningAuthApp } from './support/auth-app.js';
import { OidcTestBrowser } from './support/oidc-browser.js';
import { startTestIdp, type TestIdp } from './support/oidc-provider.js';
import { freePort } from './support/ports.js';

/**
 * TokenRefresher on its own, taken from a running app: real sessions (loaded by the engine for real
 * HTTP requests), the real MemoryStore with its locks, and refreshes at a real oidc-provider.
 */

describe('TokenRefresher', () => {
  let idp: TestIdp;
  let running: RunningAuthApp;
  let app: string;
  let refresher: TokenRefresher;
  let reader: AuthSessionReader;

  const inRequest = <T>(browser: OidcTestBrowser, work: (session: SessionHandle) => Promise<T>): Promise<T> =>
    runInRequest(app, browser, work);

  async function loggedIn(login: string): Promise<OidcTestBrowser> {
    const browser = new OidcTestBrowser();
    const result = await browser.login(`${app}/auth/login?returnTo=%2Fwhoami`, { login });
    expect(JSON.parse(result.response.text).sub).toBe(login);
    return browser;
  }

  const storedLogin = (browser: OidcTestBrowser) => inRequest(browser, async (session) => reader.getLogin(session, 'main'));

  beforeAll(async () => {
    const port = await freePort();
    app = `http://127.0.0.1:${port}`;
    idp = await startTestIdp({ clients: [{ clientId: 'app', clientSecret: 'app-secret', redirectUris: [`${app}/auth/callback`] }] });
    running = await startAuthApp({
      port,
      controllers: [ProbeController],
      auth: {
        allowInsecureIssuers: true,
        // Tokens live longer than refreshBefore, so a fresh login is handed out as it is.
        refreshBefore: '10s',
        refreshLockTimeout: '500ms',
        providers: {
          main: {
            issuer: idp.issuer,
            clientId: 'app',
            clientSecret: 'app-secret',
            redirectUri: `${app}/auth/callback`,
            scope: 'openid profile offline_access',
          },
        },
      },
    });
    refresher = running.app.get(TokenRefresher);
    reader = running.app.get(AuthSessionReader);
  });
  afterAll(async () => {
    await running?.close();
    await idp?.close();
  });
  beforeEach(() => idp.resetCounts());

  it('hands out the stored login while its access token is fresh, without asking the provider', async () => {
    const browser = await loggedIn('ann');
    const { handedOut, stored } = await inRequest(browser, async (session) => ({
      handedOut: await refresher.getTokens(session),
      stored: reader.getLogin(session, 'main'),
    }));
    expect(handedOut).toEqual(stored);
    expect(refresher.isStale(handedOut)).toBe(false);
    expect(idp.counts.grants.refresh_token).toBe(0);
  });

  it('judges a token stale once it expires within refreshBefore', async () => {
    const login = (await storedLogin(await loggedIn('abe')))!;
    expect(refresher.isStale({ ...login, expiresAt: Date.now() + 9_000 })).toBe(true);
    expect(refresher.isStale({ ...login, expiresAt: Date.now() + 20_000 })).toBe(false);
    expect(refresher.isStale({ ...login, expiresAt: undefined })).toBe(false);
  });

  it('forceRefresh refreshes at the provider, saves the new tokens at once and reports the refresh', async () => {
    const browser = await loggedIn('amy');
    const before = (await storedLogin(browser))!;
    const fresh = await inRequest(browser, (session) => refresher.getTokens(session, 'main', { forceRefresh: true }));
    expect(fresh.accessToken).not.toBe(before.accessToken);
    expect(fresh.refreshToken).not.toBe(before.refreshToken);
    expect(fresh.claims.sub).toBe('amy');
    expect(idp.counts.grants.refresh_token).toBe(1);
    expect(running.events.refresh.at(-1)).toEqual({ provider: 'main', sub: 'amy', expiresAt: fresh.expiresAt });
    // The next request reads what the refresh saved.
    expect((await storedLogin(browser))!.accessToken).toBe(fresh.accessToken);
  });

  it('two concurrent refreshes of one session make one grant, and both get its tokens', async () => {
    const browser = await loggedIn('ada');
    const [one, two] = await inRequest(browser, async (session) => {
      const login = reader.getLogin(session, 'main')!;
      return Promise.all([refresher.refresh(session, 'main', login), refresher.refresh(session, 'main', login)]);
    });
    expect(one.accessToken).toBe(two.accessToken);
    expect(idp.counts.grants.refresh_token).toBe(1);
    // A second use of the rotated refresh token would have made the provider revoke the grant.
    expect(idp.counts.grantErrors).toEqual([]);
  });

  it('two requests of one session that refresh at the same moment make one grant', async () => {
    const browser = await loggedIn('ali');
    let arrived = 0;
    let release!: () => void;
    const bothLoaded = new Promise<void>((resolve) => (release = resolve));
    const results: StoredLogin[] = [];
    // Both requests have loaded the session (and its old tokens) before either refreshes.
    probe.work = async (session) => {
      if (++arrived === 2) release();
      await bothLoaded;
      results.push(await refresher.getTokens(session, 'main', { forceRefresh: true }));
    };
    const responses = await Promise.all([
      browser.request(`${app}/probe`, { method: 'POST' }),
      browser.request(`${app}/probe`, { method: 'POST' }),
    ]);
    expect(responses.map((r) => r.status)).toEqual([201, 201]);
    expect(results).toHaveLength(2);
    expect(results[0].accessToken).toBe(results[1].accessToken);
    expect(idp.counts.grants.refresh_token).toBe(1);
    expect(idp.counts.grantErrors).toEqual([]);
  });

  it('waits for a refresh another instance holds instead of refreshing too, and gives up after refreshLockTimeout', async () => {
    const browser = await loggedIn('amos');
    const sessionId = await inRequest(browser, async (session) => session.id!);
    // What another instance on the same store holds while it refreshes this session's tokens.
    const held = await running.app.get(SessionLocks).tryAcquire(`auth-refresh:${sessionId}:main`, 5_000);
    expect(held).not.toBeNull();
    try {
      const started = Date.now();
      const refused = await inRequest(browser, (session) => refresher.getTokens(session, 'main', { forceRefresh: true })).catch(
        (error: unknown) => error,
      );
      expect(refused).toMatchObject({
        code: 'AUTH_PROVIDER_UNAVAILABLE',
        message: expect.stringMatching(/another instance holds the refresh/),
      });
      expect(Date.now() - started).toBeGreaterThanOrEqual(450);
      expect(idp.counts.grants.refresh_token).toBe(0);
    } finally {
      await held!.release();
    }
  });

  it('a refresh the provider refuses ends the login: out of the session and the index, reported as refresh-failed', async () => {
    const browser = await loggedIn('arlo');
    const index = running.app.get(SessionIndex);
    expect(await index.find('oidc:main:sub:arlo')).toHaveLength(1);
    expect(await idp.revokeGrants('arlo')).toBeGreaterThan(0);
    const refused = await inRequest(browser, (session) => refresher.getTokens(session, 'main', { forceRefresh: true })).catch(
      (error: unknown) => error,
    );
    expect(refused).toMatchObject({ code: 'AUTH_LOGIN_REQUIRED' });
    expect(await storedLogin(browser)).toBeUndefined();
    expect(await index.find('oidc:main:sub:arlo')).toEqual([]);
    expect(running.events.logout.at(-1)).toEqual({ provider: 'main', sub: 'arlo', reason: 'refresh-failed' });
  });

  it('an expired login without a refresh token has ended; not logged in at all is a login required', async () => {
    const browser = await loggedIn('axel');
    const ended = await inRequest(browser, async (session) => {
      const login = reader.getLogin(session, 'main')!;
      session.set('auth:main', { ...login, refreshToken: undefined, expiresAt: Date.now() - 1_000 });
      return refresher.getTokens(session, 'main');
    }).catch((error: unknown) => error);
    expect(ended).toMatchObject({ code: 'AUTH_LOGIN_REQUIRED', message: expect.stringMatching(/has ended/) });
    const visitor = await inRequest(new OidcTestBrowser(), (session) => refresher.getTokens(session)).catch((error: unknown) => error);
    expect(visitor).toMatchObject({ code: 'AUTH_LOGIN_REQUIRED', message: expect.stringMatching(/needs a login/) });
    expect(idp.counts.grants.refresh_token).toBe(0);
  });
});

describe('TokenRefresher over a store without locks (client-side, allowCookieStore)', () => {
  let idp: TestIdp;
  let running: RunningAuthApp;
  let app: string;

  beforeAll(async () => {
    const port = await freePort();
    app = `http://127.0.0.1:${port}`;
    idp = await startTestIdp({ clients: [{ clientId: 'app', clientSecret: 'app-secret', redirectUris: [`${app}/auth/callback`] }] });
    running = await startAuthApp({
      port,
      controllers: [ProbeController],
      session: { store: new CookieStore() },
      auth: {
        allowInsecureIssuers: true,
        allowCookieStore: true,
        providers: {
          main: {
            issuer: idp.issuer,
            clientId: 'app',
            clientSecret: 'app-secret',
            redirectUri: `${app}/auth/callback`,
            scope: 'openid offline_access',
          },
        },
      },
    });
  });
  afterAll(async () => {
    await running?.close();
    await idp?.close();
  });

  it('concurrent refreshes of one session in this process still make one grant: they share one flight', async () => {
    const browser = new OidcTestBrowser();
    await browser.login(`${app}/auth/login?returnTo=%2Fwhoami`, { login: 'bea' });
    idp.resetCounts();
    const refresher = running.app.get(TokenRefresher);
    let tokens: string[] = [];
    probe.work = async (session) => {
      const login = running.app.get(AuthSessionReader).getLogin(session, 'main')!;
      const fresh = await Promise.all([refresher.refresh(session, 'main', login), refresher.refresh(session, 'main', login)]);
      tokens = fresh.map((f) => f.accessToken);
    };
    expect((await browser.request(`${app}/probe`, { method: 'POST' })).status).toBe(201);
    expect(tokens).toHaveLength(2);
    expect(tokens[0]).toBe(tokens[1]);
    expect(idp.counts.grants.refresh_token).toBe(1);
    expect(idp.counts.grantErrors).toEqual([]);
  });
});
