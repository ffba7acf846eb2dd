import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import * as oidc from 'openid-client';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SessionError } from '../session/errors/session.error.js';
import { SESSION_RESOLVED_OPTIONS } from '../session/session.internal-constants.js';
import type { ResolvedSessionOptions } from '../session/session-options.resolver.js';
import { SessionIndex } from '../session/session-index.service.js';
import { SessionLocks } from '../session/session-locks.service.js';
import { SessionManager } from '../session/session.manager.js';
import type { AnySession } from '../session/session.js';
import { CookieTransport } from '../session/transports/cookie.transport.js';
import { isClientSideStore } from '../stores/cookie/cookie.store.js';
import { AUTH_RESOLVED_OPTIONS, AUTH_ROUTES_PREFIX } from './auth.constants.js';
import { safeReturnTo, type ResolvedAuthOptions } from './auth-options.resolver.js';
import { isCrossOrigin } from './cross-origin.js';
import { LoginStateCookie, type PendingLoginEntry } from './login-state.cookie.js';
import {
  LOGOUT_CHAIN_KEY,
  isPendingKey,
  loginKey,
  sidIndexKey,
  subIndexKey,
  AUTH_KEY_PREFIX,
  type AuthClaims,
  type AuthLoginEvent,
  type AuthLogoutEvent,
  type AuthRefreshEvent,
  type StoredLogin,
} from './auth-session.js';
import { AuthError } from './errors/auth.error.js';
import { AuthMessages } from './errors/auth.messages.js';
import { describe, OidcClients, type OidcClient } from './oidc-clients.service.js';

/** A `fetch` that sends the user's access token (see {@link AuthManager.fetch}). */
export type AuthFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** The event `events.logout` and friends are emitted under. */
type AuthEventName = 'login' | 'logout' | 'refresh';
type AuthEventOf<N extends AuthEventName> = N extends 'login' ? AuthLoginEvent : N extends 'logout' ? AuthLogoutEvent : AuthRefreshEvent;

/** Logins in flight kept per browser (tabs); older ones are dropped first. */
const MAX_PENDING_LOGINS = 10;
/** How long a logout token is accepted after its `iat` (`maxTokenAge` plus the clock tolerance). */
const LOGOUT_TOKEN_MAX_AGE = 10 * 60_000;
const LOGOUT_TOKEN_CLOCK_TOLERANCE = 30_000;
/** Claims that describe the ID token itself rather than the user. */
const TOKEN_ONLY_CLAIMS = ['nonce', 'at_hash', 'c_hash', 's_hash', 'exp', 'iat', 'nbf', 'auth_time', 'jti'];
const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** AuthManagers by the session engine they work with, so parameter decorators can find theirs. */
const managers = new WeakMap<object, AuthManager>();

/** The AuthManager of the app a session belongs to. @internal */
export function authManagerOf(session: AnySession): AuthManager | undefined {
  return managers.get(session._operations);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

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
  /** Refreshes in flight in this process, by session and provider (single flight). */
  private readonly refreshes = new Map<string, Promise<StoredLogin>>();
  /**
   * `jti` of logout tokens already used, until they expire: replay protection for a store without
   * locks (the client-side store allowed by `allowCookieStore`), where it holds per process only.
   */
  private readonly usedLogoutTokens = new Map<string, number>();
  private sessionManager?: SessionManager;
  private loginStateCookie?: LoginStateCookie;
  private storeTimeout = 5000;
  private sessionIndex?: SessionIndex;
  private sessionLocks?: SessionLocks;

  constructor(
    @Inject(AUTH_RESOLVED_OPTIONS) protected readonly options: ResolvedAuthOptions,
    @Inject(AUTH_ROUTES_PREFIX) private readonly routesPrefix: string | false,
    protected readonly clients: OidcClients,
    private readonly moduleRef: ModuleRef,
  ) {}

  onModuleInit(): void {
    try {
      this.sessionManager = this.moduleRef.get(SessionManager, { strict: false });
    } catch (cause) {
      throw new AuthError(
        'AUTH_OPTIONS_INVALID',
        AuthMessages.invalidOption('imports', 'AuthModule needs SessionModule in the same app', 'Import SessionModule.forRoot({ ... }) in your app module.'),
        { cause },
      );
    }
    const sessionOptions = this.moduleRef.get<ResolvedSessionOptions>(SESSION_RESOLVED_OPTIONS, { strict: false });
    if (isClientSideStore(sessionOptions.store) && !this.options.allowCookieStore) {
      throw new AuthError('AUTH_OPTIONS_INVALID', AuthMessages.cookieStore());
    }
    this.sessionIndex = this.moduleRef.get(SessionIndex, { strict: false });
    this.sessionLocks = this.moduleRef.get(SessionLocks, { strict: false });
    this.storeTimeout = sessionOptions.storeTimeout;
    const cookieAttributes = new CookieTransport(sessionOptions.cookie, sessionOptions.trustProxy);
    this.loginStateCookie = new LoginStateCookie({
      sessionCookieName: sessionOptions.cookie.name,
      secrets: sessionOptions.secrets,
      attributes: (req, expiresAt) => cookieAttributes.attributes(req, expiresAt),
      lifetime: this.options.loginTimeout,
      maxPending: MAX_PENDING_LOGINS,
    });
    this.sessionManager.onIdChange((session, oldId, newId) => this.relinkLogins(session, oldId, newId));
    // Tokens are the module's own records: left out of keys(), toJSON() and req.session's keys.
    this.sessionManager.reserveKeys(AUTH_KEY_PREFIX);
    managers.set(this.sessionManager, this);
  }

  /** The session engine. */
  protected get sessions(): SessionManager {
    return this.sessionManager!;
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
    const search = query.size > 0 ? `?${query}` : '';
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
    const names: string[] = [];
    for (const key of (session as AnySession).allKeys()) {
      if (!key.startsWith(AUTH_KEY_PREFIX) || isPendingKey(key) || key === LOGOUT_CHAIN_KEY) continue;
      const name = key.slice(AUTH_KEY_PREFIX.length);
      if (this.options.providers.has(name)) names.push(name);
    }
    return names;
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
    const name = provider ?? this.pickProvider(session);
    if (name === undefined) return undefined;
    const login = (session as AnySession).get(loginKey(name)) as StoredLogin | undefined;
    return login && typeof login === 'object' && typeof login.accessToken === 'string' ? login : undefined;
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
   */
  async getTokens(session: AnySession, provider?: string, options: { forceRefresh?: boolean } = {}): Promise<StoredLogin> {
    const name = provider ?? this.pickProvider(session) ?? this.options.defaultProvider;
    const login = this.getLogin(session, name);
    if (!login) throw new AuthError('AUTH_LOGIN_REQUIRED', AuthMessages.loginRequired());
    const stale = this.isStale(login);
    if (!stale && !options.forceRefresh) return login;
    if (!login.refreshToken) {
      if (login.expiresAt !== undefined && login.expiresAt <= Date.now()) throw new AuthError('AUTH_LOGIN_REQUIRED', AuthMessages.loginEnded(name));
      return login;
    }
    return this.refresh(session as AnySession, name, login);
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
    return async (input, init = {}) => {
      const send = (token: string): Promise<Response> => {
        const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
        headers.set('authorization', `Bearer ${token}`);
        return fetch(input, { ...init, headers });
      };
      const login = await this.getTokens(session, provider);
      const response = await send(login.accessToken);
      if (response.status !== 401 || !login.refreshToken || !isReplayable(input, init.body)) return response;
      await response.body?.cancel();
      const fresh = await this.getTokens(session, provider, { forceRefresh: true });
      return send(fresh.accessToken);
    };
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
  // Login

  /**
   * Start a login: keeps the PKCE verifier, `state` and `nonce` in a sealed cookie of their own
   * that lives `loginTimeout` (one entry per login, so logins in several tabs do not overwrite each
   * other; nothing is written to the session store) and resolves the provider URL to send the
   * browser to. `returnTo` must be a same-origin path; anything else becomes `defaultReturnTo`.
   * @throws AuthError `AUTH_UNKNOWN_PROVIDER`; `AUTH_OPTIONS_INVALID` for a session loaded without
   *   an HTTP response (a login needs one to set its cookie).
   */
  async beginLogin(session: AnySession, request: { provider?: string; returnTo?: unknown; authorizationParams?: Record<string, string> } = {}): Promise<string> {
    const name = request.provider || this.options.defaultProvider;
    const client = this.clients.get(name);
    const { req, res } = this.exchange(session);
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const codeChallenge = await oidc.calculatePKCECodeChallenge(codeVerifier);
    const now = Date.now();
    const pending: PendingLoginEntry = {
      state,
      provider: name,
      codeVerifier,
      nonce,
      returnTo: safeReturnTo(request.returnTo, this.options.defaultReturnTo),
      startedAt: now,
    };
    this.loginState.write(req, res, [...this.loginState.read(req, now), pending]);
    const url = oidc.buildAuthorizationUrl(client.config, {
      ...client.provider.authorizationParams,
      ...(request.authorizationParams ?? {}),
      // openid-client adds these only when absent: never from the parameters above.
      client_id: client.provider.clientId,
      response_type: 'code',
      redirect_uri: client.provider.redirectUri,
      scope: client.provider.scope,
      code_challenge: codeChallenge,
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return url.href;
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
    const s = session as AnySession;
    const { req, res } = this.exchange(session);
    const state = query.get('state');
    if (!state) throw this.callbackInvalid('the callback carries no state');
    // Timed-out logins are not read back, so a late callback is an unknown state.
    const inFlight = this.loginState.read(req, Date.now());
    const pending = inFlight.find((entry) => entry.state === state);
    if (!pending) throw this.callbackInvalid('unknown or already used state (or older than loginTimeout)');
    this.loginState.write(req, res, inFlight.filter((entry) => entry !== pending));
    const client = this.clients.get(pending.provider);
    const error = query.get('error');
    if (error) throw new AuthError('AUTH_LOGIN_FAILED', AuthMessages.loginFailed(error.replace(/[^\w.-]/g, '').slice(0, 64)));

    const currentUrl = new URL(client.provider.redirectUri);
    currentUrl.search = query.toString();
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(client.config, currentUrl, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
    } catch (cause) {
      throw this.providerError(client, 'exchange the code', cause);
    }
    const idClaims = tokens.claims();
    if (!idClaims || !tokens.id_token) throw this.callbackInvalid('the provider returned no ID token');
    let claims: AuthClaims = userClaims(idClaims);
    if (client.provider.userInfo && client.config.serverMetadata().userinfo_endpoint) {
      try {
        const info = await oidc.fetchUserInfo(client.config, tokens.access_token, idClaims.sub);
        claims = { ...info, ...claims, sub: idClaims.sub };
      } catch (cause) {
        throw new AuthError('AUTH_PROVIDER_UNAVAILABLE', AuthMessages.providerUnavailable(client.provider.name, 'answer UserInfo'), { cause });
      }
    }
    claims = this.mappedClaims(claims, idClaims.sub);

    await s.regenerate();
    const login: StoredLogin = {
      provider: pending.provider,
      idToken: tokens.id_token,
      accessToken: tokens.access_token,
      tokenType: tokens.token_type ?? 'bearer',
      claims,
      loggedInAt: Date.now(),
      ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
      ...(tokens.expires_in !== undefined ? { expiresAt: Date.now() + tokens.expires_in * 1000 } : {}),
      ...(tokens.scope ? { scope: tokens.scope } : {}),
      ...(typeof idClaims.sid === 'string' ? { sid: idClaims.sid } : {}),
    };
    s.set(loginKey(pending.provider), login);
    await s.save();
    await this.linkLogin(s, login);
    await this.emit('login', { provider: pending.provider, claims, returnTo: pending.returnTo });
    return { provider: pending.provider, returnTo: pending.returnTo, claims };
  }

  // ---------------------------------------------------------------------------------------------
  // Logout

  /**
   * Log out of `provider`, or of every provider and the session (destroyed, then a fresh one).
   * Resolves where to send the browser: the first provider's end-session URL (with
   * `id_token_hint`), the rest kept for `<prefix>/logout/continue`; `postLogoutRedirect` when no
   * provider has one.
   */
  async logout(session: AnySession, request: { provider?: string } = {}): Promise<string> {
    const s = session as AnySession;
    if (request.provider !== undefined) this.clients.get(request.provider);
    const names = request.provider !== undefined ? [request.provider] : this.loggedInProviders(session);
    const targets: string[] = [];
    const ended: StoredLogin[] = [];
    for (const name of names) {
      const login = this.getLogin(session, name);
      if (!login) continue;
      ended.push(login);
      const target = this.endSessionUrl(this.clients.get(name), login);
      if (target) targets.push(target);
    }
    // The ID the index knows this session by: destroy() leaves a fresh session without one.
    const loggedInId = s.id;
    if (request.provider === undefined) {
      await s.destroy();
    } else {
      s.delete(loginKey(request.provider));
      await s.save();
    }
    for (const login of ended) {
      await this.unlinkLogin(s, login, loggedInId);
      await this.emit('logout', { provider: login.provider, sub: login.claims.sub, reason: 'user' });
    }
    if (targets.length > 1) {
      s.set(LOGOUT_CHAIN_KEY, targets.slice(1));
      await s.save();
    }
    return targets[0] ?? this.options.postLogoutRedirect;
  }

  /** The next end-session URL of a chained logout of several providers, or `postLogoutRedirect`. */
  async continueLogout(session: AnySession): Promise<string> {
    const s = session as AnySession;
    const chain = s.get(LOGOUT_CHAIN_KEY) as string[] | undefined;
    if (!Array.isArray(chain) || chain.length === 0) return this.options.postLogoutRedirect;
    const [next, ...rest] = chain;
    if (rest.length > 0) s.set(LOGOUT_CHAIN_KEY, rest);
    else s.delete(LOGOUT_CHAIN_KEY);
    await s.save();
    return typeof next === 'string' ? next : this.options.postLogoutRedirect;
  }

  /**
   * Handle a back-channel logout token: verify it (signature with the provider's keys, issuer,
   * audience, `iat`, the back-channel event, no `nonce`, `sid` or `sub`, `jti` not seen before)
   * and destroy the matching sessions at once, by `sid` when it has one, else by `sub`.
   * @throws AuthError `AUTH_LOGOUT_TOKEN_INVALID` (400), `AUTH_PROVIDER_UNAVAILABLE` (502, keys unreachable)
   */
  async backchannelLogout(logoutToken: unknown): Promise<{ provider: string; sessions: number }> {
    if (typeof logoutToken !== 'string' || logoutToken.length === 0) throw this.logoutTokenInvalid('logout_token is missing');
    let unverified: JWTPayload;
    let typ: unknown;
    try {
      unverified = decodeJwt(logoutToken);
      typ = decodeProtectedHeader(logoutToken).typ;
    } catch {
      throw this.logoutTokenInvalid('not a JWT');
    }
    // OpenID Back-Channel Logout 1.0 §2.4: "logout+jwt" when present; media types compare without
    // case, and the "application/" prefix may be left out (RFC 7515 §4.1.9).
    if (typ !== undefined && (typeof typ !== 'string' || !/^(?:application\/)?logout\+jwt$/i.test(typ))) {
      throw this.logoutTokenInvalid('its "typ" header is not logout+jwt');
    }
    const audiences = Array.isArray(unverified.aud) ? unverified.aud : [unverified.aud];
    const candidates = this.clients
      .all()
      .filter((client) => client.config.serverMetadata().issuer === unverified.iss && audiences.includes(client.provider.clientId));
    if (candidates.length === 0) throw this.logoutTokenInvalid('unknown issuer or audience');
    let lastError: unknown;
    for (const client of candidates) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(logoutToken, client.keys, {
          issuer: client.config.serverMetadata().issuer,
          audience: client.provider.clientId,
          requiredClaims: ['iat', 'jti'],
          maxTokenAge: '10m',
          clockTolerance: 30,
        }));
      } catch (error) {
        lastError = error;
        continue;
      }
      return this.applyLogoutToken(client, payload);
    }
    if (isNetworkError(lastError)) throw new AuthError('AUTH_PROVIDER_UNAVAILABLE', AuthMessages.providerUnavailable(candidates[0]!.provider.name, 'serve its keys'), { cause: lastError });
    throw this.logoutTokenInvalid(lastError instanceof Error ? lastError.message : 'signature check failed');
  }

  private async applyLogoutToken(client: OidcClient, payload: JWTPayload): Promise<{ provider: string; sessions: number }> {
    const events = payload.events;
    if (!isJsonObject(events) || !isJsonObject(events[BACKCHANNEL_EVENT])) throw this.logoutTokenInvalid('no back-channel logout event');
    if ('nonce' in payload) throw this.logoutTokenInvalid('a logout token must not carry a nonce');
    const sid = typeof payload.sid === 'string' ? payload.sid : undefined;
    const sub = typeof payload.sub === 'string' ? payload.sub : undefined;
    if (sid === undefined && sub === undefined) throw this.logoutTokenInvalid('it names neither sid nor sub');
    const name = client.provider.name;
    // Accepted until iat + maxTokenAge (+ tolerance): its jti must be remembered that long.
    const acceptedUntil = (payload.iat ?? 0) * 1000 + LOGOUT_TOKEN_MAX_AGE + LOGOUT_TOKEN_CLOCK_TOLERANCE;
    const sessions = await this.oncePerToken(`${name}\0${String(payload.jti)}`, acceptedUntil, () =>
      this.index.destroy(sid !== undefined ? sidIndexKey(name, sid) : subIndexKey(name, sub!)),
    );
    await this.emit('logout', { provider: name, ...(sub !== undefined ? { sub } : {}), reason: 'backchannel', sessions });
    return { provider: name, sessions };
  }

  /**
   * Run `destroy` for a logout token whose `jti` (with its provider: `replayKey`) was not used
   * before, and remember it as used only once `destroy` succeeded, so a provider that retries after
   * a failure (a store outage) is not told "already used" while the sessions live on.
   *
   * The memory is a store lock held until the token can no longer be accepted, so it holds across
   * every instance sharing the store; while one instance works on a token, a second delivery is
   * refused too. A store without locks (a client-side store) remembers per process.
   */
  private async oncePerToken(replayKey: string, acceptedUntil: number, destroy: () => Promise<number>): Promise<number> {
    const locks = this.sessionLocks;
    if (!locks?.supported) {
      const now = Date.now();
      for (const [jti, until] of this.usedLogoutTokens) if (until <= now) this.usedLogoutTokens.delete(jti);
      if (this.usedLogoutTokens.has(replayKey)) throw this.logoutTokenInvalid('it was already used');
      const sessions = await destroy();
      this.usedLogoutTokens.set(replayKey, acceptedUntil);
      return sessions;
    }
    // While working, the claim lives only as long as the work may take; it is extended on success.
    const claimTtl = this.storeTimeout * 4;
    const claim = await locks.tryAcquire(`auth-logout-jti:${replayKey}`, claimTtl);
    if (!claim) throw this.logoutTokenInvalid('it was already used');
    let sessions: number;
    try {
      sessions = await destroy();
    } catch (error) {
      await claim.release().catch((releaseError: unknown) => this.logger.warn(`Could not release a logout token's claim: ${describe(releaseError)}`));
      throw error;
    }
    const remember = Math.max(acceptedUntil - Date.now(), 1);
    const recorded = await claim.extend(remember).catch((error: unknown) => {
      this.logger.warn(`Could not record a used logout token: ${describe(error)}`);
      return true;
    });
    if (!recorded) this.logger.warn('A logout token was recorded as used too late: its claim had expired; a replay may be accepted.');
    return sessions;
  }

  // ---------------------------------------------------------------------------------------------
  // Events (override point)

  /**
   * Deliver an event to the `events` handlers. Handler errors are logged and never fail the request.
   * Override to publish events elsewhere (an event bus, an audit log).
   */
  protected async emit<N extends AuthEventName>(name: N, event: AuthEventOf<N>): Promise<void> {
    const handler = this.options.events[name] as ((event: AuthEventOf<N>) => void | Promise<void>) | undefined;
    if (!handler) return;
    try {
      await handler(event);
    } catch (error) {
      this.logger.error(`The ${name} event handler failed: ${describe(error)}`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Internals

  private get index(): SessionIndex {
    return this.sessionIndex!;
  }

  private get loginState(): LoginStateCookie {
    return this.loginStateCookie!;
  }

  /** The request and response of `session`; a login sets cookies, so it needs a response. */
  private exchange(session: AnySession): { req: IncomingMessage; res: ServerResponse } {
    const { req, res } = this.sessions.exchangeOf(session);
    if (!res) {
      throw new AuthError(
        'AUTH_OPTIONS_INVALID',
        AuthMessages.invalidOption('session', 'a login needs the session of an HTTP request with its response', 'Start and finish logins in HTTP routes.'),
      );
    }
    return { req, res };
  }

  private pickProvider(session: AnySession): string | undefined {
    if ((session as AnySession).has(loginKey(this.options.defaultProvider))) return this.options.defaultProvider;
    return this.loggedInProviders(session)[0];
  }

  /**
   * `mapClaims` applied to what the provider said, on every path that stores claims (login and
   * refresh), with `sub` pinned to the login's: the index and back-channel logout rely on it.
   */
  private mappedClaims(claims: AuthClaims, sub: string): AuthClaims {
    return { ...this.options.mapClaims(claims), sub };
  }

  private isStale(login: StoredLogin): boolean {
    return login.expiresAt !== undefined && login.expiresAt - this.options.refreshBefore <= Date.now();
  }

  /**
   * Refresh once per session and provider: in this process, parallel callers share one promise;
   * across processes sharing the store, a store lock admits one refresher and the others wait for
   * the tokens it saves (a rotating refresh token used twice would revoke the grant).
   */
  private async refresh(session: AnySession, name: string, login: StoredLogin): Promise<StoredLogin> {
    const flightKey = `${session.id ?? ''}\0${name}`;
    let flight = this.refreshes.get(flightKey);
    if (!flight) {
      flight = this.refreshShared(session, name, login).finally(() => this.refreshes.delete(flightKey));
      this.refreshes.set(flightKey, flight);
    }
    try {
      const fresh = await flight;
      session.set(loginKey(name), fresh);
      return fresh;
    } catch (error) {
      if (error instanceof AuthError && error.code === 'AUTH_LOGIN_REQUIRED') session.delete(loginKey(name));
      throw error;
    }
  }

  private async refreshShared(session: AnySession, name: string, login: StoredLogin): Promise<StoredLogin> {
    const locks = this.sessionLocks;
    if (!locks?.supported || session.id === undefined) return this.refreshNow(session, name, login);
    const lockName = `auth-refresh:${session.id}:${name}`;
    const deadline = Date.now() + this.options.refreshLockTimeout;
    for (let wait = 25; ; wait = Math.min(wait * 2, 200)) {
      const lock = await locks.tryAcquire(lockName, this.options.refreshLockTimeout);
      const stored = await this.storedLogin(session, name);
      if (lock) {
        try {
          // Another process may have refreshed between our read and the lock.
          if (stored.accessToken !== login.accessToken && !this.isStale(stored)) return stored;
          return await this.refreshNow(session, name, stored);
        } finally {
          await lock.release().catch((error: unknown) => this.logger.warn(`Could not release a refresh lock: ${describe(error)}`));
        }
      }
      if (stored.accessToken !== login.accessToken && !this.isStale(stored)) return stored;
      if (Date.now() >= deadline) {
        throw new AuthError('AUTH_PROVIDER_UNAVAILABLE', AuthMessages.providerUnavailable(name, 'refresh the tokens (another instance holds the refresh)'));
      }
      await sleep(wait);
    }
  }

  /** The login as the store holds it now; gone means it ended elsewhere (a logout, a back-channel logout). */
  private async storedLogin(session: AnySession, name: string): Promise<StoredLogin> {
    const stored = await this.sessions.peek<StoredLogin>(session, loginKey(name));
    if (!stored || typeof stored.accessToken !== 'string') throw new AuthError('AUTH_LOGIN_REQUIRED', AuthMessages.loginEnded(name));
    return stored;
  }

  private async refreshNow(session: AnySession, name: string, login: StoredLogin): Promise<StoredLogin> {
    const client = this.clients.get(name);
    let tokens: Awaited<ReturnType<typeof oidc.refreshTokenGrant>>;
    try {
      tokens = await oidc.refreshTokenGrant(client.config, login.refreshToken!);
    } catch (cause) {
      if (cause instanceof oidc.ResponseBodyError && cause.error === 'invalid_grant') {
        session.delete(loginKey(name));
        await session.save();
        await this.unlinkLogin(session, login);
        await this.emit('logout', { provider: name, sub: login.claims.sub, reason: 'refresh-failed' });
        throw new AuthError('AUTH_LOGIN_REQUIRED', AuthMessages.loginEnded(name), { cause });
      }
      throw new AuthError('AUTH_PROVIDER_UNAVAILABLE', AuthMessages.providerUnavailable(name, 'refresh the tokens'), { cause });
    }
    const idClaims = tokens.claims();
    const fresh: StoredLogin = {
      ...login,
      accessToken: tokens.access_token,
      tokenType: tokens.token_type ?? login.tokenType,
      refreshToken: tokens.refresh_token ?? login.refreshToken,
      idToken: tokens.id_token ?? login.idToken,
      claims: idClaims ? this.mappedClaims({ ...login.claims, ...userClaims(idClaims) }, login.claims.sub) : login.claims,
    };
    if (tokens.expires_in !== undefined) fresh.expiresAt = Date.now() + tokens.expires_in * 1000;
    else delete fresh.expiresAt;
    if (tokens.scope) fresh.scope = tokens.scope;
    session.set(loginKey(name), fresh);
    // Saved now, not at the end of the response: other requests and processes wait for these tokens.
    await session.save();
    await this.emit('refresh', { provider: name, sub: login.claims.sub, ...(fresh.expiresAt !== undefined ? { expiresAt: fresh.expiresAt } : {}) });
    return fresh;
  }

  private endSessionUrl(client: OidcClient, login: StoredLogin): string | undefined {
    if (!client.config.serverMetadata().end_session_endpoint) return undefined;
    const params: Record<string, string> = { id_token_hint: login.idToken, client_id: client.provider.clientId };
    if (client.provider.postLogoutRedirectUri) params.post_logout_redirect_uri = client.provider.postLogoutRedirectUri;
    return oidc.buildEndSessionUrl(client.config, params).href;
  }

  /** Index the session by the login's `sub` and `sid` for back-channel logout (server-side stores only). */
  private async linkLogin(session: AnySession, login: StoredLogin): Promise<void> {
    const id = session.id;
    if (id === undefined) return;
    const expiresAt = this.sessions.absoluteDeadline(session);
    try {
      await this.index.link(subIndexKey(login.provider, login.claims.sub), id, expiresAt);
      if (login.sid !== undefined) await this.index.link(sidIndexKey(login.provider, login.sid), id, expiresAt);
    } catch (error) {
      if (error instanceof SessionError && error.code === 'SESSION_NOT_SUPPORTED') return;
      throw error;
    }
  }

  /** Remove the index entries of a login; `id` is the session's ID while it was logged in. */
  private async unlinkLogin(session: AnySession, login: StoredLogin, id: string | undefined = session.id): Promise<void> {
    try {
      if (id === undefined) return;
      await this.index.unlink(subIndexKey(login.provider, login.claims.sub), id);
      if (login.sid !== undefined) await this.index.unlink(sidIndexKey(login.provider, login.sid), id);
    } catch (error) {
      if (error instanceof SessionError && error.code === 'SESSION_NOT_SUPPORTED') return;
      this.logger.warn(`Could not remove a logout from the session index: ${describe(error)}`);
    }
  }

  /**
   * Move the index entries of every login the session holds from `oldId` to `newId`: a session's ID
   * changes when the app regenerates it, or another provider logs in, and a back-channel logout
   * must still find it. A failed link fails the ID change (nothing is lost: the session keeps its
   * old ID); a failed unlink only leaves an entry naming a deleted ID, which the index prunes.
   */
  private async relinkLogins(session: AnySession, oldId: string, newId: string): Promise<void> {
    const logins = this.loggedInProviders(session)
      .map((name) => this.getLogin(session, name))
      .filter((login): login is StoredLogin => login !== undefined);
    if (logins.length === 0 || !this.index.supported) return;
    const expiresAt = this.sessions.absoluteDeadline(session);
    for (const login of logins) {
      await this.index.link(subIndexKey(login.provider, login.claims.sub), newId, expiresAt);
      if (login.sid !== undefined) await this.index.link(sidIndexKey(login.provider, login.sid), newId, expiresAt);
    }
    for (const login of logins) await this.unlinkLogin(session, login, oldId);
  }

  private callbackInvalid(reason: string, cause?: unknown): AuthError {
    return new AuthError('AUTH_CALLBACK_INVALID', AuthMessages.callbackInvalid(reason), cause === undefined ? undefined : { cause });
  }

  private logoutTokenInvalid(reason: string): AuthError {
    return new AuthError('AUTH_LOGOUT_TOKEN_INVALID', AuthMessages.logoutTokenInvalid(reason));
  }

  /** Map an openid-client failure: the provider refused (400), the provider said no (401), or could not be reached (502). */
  private providerError(client: OidcClient, operation: string, cause: unknown): AuthError {
    if (cause instanceof AuthError) return cause;
    if (cause instanceof oidc.AuthorizationResponseError) {
      return new AuthError('AUTH_LOGIN_FAILED', AuthMessages.loginFailed(cause.error), { cause });
    }
    if (cause instanceof oidc.ResponseBodyError && cause.status < 500) {
      return this.callbackInvalid(`the provider refused the code (${cause.error})`, cause);
    }
    if (cause instanceof oidc.ClientError && !isNetworkError(cause)) {
      // openid-client wraps oauth4webapi's error, whose own cause names the claim.
      const inner = cause.cause as { cause?: { claim?: unknown }; claim?: unknown } | undefined;
      const claim = inner?.claim ?? inner?.cause?.claim;
      // Name the failed check, never the values: they come from a token.
      if (typeof claim === 'string') return this.callbackInvalid(`the ID token's "${claim}" claim is wrong (${cause.message.replace(/\.$/, '')})`, cause);
      return this.callbackInvalid(cause.message.replace(/\.$/, ''), cause);
    }
    if (!isNetworkError(cause) && !(cause instanceof oidc.ResponseBodyError)) {
      return this.callbackInvalid(describe(cause), cause);
    }
    return new AuthError('AUTH_PROVIDER_UNAVAILABLE', AuthMessages.providerUnavailable(client.provider.name, operation), { cause });
  }
}

/** The ID token's claims about the user (protocol claims such as `nonce` and `exp` left out). */
function userClaims(claims: oidc.IDToken): AuthClaims {
  const user: Record<string, unknown> = { ...claims };
  for (const claim of TOKEN_ONLY_CLAIMS) delete user[claim];
  return user as AuthClaims;
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNetworkError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'AbortError' || error.name === 'TimeoutError') return true;
  if (error instanceof TypeError && /fetch failed/i.test(error.message)) return true;
  const code = (error as { code?: unknown }).code;
  if (code === 'ERR_JWKS_TIMEOUT' || code === 'OAUTH_RESPONSE_IS_NOT_JSON') return true;
  return error.cause !== undefined && error.cause !== error && isNetworkError(error.cause);
}

function isReplayable(input: string | URL | Request, body: RequestInit['body']): boolean {
  if (input instanceof Request && input.body !== null) return false;
  return body === undefined || body === null || typeof body === 'string' || body instanceof URLSearchParams || body instanceof ArrayBuffer || ArrayBuffer.isView(body) || body instanceof Blob || body instanceof FormData;
}
