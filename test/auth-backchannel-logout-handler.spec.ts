import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuthSessionReader } from '../src/auth/auth-session.reader.js';
import { BackchannelLogoutHandler } from '../src/auth/backchannel-logout.handler.js';
import { type SessionHandle } from '../src/index.js';
import { inRequest as runInRequest, ProbeController } from './support/auth-probe.js';
import { startAuthApp, type RunningAuthApp } from './support/auth-app.js';
import { OidcTestBrowser } from './support/oidc-browser.js';
import { startTestIdp, type TestIdp } from './support/oidc-provider.js';
import { freePort } from './support/ports.js';

/**
 * BackchannelLogoutHandler on its own, taken from a running app: logout tokens signed by the real
 * oidc-provider's key (or a key it never published), sessions that logged in for real.
 */

const BACKCHANNEL = 'http://schemas.openid.net/event/backchannel-logout';

describe('BackchannelLogoutHandler', () => {
  let idp: TestIdp;
  let running: RunningAuthApp;
  let app: string;
  let handler: BackchannelLogoutHandler;

  const inRequest = <T>(browser: OidcTestBrowser, work: (session: SessionHandle) => Promise<T>): Promise<T> =>
    runInRequest(app, browser, work);

  async function loggedIn(login: string): Promise<OidcTestBrowser> {
    const browser = new OidcTestBrowser();
    const result = await browser.login(`${app}/auth/login?returnTo=%2Fwhoami`, { login });
    expect(JSON.parse(result.response.text).sub).toBe(login);
    return browser;
  }

  const whoami = async (browser: OidcTestBrowser): Promise<string | null> => JSON.parse((await browser.get(`${app}/whoami`)).text).sub;

  const claims = (extra: Record<string, unknown>) => ({
    iss: idp.issuer,
    aud: 'app',
    iat: Math.floor(Date.now() / 1000),
    jti: randomBytes(12).toString('hex'),
    events: { [BACKCHANNEL]: {} },
    ...extra,
  });
  const signed = (extra: Record<string, unknown>) => idp.signJwt(claims(extra), { key: 'provider', header: { typ: 'logout+jwt' } });
  const refusal = (token: unknown) =>
    handler.handle(token).then(
      () => expect.unreachable('the token was accepted'),
      (error: unknown) => error as { code: string; message: string },
    );

  beforeAll(async () => {
    const port = await freePort();
    app = `http://127.0.0.1:${port}`;
    // The provider puts `sid` in ID tokens only for clients registered for back-channel logout.
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
      auth: {
        allowInsecureIssuers: true,
        providers: { main: { issuer: idp.issuer, clientId: 'app', clientSecret: 'app-secret', redirectUri: `${app}/auth/callback` } },
      },
    });
    handler = running.app.get(BackchannelLogoutHandler);
  });
  afterAll(async () => {
    await running?.close();
    await idp?.close();
  });
  beforeEach(() => {
    running.events.logout.length = 0;
  });

  it('refuses an unsigned token and one signed with a key the provider never published; the session lives on', async () => {
    const browser = await loggedIn('alice');
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'logout+jwt' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify(claims({ sub: 'alice' }))).toString('base64url');
    expect(await refusal(`${header}.${payload}.`)).toMatchObject({ code: 'AUTH_LOGOUT_TOKEN_INVALID' });
    const forged = await idp.signJwt(claims({ sub: 'alice' }), { key: 'foreign', header: { typ: 'logout+jwt' } });
    expect(await refusal(forged)).toMatchObject({ code: 'AUTH_LOGOUT_TOKEN_INVALID', message: expect.stringMatching(/signature/) });
    expect(await whoami(browser)).toBe('alice');
    expect(running.events.logout).toEqual([]);
  });

  it('a valid token naming the sub destroys every session indexed under it, and reports the logout', async () => {
    const [laptop, phone, other] = [await loggedIn('bob'), await loggedIn('bob'), await loggedIn('carol')];
    expect(await handler.handle(await signed({ sub: 'bob' }))).toEqual({ provider: 'main', sessions: 2 });
    expect(await whoami(laptop)).toBeNull();
    expect(await whoami(phone)).toBeNull();
    expect(await whoami(other)).toBe('carol');
    expect(running.events.logout).toEqual([{ provider: 'main', sub: 'bob', reason: 'backchannel', sessions: 2 }]);
  });

  it('a valid token naming a sid destroys only the session of that provider session', async () => {
    const [laptop, phone] = [await loggedIn('dave'), await loggedIn('dave')];
    const sid = await inRequest(laptop, async (session) => running.app.get(AuthSessionReader).getLogin(session)?.sid);
    expect(sid).toEqual(expect.any(String));
    expect(await handler.handle(await signed({ sid }))).toEqual({ provider: 'main', sessions: 1 });
    expect(await whoami(laptop)).toBeNull();
    expect(await whoami(phone)).toBe('dave');
  });

  it('a token is used once: a second delivery is refused as a replay', async () => {
    const token = await signed({ sub: 'erin' });
    expect(await handler.handle(token)).toEqual({ provider: 'main', sessions: 0 });
    const browser = await loggedIn('erin');
    expect(await refusal(token)).toMatchObject({ code: 'AUTH_LOGOUT_TOKEN_INVALID', message: expect.stringMatching(/already used/) });
    expect(await whoami(browser)).toBe('erin');
  });

  it.each([
    ['no token at all', undefined, /missing/],
    ['not a JWT', 'not-a-jwt', /not a JWT/],
    ['another audience', { aud: 'someone-else', sub: 'x' }, /unknown issuer or audience/],
    ['another issuer', { iss: 'https://op.example', sub: 'x' }, /unknown issuer or audience/],
    ['a nonce', { sub: 'x', nonce: 'n' }, /nonce/],
    ['neither sid nor sub', {}, /neither sid nor sub/],
    ['no back-channel event', { sub: 'x', events: {} }, /back-channel logout event/],
    ['an iat older than the accepted age', { sub: 'x', iat: Math.floor(Date.now() / 1000) - 3600 }, /"iat"/],
  ])('refuses a token with %s', async (_what, extra, reason) => {
    const token = extra === undefined || typeof extra === 'string' ? extra : await signed(extra);
    expect(await refusal(token)).toMatchObject({ code: 'AUTH_LOGOUT_TOKEN_INVALID', message: expect.stringMatching(reason) });
  });

  it('refuses a token whose typ header is not logout+jwt', async () => {
    const token = await idp.signJwt(claims({ sub: 'x' }), { key: 'provider', header: { typ: 'JWT' } });
    expect(await refusal(token)).toMatchObject({ code: 'AUTH_LOGOUT_TOKEN_INVALID', message: expect.stringMatching(/typ/) });
  });
});
