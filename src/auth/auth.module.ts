import { Inject, Module, Optional, type DynamicModule, type NestModule, type Provider } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, HttpAdapterHost } from '@nestjs/core';
import { createAuthController } from './auth.controller.js';
import { AUTH_RESOLVED_OPTIONS, AUTH_ROUTES_PREFIX } from './auth.constants.js';
import { AuthManager } from './auth.manager.js';
import { AuthReporter } from './auth.reporter.js';
import { AuthSessionReader } from './auth-session.reader.js';
import { BackchannelLogoutHandler } from './backchannel-logout.handler.js';
import { ASYNC_OPTIONS_TYPE, ConfigurableAuthModule, MODULE_OPTIONS_TOKEN, OPTIONS_TYPE } from './auth.module-definition.js';
import type { AuthModuleOptions } from './auth-options.interface.js';
import { resolveAuthOptions } from './auth-options.resolver.js';
import { AuthenticatedGuard } from './guards/authenticated.guard.js';
import { ClaimsGuard } from './guards/claims.guard.js';
import { LoginIndex } from './login-index.js';
import { LoginRedirectFilter } from './login-redirect.filter.js';
import { acceptFormPostsOnFastify } from './logout-form.js';
import { LoginFlow } from './login.flow.js';
import { LogoutFlow } from './logout.flow.js';
import { OidcClients } from './oidc-clients.service.js';
import { SessionBridge } from './session.bridge.js';
import { TokenRefresher } from './token.refresher.js';
import { AuthError } from './errors/auth.error.js';
import { AuthMessages } from './errors/auth.messages.js';

const providers: Provider[] = [
  {
    provide: AUTH_RESOLVED_OPTIONS,
    useFactory: (options: AuthModuleOptions) => resolveAuthOptions(options),
    inject: [MODULE_OPTIONS_TOKEN],
  },
  OidcClients,
  // The units AuthManager delegates to, one job each; internal, so not exported.
  SessionBridge,
  AuthReporter,
  AuthSessionReader,
  LoginIndex,
  TokenRefresher,
  LoginFlow,
  LogoutFlow,
  BackchannelLogoutHandler,
  AuthManager,
  AuthenticatedGuard,
  ClaimsGuard,
  { provide: APP_FILTER, useClass: LoginRedirectFilter },
];

const exported = [AuthManager, OidcClients, AuthenticatedGuard, ClaimsGuard];

/** `routes` → a path prefix without surrounding slashes, or `false`. */
function routesPrefix(routes: string | false | undefined): string | false {
  if (routes === false) return false;
  const prefix = (routes ?? 'auth').replace(/^\/+|\/+$/g, '');
  if (!/^[A-Za-z0-9._~\-/]*$/.test(prefix)) {
    throw new AuthError(
      'AUTH_OPTIONS_INVALID',
      AuthMessages.invalidOption('routes', 'must be a plain path such as "auth"', "Give e.g. 'auth' or false."),
    );
  }
  return prefix;
}

/**
 * OpenID Connect login with the tokens held in the session (`nest-sessions/auth`). Needs
 * `SessionModule` in the same app. Discovers the providers at start-up (with retries), registers
 * the login, callback, logout and back-channel logout routes under `routes` (default `auth`),
 * and provides `AuthManager`, `AuthenticatedGuard` and `ClaimsGuard`.
 *
 * @example
 * ```ts
 * @Module({
 *   imports: [
 *     SessionModule.forRoot({ secret: process.env.SESSION_SECRET!, store: process.env.SESSION_STORE }),
 *     AuthModule.forRootAsync({
 *       imports: [ConfigModule],
 *       inject: [ConfigService],
 *       useFactory: (config: ConfigService) => ({
 *         providers: {
 *           main: {
 *             issuer: config.getOrThrow('OIDC_ISSUER'),
 *             clientId: config.getOrThrow('OIDC_CLIENT_ID'),
 *             clientSecret: config.getOrThrow('OIDC_CLIENT_SECRET'),
 *             redirectUri: 'https://app.example.com/auth/callback',
 *             scope: 'openid profile email offline_access',
 *           },
 *         },
 *       }),
 *     }),
 *   ],
 * })
 * export class AppModule {}
 * ```
 */
@Module({ providers, exports: exported })
export class AuthModule extends ConfigurableAuthModule implements NestModule {
  constructor(
    @Optional() @Inject(AUTH_ROUTES_PREFIX) private readonly routesPrefix?: string | false,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {
    super();
  }

  /**
   * On Fastify, make sure the provider's back-channel form post reaches its route (see
   * `acceptFormPostsOnFastify`): Fastify refuses a media type it has no parser for, which it has
   * not when the app is created with `bodyParser: false`. Express needs nothing: the route reads
   * an unparsed form itself. Runs while modules are configured, after Nest registered its parsers.
   */
  configure(): void {
    const adapter = this.adapterHost?.httpAdapter;
    if (typeof this.routesPrefix === 'string' && adapter?.getType() === 'fastify') acceptFormPostsOnFastify(adapter.getInstance());
  }

  /** Configure login with options known up front. */
  static override forRoot(options: typeof OPTIONS_TYPE): DynamicModule {
    return AuthModule.withExtras(super.forRoot(options), options);
  }

  /** Configure login from other providers (`useFactory` + `inject`, `useClass` or `useExisting`). */
  static override forRootAsync(options: typeof ASYNC_OPTIONS_TYPE): DynamicModule {
    return AuthModule.withExtras(super.forRootAsync(options), options);
  }

  private static withExtras(
    module: DynamicModule,
    extras: { isGlobal?: boolean; routes?: string | false; globalGuard?: boolean },
  ): DynamicModule {
    const prefix = routesPrefix(extras.routes);
    const extra: Provider[] = [{ provide: AUTH_ROUTES_PREFIX, useValue: prefix }];
    if (extras.globalGuard) extra.push({ provide: APP_GUARD, useExisting: AuthenticatedGuard });
    return {
      ...module,
      global: extras.isGlobal ?? false,
      controllers: prefix === false ? [] : [createAuthController(prefix)],
      providers: [...(module.providers ?? []), ...extra],
      exports: [...(module.exports ?? []), ...exported],
    };
  }
}
