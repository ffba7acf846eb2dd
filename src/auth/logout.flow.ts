import { Inject, Injectable } from '@nestjs/common';
import * as oidc from 'openid-client';
import type { AnySession } from '../session/session.js';
import { AUTH_RESOLVED_OPTIONS } from './auth.constants.js';
import type { ResolvedAuthOptions } from './auth-options.resolver.js';
import { LOGOUT_CHAIN_KEY, loginKey, type StoredLogin } from './auth-session.js';
import { AuthSessionReader } from './auth-session.reader.js';
import { AuthReporter } from './auth.reporter.js';
import { LoginIndex } from './login-index.js';
import { OidcClients, type OidcClient } from './oidc-clients.service.js';

/**
 * RP-initiated logout: ends the logins in the session, then sends the browser to each provider's
 * end-session endpoint in turn, so the user is logged out there too. With several providers the
 * end-session URLs still to visit wait in the session (the logout chain) for
 * `<prefix>/logout/continue`, since each provider sends the browser back before the next can be
 * visited.
 * @internal
 */
@Injectable()
export class LogoutFlow {
  constructor(
    @Inject(AUTH_RESOLVED_OPTIONS) private readonly options: ResolvedAuthOptions,
    private readonly clients: OidcClients,
    private readonly reader: AuthSessionReader,
    private readonly loginIndex: LoginIndex,
    private readonly reporter: AuthReporter,
  ) {}

  /**
   * Log out of `provider`, or of every provider and the session (destroyed, then a fresh one).
   * Resolves where to send the browser: the first provider's end-session URL (with
   * `id_token_hint`), the rest kept for {@link LogoutFlow.continueLogout}; `postLogoutRedirect`
   * when no provider has one.
   * @throws AuthError `AUTH_UNKNOWN_PROVIDER` for a provider that is not configured;
   *   SessionError `SESSION_STORE_UNAVAILABLE` when the session cannot be destroyed or saved
   */
  async logout(session: AnySession, request: { provider?: string } = {}): Promise<string> {
    if (request.provider !== undefined) this.clients.get(request.provider);
    const names = request.provider !== undefined ? [request.provider] : this.reader.loggedInProviders(session);
    const targets: string[] = [];
    const ended: StoredLogin[] = [];
    for (const name of names) {
      const login = this.reader.getLogin(session, name);
      if (!login) continue;
      ended.push(login);
      const target = endSessionUrl(this.clients.get(name), login);
      if (target) targets.push(target);
    }
    // The ID the index knows this session by: destroy() leaves a fresh session without one.
    const loggedInId = session.id;
    if (request.provider === undefined) {
      await session.destroy();
    } else {
      session.delete(loginKey(request.provider));
      await session.save();
    }
    for (const login of ended) {
      await this.loginIndex.unlink(session, login, loggedInId);
      await this.reporter.emit('logout', { provider: login.provider, sub: login.claims.sub, reason: 'user' });
    }
    if (targets.length > 1) {
      session.set(LOGOUT_CHAIN_KEY, targets.slice(1));
      await session.save();
    }
    return targets[0] ?? this.options.postLogoutRedirect;
  }

  /**
   * The next end-session URL of a chained logout of several providers, or `postLogoutRedirect`
   * once the chain is done (or when there is none).
   * @throws SessionError `SESSION_STORE_UNAVAILABLE` when the shortened chain cannot be saved
   */
  async continueLogout(session: AnySession): Promise<string> {
    const chain = session.get(LOGOUT_CHAIN_KEY) as string[] | undefined;
    if (!Array.isArray(chain) || chain.length === 0) return this.options.postLogoutRedirect;
    const [next, ...rest] = chain;
    if (rest.length > 0) session.set(LOGOUT_CHAIN_KEY, rest);
    else session.delete(LOGOUT_CHAIN_KEY);
    await session.save();
    return typeof next === 'string' ? next : this.options.postLogoutRedirect;
  }
}

/** The provider's end-session URL for `login`, or `undefined` when it publishes no end-session endpoint. */
function endSessionUrl(client: OidcClient, login: StoredLogin): string | undefined {
  if (!client.config.serverMetadata().end_session_endpoint) return undefined;
  const params: Record<string, string> = { id_token_hint: login.idToken, client_id: client.provider.clientId };
  if (client.provider.postLogoutRedirectUri) params.post_logout_redirect_uri = client.provider.postLogoutRedirectUri;
  return oidc.buildEndSessionUrl(client.config, params).href;
}
