import 'reflect-metadata';
import { Controller, Get, Inject, Module, Redirect, type INestApplication } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuthManager, AuthModule, Public, type AuthProviderOptions } from '../src/auth/index.js';
import { Session, SessionIndex, SessionModule, type SessionHandle } from '../src/index.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { TypeormStore } from '../src/stores/typeorm/index.js';
import { startAuthApp, type RunningAuthApp } from './support/auth-app.js';
import { OidcTestBrowser } from './support/oidc-browser.js';
import { startTestIdp, type TestIdp, type TestIdpClient } from './support/oidc-provider.js';
import { freePort } from './support/ports.js';
import { ADAPTERS, SECRET, createApp, type AdapterName } from './support/test-app.js';

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

/** The error an app module fails to start with (creation or init), or `undefined` when it starts. */
async function startupError(module: unknown, adapter: AdapterName): Promise<unknown> {
  let app: INestApplication | undefined;
  try {
    app = await createApp(module, adapter, { abortOnError: false });
    await app.init();
    return undefined;
  } catch (error) {
    return error;
  } finally {
    await app?.close().catch(() => undefined);
  }
}

const providerFor = (issuer: string, app: string) => ({
  issuer,
  clientId: 'app',
  clientSecret: 'app-secret',
  redirectUri: `${app}/auth/callback`,
  scope: 'openid profile offline_access',
});

describe.each(ADAPTERS)('on %s', (adapter) => {
  describe('AuthModule set-up', () => {
    let idp: TestIdp;

    beforeAll(async () => {
      idp = await startTestIdp({
        clients: [{ clientId: 'app', clientSecret: 'app-secret', redirectUris: ['http://127.0.0.1/auth/callback'] }],
      });
    });
    afterAll(() => idp?.close());

    it('globalGuard: every route needs a login except @Public() ones and the auth routes', async () => {
      @Module({
        imports: [
          SessionModule.forRoot({ secret: SECRET, cookie: { secure: false } }),
          AuthModule.forRoot({
            globalGuard: true,
            allowInsecureIssuers: true,
            providers: { main: providerFor(idp.issuer, 'http://127.0.0.1') },
          }),
        ],
        controllers: [PlainController],
      })
      class GlobalGuardModule {}
      const app = await createApp(GlobalGuardModule, adapter);
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
      const app = await createApp(PrefixedModule, adapter);
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
          AuthModule.forRoot({
            routes: false,
            allowInsecureIssuers: true,
            providers: { main: providerFor(idp.issuer, 'http://127.0.0.1') },
          }),
        ],
      })
      class NoRoutesModule {}
      const bare = await createApp(NoRoutesModule, adapter);
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
      const error = await startupError(UnreachableModule, adapter);
      expect(error).toMatchObject({ code: 'AUTH_DISCOVERY_FAILED' });
      expect((error as Error).message).toContain(`provider "main" at http://127.0.0.1:${closedPort} after 2 attempt(s)`);
    });

    it('retries discovery, so a provider that starts a little later is found', async () => {
      const port = await freePort();
      const late = sleep(300).then(() =>
        startTestIdp({
          port,
          clients: [{ clientId: 'app', clientSecret: 'app-secret', redirectUris: ['http://127.0.0.1/auth/callback'] }],
        }),
      );
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
      const app = await createApp(LateModule, adapter);
      try {
        await app.init();
        expect((await late).issuer).toBe(`http://127.0.0.1:${port}`);
      } finally {
        await app.close();
        await (await late).close();
      }
    });

    it('refuses a private key that cannot be imported at once, naming the option (no discovery retries)', async () => {
      @Module({
        imports: [
          SessionModule.forRoot({ secret: SECRET }),
          AuthModule.forRoot({
            allowInsecureIssuers: true,
            discovery: { attempts: 50, delay: 1000 },
            providers: {
              main: {
                ...providerFor(idp.issuer, 'http://127.0.0.1'),
                clientSecret: undefined,
                privateKeyJwt: { key: { kty: 'RSA', n: 'not-a-key' } },
              },
            },
          }),
        ],
      })
      class BadKeyModule {}
      const error = await startupError(BadKeyModule, adapter);
      expect(error).toMatchObject({ code: 'AUTH_OPTIONS_INVALID' });
      expect((error as Error).message).toContain('`providers.main.privateKeyJwt.key`');
    });

    it('refuses to start without SessionModule, naming the fix', async () => {
      @Module({
        imports: [AuthModule.forRoot({ allowInsecureIssuers: true, providers: { main: providerFor(idp.issuer, 'http://127.0.0.1') } })],
      })
      class NoSessionsModule {}
      const error = await startupError(NoSessionsModule, adapter);
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
          adapter,
          port,
          session: { store: new RedisStore({ host: '127.0.0.1', port: 6379, keyPrefix: prefix }) },
          auth: {
            allowInsecureIssuers: true,
            refreshBefore: '2s',
            providers: { main: providerFor(idp.issuer, `http://127.0.0.1:${port}`) },
          },
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
        Array.from({ length: 10 }, (_, i) =>
          fetch(`${(i % 2 === 0 ? one : two).url}/token`, { headers }).then(async (r) => ({
            status: r.status,
            body: (await r.json()) as { at: string },
          })),
        ),
      );
      expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
      expect(new Set(results.map((r) => r.body.at)).size).toBe(1);
      expect(results[0].body.at).not.toBe(before.at);
      expect(idp.counts.grants.refresh_token).toBe(1);
      // A second use of the rotated refresh token would have revoked the grant at the provider.
      expect(idp.counts.grantErrors).toEqual([]);
      const after = await (await fetch(`${one.url}/token`, { headers })).json();
      expect(after).toEqual(results[0].body);
    });
  });

  describe('private_key_jwt client authentication', () => {
    const RSA_KID = 'rsa-key-1';
    const EC_KID = 'ec-key-1';
    let idp: TestIdp;
    let running: RunningAuthApp;
    let app: string;

    beforeAll(async () => {
      const port = await freePort();
      app = `http://127.0.0.1:${port}`;
      const [rsa, ec, other] = await Promise.all([
        generateKeyPair('RS256', { extractable: true }),
        generateKeyPair('ES256', { extractable: true }),
        generateKeyPair('RS256', { extractable: true }),
      ]);
      // Public keys as a client registers them; private JWKs as exportJWK makes them (no `alg`).
      const rsaPublic: JWK = { ...(await exportJWK(rsa.publicKey)), kid: RSA_KID, alg: 'RS256', use: 'sig' };
      const ecPublic: JWK = { ...(await exportJWK(ec.publicKey)), kid: EC_KID, alg: 'ES256', use: 'sig' };
      const rsaPrivate: JWK = { ...(await exportJWK(rsa.privateKey)), kid: RSA_KID };
      const ecPrivate: JWK = await exportJWK(ec.privateKey);
      // Another key under the registered key's kid: only the signature tells them apart.
      const otherPrivate: JWK = { ...(await exportJWK(other.privateKey)), kid: RSA_KID };
      expect(ecPrivate.alg).toBeUndefined();

      const client = (clientId: string, keys: JWK[]): TestIdpClient => ({
        clientId,
        jwks: { keys },
        redirectUris: [`${app}/auth/callback`],
      });
      idp = await startTestIdp({
        clients: [
          client('jwk-app', [rsaPublic]),
          client('cryptokey-app', [ecPublic]),
          client('ec-jwk-app', [ecPublic]),
          client('wrong-key-app', [rsaPublic]),
        ],
      });
      const provider = (clientId: string, privateKeyJwt: AuthProviderOptions['privateKeyJwt']) => ({
        issuer: idp.issuer,
        clientId,
        privateKeyJwt,
        redirectUri: `${app}/auth/callback`,
        scope: 'openid profile',
      });
      running = await startAuthApp({
        adapter,
        port,
        auth: {
          allowInsecureIssuers: true,
          discovery: { attempts: 1 },
          providers: {
            jwk: provider('jwk-app', { key: rsaPrivate }),
            cryptokey: provider('cryptokey-app', { key: ec.privateKey, kid: EC_KID }),
            ecjwk: provider('ec-jwk-app', { key: ecPrivate, kid: EC_KID }),
            wrongkey: provider('wrong-key-app', { key: otherPrivate }),
          },
        },
      });
    });

    afterAll(async () => {
      await running?.close();
      await idp?.close();
    });

    beforeEach(() => idp.resetCounts());

    const whoami = async (browser: OidcTestBrowser) =>
      JSON.parse((await browser.get(`${app}/whoami`, { headers: { accept: 'application/json' } })).text);

    it.each([
      ['a private JWK with its kid', 'jwk', 'jwk-app', 'RS256', RSA_KID],
      ['a CryptoKey and a kid', 'cryptokey', 'cryptokey-app', 'ES256', EC_KID],
      ['an EC private JWK without alg', 'ecjwk', 'ec-jwk-app', 'ES256', EC_KID],
    ])('logs in with %s: the code exchange is authenticated by a signed client assertion', async (_what, name, clientId, alg, kid) => {
      const browser = new OidcTestBrowser();
      const result = await browser.login(`${app}/auth/login?provider=${name}&returnTo=%2Fwhoami`);
      expect(result.response.status).toBe(200);
      expect(result.response.url).toBe(`${app}/whoami`);
      expect(JSON.parse(result.response.text).providers).toEqual([name]);
      expect(running.events.login.at(-1)).toMatchObject({ provider: name, claims: { sub: 'alice' } });
      expect(idp.counts.grants.authorization_code).toBe(1);
      expect(idp.counts.grantErrors).toEqual([]);
      expect(idp.clientAuth).toEqual([{ clientId, method: 'private_key_jwt', assertionHeader: expect.objectContaining({ alg, kid }) }]);
    });

    it('fails the callback, and logs nobody in, when the assertion is signed with another key', async () => {
      const logins = running.events.login.length;
      const browser = new OidcTestBrowser();
      const { callbackUrl } = await browser.login(`${app}/auth/login?provider=wrongkey&returnTo=%2Fwhoami`, {
        stopAtCallback: '/auth/callback',
      });
      const response = await browser.get(callbackUrl!, { headers: { accept: 'application/json' } });
      expect([400, 502]).toContain(response.status);
      expect(JSON.parse(response.text).message).toMatch(/invalid_client/);
      expect(idp.counts.grants.authorization_code).toBe(0);
      expect(idp.counts.grantErrors.map((e) => e.error)).toEqual(['invalid_client']);
      expect(await whoami(browser)).toMatchObject({ sub: null, providers: [] });
      expect(running.events.login).toHaveLength(logins);
    });
  });

  describe('AuthModule.forRootAsync with ConfigService', () => {
    let idp: TestIdp;
    let running: RunningAuthApp;
    let app: string;

    beforeAll(async () => {
      const port = await freePort();
      app = `http://127.0.0.1:${port}`;
      idp = await startTestIdp({
        clients: [{ clientId: 'config-app', clientSecret: 'secret-from-config', redirectUris: [`${app}/auth/callback`] }],
      });
      running = await startAuthApp({
        adapter,
        port,
        authModule: (events) =>
          AuthModule.forRootAsync({
            imports: [
              ConfigModule.forRoot({
                ignoreEnvFile: true,
                load: [
                  () => ({
                    OIDC_ISSUER: idp.issuer,
                    OIDC_CLIENT_ID: 'config-app',
                    OIDC_CLIENT_SECRET: 'secret-from-config',
                    OIDC_REDIRECT_URI: `${app}/auth/callback`,
                    OIDC_SCOPE: 'openid profile email',
                  }),
                ],
              }),
            ],
            inject: [ConfigService],
            useFactory: (config: ConfigService) => ({
              allowInsecureIssuers: true,
              events,
              providers: {
                main: {
                  issuer: config.getOrThrow<string>('OIDC_ISSUER'),
                  clientId: config.getOrThrow<string>('OIDC_CLIENT_ID'),
                  clientSecret: config.getOrThrow<string>('OIDC_CLIENT_SECRET'),
                  redirectUri: config.getOrThrow<string>('OIDC_REDIRECT_URI'),
                  scope: config.getOrThrow<string>('OIDC_SCOPE'),
                },
              },
            }),
          }),
      });
    });

    afterAll(async () => {
      await running?.close();
      await idp?.close();
    });

    it('configures the provider from ConfigService values, and a login works', async () => {
      const browser = new OidcTestBrowser();
      const start = await browser.get(`${app}/auth/login`);
      expect(start.status).toBe(302);
      const authorize = new URL(start.location!);
      expect(authorize.origin).toBe(idp.issuer);
      expect(authorize.searchParams.get('client_id')).toBe('config-app');
      expect(authorize.searchParams.get('scope')).toBe('openid profile email');

      const result = await browser.login(`${app}/auth/login?returnTo=%2Fme`);
      expect(result.response.status).toBe(200);
      expect(JSON.parse(result.response.text)).toMatchObject({ user: { sub: 'alice' }, email: 'alice@example.test' });
      expect(idp.counts.grants.authorization_code).toBe(1);
      expect(idp.clientAuth).toEqual([{ clientId: 'config-app', method: 'client_secret_basic', assertionHeader: undefined }]);
      expect(running.events.login).toEqual([expect.objectContaining({ provider: 'main', returnTo: '/me' })]);
    });
  });

  describe('authorizationParams', () => {
    const HOSTILE = {
      state: 'attacker-state',
      nonce: 'attacker-nonce',
      code_challenge: 'attacker-challenge',
      code_challenge_method: 'plain',
      redirect_uri: 'https://evil.example/callback',
      scope: 'openid admin',
      client_id: 'someone-else',
      response_type: 'token',
      ui_locales: 'fr',
    };

    /** Starts a login through AuthManager with request-level authorizationParams trying to replace the module's own. */
    @Controller('hostile')
    class HostileLoginController {
      constructor(@Inject(AuthManager) private readonly auth: AuthManager) {}

      @Get('login')
      @Redirect()
      async login(@Session() session: SessionHandle) {
        const url = await this.auth.beginLogin(session as Parameters<AuthManager['beginLogin']>[0], {
          returnTo: '/whoami',
          authorizationParams: { ...HOSTILE },
        });
        return { url, statusCode: 302 };
      }
    }

    let idp: TestIdp;
    let running: RunningAuthApp;
    let app: string;
    const SCOPE = 'openid profile';

    beforeAll(async () => {
      const port = await freePort();
      app = `http://127.0.0.1:${port}`;
      idp = await startTestIdp({ clients: [{ clientId: 'app', clientSecret: 'app-secret', redirectUris: [`${app}/auth/callback`] }] });
      running = await startAuthApp({
        adapter,
        port,
        controllers: [HostileLoginController],
        auth: {
          allowInsecureIssuers: true,
          providers: {
            main: { ...providerFor(idp.issuer, app), scope: SCOPE, authorizationParams: { ui_locales: 'de', prompt: 'login' } },
          },
        },
      });
    });

    afterAll(async () => {
      await running?.close();
      await idp?.close();
    });

    /** The module's own parameters, each exactly once and with the module's values. */
    function expectModuleParams(authorize: URL): void {
      for (const name of new Set(authorize.searchParams.keys())) expect(authorize.searchParams.getAll(name), name).toHaveLength(1);
      expect(authorize.origin + authorize.pathname).toBe(`${idp.issuer}/auth`);
      expect(authorize.searchParams.get('client_id')).toBe('app');
      expect(authorize.searchParams.get('response_type')).toBe('code');
      expect(authorize.searchParams.get('redirect_uri')).toBe(`${app}/auth/callback`);
      expect(authorize.searchParams.get('scope')).toBe(SCOPE);
      expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
      expect(authorize.searchParams.get('code_challenge')).toMatch(/^[\w-]{43}$/);
      expect(authorize.searchParams.get('state')).toMatch(/^[\w-]{20,}$/);
      expect(authorize.searchParams.get('nonce')).toMatch(/^[\w-]{20,}$/);
    }

    it('sends the provider’s authorizationParams with the login, and the provider acts on them', async () => {
      const browser = new OidcTestBrowser();
      // Query parameters of the login route other than provider and returnTo go nowhere.
      const query = new URLSearchParams({
        returnTo: '/whoami',
        state: 'x',
        nonce: 'x',
        redirect_uri: 'https://evil.example/',
        scope: 'openid admin',
        prompt: 'none',
      });
      const start = await browser.get(`${app}/auth/login?${query}`);
      expect(start.status).toBe(302);
      const authorize = new URL(start.location!);
      expectModuleParams(authorize);
      expect(authorize.searchParams.get('ui_locales')).toBe('de');
      expect(authorize.searchParams.get('prompt')).toBe('login');

      expect((await browser.login(start.location!)).response.url).toBe(`${app}/whoami`);
      // prompt=login: the provider asks for the login again although its session would log the browser in silently.
      const again = await browser.login(`${app}/auth/login?returnTo=%2Fwhoami`);
      expect(again.sawLoginForm).toBe(true);
      expect(again.response.status).toBe(200);
    });

    it('keeps the module’s own parameters when authorizationParams given to AuthManager.beginLogin name them', async () => {
      const browser = new OidcTestBrowser();
      const start = await browser.get(`${app}/hostile/login`);
      expect(start.status).toBe(302);
      const authorize = new URL(start.location!);
      expectModuleParams(authorize);
      for (const name of ['state', 'nonce', 'code_challenge', 'redirect_uri', 'scope', 'client_id', 'response_type'] as const) {
        expect(authorize.searchParams.get(name), name).not.toBe(HOSTILE[name]);
      }
      // Per-login parameters win over the provider's.
      expect(authorize.searchParams.get('ui_locales')).toBe('fr');
      expect(authorize.searchParams.get('prompt')).toBe('login');
      // The state and nonce in the URL are the ones the login stored: it completes.
      const done = await browser.login(start.location!);
      expect(done.response.url).toBe(`${app}/whoami`);
      expect(JSON.parse(done.response.text)).toMatchObject({ sub: 'alice', providers: ['main'] });
    });

    it.each(['state', 'nonce', 'code_challenge', 'redirect_uri', 'scope'])(
      'refuses to start with authorizationParams.%s, naming it',
      async (name) => {
        @Module({
          imports: [
            SessionModule.forRoot({ secret: SECRET }),
            AuthModule.forRoot({
              allowInsecureIssuers: true,
              providers: { main: { ...providerFor(idp.issuer, 'http://127.0.0.1'), authorizationParams: { [name]: 'mine' } } },
            }),
          ],
        })
        class ReservedParamModule {}
        const error = await startupError(ReservedParamModule, adapter);
        expect(error).toMatchObject({ code: 'AUTH_OPTIONS_INVALID' });
        expect((error as Error).message).toContain(`providers.main.authorizationParams.${name}`);
      },
    );
  });

  describe('back-channel logout with the sessions in PostgreSQL (TypeormStore)', () => {
    const tableName = `ns_auth_backchannel_${process.pid}_${randomBytes(3).toString('hex')}`;
    let idp: TestIdp;
    let running: RunningAuthApp;
    let dataSource: DataSource;
    let store: TypeormStore;
    let app: string;

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
      dataSource = new DataSource({ type: 'postgres', host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' });
      await dataSource.initialize();
      store = new TypeormStore({ dataSource, tableName, createTable: true, gcInterval: 0 });
      running = await startAuthApp({
        adapter,
        port,
        session: { store },
        auth: { allowInsecureIssuers: true, providers: { main: { ...providerFor(idp.issuer, app), scope: 'openid profile' } } },
      });
    });

    afterAll(async () => {
      await running?.close();
      await idp?.close();
      await store?.close();
      if (dataSource?.isInitialized) {
        await dataSource.query(`DROP TABLE IF EXISTS "${tableName}"`);
        await dataSource.destroy();
      }
    });

    const sessionId = (browser: OidcTestBrowser): string =>
      browser
        .cookies(app)
        .find((c) => c.name === 'sid')!
        .value.split('.')[0];
    const whoami = async (browser: OidcTestBrowser) =>
      JSON.parse((await browser.get(`${app}/whoami`, { headers: { accept: 'application/json' } })).text);
    async function loggedIn(login: string): Promise<OidcTestBrowser> {
      const browser = new OidcTestBrowser();
      expect((await browser.login(`${app}/auth/login?returnTo=%2Fwhoami`, { login })).response.status).toBe(200);
      return browser;
    }

    it('a provider-signed logout token naming sub deletes every session of that user from the database, and only those', async () => {
      const [phone, laptop, other] = [await loggedIn('frank'), await loggedIn('frank'), await loggedIn('grace')];
      for (const browser of [phone, laptop, other]) expect(await store.get(sessionId(browser))).not.toBeNull();
      // The login linked both of frank's sessions in the index, a record in the same table.
      const index = running.app.get(SessionIndex);
      expect((await index.find('oidc:main:sub:frank')).sort()).toEqual([sessionId(phone), sessionId(laptop)].sort());

      const token = await idp.signJwt(
        {
          iss: idp.issuer,
          aud: 'app',
          sub: 'frank',
          iat: Math.floor(Date.now() / 1000),
          jti: crypto.randomUUID(),
          events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
        },
        { key: 'provider', header: { typ: 'logout+jwt' } },
      );
      const response = await fetch(`${app}/auth/backchannel-logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ logout_token: token }),
      });
      expect(response.status).toBe(200);
      expect(running.events.logout.at(-1)).toMatchObject({ provider: 'main', sub: 'frank', reason: 'backchannel', sessions: 2 });
      expect(await store.get(sessionId(phone))).toBeNull();
      expect(await store.get(sessionId(laptop))).toBeNull();
      expect(await index.find('oidc:main:sub:frank')).toEqual([]);
      expect(await whoami(phone)).toMatchObject({ sub: null, providers: [] });
      expect(await whoami(laptop)).toMatchObject({ sub: null, providers: [] });
      expect(await store.get(sessionId(other))).not.toBeNull();
      expect(await whoami(other)).toMatchObject({ sub: 'grace', providers: ['main'] });
    });

    it('the provider’s own logout (its logout token names sid) deletes that session from the database', async () => {
      const browser = await loggedIn('heidi');
      const bystander = await loggedIn('heidi');
      const id = sessionId(browser);
      expect(await store.get(id)).not.toBeNull();
      idp.resetCounts();
      await browser.confirmLogoutAtProvider(`${idp.issuer}/session/end`);
      await expect.poll(() => idp.counts.backchannel.success, { timeout: 5000 }).toBe(1);
      expect(idp.counts.backchannel.errors).toEqual([]);
      expect(await store.get(id)).toBeNull();
      expect(await whoami(browser)).toMatchObject({ sub: null });
      // The same user's login in another browser is another provider session (another sid): it stays.
      expect(await whoami(bystander)).toMatchObject({ sub: 'heidi' });
    });
  });
});
