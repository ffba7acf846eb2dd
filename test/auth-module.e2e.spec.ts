import 'reflect-metadata';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthModule, Public } from '../src/auth/index.js';
import { SessionModule } from '../src/index.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { startAuthApp, type RunningAuthApp } from './support/auth-app.js';
import { OidcTestBrowser } from './support/oidc-browser.js';
import { startTestIdp, type TestIdp } from './support/oidc-provider.js';
import { freePort } from './support/ports.js';
import { SECRET } from './support/test-app.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

@Controller()
class PlainController {
  @Get('closed')
  closed() {
    return { closed: true };
  }

  @Public()
  @Get('open')
  open() {
    return { open: true };
  }
}

const providerFor = (issuer: string, app: string) => ({
  issuer,
  clientId: 'app',
  clientSecret: 'app-secret',
  redirectUri: `${app}/auth/callback`,
  scope: 'openid profile offline_access',
});

describe('AuthModule set-up', () => {
  let idp: TestIdp;

  beforeAll(async () => {
    idp = await startTestIdp({ clients: [{ clientId: 'app', clientSecret: 'app-secret', redirectUris: ['http://127.0.0.1/auth/callback'] }] });
  });
  afterAll(() => idp?.close());

  it('globalGuard: every route needs a login except @Public() ones and the auth routes', async () => {
    @Module({
      imports: [
        SessionModule.forRoot({ secret: SECRET, cookie: { secure: false } }),
        AuthModule.forRoot({ globalGuard: true, allowInsecureIssuers: true, providers: { main: providerFor(idp.issuer, 'http://127.0.0.1') } }),
      ],
      controllers: [PlainController],
    })
    class GlobalGuardModule {}
    const app = await NestFactory.create(GlobalGuardModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    try {
      const url = await app.getUrl();
      const closed = await fetch(`${url.replace('[::1]', '127.0.0.1')}/closed`, { redirect: 'manual', headers: { accept: 'text/html' } });
      expect(closed.status).toBe(303);
      expect(closed.headers.get('location')).toBe('/auth/login?returnTo=%2Fclosed');
      expect((await fetch(`${url}/closed`, { headers: { accept: 'application/json' } })).status).toBe(401);
      expect(await (await fetch(`${url}/open`)).json()).toEqual({ open: true });
      const login = await fetch(`${url}/auth/login`, { redirect: 'manual' });
      expect(login.status).toBe(302);
      expect(login.headers.get('location')!.startsWith(idp.issuer)).toBe(true);
    } finally {
      await app.close();
    }
  });

  it('routes: a custom prefix, or none at all', async () => {
    @Module({
      imports: [
        SessionModule.forRoot({ secret: SECRET, cookie: { secure: false } }),
        AuthModule.forRootAsync({
          routes: '/account/',
          useFactory: async () => ({ allowInsecureIssuers: true, providers: { main: providerFor(idp.issuer, 'http://127.0.0.1') } }),
        }),
      ],
    })
    class PrefixedModule {}
    const app = await NestFactory.create(PrefixedModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    try {
      const url = await app.getUrl();
      expect((await fetch(`${url}/account/login`, { redirect: 'manual' })).status).toBe(302);
      expect((await fetch(`${url}/auth/login`, { redirect: 'manual' })).status).toBe(404);
    } finally {
      await app.close();
    }

    @Module({
      imports: [
        SessionModule.forRoot({ secret: SECRET, cookie: { secure: false } }),
        AuthModule.forRoot({ routes: false, allowInsecureIssuers: true, providers: { main: providerFor(idp.issuer, 'http://127.0.0.1') } }),
      ],
    })
    class NoRoutesModule {}
    const bare = await NestFactory.create(NoRoutesModule, { logger: false });
    await bare.listen(0, '127.0.0.1');
    try {
      expect((await fetch(`${await bare.getUrl()}/auth/login`, { redirect: 'manual' })).status).toBe(404);
    } finally {
      await bare.close();
    }
  });

  it('fails at start-up with a clear error when the issuer cannot be reached, after retrying', async () => {
    const closedPort = await freePort();
    @Module({
      imports: [
        SessionModule.forRoot({ secret: SECRET }),
        AuthModule.forRoot({
          allowInsecureIssuers: true,
          discovery: { attempts: 2, delay: 10 },
          providers: { main: providerFor(`http://127.0.0.1:${closedPort}`, 'http://127.0.0.1') },
        }),
      ],
    })
    class UnreachableModule {}
    const app = await NestFactory.create(UnreachableModule, { logger: false, abortOnError: false }).catch((error: unknown) => error);
    const error = app instanceof Error ? app : await (app as { init(): Promise<unknown> }).init().then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: 'AUTH_DISCOVERY_FAILED' });
    expect((error as Error).message).toContain(`provider "main" at http://127.0.0.1:${closedPort} after 2 attempt(s)`);
  });

  it('retries discovery, so a provider that starts a little later is found', async () => {
    const port = await freePort();
    const late = sleep(300).then(() => startTestIdp({ port, clients: [{ clientId: 'app', clientSecret: 'app-secret', redirectUris: ['http://127.0.0.1/auth/callback'] }] }));
    @Module({
      imports: [
        SessionModule.forRoot({ secret: SECRET }),
        AuthModule.forRoot({
          allowInsecureIssuers: true,
          discovery: { attempts: 8, delay: 100 },
          providers: { main: providerFor(`http://127.0.0.1:${port}`, 'http://127.0.0.1') },
        }),
      ],
    })
    class LateModule {}
    const app = await NestFactory.create(LateModule, { logger: false });
    try {
      await app.init();
      expect((await late).issuer).toBe(`http://127.0.0.1:${port}`);
    } finally {
      await app.close();
      await (await late).close();
    }
  });

  it('refuses to start without SessionModule, naming the fix', async () => {
    @Module({ imports: [AuthModule.forRoot({ allowInsecureIssuers: true, providers: { main: providerFor(idp.issuer, 'http://127.0.0.1') } })] })
    class NoSessionsModule {}
    const app = await NestFactory.create(NoSessionsModule, { logger: false, abortOnError: false }).catch((error: unknown) => error);
    const error = app instanceof Error ? app : await (app as { init(): Promise<unknown> }).init().then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: 'AUTH_OPTIONS_INVALID' });
    expect((error as Error).message).toContain('SessionModule');
  });
});

describe('refresh across two app instances sharing one Redis store', () => {
  let idp: TestIdp;
  let one: RunningAuthApp;
  let two: RunningAuthApp;
  let redis: Redis;
  const prefix = `test:auth:${randomBytes(4).toString('hex')}:`;

  beforeAll(async () => {
    const [portOne, portTwo] = [await freePort(), await freePort()];
    const redirectUris = [`http://127.0.0.1:${portOne}/auth/callback`, `http://127.0.0.1:${portTwo}/auth/callback`];
    idp = await startTestIdp({ clients: [{ clientId: 'app', clientSecret: 'app-secret', redirectUris }], ttl: { accessToken: 4 } });
    const start = (port: number) =>
      startAuthApp({
        port,
        session: { store: new RedisStore({ host: '127.0.0.1', port: 6379, keyPrefix: prefix }) },
        auth: { allowInsecureIssuers: true, refreshBefore: '2s', providers: { main: providerFor(idp.issuer, `http://127.0.0.1:${port}`) } },
      });
    [one, two] = await Promise.all([start(portOne), start(portTwo)]);
    redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
  });

  afterAll(async () => {
    await Promise.all([one?.close(), two?.close()]);
    await idp?.close();
    if (redis) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });

  it('parallel requests through both instances with a stale token make exactly one refresh, and both see its tokens', async () => {
    const browser = new OidcTestBrowser();
    const done = await browser.login(`${one.url}/auth/login?returnTo=%2Fwhoami`);
    expect(JSON.parse(done.response.text).sub).toBe('alice');
    // The same browser behind a load balancer: one cookie, two instances.
    const cookie = browser.cookies(one.url).find((c) => c.name === 'sid')!;
    const headers = { cookie: `sid=${cookie.value}`, accept: 'application/json' };
    const before = (await (await fetch(`${two.url}/token`, { headers })).json()) as { at: string };
    await sleep(2_200);
    idp.resetCounts();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => fetch(`${(i % 2 === 0 ? one : two).url}/token`, { headers }).then(async (r) => ({ status: r.status, body: (await r.json()) as { at: string } }))),
    );
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(new Set(results.map((r) => r.body.at)).size).toBe(1);
    expect(results[0]!.body.at).not.toBe(before.at);
    expect(idp.counts.grants.refresh_token).toBe(1);
    // A second use of the rotated refresh token would have revoked the grant at the provider.
    expect(idp.counts.grantErrors).toEqual([]);
    const after = await (await fetch(`${one.url}/token`, { headers })).json();
    expect(after).toEqual(results[0]!.body);
  });
});
