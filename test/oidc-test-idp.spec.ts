import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OidcTestBrowser } from './support/oidc-browser.js';
import { startTestIdp, type TestIdp, type TestIdpOptions } from './support/oidc-provider.js';

// Proves the OIDC test infrastructure against the real provider with openid-client alone: no Nest, no src/.

const CLIENT_ID = 'rp';
const CLIENT_SECRET = 'rp-secret-rp-secret-rp-secret-rp';

type Tokens = oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;

/** A minimal relying party on loopback: /login, /callback, /bcl (back-channel logout), /logged-out. */
interface TestRp {
  readonly origin: string;
  config: oidc.Configuration | undefined;
  /** The tokens of the latest successful callback. */
  tokens: Tokens | undefined;
  /** Errors the callback ran into. */
  readonly callbackErrors: unknown[];
  /** `logout_token` values posted to /bcl. */
  readonly logoutTokens: string[];
  /** Runs the code grant for a callback URL the browser stopped at. */
  complete(callbackUrl: URL): Promise<Tokens>;
  close(): Promise<void>;
}

async function startRp(): Promise<TestRp> {
  const flows = new Map<string, { codeVerifier: string; nonce: string }>();
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.statusCode = 500;
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const rp: TestRp = {
    origin,
    config: undefined,
    tokens: undefined,
    callbackErrors: [],
    logoutTokens: [],
    async complete(callbackUrl) {
      const flow = flows.get(callbackUrl.searchParams.get('state') ?? '');
      if (!flow || !rp.config) throw new Error('unknown state');
      return oidc.authorizationCodeGrant(rp.config, callbackUrl, {
        pkceCodeVerifier: flow.codeVerifier,
        expectedState: callbackUrl.searchParams.get('state') ?? undefined,
        expectedNonce: flow.nonce,
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    if (url.pathname === '/login' && rp.config) {
      const codeVerifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      flows.set(state, { codeVerifier, nonce });
      const parameters: Record<string, string> = {
        redirect_uri: `${origin}/callback`,
        scope: url.searchParams.get('scope') ?? 'openid profile email groups offline_access',
        code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      };
      const prompt = url.searchParams.get('prompt');
      if (prompt) parameters.prompt = prompt;
      res.writeHead(302, { location: oidc.buildAuthorizationUrl(rp.config, parameters).href }).end();
    } else if (url.pathname === '/callback') {
      try {
        rp.tokens = await rp.complete(url);
        res.writeHead(303, { location: '/home' }).end();
      } catch (error) {
        rp.callbackErrors.push(error);
        res.writeHead(400).end(String(error));
      }
    } else if (url.pathname === '/home') {
      res.end(`signed in as ${rp.tokens?.claims()?.sub}`);
    } else if (url.pathname === '/bcl' && req.method === 'POST') {
      let body = '';
      for await (const chunk of req) body += String(chunk);
      const token = new URLSearchParams(body).get('logout_token');
      if (token) rp.logoutTokens.push(token);
      res.writeHead(token ? 200 : 400).end();
    } else if (url.pathname === '/logged-out') {
      res.end('logged out');
    } else {
      res.writeHead(404).end();
    }
  }
  return rp;
}

let idp: TestIdp | undefined;
let rp: TestRp | undefined;

afterEach(async () => {
  await idp?.close();
  await rp?.close();
  idp = rp = undefined;
});

/** A provider with one client for a fresh RP (with back-channel logout), and that RP discovered. */
async function setup(options: Omit<TestIdpOptions, 'clients'> = {}): Promise<{ idp: TestIdp; rp: TestRp; browser: OidcTestBrowser }> {
  rp = await startRp();
  idp = await startTestIdp({
    ...options,
    clients: [
      {
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        redirectUris: [`${rp.origin}/callback`],
        postLogoutRedirectUris: [`${rp.origin}/logged-out`],
        backchannelLogoutUri: `${rp.origin}/bcl`,
      },
    ],
  });
  rp.config = await oidc.discovery(new URL(idp.issuer), CLIENT_ID, undefined, oidc.ClientSecretBasic(CLIENT_SECRET), {
    execute: [oidc.allowInsecureRequests],
  });
  return { idp, rp, browser: new OidcTestBrowser() };
}

async function loggedIn(browser: OidcTestBrowser, rp: TestRp, login = 'alice'): Promise<Tokens> {
  const result = await browser.login(`${rp.origin}/login`, { login });
  expect(result.response.text).toBe(`signed in as ${login}`);
  return rp.tokens!;
}

function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('test OpenID provider + browser driver', () => {
  it('logs in through the real login and consent forms and returns to the app', async () => {
    const { idp, rp, browser } = await setup();

    const result = await browser.login(`${rp.origin}/login`, { login: 'alice' });

    expect(result.sawLoginForm).toBe(true);
    expect(result.sawConsentForm).toBe(true);
    expect(result.response.status).toBe(200);
    expect(result.response.url).toBe(`${rp.origin}/home`);
    expect(result.response.text).toBe('signed in as alice');
    expect(result.visited[0]).toBe(`${rp.origin}/login`);
    expect(result.visited.some((u) => u.startsWith(`${rp.origin}/callback?`))).toBe(true);
    const claims = rp.tokens!.claims()!;
    expect(claims).toMatchObject({ sub: 'alice', iss: idp.issuer, aud: CLIENT_ID, name: 'Alice Example', groups: ['staff'] });
    expect(typeof claims.sid).toBe('string');
    expect(rp.tokens!.refresh_token).toEqual(expect.any(String));
    expect(browser.cookies(idp.issuer).map((c) => c.name)).toContain('_session');

    const userinfo = await oidc.fetchUserInfo(rp.config!, rp.tokens!.access_token, 'alice');
    expect(userinfo).toMatchObject({ sub: 'alice', email: 'alice@example.test', email_verified: true });

    // The provider session now logs in without forms; another account comes from its configured claims.
    const again = await browser.login(`${rp.origin}/login`);
    expect(again.sawLoginForm).toBe(false);
    expect(again.response.text).toBe('signed in as alice');
    idp.accounts.get('bob')!.name = 'Robert';
    const bob = await new OidcTestBrowser().login(`${rp.origin}/login`, { login: 'bob' });
    expect(bob.response.text).toBe('signed in as bob');
    expect(rp.tokens!.claims()).toMatchObject({ sub: 'bob', name: 'Robert', groups: ['admin', 'staff'] });
    await new OidcTestBrowser().login(`${rp.origin}/login`, { login: 'zed' });
    expect(rp.tokens!.claims()).toMatchObject({ sub: 'zed', name: 'zed', email: 'zed@example.test', groups: [] });
  });

  it('stops before the app callback when asked, leaving the code unredeemed', async () => {
    const { idp, rp, browser } = await setup();

    const result = await browser.login(`${rp.origin}/login`, { stopAtCallback: '/callback' });

    expect(result.callbackUrl?.origin).toBe(rp.origin);
    expect(result.callbackUrl?.pathname).toBe('/callback');
    expect(result.callbackUrl?.searchParams.get('iss')).toBe(idp.issuer);
    expect(result.visited.some((u) => u.startsWith(`${rp.origin}/callback`))).toBe(false);
    expect(idp.counts.grants.authorization_code).toBe(0);
    expect((await rp.complete(result.callbackUrl!)).claims()?.sub).toBe('alice');
  });

  it.each([
    ['openid', undefined],
    ['openid profile', 'login'],
    ['openid offline_access', undefined],
    ['openid offline_access', 'consent'],
  ])('issues a refresh token for scope "%s" with prompt=%s', async (scope, prompt) => {
    const { rp, browser } = await setup();
    const query = new URLSearchParams({ scope, ...(prompt ? { prompt } : {}) });

    await browser.login(`${rp.origin}/login?${query}`);

    expect(rp.tokens?.refresh_token).toEqual(expect.any(String));
  });

  it('rotates refresh tokens; reusing an old one fails with invalid_grant and revokes the grant', async () => {
    const { idp, rp, browser } = await setup();
    const first = await loggedIn(browser, rp);

    const refreshed = await oidc.refreshTokenGrant(rp.config!, first.refresh_token!);
    expect(refreshed.access_token).not.toBe(first.access_token);
    expect(refreshed.refresh_token).toEqual(expect.any(String));
    expect(refreshed.refresh_token).not.toBe(first.refresh_token);
    expect(refreshed.claims()?.sub).toBe('alice');

    const reuse = await rejection(oidc.refreshTokenGrant(rp.config!, first.refresh_token!));
    expect(reuse).toBeInstanceOf(oidc.ResponseBodyError);
    expect(reuse).toMatchObject({ error: 'invalid_grant', error_description: 'grant request is invalid' });
    // Reuse detection: the provider revoked the whole grant, so the newest refresh token is dead too.
    const afterReuse = await rejection(oidc.refreshTokenGrant(rp.config!, refreshed.refresh_token!));
    expect(afterReuse).toMatchObject({ error: 'invalid_grant' });

    expect(idp.counts).toEqual({
      grants: { authorization_code: 1, refresh_token: 1 },
      grantErrors: [
        {
          grantType: 'refresh_token',
          error: 'invalid_grant',
          description: 'grant request is invalid',
          detail: 'refresh token already used',
        },
        { grantType: 'refresh_token', error: 'invalid_grant', description: 'grant request is invalid', detail: 'refresh token not found' },
      ],
      backchannel: { success: 0, errors: [] },
    });
    idp.resetCounts();
    expect(idp.counts.grants).toEqual({ authorization_code: 0, refresh_token: 0 });
    expect(idp.counts.grantErrors).toEqual([]);
  });

  it('keeps the refresh token when rotation is off', async () => {
    const { rp, browser } = await setup({ rotateRefreshToken: false });
    const first = await loggedIn(browser, rp);

    const once = await oidc.refreshTokenGrant(rp.config!, first.refresh_token!);
    const twice = await oidc.refreshTokenGrant(rp.config!, first.refresh_token!);

    expect(once.refresh_token).toBe(first.refresh_token);
    expect(twice.access_token).not.toBe(once.access_token);
  });

  it('tamperNextIdToken re-signs with the provider key: unchanged claims pass, a wrong aud is rejected', async () => {
    const { idp, rp, browser } = await setup();

    idp.tamperNextIdToken((claims) => claims);
    const untouched = await browser.login(`${rp.origin}/login`, { stopAtCallback: '/callback' });
    expect((await rp.complete(untouched.callbackUrl!)).claims()?.sub).toBe('alice');

    idp.tamperNextIdToken((claims) => ({ ...claims, aud: 'someone-else' }));
    const tampered = await browser.login(`${rp.origin}/login`, { stopAtCallback: '/callback' });
    const error = await rejection(rp.complete(tampered.callbackUrl!));
    expect(error).toMatchObject({ code: 'OAUTH_JWT_CLAIM_COMPARISON_FAILED', cause: { cause: { claim: 'aud' } } });

    // One tampering per call: the next login is clean again.
    const clean = await browser.login(`${rp.origin}/login`, { stopAtCallback: '/callback' });
    expect((await rp.complete(clean.callbackUrl!)).claims()?.aud).toBe(CLIENT_ID);
  });

  it('tamperNextIdToken also reaches refresh responses (an expired ID token is rejected)', async () => {
    const { idp, rp, browser } = await setup();
    const tokens = await loggedIn(browser, rp);

    idp.tamperNextIdToken((claims) => ({ ...claims, exp: Math.floor(Date.now() / 1000) - 3600 }));
    const error = await rejection(oidc.refreshTokenGrant(rp.config!, tokens.refresh_token!));

    expect(error).toMatchObject({ code: 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED', cause: { cause: { claim: 'exp' } } });
    expect(idp.counts.grants.refresh_token).toBe(1);
  });

  it('signJwt signs with the provider key (verifies against its JWKS) or a foreign key (does not)', async () => {
    const { idp, rp } = await setup();
    const jwks = createRemoteJWKSet(new URL(rp.config!.serverMetadata().jwks_uri!));
    const payload = { iss: idp.issuer, aud: CLIENT_ID, sub: 'alice' };

    const genuine = await jwtVerify(await idp.signJwt(payload, { key: 'provider' }), jwks, { issuer: idp.issuer, audience: CLIENT_ID });
    expect(genuine.protectedHeader).toMatchObject({ alg: 'RS256', kid: idp.kid });
    expect(genuine.payload.sub).toBe('alice');

    const sameKid = await rejection(jwtVerify(await idp.signJwt(payload, { key: 'foreign' }), jwks));
    expect(sameKid).toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    const ownKid = await rejection(jwtVerify(await idp.signJwt(payload, { key: 'foreign', header: { kid: 'attacker' } }), jwks));
    expect(ownKid).toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
  });

  it('revokeGrants revokes only the given account, and the next refresh fails with invalid_grant', async () => {
    const { idp, rp, browser } = await setup();
    const tokens = await loggedIn(browser, rp);

    expect(await idp.revokeGrants('bob')).toBe(0);
    const stillValid = await oidc.refreshTokenGrant(rp.config!, tokens.refresh_token!);

    expect(await idp.revokeGrants('alice')).toBe(1);
    const error = await rejection(oidc.refreshTokenGrant(rp.config!, stillValid.refresh_token!));
    expect(error).toMatchObject({ error: 'invalid_grant' });
    expect(idp.counts.grants.refresh_token).toBe(1);
    expect(idp.counts.grantErrors).toEqual([
      { grantType: 'refresh_token', error: 'invalid_grant', description: 'grant request is invalid', detail: 'refresh token not found' },
    ]);
  });

  it('RP-initiated logout reaches the post-logout URI and posts a back-channel logout token with sid', async () => {
    const { idp, rp, browser } = await setup();
    const tokens = await loggedIn(browser, rp);
    const sid = tokens.claims()?.sid;
    expect(sid).toEqual(expect.any(String));

    const endSession = oidc.buildEndSessionUrl(rp.config!, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: `${rp.origin}/logged-out`,
      state: 'bye',
    });
    const result = await browser.confirmLogoutAtProvider(endSession);

    expect(result.response.url).toBe(`${rp.origin}/logged-out?state=bye`);
    expect(result.response.text).toBe('logged out');
    expect(idp.counts.backchannel).toEqual({ success: 1, errors: [] });
    expect(rp.logoutTokens).toHaveLength(1);
    const jwks = createRemoteJWKSet(new URL(rp.config!.serverMetadata().jwks_uri!));
    const { payload } = await jwtVerify(rp.logoutTokens[0], jwks, { issuer: idp.issuer, audience: CLIENT_ID });
    expect(payload).toMatchObject({ sub: 'alice', sid, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } });
    expect(payload.nonce).toBeUndefined();
    expect(decodeJwt(tokens.id_token!).sid).toBe(sid);

    // The provider session is gone: the next login shows the login form again.
    const next = await browser.login(`${rp.origin}/login`, { login: 'bob' });
    expect(next.sawLoginForm).toBe(true);
    expect(next.response.text).toBe('signed in as bob');
  });

  it('logout at the provider ends session-bound refresh tokens; offline_access ones (prompt=consent) survive', async () => {
    const { rp } = await setup();
    const sessionBound = new OidcTestBrowser();
    await sessionBound.login(`${rp.origin}/login?scope=openid`);
    const sessionBoundTokens = rp.tokens!;
    const offline = new OidcTestBrowser();
    await offline.login(`${rp.origin}/login?scope=openid+offline_access&prompt=consent`);
    const offlineTokens = rp.tokens!;
    expect(offlineTokens.scope).toBe('openid offline_access');

    for (const [browser, tokens] of [
      [sessionBound, sessionBoundTokens],
      [offline, offlineTokens],
    ] as const) {
      await browser.confirmLogoutAtProvider(oidc.buildEndSessionUrl(rp.config!, { id_token_hint: tokens.id_token! }));
    }

    expect(await rejection(oidc.refreshTokenGrant(rp.config!, sessionBoundTokens.refresh_token!))).toMatchObject({
      error: 'invalid_grant',
    });
    expect((await oidc.refreshTokenGrant(rp.config!, offlineTokens.refresh_token!)).access_token).toEqual(expect.any(String));
  });

  it('reports back-channel deliveries the RP refuses', async () => {
    const { idp, rp, browser } = await setup();
    const tokens = await loggedIn(browser, rp);
    await rp.close(); // nobody listens at /bcl any more

    const endSession = oidc.buildEndSessionUrl(rp.config!, { id_token_hint: tokens.id_token! });
    const result = await browser.confirmLogoutAtProvider(endSession);

    expect(result.response.url.startsWith(idp.issuer)).toBe(true);
    expect(idp.counts.backchannel.success).toBe(0);
    expect(idp.counts.backchannel.errors).toEqual([{ clientId: CLIENT_ID, message: expect.any(String) }]);
  });
});

describe("the sample app's development provider", () => {
  it('logs any username in, rotates refresh tokens and posts back-channel logout tokens', async () => {
    // It prints oidc-provider's honest "development only" warnings; keep them out of the test output.
    const quiet = [vi.spyOn(console, 'warn').mockImplementation(() => {}), vi.spyOn(console, 'info').mockImplementation(() => {})];
    const { startDevOidcProvider } = await import('../sample-app/dev-oidc-provider.js');
    rp = await startRp();
    const dev = await startDevOidcProvider({
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      redirectUri: `${rp.origin}/callback`,
      postLogoutRedirectUri: `${rp.origin}/logged-out`,
      backchannelLogoutUri: `${rp.origin}/bcl`,
    });
    try {
      rp.config = await oidc.discovery(new URL(dev.issuer), CLIENT_ID, undefined, oidc.ClientSecretBasic(CLIENT_SECRET), {
        execute: [oidc.allowInsecureRequests],
      });
      const browser = new OidcTestBrowser();
      const tokens = await loggedIn(browser, rp, 'jane.doe');
      expect(tokens.claims()).toMatchObject({ sub: 'jane.doe', name: 'Jane Doe', email: 'jane.doe@example.test', sid: expect.any(String) });

      const refreshed = await oidc.refreshTokenGrant(rp.config, tokens.refresh_token!);
      expect(refreshed.refresh_token).toEqual(expect.any(String));
      expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);

      const endSession = oidc.buildEndSessionUrl(rp.config, {
        id_token_hint: tokens.id_token!,
        post_logout_redirect_uri: `${rp.origin}/logged-out`,
      });
      const result = await browser.confirmLogoutAtProvider(endSession);
      expect(result.response.url).toBe(`${rp.origin}/logged-out`);
      expect(rp.logoutTokens.map((token) => decodeJwt(token).sid)).toEqual([tokens.claims()?.sid]);
    } finally {
      await dev.close();
      for (const spy of quiet) spy.mockRestore();
    }
  });
});
