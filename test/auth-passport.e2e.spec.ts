import 'reflect-metadata';
import { Controller, Get, Injectable, Module, Req, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AuthGuard, PassportModule, PassportStrategy } from '@nestjs/passport';
import * as client from 'openid-client';
import { Strategy } from 'openid-client/passport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionModule } from '../src/index.js';
import { OidcTestBrowser } from './support/oidc-browser.js';
import { startTestIdp, type TestIdp } from './support/oidc-provider.js';
import { freePort } from './support/ports.js';
import { SECRET } from './support/test-app.js';

/**
 * The README's recipe: openid-client's passport strategy through `@nestjs/passport`, keeping its
 * PKCE verifier and state in nest-sessions' `req.session` between the login and the callback.
 *
 * Express only, on purpose: passport answers on the response object it is given, as Node's and
 * Express's (`res.setHeader('Location', ...)`, `res.end()` in passport's `authenticate`), and
 * `@nestjs/passport` hands it Fastify's reply there, which has neither (a 500 on Fastify). That is
 * passport's limit, not the session's: `AuthModule` is the login tested on both platforms.
 */
describe('openid-client/passport with @nestjs/passport on top of req.session', () => {
  let idp: TestIdp;
  let app: Awaited<ReturnType<typeof NestFactory.create>>;
  let url: string;

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    idp = await startTestIdp({
      clients: [{ clientId: 'passport-app', clientSecret: 'passport-secret', redirectUris: [`${url}/login/callback`] }],
    });
    const config = await client.discovery(new URL(idp.issuer), 'passport-app', undefined, client.ClientSecretBasic('passport-secret'), {
      execute: [client.allowInsecureRequests],
    });

    @Injectable()
    class OidcStrategy extends PassportStrategy(Strategy, 'oidc') {
      constructor() {
        super({ config, scope: 'openid profile email', callbackURL: `${url}/login/callback`, name: 'oidc' });
      }
      validate(tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers) {
        return tokens.claims();
      }
    }

    @Controller()
    class LoginController {
      @UseGuards(AuthGuard('oidc'))
      @Get('login')
      login() {}

      @UseGuards(AuthGuard('oidc'))
      @Get('login/callback')
      callback(@Req() req: { user?: { sub: string }; session: Record<string, unknown> }) {
        return { sub: req.user?.sub, leftover: Object.keys(req.session).filter((key) => key.includes('127.0.0.1') || key === 'oidc') };
      }
    }

    @Module({
      imports: [SessionModule.forRoot({ secret: SECRET, cookie: { secure: false } }), PassportModule],
      controllers: [LoginController],
      providers: [OidcStrategy],
    })
    class PassportAppModule {}
    app = await NestFactory.create(PassportAppModule, { logger: false });
    await app.listen(port, '127.0.0.1');
  });

  afterAll(async () => {
    await app?.close();
    await idp?.close();
  });

  it('logs in through the strategy; its PKCE state lives in our session and is consumed at the callback', async () => {
    const browser = new OidcTestBrowser();
    const result = await browser.login(`${url}/login`, { login: 'alice' });
    expect(result.response.status).toBe(200);
    expect(JSON.parse(result.response.text)).toEqual({ sub: 'alice', leftover: [] });
    expect(new URL(result.visited[1]).searchParams.get('code_challenge_method')).toBe('S256');
    expect(idp.counts.grants.authorization_code).toBe(1);
  });

  it('fails the callback when the session that started the login is missing', async () => {
    const browser = new OidcTestBrowser();
    const { callbackUrl } = await browser.login(`${url}/login`, { stopAtCallback: '/login/callback' });
    const stranger = new OidcTestBrowser();
    const response = await stranger.get(callbackUrl!);
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(idp.counts.grants.authorization_code).toBe(1);
  });
});
