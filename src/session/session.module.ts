import {
  Inject,
  Module,
  Optional,
  RequestMethod,
  type DynamicModule,
  type MiddlewareConsumer,
  type NestModule,
  type Provider,
} from '@nestjs/common';
import { APP_INTERCEPTOR, HttpAdapterHost } from '@nestjs/core';
import { isClientSideStore } from '../core/client-side-store.interface.js';
import { ClientSessionManager } from './client-session.manager.js';
import { CurrentSession } from './current-session.service.js';
import { SESSION_STORE } from './session.constants.js';
import { SessionInterceptor } from './session.interceptor.js';
import { SESSION_ASYNC_CONTEXT, SESSION_RESOLVED_OPTIONS } from './session.internal-constants.js';
import { withRequestContext } from './session-async-context.js';
import { reserveSessionSlot } from './session-context.util.js';
import { SessionIndex } from './session-index.service.js';
import { SessionLocks } from './session-locks.service.js';
import { SessionManager } from './session.manager.js';
import { SessionMiddleware } from './session.middleware.js';
import { SessionDevices } from './session-devices.service.js';
import { SessionEventEmitterBridge } from './session-event-emitter.bridge.js';
import { ASYNC_OPTIONS_TYPE, ConfigurableSessionModule, MODULE_OPTIONS_TOKEN, OPTIONS_TYPE } from './session.module-definition.js';
import type { SessionModuleOptions } from './session-options.interface.js';
import { resolveSessionOptions, type ResolvedSessionOptions } from './session-options.resolver.js';

/** Module-level switches, given beside the options (they decide which providers exist). */
interface ModuleFlags {
  /**
   * Make `SessionManager`, `SessionInterceptor`, `SessionLocks`, `SessionIndex`, `CurrentSession`
   * and `SESSION_STORE` injectable everywhere.
   * @default false
   */
  isGlobal?: boolean;
  /**
   * Register {@link SessionInterceptor} as a global interceptor, so WebSocket gateways and GraphQL
   * subscriptions get sessions in every handler. HTTP requests never need it (the middleware loads
   * the session before guards), and any global interceptor makes Nest run an RxJS pipeline for
   * every request, so it is off by default; `@UseInterceptors(SessionInterceptor)` on a gateway
   * does the same for that gateway only.
   * @default false
   */
  interceptor?: boolean;
  /**
   * Keep the current request in an `AsyncLocalStorage` (`node:async_hooks`), so that services
   * reach its session through {@link CurrentSession} without it being passed down: over HTTP
   * (GraphQL queries and mutations included) from the session middleware on, and in WebSocket
   * gateway messages. Off, `CurrentSession` throws `SESSION_NOT_FOUND`, and nothing of it runs on
   * the request path (the middleware is mounted as without it, no `AsyncLocalStorage.run()`), so
   * apps that do not use it pay nothing.
   * @default false
   * @example
   * ```ts
   * SessionModule.forRoot({ secret: process.env.SESSION_SECRET!, asyncContext: true });
   * ```
   */
  asyncContext?: boolean;
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
  SessionInterceptor,
  SessionLocks,
  SessionDevices,
  SessionEventEmitterBridge,
  CurrentSession,
  // The engine keeps principals in this index, so there is one instance: the manager's.
  { provide: SessionIndex, useFactory: (manager: SessionManager) => manager.index, inject: [SessionManager] },
];

const globalInterceptor: Provider = { provide: APP_INTERCEPTOR, useExisting: SessionInterceptor };

/**
 * Server-side sessions for a Nest application. Registers the store, the middleware that loads
 * the session before guards and writes it back before the response ends, and `SessionInterceptor`
 * for non-HTTP contexts (global with `interceptor: true`). Also provides and exports `SessionLocks`
 * (named locks in the store), `SessionIndex` (lookups from any string to sessions) and
 * `CurrentSession` (the current request's session in services, with `asyncContext: true`).
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
@Module({
  providers,
  exports: [SessionManager, SessionInterceptor, SessionLocks, SessionIndex, SessionDevices, CurrentSession, SESSION_STORE],
})
export class SessionModule extends ConfigurableSessionModule implements NestModule {
  /** Configure sessions with options known up front. */
  static override forRoot(options: typeof OPTIONS_TYPE & ModuleFlags): DynamicModule {
    const { isGlobal, interceptor, asyncContext, ...rest } = options;
    return SessionModule.withFlags(super.forRoot(rest), { isGlobal, interceptor, asyncContext });
  }

  /** Configure sessions from other providers (`useFactory` + `inject`, `useClass` or `useExisting`). */
  static override forRootAsync(options: typeof ASYNC_OPTIONS_TYPE & ModuleFlags): DynamicModule {
    const { isGlobal, interceptor, asyncContext, ...rest } = options;
    return SessionModule.withFlags(super.forRootAsync(rest), { isGlobal, interceptor, asyncContext });
  }

  private static withFlags(module: DynamicModule, { isGlobal, interceptor, asyncContext }: ModuleFlags): DynamicModule {
    const extra = interceptor ? [globalInterceptor] : [];
    // Exported too, for a `SessionInterceptor` that `@UseInterceptors()` makes in another module.
    const flag: Provider = { provide: SESSION_ASYNC_CONTEXT, useValue: asyncContext === true };
    return {
      ...module,
      global: isGlobal ?? false,
      providers: [...(module.providers ?? []), flag, ...extra],
      exports: [...(module.exports ?? []), SESSION_ASYNC_CONTEXT],
    };
  }

  constructor(
    private readonly manager: SessionManager,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
    @Optional() @Inject(SESSION_ASYNC_CONTEXT) private readonly asyncContext?: boolean,
  ) {
    super();
  }

  /**
   * Mount the session on every route. On Express and Fastify the engine's middleware goes straight
   * onto the platform (Express's app, Fastify's `@fastify/middie`, which Nest registers): it is
   * registered while modules are configured, so it still runs after `app.use()` middleware and
   * before module middleware, every route and guard. Nest's route-matched module middleware would
   * cost a path match and a proxy per request, about a tenth of a simple route's time. A store that
   * cannot be read is then answered by `SessionManager.failResponse()` (the same 503 body a failed
   * save gets) rather than by exception filters, alike on both. On Fastify the session is also
   * `request.session` (and `request.sessionID`) of Fastify's request (see {@link exposeOnFastifyRequest}). Other adapters use
   * module middleware. On every adapter the HTTP server gives each request its session slot as it
   * arrives (see `reserveSessionSlot`).
   *
   * With `asyncContext: true` the middleware runs the rest of the request (its `next`) in the
   * request's async context, for `CurrentSession` (a WebSocket upgrade excepted: see
   * `runHttpRequestInContext`). Fastify reads a body after its middleware ran and keeps the
   * context across it itself. Without the option the middleware is mounted as it is.
   */
  configure(consumer: MiddlewareConsumer): void {
    const adapter = this.adapterHost?.httpAdapter;
    reserveSessionSlot(adapter?.getHttpServer());
    const type = adapter?.getType();
    if (type === 'express' || type === 'fastify') {
      if (type === 'fastify') exposeOnFastifyRequest(adapter!.getInstance());
      const middleware = this.manager.middleware();
      adapter!.use(this.asyncContext === true ? withRequestContext(middleware) : middleware);
      return;
    }
    consumer.apply(SessionMiddleware).forRoutes({ path: '{*path}', method: RequestMethod.ALL });
  }
}

/** Fastify's request, which keeps Node's in `raw`. */
interface FastifyRequestLike {
  raw: { session?: unknown; sessionID?: unknown };
}

/** The part of a Fastify instance {@link exposeOnFastifyRequest} uses (typed here: the package imports nothing of Fastify). */
interface FastifyInstanceLike {
  register(plugin: (instance: FastifyInstanceLike, options: unknown, done: () => void) => void): unknown;
  hasRequestDecorator(name: string): boolean;
  decorateRequest(
    name: string,
    property: { getter(this: FastifyRequestLike): unknown; setter(this: FastifyRequestLike, value: unknown): void },
  ): unknown;
}

/**
 * Make `request.session` of Fastify's request read and write the session view of its Node
 * request (`request.raw.session`, express-session's API, exposed by the engine), as
 * `@fastify/session` users expect it there. Done by a plugin on the root instance (as
 * `fastify-plugin` would), so plugins the app registered earlier load first: when one of them owns
 * the name already (`@fastify/session`, `@fastify/secure-session`), it is left to it, and the
 * session is `request.raw.session` and `@Session()` then.
 */
function exposeOnFastifyRequest(instance: unknown): void {
  const fastify = instance as Partial<FastifyInstanceLike> | undefined;
  if (typeof fastify?.register !== 'function') return;
  const plugin = (root: FastifyInstanceLike, _options: unknown, done: () => void): void => {
    if (!root.hasRequestDecorator('session')) {
      root.decorateRequest('session', {
        getter() {
          return this.raw.session;
        },
        setter(value) {
          this.raw.session = value;
        },
      });
    }
    if (!root.hasRequestDecorator('sessionID')) {
      root.decorateRequest('sessionID', {
        getter() {
          return this.raw.sessionID;
        },
        setter(value) {
          this.raw.sessionID = value;
        },
      });
    }
    done();
  };
  // What fastify-plugin sets: the plugin decorates the root instance, not an encapsulated child.
  Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'nest-sessions' });
  fastify.register(plugin);
}
