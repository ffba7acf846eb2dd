import { parseDuration, type Duration } from '../core/duration.util.js';
import type { AuthClaims } from './auth-session.js';
import type { AuthEventHandlers, AuthModuleOptions, AuthProviderOptions } from './auth-options.interface.js';
import { AuthError } from './errors/auth.error.js';
import { AuthMessages } from './errors/auth.messages.js';
import { normaliseOrigin } from './cross-origin.js';

/** A provider's options after validation. */
export interface ResolvedAuthProvider extends Omit<AuthProviderOptions, 'scope' | 'authorizationParams' | 'userInfo'> {
  name: string;
  scope: string;
  authorizationParams: Record<string, string>;
  userInfo: boolean;
}

/** {@link AuthModuleOptions} after validation, with every default applied. */
export interface ResolvedAuthOptions {
  providers: ReadonlyMap<string, ResolvedAuthProvider>;
  defaultProvider: string;
  allowInsecureIssuers: boolean;
  refreshBefore: number;
  loginTimeout: number;
  discoveryAttempts: number;
  discoveryDelay: number;
  httpTimeout: number;
  defaultReturnTo: string;
  postLogoutRedirect: string;
  refreshLockTimeout: number;
  events: AuthEventHandlers;
  isApiRequest: NonNullable<AuthModuleOptions['isApiRequest']>;
  mapClaims: (claims: AuthClaims) => AuthClaims;
  /** Normalised `trustedOrigins`. */
  trustedOrigins: ReadonlySet<string>;
  allowCookieStore: boolean;
}

/** Provider names end up in session keys and URLs: keep them plain. */
const PROVIDER_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

function invalid(option: string, rule: string, fix: string): AuthError {
  return new AuthError('AUTH_OPTIONS_INVALID', AuthMessages.invalidOption(option, rule, fix));
}

function duration(option: string, value: Duration | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (ms === undefined)
    throw invalid(option, `${JSON.stringify(value)} is not a duration`, "Give milliseconds or a string such as '30s' or '10m'.");
  return ms;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * An absolute http(s) URL. `kind` `'app'` (this app's own redirect URIs) also accepts plain HTTP on a
 * loopback host, as RFC 8252 does for apps on the user's machine, so local development against a
 * real https provider needs no insecure switch.
 */
function url(option: string, value: unknown, allowInsecure: boolean, kind: 'issuer' | 'app' = 'issuer'): URL {
  if (typeof value !== 'string' || !URL.canParse(value))
    throw invalid(option, 'must be an absolute URL', 'Give e.g. https://id.example.com.');
  const parsed = new URL(value);
  if (parsed.protocol === 'https:') return parsed;
  if (parsed.protocol === 'http:') {
    if (allowInsecure || (kind === 'app' && LOOPBACK_HOSTS.has(parsed.hostname))) return parsed;
    throw invalid(
      option,
      'must use https:',
      kind === 'app'
        ? 'Use the https URL of your app (plain http is accepted for localhost and 127.0.0.1 only).'
        : 'Use the https URL; for a provider on your own machine in development set allowInsecureIssuers: true.',
    );
  }
  throw invalid(option, 'must be an http(s) URL', 'Give e.g. https://id.example.com.');
}

/** Same-origin relative path, or `undefined` (see `safeReturnTo`). */
function relativePath(option: string, value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) {
    throw invalid(option, 'must be a path on this site starting with a single "/"', "Give e.g. '/'.");
  }
  return value;
}

const defaultIsApiRequest: ResolvedAuthOptions['isApiRequest'] = (req) => {
  const method = (req.method ?? 'GET').toUpperCase();
  if (method !== 'GET' && method !== 'HEAD') return true;
  const header = (name: string): string => {
    const value = req.headers[name];
    return (Array.isArray(value) ? value.join(',') : (value ?? '')).toLowerCase();
  };
  if (header('x-requested-with') === 'xmlhttprequest') return true;
  const accept = header('accept');
  return accept.includes('application/json') && !accept.includes('text/html');
};

/**
 * Validate {@link AuthModuleOptions} and apply defaults. Runs once at bootstrap; every error is an
 * `AuthError` with code `AUTH_OPTIONS_INVALID` naming the option, the rule and the fix.
 */
export function resolveAuthOptions(options: AuthModuleOptions | undefined): ResolvedAuthOptions {
  if (!options || typeof options !== 'object') {
    throw invalid('options', 'AuthModule needs an options object', 'Call AuthModule.forRoot({ providers: { ... } }).');
  }
  const allowInsecureIssuers = options.allowInsecureIssuers ?? false;
  const entries = Object.entries(options.providers ?? {});
  if (entries.length === 0) {
    throw invalid(
      'providers',
      'at least one provider is required',
      'Give e.g. providers: { main: { issuer, clientId, clientSecret, redirectUri } }.',
    );
  }
  const providers = new Map<string, ResolvedAuthProvider>();
  for (const [name, provider] of entries) {
    const at = `providers.${name}`;
    if (!PROVIDER_NAME.test(name))
      throw invalid(at, 'a provider name must be letters, digits, "-" or "_" (at most 64)', "Rename it, e.g. 'main'.");
    // The module keeps its logout chain under `auth:logout-chain`, beside each provider's `auth:<name>`.
    if (name === 'logout-chain') throw invalid(at, '"logout-chain" is the name of a record the module keeps', "Rename it, e.g. 'main'.");
    if (!provider || typeof provider !== 'object')
      throw invalid(at, 'must be an object', 'Give { issuer, clientId, clientSecret, redirectUri }.');
    url(`${at}.issuer`, provider.issuer, allowInsecureIssuers);
    if (typeof provider.clientId !== 'string' || provider.clientId === '')
      throw invalid(`${at}.clientId`, 'is required', 'Give the client ID registered at the provider.');
    if (provider.clientSecret !== undefined && (typeof provider.clientSecret !== 'string' || provider.clientSecret === '')) {
      throw invalid(
        `${at}.clientSecret`,
        'must be a non-empty string',
        'Give the client secret, or leave it out for privateKeyJwt or a public client.',
      );
    }
    if (provider.clientSecret !== undefined && provider.privateKeyJwt !== undefined) {
      throw invalid(`${at}.privateKeyJwt`, 'cannot be combined with clientSecret', 'Keep the one the client is registered with.');
    }
    if (provider.privateKeyJwt !== undefined && (typeof provider.privateKeyJwt !== 'object' || !provider.privateKeyJwt.key)) {
      throw invalid(`${at}.privateKeyJwt`, 'needs a `key` (a private CryptoKey or JWK)', 'Give { key: privateJwk, kid }.');
    }
    url(`${at}.redirectUri`, provider.redirectUri, allowInsecureIssuers, 'app');
    if (provider.postLogoutRedirectUri !== undefined)
      url(`${at}.postLogoutRedirectUri`, provider.postLogoutRedirectUri, allowInsecureIssuers, 'app');
    const scopes = new Set([
      'openid',
      ...(Array.isArray(provider.scope) ? provider.scope : (provider.scope ?? 'openid profile email').split(/\s+/)),
    ]);
    scopes.delete('');
    const authorizationParams = { ...(provider.authorizationParams ?? {}) };
    for (const reserved of [
      'state',
      'nonce',
      'code_challenge',
      'code_challenge_method',
      'redirect_uri',
      'response_type',
      'client_id',
      'scope',
    ]) {
      if (reserved in authorizationParams) {
        throw invalid(
          `${at}.authorizationParams.${reserved}`,
          'is set by the module',
          reserved === 'scope' ? 'Use the `scope` option.' : 'Remove it.',
        );
      }
    }
    providers.set(name, {
      ...provider,
      name,
      issuer: provider.issuer.replace(/\/$/, ''),
      scope: [...scopes].join(' '),
      authorizationParams,
      userInfo: provider.userInfo ?? true,
    });
  }
  const defaultProvider = options.defaultProvider ?? entries[0][0];
  if (!providers.has(defaultProvider))
    throw invalid('defaultProvider', `"${defaultProvider}" is not one of providers`, `Use one of: ${[...providers.keys()].join(', ')}.`);

  const discoveryAttempts = options.discovery?.attempts ?? 6;
  if (!Number.isInteger(discoveryAttempts) || discoveryAttempts < 1)
    throw invalid('discovery.attempts', 'must be a whole number of at least 1', 'Leave it out for 6.');
  for (const name of ['events', 'isApiRequest', 'mapClaims'] as const) {
    const value = options[name];
    if (value !== undefined && typeof value !== (name === 'events' ? 'object' : 'function')) {
      throw invalid(name, `must be ${name === 'events' ? 'an object of callbacks' : 'a function'}`, 'See docs/openid-connect.md#options.');
    }
  }
  if (options.trustedOrigins !== undefined && !Array.isArray(options.trustedOrigins)) {
    throw invalid('trustedOrigins', 'must be an array of origins', "Give e.g. ['https://www.example.com'].");
  }
  const trustedOrigins = new Set<string>();
  for (const [index, origin] of (options.trustedOrigins ?? []).entries()) {
    const normalised = normaliseOrigin(origin);
    if (normalised === undefined) {
      throw invalid(
        `trustedOrigins[${index}]`,
        'must be an http(s) origin: scheme://host[:port], without a path',
        "Give e.g. 'https://www.example.com'.",
      );
    }
    trustedOrigins.add(normalised);
  }
  if (options.allowCookieStore !== undefined && typeof options.allowCookieStore !== 'boolean') {
    throw invalid('allowCookieStore', 'must be true or false', 'Leave it out to refuse client-side stores.');
  }
  return {
    providers,
    defaultProvider,
    allowInsecureIssuers,
    refreshBefore: duration('refreshBefore', options.refreshBefore, 60_000),
    loginTimeout: duration('loginTimeout', options.loginTimeout, 600_000),
    discoveryAttempts,
    discoveryDelay: duration('discovery.delay', options.discovery?.delay, 500),
    httpTimeout: duration('httpTimeout', options.httpTimeout, 10_000),
    defaultReturnTo: relativePath('defaultReturnTo', options.defaultReturnTo ?? '/'),
    postLogoutRedirect: relativePath('postLogoutRedirect', options.postLogoutRedirect ?? '/'),
    refreshLockTimeout: duration('refreshLockTimeout', options.refreshLockTimeout, 10_000),
    events: options.events ?? {},
    isApiRequest: options.isApiRequest ?? defaultIsApiRequest,
    mapClaims: options.mapClaims ?? ((claims) => claims),
    trustedOrigins,
    allowCookieStore: options.allowCookieStore ?? false,
  };
}

/**
 * A path a browser could read as another host: `//host`, `/\host`, and their percent-encoded
 * forms, which a proxy or framework in front of the app may decode before redirecting again.
 */
const HOST_LIKE_PATH = /^\/(?:[/\\]|%2f|%5c)/i;

/**
 * `returnTo` if it is a same-origin relative path (`/x?y#z`), else `fallback`: absolute URLs,
 * protocol-relative `//host`, backslash tricks (`/\host`), control characters and anything that
 * resolves to another origin are refused. The path is checked again after normalisation, since
 * dot segments (`/.//host`, `/%2e%2e//host`, `/a/..//host`) collapse into `//host`.
 */
export function safeReturnTo(returnTo: unknown, fallback: string): string {
  if (typeof returnTo !== 'string' || returnTo.length === 0 || returnTo.length > 2048) return fallback;
  if (!returnTo.startsWith('/') || HOST_LIKE_PATH.test(returnTo) || returnTo.includes('\\')) return fallback;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(returnTo)) return fallback;
  const base = 'http://return-to.invalid';
  let resolved: URL;
  try {
    resolved = new URL(returnTo, base);
  } catch {
    return fallback;
  }
  if (resolved.origin !== base) return fallback;
  const path = `${resolved.pathname}${resolved.search}${resolved.hash}`;
  return HOST_LIKE_PATH.test(path) || path.includes('\\') ? fallback : path;
}
