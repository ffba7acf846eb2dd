import { Inject, Injectable } from '@nestjs/common';
import * as oidc from 'openid-client';
import type { AnySession } from '../session/session.js';
import { AUTH_RESOLVED_OPTIONS } from './auth.constants.js';
import type { ResolvedAuthOptions } from './auth-options.resolver.js';
import { loginKey, type StoredLogin } from './auth-session.js';
import { AuthSessionReader } from './auth-session.reader.js';
import { AuthReporter } from './auth.reporter.js';
import { AuthError } from './errors/auth.error.js';
import { AuthMessages } from './errors/auth.messages.js';
import { LoginIndex } from './login-index.js';
import { describe, OidcClients } from './oidc-clients.service.js';
import { mappedClaims, userClaims } from './oidc-claims.util.js';
import { SessionBridge } from './session.bridge.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Keeps a session's tokens valid: hands out the stored login while its access token is fresh, and
 * refreshes it at the provider once it expires within `refreshBefore`. A refresh runs once per
 * session and provider: parallel callers in this process share one promise, and instances sharing
 * the store take turns through a store lock, because a rotating refresh token used twice makes
 * the provider revoke the whole grant.
 * @internal
 */
@Injectable()
export class TokenRefresher {
  /** Refreshes in flight in this process, by session and provider. */
  private readonly refreshes = new Map<string, Promise<StoredLogin>>();

  constructor(
    @Inject(AUTH_RESOLVED_OPTIONS) private readonly options: ResolvedAuthOptions,
    private readonly clients: OidcClients,
    private readonly bridge: SessionBridge,
    private readonly reader: AuthSessionReader,
    private readonly loginIndex: LoginIndex,
    private readonly reporter: AuthReporter,
  ) {}

  /**
   * The login with valid tokens: as stored while the access token is fresh, else refreshed;
   * `forceRefresh` refreshes even a token that looks valid (an API refused it). A login without a
   * refresh token is handed out as it is until it has expired.
   * @throws AuthError `AUTH_LOGIN_REQUIRED` when not logged in or the login ended;
   *   `AUTH_PROVIDER_UNAVAILABLE` when the provider cannot refresh it now
   */
  async getTokens(session: AnySession, provider?: string, options: { forceRefresh?: boolean } = {}): Promise<StoredLogin> {
    const name = provider ?? this.reader.providerOf(session) ?? this.options.defaultProvider;
    const login = this.reader.getLogin(session, name);
    if (!login) throw new AuthError('AUTH_LOGIN_REQUIRED', AuthMessages.loginRequired());
    const stale = this.isStale(login);
    if (!stale && !options.forceRefresh) return login;
    if (!login.refreshToken) {
      if (login.expiresAt !== undefined && login.expiresAt <= Date.now())
        throw new AuthError('AUTH_LOGIN_REQUIRED', AuthMessages.loginEnded(name));
      return login;
    }
    return this.refresh(session, name, login);
  }

  /** Whether the login's access token expires within `refreshBefore` (never, when the provider gave no expiry). */
  isStale(login: StoredLogin): boolean {
    return login.expiresAt !== undefined && login.expiresAt - this.options.refreshBefore <= Date.now();
  }

  /**
   * Refresh `login` (the session's login with provider `name`, which must hold a refresh token)
   * once per session and provider, and put the fresh login in the session. A login that ended (the
   * provider refused the refresh token, or it is gone from the store) is removed from the session.
   * @throws AuthError `AUTH_LOGIN_REQUIRED` when the login ended; `AUTH_PROVIDER_UNAVAILABLE` when
   *   the provider cannot be reached, or another instance holds the refresh beyond `refreshLockTimeout`
   */
  async refresh(session: AnySession, name: string, login: StoredLogin): Promise<StoredLogin> {
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
    const locks = this.bridge.locks;
    if (!locks.supported || session.id === undefined) return this.refreshNow(session, name, login);
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
          await lock.release().catch((error: unknown) => this.reporter.warn(`Could not release a refresh lock: ${describe(error)}`));
        }
      }
      if (stored.accessToken !== login.accessToken && !this.isStale(stored)) return stored;
      if (Date.now() >= deadline) {
        throw new AuthError(
          'AUTH_PROVIDER_UNAVAILABLE',
          AuthMessages.providerUnavailable(name, 'refresh the tokens (another instance holds the refresh)'),
        );
      }
      await sleep(wait);
    }
  }

  /** The login as the store holds it now; gone means it ended elsewhere (a logout, a back-channel logout). */
  private async storedLogin(session: AnySession, name: string): Promise<StoredLogin> {
    const stored = await this.bridge.sessions.peek<StoredLogin>(session, loginKey(name));
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
        await this.loginIndex.unlink(session, login);
        await this.reporter.emit('logout', { provider: name, sub: login.claims.sub, reason: 'refresh-failed' });
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
      claims: idClaims
        ? mappedClaims(this.options.mapClaims, { ...login.claims, ...userClaims(idClaims) }, login.claims.sub)
        : login.claims,
    };
    if (tokens.expires_in !== undefined) fresh.expiresAt = Date.now() + tokens.expires_in * 1000;
    else delete fresh.expiresAt;
    if (tokens.scope) fresh.scope = tokens.scope;
    session.set(loginKey(name), fresh);
    // Saved now, not at the end of the response: other requests and processes wait for these tokens.
    await session.save();
    await this.reporter.emit('refresh', {
      provider: name,
      sub: login.claims.sub,
      ...(fresh.expiresAt !== undefined ? { expiresAt: fresh.expiresAt } : {}),
    });
    return fresh;
  }
}
