import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInstance, type Instance } from './support/instances.js';
import { OidcTestBrowser } from './support/oidc-browser.js';
import { startTestIdp, type TestIdp } from './support/oidc-provider.js';
import { freePort } from './support/ports.js';
import { ADAPTERS } from './support/test-app.js';

/** Express names itself in X-Powered-By by default; Fastify sends no such header. */
const POWERED_BY = { express: 'Express', fastify: null };

/** What GET /token of test/support/instance-server.mjs answers: fingerprints of the tokens after getTokens(). */
interface TokenBody {
  at: string;
  rt: string | null;
  servedBy: number;
}

/**
 * Single-flight token refresh across OS processes: two app processes (the built package, see
 * test/support/instance-server.mjs) share one Redis store and one browser session. With rotating
 * refresh tokens a second refresh with the same token would make the provider revoke the grant,
 * so only a lock in the shared store keeps the processes from both refreshing.
 *
 * On Express and on Fastify (test/support/instance-server.mjs with PLATFORM), both processes on the
 * same platform: the lock lives in the store, so the platform should make no difference, and this
 * checks that it makes none.
 */
describe.each(ADAPTERS)('token refresh across two app processes sharing one Redis store, on %s', (adapter) => {
  const prefix = `test:auth-mp:${adapter}:${randomBytes(4).toString('hex')}:`;
  let idp: TestIdp;
  let one: Instance;
  let two: Instance;

  beforeAll(async () => {
    const portOne = await freePort();
    let portTwo = await freePort();
    while (portTwo === portOne) portTwo = await freePort();
    const app = (port: number) => `http://127.0.0.1:${port}`;
    idp = await startTestIdp({
      clients: [
        { clientId: 'app', clientSecret: 'app-secret', redirectUris: [`${app(portOne)}/auth/callback`, `${app(portTwo)}/auth/callback`] },
      ],
      ttl: { accessToken: 4 },
    });
    const storeUrl = `redis://127.0.0.1:6379/0?prefix=${prefix}`;
    const env = (port: number) => ({
      PORT: String(port),
      OIDC_ISSUER: idp.issuer,
      OIDC_CLIENT_ID: 'app',
      OIDC_CLIENT_SECRET: 'app-secret',
      OIDC_REFRESH_BEFORE: '2s',
    });
    [one, two] = await Promise.all([startInstance(storeUrl, env(portOne), adapter), startInstance(storeUrl, env(portTwo), adapter)]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([one?.stop(), two?.stop()]);
    await idp?.close();
    const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
    await redis.connect();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('parallel requests with a stale token through both processes make one refresh, and both use its tokens', async () => {
    expect(one.pid).not.toBe(two.pid);
    expect(one.pid).not.toBe(process.pid);
    // Both processes really run on the platform under test: as their Nest adapter reports it, and as
    // their responses show (Express's X-Powered-By header, which Fastify does not send).
    expect([one.platform, two.platform]).toEqual([adapter, adapter]);

    // Log in through process one; the login ends at /token.
    const browser = new OidcTestBrowser();
    const login = await browser.login(`${one.url}/auth/login?returnTo=%2Ftoken`);
    expect(login.response.status).toBe(200);
    const atLogin = JSON.parse(login.response.text) as TokenBody;
    expect(atLogin.servedBy).toBe(one.pid);
    expect(login.response.headers.get('x-powered-by')).toBe(POWERED_BY[adapter]);
    expect(atLogin.rt).not.toBeNull();

    // The same browser behind a load balancer: one cookie, two processes.
    const sid = browser.cookies(one.url).find((c) => c.name === 'sid');
    expect(sid).toBeDefined();
    const headers = { cookie: `sid=${sid!.value}`, accept: 'application/json' };
    const token = async (instance: Instance) => {
      const response = await fetch(`${instance.url}/token`, { headers });
      return { status: response.status, poweredBy: response.headers.get('x-powered-by'), body: (await response.json()) as TokenBody };
    };
    const before = await token(two);
    expect(before).toEqual({ status: 200, poweredBy: POWERED_BY[adapter], body: { ...atLogin, servedBy: two.pid } });
    expect(idp.counts.grants.refresh_token).toBe(0);

    // Access tokens live 4 s and are refreshed 2 s before they expire: after 2.2 s this one is stale.
    await sleep(2_200);
    idp.resetCounts();
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => token(i % 2 === 0 ? one : two)));

    // One object, so a failure shows the whole outcome at once.
    expect({
      statuses: results.map((r) => r.status),
      servedBy: results.map((r) => (r.body.servedBy === one.pid ? 'one' : r.body.servedBy === two.pid ? 'two' : r.body.servedBy)),
      accessTokens: new Set(results.map((r) => r.body.at)).size,
      refreshTokens: new Set(results.map((r) => r.body.rt)).size,
      refreshes: idp.counts.grants.refresh_token,
      // A second use of the rotated refresh token would have failed here and revoked the grant.
      grantErrors: idp.counts.grantErrors.map((e) => `${e.grantType} ${e.error} (${e.detail})`),
    }).toEqual({
      statuses: Array(10).fill(200),
      servedBy: Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? 'one' : 'two')),
      accessTokens: 1,
      refreshTokens: 1,
      refreshes: 1,
      grantErrors: [],
    });
    const fresh = results[0].body;
    expect(fresh.at).not.toBe(before.body.at);
    expect(fresh.rt).not.toBe(before.body.rt);

    // Afterwards both processes serve the refreshed tokens without refreshing again.
    const [afterOne, afterTwo] = await Promise.all([token(one), token(two)]);
    expect(afterOne).toEqual({ status: 200, poweredBy: POWERED_BY[adapter], body: { at: fresh.at, rt: fresh.rt, servedBy: one.pid } });
    expect(afterTwo).toEqual({ status: 200, poweredBy: POWERED_BY[adapter], body: { at: fresh.at, rt: fresh.rt, servedBy: two.pid } });
    expect(idp.counts.grants.refresh_token).toBe(1);
    expect(idp.counts.grantErrors).toEqual([]);
  }, 30_000);
});
