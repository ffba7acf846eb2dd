/** Claims of a logged-in user: the ID token's, merged with UserInfo's. */
export interface AuthClaims {
  sub: string;
  [claim: string]: unknown;
}

/**
 * What the session keeps per provider after a login, under `auth:<provider>`. Never sent to the
 * browser: only the session ID travels.
 */
export interface StoredLogin {
  /** Provider name. */
  provider: string;
  idToken: string;
  accessToken: string;
  refreshToken?: string;
  tokenType: string;
  /** Access token expiry (epoch ms), when the provider said. */
  expiresAt?: number;
  scope?: string;
  claims: AuthClaims;
  /** The provider's session ID (`sid` claim), for back-channel logout. */
  sid?: string;
  /** When the user logged in (epoch ms). */
  loggedInAt: number;
}

/** A login in flight, under `auth:pending:<state>`: one key per login, so several tabs never overwrite each other. */
export interface PendingLogin {
  provider: string;
  codeVerifier: string;
  nonce: string;
  returnTo: string;
  startedAt: number;
}

/** Passed to the `login` event handler. */
export interface AuthLoginEvent {
  provider: string;
  claims: AuthClaims;
  /** The new (regenerated) session ID's holder is the request's session; the ID itself is never handed out. */
  returnTo: string;
}

/** Passed to the `logout` event handler. */
export interface AuthLogoutEvent {
  provider: string;
  /** `sub` of the user, when known. */
  sub?: string;
  /** `user`: the logout route; `backchannel`: the provider's logout token; `refresh-failed`: the provider refused a refresh. */
  reason: 'user' | 'backchannel' | 'refresh-failed';
  /** Sessions destroyed (back-channel logout). */
  sessions?: number;
}

/** Passed to the `refresh` event handler. */
export interface AuthRefreshEvent {
  provider: string;
  sub: string;
  /** New access token expiry (epoch ms). */
  expiresAt?: number;
}

/** Session key prefix of everything the auth module stores. */
export const AUTH_KEY_PREFIX = 'auth:';
const PENDING_PREFIX = 'auth:pending:';

/** Session key of a provider's login. */
export const loginKey = (provider: string): string => `${AUTH_KEY_PREFIX}${provider}`;
/** Session key of a login in flight. */
export const pendingKey = (state: string): string => `${PENDING_PREFIX}${state}`;
/** Whether a session key holds a login in flight. */
export const isPendingKey = (key: string): boolean => key.startsWith(PENDING_PREFIX);
/** Session key of the logout chain (end-session URLs still to visit). */
export const LOGOUT_CHAIN_KEY = 'auth:logout-chain';

/** Index keys a login is found by in back-channel logout. */
export const subIndexKey = (provider: string, sub: string): string => `oidc:${provider}:sub:${sub}`;
export const sidIndexKey = (provider: string, sid: string): string => `oidc:${provider}:sid:${sid}`;
