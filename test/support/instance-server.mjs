// One app instance for the multi-instance and fault tests: a separate Node process running the
// built package (imported by name) against the store named by STORE_URL, as a deployment would.
// Plain ESM JavaScript with Reflect.decorate, so it needs no build of its own.
// With OIDC_ISSUER set it also logs users in with `nest-sessions/auth` (OIDC_CLIENT_ID, OIDC_CLIENT_SECRET,
// OIDC_REFRESH_BEFORE; the redirect URI names PORT, so give a fixed one) and serves GET /token.
// On Express by default, on Fastify with PLATFORM=fastify (the module is the same on both: AuthModule
// makes Fastify accept the provider's back-channel form post itself). The ready line names the platform.
// PRINCIPAL_KEY names the session key that is the `principal` (POST /logout-everywhere needs it).
// STORE_SENTINEL ('host:port[,host:port…]', with STORE_SENTINEL_NAME and STORE_PREFIX) uses a RedisStore
// through Sentinel instead of STORE_URL: Sentinel has no URL form.
import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { Body, Controller, Get, HttpCode, Module, Post, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Session, SessionManager, SessionModule } from 'nest-sessions';

function decorateMethod(Class, name, ...decorators) {
  const proto = Class.prototype;
  const descriptor = Reflect.decorate(decorators, proto, name, Object.getOwnPropertyDescriptor(proto, name));
  if (descriptor) Object.defineProperty(proto, name, descriptor);
}
const param = (index, decorator) => (target, key) => decorator(target, key, index);

class InstanceController {
  constructor(manager) {
    this.manager = manager;
  }
  all(session) {
    return { ...session.toJSON(), servedBy: process.pid };
  }
  set(session, body) {
    for (const [key, value] of Object.entries(body)) session.set(key, value);
    return { ok: true, servedBy: process.pid };
  }
  increment(session, body) {
    const key = body?.key ?? 'count';
    session.set(key, (session.get(key) ?? 0) + 1);
    return { [key]: session.get(key) };
  }
  setFlash(session, body) {
    session.setFlash(body.message);
    return { ok: true, servedBy: process.pid };
  }
  flash(session) {
    return { flash: session.consumeFlash() ?? null, servedBy: process.pid };
  }
  async regenerate(session) {
    await session.regenerate();
    return { ok: true, servedBy: process.pid };
  }
  async login(session, body) {
    await session.regenerate();
    session.set('user', body.user);
    return { ok: true, servedBy: process.pid };
  }
  async logoutEverywhere(session) {
    const destroyed = await this.manager.destroyByPrincipal(session.get('user'));
    return { destroyed, servedBy: process.pid };
  }
}
decorateMethod(InstanceController, 'all', Get('all'), param(0, Session()));
decorateMethod(InstanceController, 'set', Post('set'), HttpCode(200), param(0, Session()), param(1, Body()));
decorateMethod(InstanceController, 'increment', Post('increment'), HttpCode(200), param(0, Session()), param(1, Body()));
decorateMethod(InstanceController, 'setFlash', Post('flash'), HttpCode(200), param(0, Session()), param(1, Body()));
decorateMethod(InstanceController, 'flash', Get('flash'), param(0, Session()));
decorateMethod(InstanceController, 'regenerate', Post('regenerate'), HttpCode(200), param(0, Session()));
decorateMethod(InstanceController, 'login', Post('login'), HttpCode(200), param(0, Session()), param(1, Body()));
decorateMethod(InstanceController, 'logoutEverywhere', Post('logout-everywhere'), HttpCode(200), param(0, Session()));
Controller()(InstanceController);
// No emitDecoratorMetadata here: name the constructor's parameter types for Nest's injector.
Reflect.defineMetadata('design:paramtypes', [SessionManager], InstanceController);

// Only with OIDC_ISSUER: without it the instance loads nothing of `nest-sessions/auth` (nor openid-client).
const auth = process.env.OIDC_ISSUER ? await authParts(process.env.OIDC_ISSUER) : undefined;

async function authParts(issuer) {
  const { AuthManager, AuthModule, AuthenticatedGuard } = await import('nest-sessions/auth');
  if (!process.env.PORT || process.env.PORT === '0') throw new Error('OIDC_ISSUER needs a fixed PORT (the redirect URI names it)');
  const fingerprint = (token) => createHash('sha256').update(token).digest('hex').slice(0, 16);

  // Like test/support/auth-app.ts: fingerprints of the tokens after AuthManager.getTokens() (which refreshes stale ones).
  class TokenController {
    constructor(authManager) {
      this.authManager = authManager;
    }
    async token(session) {
      const login = await this.authManager.getTokens(session);
      return { at: fingerprint(login.accessToken), rt: login.refreshToken ? fingerprint(login.refreshToken) : null, servedBy: process.pid };
    }
  }
  decorateMethod(TokenController, 'token', UseGuards(AuthenticatedGuard), Get('token'), param(0, Session()));
  Controller()(TokenController);
  // No emitDecoratorMetadata here: name the constructor's parameter types for Nest's injector.
  Reflect.defineMetadata('design:paramtypes', [AuthManager], TokenController);

  const module = AuthModule.forRoot({
    allowInsecureIssuers: true,
    refreshBefore: process.env.OIDC_REFRESH_BEFORE ?? '2s',
    providers: {
      main: {
        issuer,
        clientId: process.env.OIDC_CLIENT_ID,
        clientSecret: process.env.OIDC_CLIENT_SECRET,
        redirectUri: `http://127.0.0.1:${process.env.PORT}/auth/callback`,
        scope: 'openid profile offline_access',
      },
    },
  });
  return { module, controller: TokenController };
}

// Only with STORE_SENTINEL: without it the instance loads nothing of `nest-sessions/redis` itself.
const store = process.env.STORE_SENTINEL ? await sentinelStore(process.env.STORE_SENTINEL) : process.env.STORE_URL;

async function sentinelStore(sentinels) {
  const { RedisStore } = await import('nest-sessions/redis');
  return new RedisStore({
    sentinel: {
      sentinels: sentinels.split(',').map((address) => {
        const [host, port] = address.split(':');
        return { host, port: Number(port) };
      }),
      name: process.env.STORE_SENTINEL_NAME ?? 'mymaster',
    },
    ...(process.env.STORE_PREFIX ? { keyPrefix: process.env.STORE_PREFIX } : {}),
    ...(process.env.STORE_COMMAND_TIMEOUT ? { commandTimeout: Number(process.env.STORE_COMMAND_TIMEOUT) } : {}),
  });
}

class AppModule {}
Module({
  imports: [
    SessionModule.forRoot({
      secret: process.env.SESSION_SECRET,
      store,
      cookie: { secure: false },
      storeTimeout: Number(process.env.STORE_TIMEOUT ?? 1000),
      ...(process.env.PRINCIPAL_KEY ? { principal: process.env.PRINCIPAL_KEY } : {}),
      onError: process.env.LOG_ERRORS
        ? (error) => console.error('SESSION_ERROR', error.code, error.message, String(error.cause))
        : () => undefined,
    }),
    ...(auth ? [auth.module] : []),
  ],
  controllers: [InstanceController, ...(auth ? [auth.controller] : [])],
})(AppModule);

const platform = process.env.PLATFORM ?? 'express';
if (platform !== 'express' && platform !== 'fastify') throw new Error(`PLATFORM must be express or fastify, not ${platform}`);
const options = { logger: process.env.LOG_ERRORS ? ['error'] : false };
// Fastify is loaded only when asked for, like test/support/test-app.ts's createApp().
const app =
  platform === 'fastify'
    ? await NestFactory.create(AppModule, new (await import('@nestjs/platform-fastify')).FastifyAdapter(), options)
    : await NestFactory.create(AppModule, options);
await app.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
const stop = () => app.close().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The platform as the running app's adapter reports it, not as asked for.
const ready = { ready: true, port: app.getHttpServer().address().port, pid: process.pid, platform: app.getHttpAdapter().getType() };
process.stdout.write(`${JSON.stringify(ready)}\n`);
