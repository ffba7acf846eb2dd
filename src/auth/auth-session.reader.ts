import { Inject, Injectable } from '@nestjs/common';
import type { AnySession } from '../session/session.js';
import { AUTH_RESOLVED_OPTIONS } from './auth.constants.js';
import type { ResolvedAuthOptions } from './auth-options.resolver.js';
import { AUTH_KEY_PREFIX, LOGOUT_CHAIN_KEY, isPendingKey, loginKey, type StoredLogin } from './auth-session.js';

/**
 * Reads what a session holds of its logins, without touching the store or a provider: which
 * providers it is logged in with, and each login's tokens and claims. Everything that needs a
 * login reads it here, so what counts as a login (a record with an access token, of a configured
 * provider) is decided in one place.
 * @internal
 */
@Injectable()
export class AuthSessionReader {
  constructor(@Inject(AUTH_RESOLVED_OPTIONS) private readonly options: ResolvedAuthOptions) {}

  /** The configured providers the session holds a record for, in the session's key order. */
  loggedInProviders(session: AnySession): string[] {
    const names: string[] = [];
    for (const key of session.allKeys()) {
      if (!key.startsWith(AUTH_KEY_PREFIX) || isPendingKey(key) || key === LOGOUT_CHAIN_KEY) continue;
      const name = key.slice(AUTH_KEY_PREFIX.length);
      if (this.options.providers.has(name)) names.push(name);
    }
    return names;
  }

  /**
   * The provider a caller means when it names none: the default provider when the session is
   * logged in with it, else the first provider logged in; `undefined` when none is.
   */
  providerOf(session: AnySession): string | undefined {
    if (session.has(loginKey(this.options.defaultProvider))) return this.options.defaultProvider;
    return this.loggedInProviders(session)[0];
  }

  /**
   * What the session holds of a login (tokens included), as stored. Without `provider`: the one
   * {@link AuthSessionReader.providerOf} picks. A record without an access token is no login.
   */
  getLogin(session: AnySession, provider?: string): StoredLogin | undefined {
    const name = provider ?? this.providerOf(session);
    if (name === undefined) return undefined;
    const login = session.get(loginKey(name)) as StoredLogin | undefined;
    return login && typeof login === 'object' && typeof login.accessToken === 'string' ? login : undefined;
  }

  /** Every login the session holds, one per provider logged in. */
  logins(session: AnySession): StoredLogin[] {
    return this.loggedInProviders(session)
      .map((name) => this.getLogin(session, name))
      .filter((login): login is StoredLogin => login !== undefined);
  }
}
