import { Injectable } from '@nestjs/common';
import { decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { sidIndexKey, subIndexKey } from './auth-session.js';
import { AuthReporter } from './auth.reporter.js';
import { AuthError } from './errors/auth.error.js';
import { AuthMessages } from './errors/auth.messages.js';
import { isNetworkError } from './network-error.util.js';
import { describe, OidcClients, type OidcClient } from './oidc-clients.service.js';
import { SessionBridge } from './session.bridge.js';

/** How long a logout token is accepted after its `iat` (`maxTokenAge` plus the clock tolerance). */
const LOGOUT_TOKEN_MAX_AGE = 10 * 60_000;
const LOGOUT_TOKEN_CLOCK_TOLERANCE = 30_000;
const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** What a back-channel logout ended. */
export interface BackchannelLogoutResult {
  /** The provider whose logout token it was. */
  provider: string;
  /** Sessions destroyed. */
  sessions: number;
}

/**
 * OpenID Connect Back-Channel Logout: the provider posts a signed logout token naming a user
 * (`sub`) or one of its sessions (`sid`), and every session of ours logged in with it is destroyed
 * at once, found through the index of logins. Each token is used once, across every instance
 * sharing the store: a replayed token could otherwise end a login made after it was issued.
 * @internal
 */
@Injectable()
export class BackchannelLogoutHandler {
  /**
   * `jti` of logout tokens already used, until they expire: replay protection for a store without
   * locks (the client-side store allowed by `allowCookieStore`), where it holds per process only.
   */
  private readonly usedLogoutTokens = new Map<string, number>();

  constructor(
    private readonly clients: OidcClients,
    private readonly bridge: SessionBridge,
    private readonly reporter: AuthReporter,
  ) {}

  /**
   * Handle a back-channel logout token: verify it (signature with the provider's keys, issuer,
   * audience, `iat`, the back-channel event, no `nonce`, `sid` or `sub`, `jti` not seen before)
   * and destroy the matching sessions at once, by `sid` when it has one, else by `sub`.
   * @throws AuthError `AUTH_LOGOUT_TOKEN_INVALID` (400), `AUTH_PROVIDER_UNAVAILABLE` (502, keys unreachable);
   *   SessionError `SESSION_STORE_UNAVAILABLE` when the sessions cannot be destroyed (the token stays unused)
   */
  async handle(logoutToken: unknown): Promise<BackchannelLogoutResult> {
    if (typeof logoutToken !== 'string' || logoutToken.length === 0) throw logoutTokenInvalid('logout_token is missing');
    let unverified: JWTPayload;
    let typ: unknown;
    try {
      unverified = decodeJwt(logoutToken);
      typ = decodeProtectedHeader(logoutToken).typ;
    } catch {
      throw logoutTokenInvalid('not a JWT');
    }
    // OpenID Back-Channel Logout 1.0 §2.4: "logout+jwt" when present; media types compare without
    // case, and the "application/" prefix may be left out (RFC 7515 §4.1.9).
    if (typ !== undefined && (typeof typ !== 'string' || !/^(?:application\/)?logout\+jwt$/i.test(typ))) {
      throw logoutTokenInvalid('its "typ" header is not logout+jwt');
    }
    const audiences = Array.isArray(unverified.aud) ? unverified.aud : [unverified.aud];
    const candidates = this.clients
      .all()
      .filter((client) => client.config.serverMetadata().issuer === unverified.iss && audiences.includes(client.provider.clientId));
    if (candidates.length === 0) throw logoutTokenInvalid('unknown issuer or audience');
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
      return this.apply(client, payload);
    }
    if (isNetworkError(lastError))
      throw new AuthError('AUTH_PROVIDER_UNAVAILABLE', AuthMessages.providerUnavailable(candidates[0].provider.name, 'serve its keys'), {
        cause: lastError,
      });
    throw logoutTokenInvalid(lastError instanceof Error ? lastError.message : 'signature check failed');
  }

  /** Check the verified token's claims, then destroy the sessions it names, once per token. */
  private async apply(client: OidcClient, payload: JWTPayload): Promise<BackchannelLogoutResult> {
    const events = payload.events;
    if (!isJsonObject(events) || !isJsonObject(events[BACKCHANNEL_EVENT])) throw logoutTokenInvalid('no back-channel logout event');
    if ('nonce' in payload) throw logoutTokenInvalid('a logout token must not carry a nonce');
    const sid = typeof payload.sid === 'string' ? payload.sid : undefined;
    const sub = typeof payload.sub === 'string' ? payload.sub : undefined;
    if (sid === undefined && sub === undefined) throw logoutTokenInvalid('it names neither sid nor sub');
    const name = client.provider.name;
    // Accepted until iat + maxTokenAge (+ tolerance): its jti must be remembered that long.
    const acceptedUntil = (payload.iat ?? 0) * 1000 + LOGOUT_TOKEN_MAX_AGE + LOGOUT_TOKEN_CLOCK_TOLERANCE;
    const index = this.bridge.index;
    // A client-side store keeps no index: the sessions live in browsers and cannot be reached (the
    // module starts over one only with allowCookieStore), so there is nothing to destroy, and the
    // token is still remembered as used.
    const sessions = await this.oncePerToken(`${name}\0${String(payload.jti)}`, acceptedUntil, () =>
      index.supported
        ? index.destroy(sid !== undefined ? sidIndexKey(name, sid) : subIndexKey(name, sub!), 'backchannel')
        : Promise.resolve(0),
    );
    await this.reporter.emit('logout', { provider: name, ...(sub !== undefined ? { sub } : {}), reason: 'backchannel', sessions });
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
    const locks = this.bridge.locks;
    if (!locks.supported) {
      const now = Date.now();
      for (const [jti, until] of this.usedLogoutTokens) if (until <= now) this.usedLogoutTokens.delete(jti);
      if (this.usedLogoutTokens.has(replayKey)) throw logoutTokenInvalid('it was already used');
      const sessions = await destroy();
      this.usedLogoutTokens.set(replayKey, acceptedUntil);
      return sessions;
    }
    // While working, the claim lives only as long as the work may take; it is extended on success.
    const claimTtl = this.bridge.sessionOptions.storeTimeout * 4;
    const claim = await locks.tryAcquire(`auth-logout-jti:${replayKey}`, claimTtl);
    if (!claim) throw logoutTokenInvalid('it was already used');
    let sessions: number;
    try {
      sessions = await destroy();
    } catch (error) {
      await claim
        .release()
        .catch((releaseError: unknown) => this.reporter.warn(`Could not release a logout token's claim: ${describe(releaseError)}`));
      throw error;
    }
    const remember = Math.max(acceptedUntil - Date.now(), 1);
    const recorded = await claim.extend(remember).catch((error: unknown) => {
      this.reporter.warn(`Could not record a used logout token: ${describe(error)}`);
      return true;
    });
    if (!recorded) this.reporter.warn('A logout token was recorded as used too late: its claim had expired; a replay may be accepted.');
    return sessions;
  }
}

function logoutTokenInvalid(reason: string): AuthError {
  return new AuthError('AUTH_LOGOUT_TOKEN_INVALID', AuthMessages.logoutTokenInvalid(reason));
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
