import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AuthSessionReader } from '../src/auth/auth-session.reader.js';
import { LoginIndex } from '../src/auth/login-index.js';
import { generateSessionId, MemoryStore, SessionIndex, type SessionHandle } from '../src/index.js';
import { inRequest as runInRequest, ProbeController } from './support/auth-probe.js';
import { startAuthApp, type RunningAuthApp } from './support/auth-app.js';
import { FaultyLockingStore } from './support/faulty-store.js';
import { OidcTestBrowser } from './support/oidc-browser.js';
import { startTestIdp, type TestIdp } from './support/oidc-provider.js';
import { freePort } from './support/ports.js';

/**
 * LoginIndex on its own, taken from a running app: logins made for real at two oidc-providers, the
 * entries read back from the app's real SessionIndex.
 */

describe('LoginIndex', () => {
  let idp: TestIdp;
  let idp2: TestIdp;
  let running: RunningAuthApp;
  let app: string;
  let loginIndex: LoginIndex;
  let reader: AuthSessionReader;
  let index: SessionIndex;
  // FAULT INJECTION, named as such: the real MemoryStore under a wrapper that can fail writes on
  // cue, a store outage at the one moment an index entry is written, which a real store cannot be
  // made to produce.
  const faulty = new FaultyLockingStore(new MemoryStore());

  const inRequest = <T>(browser: OidcTestBrowser, work: (session: SessionHandle) => Promise<T>): Promise<T> =>
    runInRequest(app, browser, work);

  async function loggedIn(login: string, providers: string[] = ['main']): Promise<OidcTestBrowser> {
    const browser = new OidcTestBrowser();
    for (const provider of providers) {
      const result = await browser.login(`${app}/auth/login?provider=${provider}&returnTo=%2Fwhoami`, { login });
      expect(result.response.status).toBe(200);
    }
    return browser;
  }

  /** The session's ID and logins, read inside a request. */
  const current = (browser: OidcTestBrowser) =>
    inRequest(browser, async (session) => ({ id: session.id!, logins: reader.logins(session) }));

  beforeAll(async () => {
    const port = await freePort();
    app = `http://127.0.0.1:${port}`;
    // Clients registered for back-channel logout get `sid` in their ID tokens.
    const client = (clientId: string) => ({
      clientId,
      clientSecret: `${clientId}-secret`,
      redirectUris: [`${app}/auth/callback`],
      backchannelLogoutUri: `${app}/auth/backchannel-logout`,
    });
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
      session: { store: faulty },
      auth: { allowInsecureIssuers: true, providers: { main: provider(idp.issuer, 'app'), second: provider(idp2.issuer, 'app2') } },
    });
    loginIndex = running.app.get(LoginIndex);
    reader = running.app.get(AuthSessionReader);
    index = running.app.get(SessionIndex);
  });
  afterAll(async () => {
    await running?.close();
    await Promise.all([idp?.close(), idp2?.close()]);
  });
  afterEach(() => faulty.failing.clear());

  it('a login is found by its sub and its sid; unlink removes both entries, link puts them back', async () => {
    const browser = await loggedIn('alice');
    const { id, logins } = await current(browser);
    const [login] = logins;
    expect(login.sid).toEqual(expect.any(String));
    const entries = async () => [await index.find('oidc:main:sub:alice'), await index.find(`oidc:main:sid:${login.sid}`)];
    expect(await entries()).toEqual([[id], [id]]);

    await inRequest(browser, (session) => loginIndex.unlink(session, login));
    expect(await entries()).toEqual([[], []]);
    await inRequest(browser, (session) => loginIndex.link(session, login));
    expect(await entries()).toEqual([[id], [id]]);
  });

  it('relink moves the entries of every login the session holds to the new ID', async () => {
    const browser = await loggedIn('bob', ['main', 'second']);
    const { id: oldId, logins } = await current(browser);
    expect(logins.map((login) => login.provider).sort()).toEqual(['main', 'second']);
    const newId = generateSessionId();

    await inRequest(browser, (session) => loginIndex.relink(session, oldId, newId));
    for (const login of logins) {
      expect(await index.find(`oidc:${login.provider}:sub:bob`)).toEqual([newId]);
      expect(await index.find(`oidc:${login.provider}:sid:${login.sid}`)).toEqual([newId]);
    }
  });

  it('follows the session when the app regenerates its ID', async () => {
    const browser = await loggedIn('carol');
    const { id: before } = await current(browser);
    const after = await inRequest(browser, async (session) => {
      await session.regenerate();
      return session.id!;
    });
    expect(after).not.toBe(before);
    expect(await index.find('oidc:main:sub:carol')).toEqual([after]);
  });

  it('relink moves only the logins the session still holds', async () => {
    const browser = await loggedIn('erin', ['main', 'second']);
    const { id: oldId } = await current(browser);
    const newId = generateSessionId();
    await inRequest(browser, async (session) => {
      // Gone from the session (as after a logout of that provider), still in the index.
      session.delete('auth:second');
      await loginIndex.relink(session, oldId, newId);
    });
    expect(await index.find('oidc:main:sub:erin')).toEqual([newId]);
    expect(await index.find('oidc:second:sub:erin')).toEqual([oldId]);
  });

  it('a new entry the store cannot write fails the ID change (the session keeps its ID and entries); a failed removal is only logged', async () => {
    const browser = await loggedIn('dave');
    const { id, logins } = await current(browser);
    const outcome = await inRequest(browser, async (session) => {
      faulty.failing.add('patch');
      try {
        const regenerated = await session.regenerate().then(
          () => 'regenerated',
          (error: unknown) => (error as { code: string }).code,
        );
        await loginIndex.unlink(session, logins[0]);
        return { regenerated, id: session.id };
      } finally {
        faulty.failing.clear();
      }
    });
    expect(outcome).toEqual({ regenerated: 'SESSION_STORE_UNAVAILABLE', id });
    expect(await index.find('oidc:main:sub:dave')).toEqual([id]);
  });
});
