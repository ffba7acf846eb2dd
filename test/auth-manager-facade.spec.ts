import 'reflect-metadata';
import { Controller, Get, Injectable, Module, Post, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthEventName, AuthEventOf } from '../src/auth/auth-events.js';
import { AuthManager, AuthModule, CurrentUser, type AuthClaims } from '../src/auth/index.js';
import { Session, SessionModule, type SessionHandle } from '../src/index.js';
import { OidcTestBrowser } from './support/oidc-browser.js';
import { startTestIdp, type TestIdp } from './support/oidc-provider.js';
import { freePort } from './support/ports.js';
import { SECRET } from './support/test-app.js';

/**
 * AuthManager as a facade over its units: a subclass provided under AuthManager that overrides
 * emit() sees every event the units report (login, refresh, and each kind of logout), and the
 * decorators find it. Real oidc-provider, real HTTP.
 */

const BACKCHANNEL = 'http://schemas.openid.net/event/backchannel-logout';

/** An app's subclass that publishes events elsewhere, as the documentation of emit() suggests. */
@Injectable()
class PublishingAuthManager extends AuthManager {
  readonly published: string[] = [];

  protected override async emit<N extends AuthEventName>(name: N, event: AuthEventOf<N>): Promise<void> {
    const { reason, sub, claims } = event as { reason?: string; sub?: string; claims?: AuthClaims };
    this.published.push(`${name}${reason ? `:${reason}` : ''}:${sub ?? claims?.sub}`);
  }
}

@Controller()
class FacadeTestController {
  constructor(private readonly auth: AuthManager) {}

  @Get('whoami')
  whoami(@CurrentUser() user: AuthClaims | undefined) {
    return { sub: user?.sub ?? null };
  }

  /** Refreshes the tokens now, as an app does when an API refused them. */
  @Post('force-refresh')
  async forceRefresh(@Session() session: SessionHandle) {
    return this.auth.getTokens(session, undefined, { forceRefresh: true }).then(
      () => ({ refreshed: true }),
      (error: { code: string }) => ({ refreshed: false, code: error.code }),
    );
  }
}

describe('AuthManager (facade)', () => {
  let idp: TestIdp;
  let app: INestApplication;
  let url: string;
  const handled: string[] = [];

  const loggedIn = async (login: string) => {
    const browser = new OidcTestBrowser();
    const result = await browser.login(`${url}/auth/login?returnTo=%2Fwhoami`, { login });
    expect(JSON.parse(result.response.text)).toEqual({ sub: login });
    return browser;
  };

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    idp = await startTestIdp({ clients: [{ clientId: 'app', clientSecret: 'app-secret', redirectUris: [`${url}/auth/callback`] }] });
    const record = (name: string) => () => void handled.push(name);
    @Module({
      imports: [
        SessionModule.forRoot({ secret: SECRET, cookie: { secure: false } }),
        AuthModule.forRoot({
          allowInsecureIssuers: true,
          providers: {
            main: {
              issuer: idp.issuer,
              clientId: 'app',
              clientSecret: 'app-secret',
              redirectUri: `${url}/auth/callback`,
              scope: 'openid offline_access',
            },
          },
          events: { login: record('login'), logout: record('logout'), refresh: record('refresh') },
        }),
      ],
      controllers: [FacadeTestController],
    })
    class FacadeTestModule {}
    const moduleRef = await Test.createTestingModule({ imports: [FacadeTestModule] })
      .overrideProvider(AuthManager)
      .useClass(PublishingAuthManager)
      .compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(port, '127.0.0.1');
  });
  afterAll(async () => {
    await app?.close();
    await idp?.close();
  });

  it('a subclass overriding emit() sees every event of every unit, and the handlers it replaced see none', async () => {
    const manager = app.get(AuthManager);
    expect(manager).toBeInstanceOf(PublishingAuthManager);
    const { published } = manager as PublishingAuthManager;

    const alice = await loggedIn('alice');
    expect((await alice.request(`${url}/force-refresh`, { method: 'POST' })).text).toBe('{"refreshed":true}');
    await idp.revokeGrants('alice');
    expect(JSON.parse((await alice.request(`${url}/force-refresh`, { method: 'POST' })).text)).toEqual({
      refreshed: false,
      code: 'AUTH_LOGIN_REQUIRED',
    });

    await loggedIn('bob');
    const logoutToken = await idp.signJwt(
      {
        iss: idp.issuer,
        aud: 'app',
        iat: Math.floor(Date.now() / 1000),
        jti: randomBytes(8).toString('hex'),
        sub: 'bob',
        events: { [BACKCHANNEL]: {} },
      },
      { key: 'provider', header: { typ: 'logout+jwt' } },
    );
    const delivered = await fetch(`${url}/auth/backchannel-logout`, {
      method: 'POST',
      body: new URLSearchParams({ logout_token: logoutToken }),
    });
    expect(delivered.status).toBe(200);

    const carol = await loggedIn('carol');
    expect((await carol.postForm(`${url}/auth/logout`, {})).status).toBe(303);

    expect(published).toEqual([
      'login:alice',
      'refresh:alice',
      'logout:refresh-failed:alice',
      'login:bob',
      'logout:backchannel:bob',
      'login:carol',
      'logout:user:carol',
    ]);
    expect(handled).toEqual([]);
  });

  it('the decorators find the subclass: @CurrentUser() reads the user through it', async () => {
    const browser = await loggedIn('dora');
    expect(JSON.parse((await browser.get(`${url}/whoami`)).text)).toEqual({ sub: 'dora' });
  });
});
