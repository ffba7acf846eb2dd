import { Inject, Injectable, Logger, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { SessionModule, type Session, type SessionModuleOptions } from 'nest-sessions';
import { AuthModule, type AuthModuleOptions, type StoredLogin } from 'nest-sessions/auth';
import { AppController } from './app.controller.js';
import { PROVIDER_NAME } from './auth-config.js';
import type { DevOidcProvider } from './dev-oidc-provider.js';

const logger = new Logger('SampleApp');

/** The store URL the app uses: `SESSION_STORE`, or the in-process memory store. */
export function sessionStoreUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env.SESSION_STORE || 'memory:';
}

/**
 * Whose session it is (SessionModule's `principal`, which the "Your sessions" page lists by): the
 * subject (`sub` claim) of the login AuthModule keeps under `auth:main`; `undefined` before a login.
 * With several providers, prefix the provider's name, as subjects are unique per issuer only.
 */
export function sessionPrincipal(session: Session): string | undefined {
  const login = session.get(`auth:${PROVIDER_NAME}`) as Partial<StoredLogin> | undefined;
  const sub = login?.claims?.sub;
  return typeof sub === 'string' && sub !== '' ? sub : undefined;
}

/**
 * Session options from the environment:
 * - `SESSION_STORE`: store URL (`memory:`, `file:./.sessions`); defaults to `memory:`.
 * - `SESSION_SECRET`: signing secret, at least 32 characters. Without it a random secret is made
 *   for this process only, so sessions end whenever the app restarts.
 * - `TRUST_PROXY=1`: believe `X-Forwarded-Proto` from a reverse proxy when marking the cookie secure.
 */
export function sessionOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): SessionModuleOptions {
  let secret = env.SESSION_SECRET;
  if (!secret) {
    secret = randomBytes(32).toString('base64url');
    logger.warn('SESSION_SECRET is not set: using a random secret for this process, so sessions will not survive a restart.');
  }
  return {
    store: sessionStoreUrl(env),
    secret,
    // 'auto' marks the cookie Secure only on HTTPS requests, so plain http://127.0.0.1 works too.
    cookie: { secure: 'auto' },
    trustProxy: env.TRUST_PROXY === '1',
    // Index sessions by user, for the "Your sessions" page (SessionDevices).
    principal: sessionPrincipal,
    // Keep each session's user agent to tell the devices apart. The IP address is personal data that
    // this sample has no need for, so it is not kept.
    deviceInfo: { userAgent: true, ip: false },
  };
}

/** What {@link AppModule.forRoot} needs. */
export interface AppModuleOptions {
  /** Login options: a real provider's (see `realProviderOptions`) or the development provider's. */
  auth: AuthModuleOptions;
  /** Read for the session options (see {@link sessionOptionsFromEnv}). @default process.env */
  env?: NodeJS.ProcessEnv;
  /** The development provider the app was pointed at, closed when the app shuts down. */
  devProvider?: DevOidcProvider;
}

const DEV_OIDC_PROVIDER = Symbol('DEV_OIDC_PROVIDER');

/** Closes the development provider after the app has stopped serving (app.close(), or a signal with shutdown hooks on). */
@Injectable()
class DevOidcProviderShutdown implements OnApplicationShutdown {
  constructor(@Inject(DEV_OIDC_PROVIDER) private readonly provider: DevOidcProvider) {}

  onApplicationShutdown(): Promise<void> {
    return this.provider.close();
  }
}

/** The sample application: sessions configured from the environment, OpenID Connect login, and the pages. */
@Module({})
export class AppModule {
  static forRoot(options: AppModuleOptions): DynamicModule {
    const env = options.env ?? process.env;
    return {
      module: AppModule,
      imports: [
        SessionModule.forRootAsync({ useFactory: () => sessionOptionsFromEnv(env) }),
        // The module's routes: GET /auth/login, GET /auth/callback, POST /auth/backchannel-logout, ...
        AuthModule.forRoot(options.auth),
      ],
      controllers: [AppController],
      providers: options.devProvider ? [{ provide: DEV_OIDC_PROVIDER, useValue: options.devProvider }, DevOidcProviderShutdown] : [],
    };
  }
}
