import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthSessionReader } from '../src/auth/auth-session.reader.js';
import { type SessionHandle } from '../src/index.js';
import { inRequest as runInRequest, ProbeController } from './support/auth-probe.js';
import { startAuthApp, type RunningAuthApp } from './support/auth-app.js';
import { OidcTestBrowser } from './support/oidc-browser.js';
import { startTestIdp, type TestIdp } from './support/oidc-provider.js';
import { freePort } from './support/ports.js';

/**
 * AuthSessionReader on its own, taken from a running app: it reads real sessions, loaded by the
 * engine for real requests of browsers that logged in at two real oidc-providers.
 */

describe('AuthSessionReader', () => {
  let idp: TestIdp;
  let idp2: TestIdp;
  let running: RunningAuthApp;
  let app: string;
  let reader: AuthSessionReader;

  const inRequest = <T>(browser: OidcTestBrowser, work: (session: SessionHandle) => Promise<T>): Promise<T> =>
    runInRequest(app, browser, work);

  const login = async (browser: OidcTestBrowser, user: string, provider: string) => {
    const result = await browser.login(`${app}/auth/login?provider=${provider}&returnTo=%2Fwhoami`, { login: user });
    expect(result.response.status).toBe(200);
  };

  /** What the reader says of the session of `browser`, read inside a request. */
  const read = (browser: OidcTestBrowser) =>
    inRequest(browser, async (session) => ({
      providers: reader.loggedInProviders(session),
      picked: reader.providerOf(session),
      login: reader.getLogin(session),
      logins: reader.logins(session).map((l) => `${l.provider}:${l.claims.sub}`),
    }));

  beforeAll(async () => {
    const port = await freePort();
    app = `http://127.0.0.1:${port}`;
    const client = (clientId: string) => ({ clientId, clientSecret: `${clientId}-secret`, redirectUris: [`${app}/auth/callback`] });
    [idp, idp2] = await Promise.all([startTestIdp({ clients: [client('app')] }), startTestIdp({ clients: [client('app2')] })]);
    const provider = (issuer: string, clientId: string) => ({
      issuer,
      clientId,
      clientSecret: `${clientId}-secret`,
      redirectUri: `${app}/auth/callback`,
    });
    running = await startAuthApp({
      port,
      controllers: [ProbeController],
      auth: {
        allowInsecureIssuers: true,
        defaultProvider: 'main',
        providers: { second: provider(idp2.issuer, 'app2'), main: provider(idp.issuer, 'app') },
      },
    });
    reader = running.app.get(AuthSessionReader);
  });
  afterAll(async () => {
    await running?.close();
    await Promise.all([idp?.close(), idp2?.close()]);
  });

  it('a visitor holds no login', async () => {
    const visitor = new OidcTestBrowser();
    await visitor.get(`${app}/visit`);
    expect(await read(visitor)).toEqual({ providers: [], picked: undefined, login: undefined, logins: [] });
  });

  it('with no provider named, reads the default provider’s login when there is one, else the first logged in', async () => {
    const browser = new OidcTestBrowser();
    await login(browser, 'alice', 'second');
    expect(await read(browser)).toMatchObject({
      providers: ['second'],
      picked: 'second',
      login: { provider: 'second', claims: { sub: 'alice' } },
    });
    await login(browser, 'bob', 'main');
    const both = await read(browser);
    expect(both).toMatchObject({ picked: 'main', login: { provider: 'main', claims: { sub: 'bob' } } });
    expect([...both.providers].sort()).toEqual(['main', 'second']);
    expect([...both.logins].sort()).toEqual(['main:bob', 'second:alice']);
  });

  it('hands out the login as stored, tokens included', async () => {
    const browser = new OidcTestBrowser();
    await login(browser, 'carol', 'main');
    const { login: read1, stored } = await inRequest(browser, async (session) => ({
      login: reader.getLogin(session, 'main'),
      stored: session.get('auth:main'),
    }));
    expect(read1).toEqual(stored);
    expect(read1).toMatchObject({
      accessToken: expect.any(String),
      idToken: expect.any(String),
      refreshToken: expect.any(String),
      tokenType: expect.stringMatching(/bearer/i),
    });
  });

  it('counts only records of configured providers, and reads none without an access token as a login', async () => {
    const browser = new OidcTestBrowser();
    await login(browser, 'dave', 'main');
    const seen = await inRequest(browser, async (session) => {
      session.set('auth:ghost', { provider: 'ghost', accessToken: 'x', claims: { sub: 'ghost' } });
      session.set('auth:pending:abc', { provider: 'main' });
      session.set('auth:logout-chain', ['https://op.example/end']);
      session.set('auth:second', { provider: 'second' });
      return {
        providers: reader.loggedInProviders(session),
        second: reader.getLogin(session, 'second'),
        ghost: reader.getLogin(session, 'ghost'),
        logins: reader.logins(session).map((l) => l.provider),
      };
    });
    expect(seen.providers).toEqual(['main', 'second']);
    expect(seen.second).toBeUndefined();
    expect(seen.logins).toEqual(['main']);
    // Named explicitly, a record is read as stored; the listing above is what decides what counts.
    expect(seen.ghost).toMatchObject({ provider: 'ghost' });
  });
});
