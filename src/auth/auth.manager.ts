import { Inject, Injectable, Logger, type OnModuleInit, type Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import type { SessionManager } from '../session/session.manager.js';
import { sessionOperations, type AnySession } from '../session/session.js';
import { AUTH_RESOLVED_OPTIONS, AUTH_ROUTES_PREFIX } from './auth.constants.js';
import { createAuthFetch, type AuthFetch } from './auth-fetch.js';
import type { ResolvedAuthOptions } from './auth-options.resolver.js';
import type { AuthClaims, StoredLogin } from './auth-session.js';
import { AuthSessionReader } from './auth-session.reader.js';
import { AUTH_EVENT_NAMES, deliverEvent, type AuthEventName, type AuthEventOf } from './auth-events.js';
import { AuthReporter } from './auth.reporter.js';
import { BackchannelLogoutHandler } from './backchannel-logout.handler.js';
import { isCrossOrigin } from './cross-origin.js';
import { AuthError } from './errors/auth.error.js';
import { AuthMessages } from './errors/auth.messages.js';
import { LoginIndex } from './login-index.js';
import { LoginFlow } from './login.flow.js';
import { LogoutFlow } from './logout.flow.js';
import { OidcClients } from './oidc-clients.service.js';
import { SessionBridge } from './session.bridge.js';
import { TokenRefresher } from './token.refresher.js';

export type { AuthFetch } from './auth-fetch.js';

/** AuthManagers by the session engine they work with, so parameter decorators can find theirs. */
const managers = new WeakMap<object, AuthManager>();

/** The AuthManager of the app a session belongs to. @internal */
export function authManagerOf(session: AnySession): AuthManager | undefined {
  return managers.get(sessionOperations(session));
}

/** The units `AuthManager` delegates to, one job each. */
interface AuthUnits {
  bridge: SessionBridge;
  reporter: AuthReporter;
  reader: AuthSessionReader;
  loginIndex: LoginIndex;
  refresher: TokenRefresher;
  loginFlow: LoginFlow;
  logoutFlow: LogoutFlow;
  backchannel: BackchannelLogoutHandler;
}

/**
 * OpenID Connect login with the tokens kept in the session. The routes of `AuthModule` use it;
 * inject it to read the user and tokens, call APIs with the access token (refreshed
 * automatically), or drive the login from your own controller.
 *
 * Subclass it and provide the subclass under `AuthManager` to change how events are emitted
 * ({@link AuthManager.emit}) or how provider errors map to responses.
 *
 * @example
 * ```ts
 * @Get('orders')
 * async orders(@Session() session: Session) {
 *   const res = await this.auth.fetch(session)('https://api.example.com/orders');
 *   return res.json();
 * }
 * ```
 */
@Injectable()
export class AuthManager implements OnModuleInit {
  protected readonly logger = new Logger('AuthModule');
  private resolvedUnits?: AuthUnits;

  constructor(
    @Inject(AUTH_RESOLVED_OPTIONS) protected readonly options: ResolvedAuthOptions,
    @Inject(AUTH_ROUTES_PREFIX) private readonly routesPrefix: string | false,
    protected readonly clients: OidcClients,
    private readonly moduleRef: ModuleRef,
  ) {}

  onModuleInit(): void {
    const { bridge, loginIndex, reporter } = this.units;
    bridge.attach();
    loginIndex.followIdChanges();
    // Every unit's events pass through emit(), so a subclass overriding it sees them all.
    reporter.connect({ emit: (name, event) => this.emit(name, event), logger: this.logger });
    managers.set(bridge.sessions, this);
  }

  /** The session engine. */
  protected get sessions(): SessionManager {
    return this.units.bridge.sessions;
  }

  /** The names of the configured providers. */
  get providerNames(): string[] {
    return [...this.options.providers.keys()];
  }

  /** The provider used when none is named. */
  get defaultProvider(): string {
    return this.options.defaultProvider;
  }

  /** Path of the login route (with `returnTo`), or `undefined` when the module's routes are off. */
  loginPath(returnTo?: string, provider?: string): string | undefined {
    if (this.routesPrefix === false) return undefined;
    const query = new URLSearchParams();
    if (provider) query.set('provider', provider);
    if (returnTo) query.set('returnTo', returnTo);
    const search = query.size > 0 ? `?${query.toString()}` : '';
    return `/${this.routesPrefix}/login${search}`.replace(/\/{2,}/g, '/');
  }

  /** Whether `req` is an API call (answered 401) rather than a browser navigation (redirected to the login). */
  isApiRequest(req: { method?: string; headers: Record<string, string | string[] | undefined> }): boolean {
    return this.options.isApiRequest(req);
  }

  // ---------------------------------------------------------------------------------------------
  // Reading the login

  /** The providers the session is logged in with. */
  loggedInProviders(session: AnySession): string[] {
    return this.units.reader.loggedInProviders(session);
  }

  /** Whether the session is logged in, with `provider` or with any provider. */
  isAuthenticated(session: AnySession, provider?: string): boolean {
    return this.getLogin(session, provider) !== undefined;
  }

  /**
   * What the session holds of a login (tokens included), without refreshing. Without `provider`:
   * the default provider's login, else the first provider logged in.
   */
  getLogin(session: AnySession, provider?: string): StoredLogin | undefined {
    return this.units.reader.getLogin(session, provider);
  }

  /** The user's claims (ID token merged with UserInfo), or `undefined` when not logged in. */
  getUser(session: AnySession, provider?: string): AuthClaims | undefined {
    return this.getLogin(session, provider)?.claims;
  }

  /** The ID token of a login. */
  getIdToken(session: AnySession, provider?: string): string | undefined {
    return this.getLogin(session, provider)?.idToken;
  }

  /**
   * A valid access token, refreshed first when it expires within `refreshBefore`.
   * @throws AuthError `AUTH_LOGIN_REQUIRED` when not logged in or the login ended;
   *   `AUTH_PROVIDER_UNAVAILABLE` when the provider cannot refresh it now.
   */
  async getAccessToken(session: AnySession, provider?: string): Promise<string> {
    return (await this.getTokens(session, provider)).accessToken;
  }

  /**
   * The login with valid tokens (refreshed as {@link AuthManager.getAccessToken} does);
   * `forceRefresh` refreshes even a token that looks valid (the API refused it).
   * @throws AuthError as {@link AuthManager.getAccessToken}
   */
  async getTokens(session: AnySession, provider?: string, options: { forceRefresh?: boolean } = {}): Promise<StoredLogin> {
    return this.units.refresher.getTokens(session, provider, options);
  }

  /**
   * A `fetch` that sends `Authorization: Bearer <access token>` (refreshed as needed) and, when the
   * API answers 401 and the request can be sent again, refreshes once and retries, like
   * Flamingo's `HTTPClient`.
   *
   * @example
   * ```ts
   * const api = this.auth.fetch(session);
   * const me = await (await api('https://api.example.com/me')).json();
   * ```
   */
  fetch(session: AnySession, provider?: string): AuthFetch {
    return createAuthFetch((options) => this.getTokens(session, provider, options));
  }

  /**
   * Refuse a state-changing request that a browser says came from another origin (see
   * `trustedOrigins`); the module's `POST <prefix>/logout` route calls it. Call it in your own
   * routes that call {@link AuthManager.logout}, unless the app uses `app.enableCsrfProtection()`.
   * @throws AuthError `AUTH_CROSS_ORIGIN` (403)
   */
  assertSameOrigin(req: IncomingMessage): void {
    if (isCrossOrigin(req, this.options.trustedOrigins)) throw new AuthError('AUTH_CROSS_ORIGIN', AuthMessages.crossOrigin());
  }

  // ---------------------------------------------------------------------------------------------
  // Login and logout

  /**
   * Start a login: keeps the PKCE verifier, `state` and `nonce` in a sealed cookie of their own
   * that lives `loginTimeout` (one entry per login, so logins in several tabs do not overwrite each
   * other; nothing is written to the session store) and resolves the provider URL to send the
   * browser to. `returnTo` must be a same-origin path; anything else becomes `defaultReturnTo`.
   * @throws AuthError `AUTH_UNKNOWN_PROVIDER`; `AUTH_OPTIONS_INVALID` for a session loaded without
   *   an HTTP response (a login needs one to set its cookie).
   */
  async beginLogin(
    session: AnySession,
    request: { provider?: string; returnTo?: unknown; authorizationParams?: Record<string, string> } = {},
  ): Promise<string> {
    return this.units.loginFlow.beginLogin(session, request);
  }

  /**
   * Finish a login from the callback's query: the login's `state` is consumed (the login-state
   * cookie rewritten without it) before the code is exchanged, so a callback cannot be replayed in
   * that browser, and nowhere else (the code is single-use and bound to the PKCE verifier the
   * cookie held); a login older than `loginTimeout` is refused. The ID token is checked
   * (issuer, audience, expiry, nonce), the session ID regenerated, and the tokens stored.
   * @throws AuthError `AUTH_CALLBACK_INVALID` (400), `AUTH_LOGIN_FAILED` (401),
   *   `AUTH_PROVIDER_UNAVAILABLE` (502)
   */
  async completeLogin(session: AnySession, query: URLSearchParams): Promise<{ provider: string; returnTo: string; claims: AuthClaims }> {
    return this.units.loginFlow.completeLogin(session, query);
  }

  /**
   * Log out of `provider`, or of every provider and the session (destroyed, then a fresh one).
   * Resolves where to send the browser: the first provider's end-session URL (with
   * `id_token_hint`), the rest kept for `<prefix>/logout/continue`; `postLogoutRedirect` when no
   * provider has one.
   * @throws AuthError `AUTH_UNKNOWN_PROVIDER` for a provider that is not configured
   */
  async logout(session: AnySession, request: { provider?: string } = {}): Promise<string> {
    return this.units.logoutFlow.logout(session, request);
  }

  /** The next end-session URL of a chained logout of several providers, or `postLogoutRedirect`. */
  async continueLogout(session: AnySession): Promise<string> {
    return this.units.logoutFlow.continueLogout(session);
  }

  /**
   * Handle a back-channel logout token: verify it (signature with the provider's keys, issuer,
   * audience, `iat`, the back-channel event, no `nonce`, `sid` or `sub`, `jti` not seen before)
   * and destroy the matching sessions at once, by `sid` when it has one, else by `sub`.
   * @throws AuthError `AUTH_LOGOUT_TOKEN_INVALID` (400), `AUTH_PROVIDER_UNAVAILABLE` (502, keys unreachable)
   */
  async backchannelLogout(logoutToken: unknown): Promise<{ provider: string; sessions: number }> {
    return this.units.backchannel.handle(logoutToken);
  }

  // ---------------------------------------------------------------------------------------------
  // Events (override point)

  /**
   * Deliver an event to the `events` handlers, then to `@OnEvent()` listeners under
   * `AUTH_EVENT_NAMES` when the app imports `EventEmitterModule`. Handler errors are logged, and
   * listener errors reported to `SessionModule`'s `onError`; neither fails the request. Override to
   * publish events elsewhere (an event bus, an audit log).
   */
  protected async emit<N extends AuthEventName>(name: N, event: AuthEventOf<N>): Promise<void> {
    await deliverEvent(this.options.events, name, event, this.logger);
    this.sessions.events.publish(AUTH_EVENT_NAMES[name], event);
  }

  // ---------------------------------------------------------------------------------------------
  // Internals

  /**
   * The units, looked up in the app rather than injected, so the constructor a subclass calls keeps
   * its parameters, and a subclass provided outside `AuthModule` still finds them.
   */
  private get units(): AuthUnits {
    if (!this.resolvedUnits) {
      const unit = <T>(type: Type<T>): T => this.moduleRef.get(type, { strict: false });
      this.resolvedUnits = {
        bridge: unit(SessionBridge),
        reporter: unit(AuthReporter),
        reader: unit(AuthSessionReader),
        loginIndex: unit(LoginIndex),
        refresher: unit(TokenRefresher),
        loginFlow: unit(LoginFlow),
        logoutFlow: unit(LogoutFlow),
        backchannel: unit(BackchannelLogoutHandler),
      };
    }
    return this.resolvedUnits;
  }
}
