// Type checked by scripts/nest11-check.sh against Nest 11's types and the packed package's; the
// repository's own type check leaves test/nest11 out (from here 'nest-sessions' resolves to nothing).
// A small NestJS 11 app, compiled to CommonJS: every `import` of nest-sessions below becomes a
// `require()` of the package's ES modules (Node's require(esm)). check.cjs starts it and drives it.
import 'reflect-metadata';
import { Controller, Get, Injectable, Module, Post, Query, UseGuards, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventEmitterModule, OnEvent } from '@nestjs/event-emitter';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { WsAdapter } from '@nestjs/platform-ws';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { Flash, Session, SessionModule, withSessions, type SessionHandle, type SessionModuleOptions } from 'nest-sessions';
import { AuthModule, AuthenticatedGuard, CurrentUser, type AuthClaims } from 'nest-sessions/auth';
import { SessionStoreHealthIndicator } from 'nest-sessions/terminus';

/** Session events received through @nestjs/event-emitter (the app's own EventEmitter2). */
@Injectable()
export class EventLog {
  readonly created: string[] = [];

  @OnEvent('session.created')
  onCreated(event: { id: string }) {
    this.created.push(event.id);
  }
}

@Controller()
class AppController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly storeHealth: SessionStoreHealthIndicator,
  ) {}

  @Get('count')
  count(@Session() session: SessionHandle) {
    const n = ((session.get('n') as number | undefined) ?? 0) + 1;
    session.set('n', n);
    return { n, id: session.id };
  }

  @Post('flash')
  leaveFlash(@Session() session: SessionHandle, @Query('message') message: string) {
    session.flash('info', message);
    return { ok: true };
  }

  @Get('flash')
  showFlash(@Flash('info') info?: string[]) {
    return { info: info ?? null };
  }

  @Post('regenerate')
  async regenerate(@Session() session: SessionHandle) {
    await session.regenerate();
    return { id: session.id };
  }

  @Post('logout')
  async logout(@Session() session: SessionHandle) {
    await session.destroy();
    return { ok: true };
  }

  @Get('health')
  @HealthCheck()
  check() {
    return this.health.check([() => this.storeHealth.isHealthy('sessions')]);
  }
}

/** The same counter over a WebSocket (`ws`), with the session of the handshake's cookie. */
@WebSocketGateway()
class CountGateway {
  @SubscribeMessage('count')
  count(@Session() session: SessionHandle) {
    const n = ((session.get('n') as number | undefined) ?? 0) + 1;
    session.set('n', n);
    return { event: 'count', data: { n } };
  }
}

/** Only in the app with AuthModule: its guard needs the module's AuthManager. */
@Controller()
class MeController {
  @UseGuards(AuthenticatedGuard)
  @Get('me')
  me(@CurrentUser() user: AuthClaims) {
    return { sub: user.sub, email: user.email ?? null };
  }
}

export interface AppOptions {
  port: number;
  /** A store instance, or a store URL (`memory:`, `redis://…`). */
  store: SessionModuleOptions['store'];
  /** The test provider's issuer, client and secret: adds AuthModule and its /auth routes. */
  oidc?: { issuer: string; clientId: string; clientSecret: string };
}

export async function startApp(options: AppOptions): Promise<INestApplication> {
  const base = `http://127.0.0.1:${options.port}`;
  const auth = options.oidc
    ? [
        AuthModule.forRoot({
          allowInsecureIssuers: true,
          providers: {
            main: {
              issuer: options.oidc.issuer,
              clientId: options.oidc.clientId,
              clientSecret: options.oidc.clientSecret,
              redirectUri: `${base}/auth/callback`,
              postLogoutRedirectUri: `${base}/`,
              scope: 'openid profile email',
            },
          },
        }),
      ]
    : [];

  @Module({
    imports: [
      EventEmitterModule.forRoot(),
      TerminusModule,
      SessionModule.forRoot({ secret: 'nest11-check-secret-0123456789abcdef', cookie: { secure: false }, store: options.store }),
      ...auth,
    ],
    controllers: options.oidc ? [AppController, MeController] : [AppController],
    providers: [EventLog, SessionStoreHealthIndicator, CountGateway],
  })
  class AppModule {}

  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  app.useWebSocketAdapter(new (withSessions(WsAdapter))(app));
  await app.listen(options.port, '127.0.0.1');
  return app;
}
