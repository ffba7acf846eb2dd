import { Inject, Injectable } from '@nestjs/common';
import * as oidc from 'openid-client';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AnySession } from '../session/session.js';
import { CookieTransport } from '../session/transports/cookie.transport.js';
import { AUTH_RESOLVED_OPTIONS } from './auth.constants.js';
import { safeReturnTo, type ResolvedAuthOptions } from './auth-options.resolver.js';
import { loginKey, type AuthClaims, type StoredLogin } from './auth-session.js';
import { AuthReporter } from './auth.reporter.js';
import { AuthError } from './errors/auth.error.js';
import { AuthMessages } from './errors/auth.messages.js';
import { LoginIndex } from './login-index.js';
import { LoginStateCookie, type PendingLoginEntry } from './login-state.cookie.js';
import { isNetworkError } from './network-error.util.js';
import { describe, OidcClients, type OidcClient } from './oidc-clients.service.js';
import { mappedClaims, userClaims } from './oidc-claims.util.js';
import { SessionBridge } from './session.bridge.js';

/** Logins in flight kept per browser (tabs); older ones are dropped first. */
const MAX_PENDING_LOGINS = 10;

/** What {@link LoginFlow.beginLogin} is asked for. */
export interface LoginRequest {
  /** @default the default provider */
  provider?: string;
  /** Where to go after the login; anything but a same-origin path becomes `defaultReturnTo`. */
  returnTo?: unknown;
  /** Authorization request parameters for this login, over the provider's own. */
  authorizationParams?: Record<string, string>;
}

/** What a completed login gives the callback route. */
export interface CompletedLogin {
  provider: string;
  returnTo: string;
  claims: AuthClaims;
}

/**
 * The authorization code flow with PKCE: {@link LoginFlow.beginLogin} sends the browser to the
 * provider, {@link LoginFlow.completeLogin} takes it back. What a login in flight needs (verifier,
 * `state`, `nonce`, `returnTo`) travels in the sealed login-state cookie, not in the session, so an
 * anonymous login start writes nothing to the session store.
 * @internal
 */
@Injectable()
export class LoginFlow {
  private loginStateCookie?: LoginStateCookie;

  constructor(
    @Inject(AUTH_RESOLVED_OPTIONS) private readonly options: ResolvedAuthOptions,
    private readonly clients: OidcClients,
    private readonly bridge: SessionBridge,
    private readonly loginIndex: LoginIndex,
    private readonly reporter: AuthReporter,
  ) {}

  /**
   * Start a login: keeps the PKCE verifier, `state` and `nonce` in a sealed cookie of their own
   * that lives `loginTimeout` (one entry per login, so logins in several tabs do not overwrite each
   * other; nothing is written to the session store) and resolves the provider URL to send the
   * browser to. `returnTo` must be a same-origin path; anything else becomes `defaultReturnTo`.
   * @throws AuthError `AUTH_UNKNOWN_PROVIDER`; `AUTH_OPTIONS_INVALID` for a session loaded without
   *   an HTTP response (a login needs one to set its cookie).
   */
  async beginLogin(session: AnySession, request: LoginRequest = {}): Promise<string> {
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
   * (issuer, audience, expiry, nonce), the session ID regenerated, the tokens stored and the
   * session indexed for back-channel logout.
   * @throws AuthError `AUTH_CALLBACK_INVALID` (400), `AUTH_LOGIN_FAILED` (401),
   *   `AUTH_PROVIDER_UNAVAILABLE` (502), `AUTH_OPTIONS_INVALID` for a session without a response
   */
  async completeLogin(session: AnySession, query: URLSearchParams): Promise<CompletedLogin> {
    const { req, res } = this.exchange(session);
    const state = query.get('state');
    if (!state) throw callbackInvalid('the callback carries no state');
    // Timed-out logins are not read back, so a late callback is an unknown state.
    const inFlight = this.loginState.read(req, Date.now());
    const pending = inFlight.find((entry) => entry.state === state);
    if (!pending) throw callbackInvalid('unknown or already used state (or older than loginTimeout)');
    this.loginState.write(
      req,
      res,
      inFlight.filter((entry) => entry !== pending),
    );
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
      throw providerError(client, 'exchange the code', cause);
    }
    const idClaims = tokens.claims();
    if (!idClaims || !tokens.id_token) throw callbackInvalid('the provider returned no ID token');
    let claims: AuthClaims = userClaims(idClaims);
    if (client.provider.userInfo && client.config.serverMetadata().userinfo_endpoint) {
      try {
        const info = await oidc.fetchUserInfo(client.config, tokens.access_token, idClaims.sub);
        claims = { ...info, ...claims, sub: idClaims.sub };
      } catch (cause) {
        throw new AuthError('AUTH_PROVIDER_UNAVAILABLE', AuthMessages.providerUnavailable(client.provider.name, 'answer UserInfo'), {
          cause,
        });
      }
    }
    claims = mappedClaims(this.options.mapClaims, claims, idClaims.sub);

    await session.regenerate();
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
    session.set(loginKey(pending.provider), login);
    await session.save();
    await this.loginIndex.link(session, login);
    await this.reporter.emit('login', { provider: pending.provider, claims, returnTo: pending.returnTo });
    return { provider: pending.provider, returnTo: pending.returnTo, claims };
  }

  /** The login-state cookie, set up from the session cookie's name, secrets and attributes. */
  private get loginState(): LoginStateCookie {
    if (!this.loginStateCookie) {
      const sessionOptions = this.bridge.sessionOptions;
      const cookieAttributes = new CookieTransport(sessionOptions.cookie, sessionOptions.trustProxy);
      this.loginStateCookie = new LoginStateCookie({
        sessionCookieName: sessionOptions.cookie.name,
        secrets: sessionOptions.secrets,
        attributes: (req, expiresAt) => cookieAttributes.attributes(req, expiresAt),
        lifetime: this.options.loginTimeout,
        maxPending: MAX_PENDING_LOGINS,
      });
    }
    return this.loginStateCookie;
  }

  /** The request and response of `session`; a login sets cookies, so it needs a response. */
  private exchange(session: AnySession): { req: IncomingMessage; res: ServerResponse } {
    const { req, res } = this.bridge.sessions.exchangeOf(session);
    if (!res) {
      throw new AuthError(
        'AUTH_OPTIONS_INVALID',
        AuthMessages.invalidOption(
          'session',
          'a login needs the session of an HTTP request with its response',
          'Start and finish logins in HTTP routes.',
        ),
      );
    }
    return { req, res };
  }
}

function callbackInvalid(reason: string, cause?: unknown): AuthError {
  return new AuthError('AUTH_CALLBACK_INVALID', AuthMessages.callbackInvalid(reason), cause === undefined ? undefined : { cause });
}

/** Map an openid-client failure: the provider refused (400), the provider said no (401), or could not be reached (502). */
function providerError(client: OidcClient, operation: string, cause: unknown): AuthError {
  if (cause instanceof AuthError) return cause;
  if (cause instanceof oidc.AuthorizationResponseError) {
    return new AuthError('AUTH_LOGIN_FAILED', AuthMessages.loginFailed(cause.error), { cause });
  }
  if (cause instanceof oidc.ResponseBodyError && cause.status < 500) {
    return callbackInvalid(`the provider refused the code (${cause.error})`, cause);
  }
  if (cause instanceof oidc.ClientError && !isNetworkError(cause)) {
    // openid-client wraps oauth4webapi's error, whose own cause names the claim.
    const inner = cause.cause as { cause?: { claim?: unknown }; claim?: unknown } | undefined;
    const claim = inner?.claim ?? inner?.cause?.claim;
    // Name the failed check, never the values: they come from a token.
    if (typeof claim === 'string')
      return callbackInvalid(`the ID token's "${claim}" claim is wrong (${cause.message.replace(/\.$/, '')})`, cause);
    return callbackInvalid(cause.message.replace(/\.$/, ''), cause);
  }
  if (!isNetworkError(cause) && !(cause instanceof oidc.ResponseBodyError)) {
    return callbackInvalid(describe(cause), cause);
  }
  return new AuthError('AUTH_PROVIDER_UNAVAILABLE', AuthMessages.providerUnavailable(client.provider.name, operation), { cause });
}
