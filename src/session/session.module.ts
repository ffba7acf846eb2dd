import {
  Module,
  RequestMethod,
  type DynamicModule,
  type MiddlewareConsumer,
  type NestModule,
  type Provider,
} from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { isClientSideStore } from '../stores/cookie/cookie.store.js';
import { ClientSessionManager } from './client-session.manager.js';
import { SESSION_STORE } from './session.constants.js';
import { SessionInterceptor } from './session.interceptor.js';
import { SESSION_RESOLVED_OPTIONS } from './session.internal-constants.js';
import { SessionManager } from './session.manager.js';
import { SessionMiddleware } from './session.middleware.js';
import {
  ASYNC_OPTIONS_TYPE,
  ConfigurableSessionModule,
  MODULE_OPTIONS_TOKEN,
  OPTIONS_TYPE,
} from './session.module-definition.js';
import type { SessionModuleOptions } from './session-options.interface.js';
import { resolveSessionOptions, type ResolvedSessionOptions } from './session-options.resolver.js';

/** Whether the module's providers are visible to every module without importing it. */
interface GlobalFlag {
  /**
   * Make `SessionManager` and `SESSION_STORE` injectable everywhere.
   * @default false
   */
  isGlobal?: boolean;
}

const providers: Provider[] = [
  {
    provide: SESSION_RESOLVED_OPTIONS,
    useFactory: (options: SessionModuleOptions) => resolveSessionOptions(options),
    inject: [MODULE_OPTIONS_TOKEN],
  },
  {
    provide: SESSION_STORE,
    useFactory: (options: ResolvedSessionOptions) => options.store,
    inject: [SESSION_RESOLVED_OPTIONS],
  },
  {
    provide: SessionManager,
    useFactory: (options: ResolvedSessionOptions) =>
      isClientSideStore(options.store) ? new ClientSessionManager(options) : new SessionManager(options),
    inject: [SESSION_RESOLVED_OPTIONS],
  },
  SessionMiddleware,
  { provide: APP_INTERCEPTOR, useClass: SessionInterceptor },
];

/**
 * Server-side sessions for a Nest application. Registers the store, the middleware that loads
 * the session before guards and writes it back before the response ends, and a global
 * interceptor for non-HTTP contexts.
 *
 * @example
 * ```ts
 * @Module({ imports: [SessionModule.forRoot({ secret: process.env.SESSION_SECRET!, store: 'memory:' })] })
 * export class AppModule {}
 *
 * // with @nestjs/config
 * SessionModule.forRootAsync({
 *   imports: [ConfigModule],
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({ secret: config.getOrThrow('SESSION_SECRET'), store: config.get('SESSION_STORE') }),
 * })
 * ```
 */
@Module({ providers, exports: [SessionManager, SESSION_STORE] })
export class SessionModule extends ConfigurableSessionModule implements NestModule {
  /** Configure sessions with options known up front. */
  static override forRoot(options: typeof OPTIONS_TYPE & GlobalFlag): DynamicModule {
    const { isGlobal, ...rest } = options;
    return { ...super.forRoot(rest as typeof OPTIONS_TYPE), global: isGlobal ?? false };
  }

  /** Configure sessions from other providers (`useFactory` + `inject`, `useClass` or `useExisting`). */
  static override forRootAsync(options: typeof ASYNC_OPTIONS_TYPE & GlobalFlag): DynamicModule {
    const { isGlobal, ...rest } = options;
    return { ...super.forRootAsync(rest as typeof ASYNC_OPTIONS_TYPE), global: isGlobal ?? false };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(SessionMiddleware).forRoutes({ path: '{*path}', method: RequestMethod.ALL });
  }
}
