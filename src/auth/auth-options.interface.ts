import type { webcrypto } from 'node:crypto';
import type { Duration } from '../core/duration.util.js';
import type { AuthClaims, AuthLoginEvent, AuthLogoutEvent, AuthRefreshEvent } from './auth-session.js';

/** One OpenID Connect provider ("broker") the app logs users in with. */
export interface AuthProviderOptions {
  /**
   * The provider's issuer URL; its discovery document is fetched from
   * `<issuer>/.well-known/openid-configuration` once at start-up. Must be `https:` unless
   * `allowInsecureIssuers` is set (development only).
   * @example 'https://accounts.example.com'
   */
  issuer: string;
  /** The client ID registered at the provider. @example 'my-app' */
  clientId: string;
  /**
   * The client secret (`client_secret_basic`). Leave it out for `privateKeyJwt`, or for a public
   * client (PKCE only).
   * @default undefined
   */
  clientSecret?: string;
  /**
   * Authenticate with a signed JWT (`private_key_jwt`) instead of a secret: a private key as a
   * `CryptoKey` or a private JWK, with its `kid` when the provider needs one.
   * @default undefined
   * @example { key: privateJwk, kid: 'key-2026' }
   */
  privateKeyJwt?: { key: webcrypto.CryptoKey | webcrypto.JsonWebKey; kid?: string; alg?: string };
  /**
   * The absolute URL of this app's callback route, exactly as registered at the provider.
   * @example 'https://app.example.com/auth/callback'
   */
  redirectUri: string;
  /**
   * Scopes to request. `openid` is always added; add `offline_access` to get a refresh token.
   * @default 'openid profile email'
   * @example ['openid', 'profile', 'email', 'offline_access']
   */
  scope?: string | string[];
  /**
   * Where the provider sends the browser after its logout (registered at the provider). With
   * several providers logged in, point it at `<prefix>/logout/continue` to chain their logouts.
   * @default undefined (the provider's own logged-out page)
   * @example 'https://app.example.com/'
   */
  postLogoutRedirectUri?: string;
  /**
   * Extra authorization request parameters (`prompt`, `audience`, `acr_values`, `ui_locales`...).
   * `state`, `nonce`, `code_challenge` and `redirect_uri` are always set by the module.
   * @default {}
   * @example { prompt: 'consent', audience: 'https://api.example.com' }
   */
  authorizationParams?: Record<string, string>;
  /**
   * Fetch the UserInfo endpoint at login and merge its claims into the user (many providers keep
   * profile claims out of the ID token).
   * @default true
   */
  userInfo?: boolean;
}

/** Callbacks an app can use to record logins and logouts. Errors they throw are logged, never fail the request. */
export interface AuthEventHandlers {
  /** A user logged in with a provider (after the session ID was regenerated). */
  login?(event: AuthLoginEvent): void | Promise<void>;
  /** A provider login ended: the user logged out, a back-channel logout arrived, or a refresh was refused. */
  logout?(event: AuthLogoutEvent): void | Promise<void>;
  /** Tokens were refreshed at the provider. */
  refresh?(event: AuthRefreshEvent): void | Promise<void>;
}

/** Options of `AuthModule.forRoot()` / `forRootAsync()`. */
export interface AuthModuleOptions {
  /**
   * The providers, by a name of your choice (used in `?provider=` and in the session).
   * @example { main: { issuer: 'https://id.example.com', clientId: 'app', clientSecret: process.env.OIDC_SECRET, redirectUri: 'https://app.example.com/auth/callback' } }
   */
  providers: Record<string, AuthProviderOptions>;
  /**
   * The provider `/auth/login` uses without `?provider=`, and `@CurrentUser()` and
   * `AuthManager` use when none is named.
   * @default the first of `providers`
   */
  defaultProvider?: string;
  /**
   * Allow `http:` issuers (and redirect URIs on hosts other than localhost). For a provider on your
   * own machine in development and tests only; never in production. Redirect URIs on
   * `http://localhost`, `127.0.0.1` or `[::1]` are accepted without it.
   * @default false
   */
  allowInsecureIssuers?: boolean;
  /**
   * Refresh an access token this long before it expires (when a refresh token is held).
   * @default '1m'
   */
  refreshBefore?: Duration;
  /**
   * How long a started login may take until its callback (the browser's time at the provider).
   * @default '10m'
   */
  loginTimeout?: Duration;
  /**
   * Discovery at start-up: tries `attempts` times, waiting `delay` before the second try and twice as
   * long before each further one (at most 10 s), so an app does not die because its provider
   * started a little later.
   * @default { attempts: 6, delay: '500ms' }
   */
  discovery?: { attempts?: number; delay?: Duration };
  /**
   * Timeout of each HTTP request to a provider.
   * @default '10s'
   */
  httpTimeout?: Duration;
  /**
   * Where the browser goes after a login whose `returnTo` is missing or refused.
   * @default '/'
   */
  defaultReturnTo?: string;
  /**
   * Where the browser goes after logout when the provider has no end-session endpoint.
   * @default '/'
   */
  postLogoutRedirect?: string;
  /**
   * How long another process may hold the refresh of one session's tokens before this one stops
   * waiting for it (the lock expires after the same time).
   * @default '10s'
   */
  refreshLockTimeout?: Duration;
  /** Login, logout and refresh callbacks. @default {} */
  events?: AuthEventHandlers;
  /**
   * Decide whether a request is a browser navigation (redirected to the login) or an API call
   * (answered 401). By default: API when it sends `X-Requested-With: XMLHttpRequest`, or asks for
   * JSON (`Accept` without `text/html`), or is not a GET/HEAD.
   * @default see above
   */
  isApiRequest?: (req: { method?: string; headers: Record<string, string | string[] | undefined> }) => boolean;
  /**
   * Claims copied into the session. Keep it small: it is stored with every session. It runs on
   * every path that stores claims: at login (on the ID token's claims merged with UserInfo's) and
   * at each refresh that returns an ID token (on the stored claims merged with the new ID token's),
   * so claims it narrows or removes never come back. It must therefore accept its own output.
   * `sub` is always kept as the provider gave it.
   * @default every claim of the ID token and UserInfo
   * @example (claims) => ({ sub: claims.sub, name: claims.name, email: claims.email, groups: claims.groups })
   */
  mapClaims?: (claims: AuthClaims) => AuthClaims;
  /**
   * Origins other than the app's own that may post to the module's state-changing routes
   * (`POST <prefix>/logout`), e.g. a separate front-end's. Every other cross-origin post is refused
   * with 403 (`AUTH_CROSS_ORIGIN`), judged by the browser's `Sec-Fetch-Site` and `Origin` headers as
   * Nest's `app.enableCsrfProtection()` judges them. Each entry is `scheme://host[:port]`.
   * @default []
   * @example ['https://www.example.com']
   */
  trustedOrigins?: string[];
  /**
   * Let `AuthModule` run over a client-side session store (`CookieStore`). Refused by default: the
   * access, refresh and ID tokens would then live in the browser (encrypted), a cookie copied before
   * logout would stay logged in until its own expiry, and back-channel logout could not end any
   * session. Set it only if you accept all three.
   * @default false
   */
  allowCookieStore?: boolean;
}
