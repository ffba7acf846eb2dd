import { Logger } from '@nestjs/common';
import { isClientSideStore, type ClientSideSessionStore } from '../core/client-side-store.interface.js';
import { createStoreFromUrl } from '../stores/store-url.js';
import type { SessionStore } from '../core/session-store.interface.js';
import { JsonCodec } from './codecs/json.codec.js';
import { RichCodec } from './codecs/rich.codec.js';
import type { SessionCodec } from './codecs/session-codec.interface.js';
import { parseDuration, type Duration } from '../core/duration.util.js';
import { SessionError } from '../core/errors/session.error.js';
import { SessionMessages } from '../core/errors/session.messages.js';
import { DEFAULT_ID_LENGTH, MAX_ID_LENGTH, MIN_ID_LENGTH } from '../core/session-id.js';
import type { AnySession } from './session.js';
import type { SessionErrorContext, SessionIdTransport, SessionModuleOptions, SessionTransportOption } from './session-options.interface.js';
import { CookieTransport, type ResolvedCookieOptions } from './transports/cookie.transport.js';
import { HeaderTransport } from './transports/header.transport.js';

/** Minimum length of each secret. */
export const MIN_SECRET_LENGTH = 32;
/** Default of {@link SessionModuleOptions.maxIndexEntries}. */
const DEFAULT_MAX_INDEX_ENTRIES = 100;

/** {@link SessionModuleOptions} after validation, with every default applied. */
export interface ResolvedSessionOptions {
  /** A server-side store, or a client-side one such as `CookieStore` (see `isClientSideStore`). */
  store: SessionStore | ClientSideSessionStore;
  /** Whether nest-sessions built the store (from a URL) and so closes it on shutdown. */
  ownsStore: boolean;
  secrets: readonly string[];
  cookie: ResolvedCookieOptions;
  idleTimeout: number;
  absoluteTimeout: number;
  touchInterval: number;
  idLength: number;
  codec: SessionCodec;
  transports: readonly SessionIdTransport[];
  trustProxy: boolean;
  onError: (error: SessionError, context: SessionErrorContext) => void;
  gcInterval: number | undefined;
  principal: ((session: AnySession) => string | undefined) | undefined;
  /** Most entries a `SessionIndex` link leaves in one key's index record. */
  maxIndexEntries: number;
  storeTimeout: number;
  onStoreUnavailable: 'fail' | 'anonymous';
  /** The secrets express-session cookies are checked with (`legacyCookies`), or `undefined` when they are not accepted. */
  legacySecrets: readonly string[] | undefined;
  /** Where legacy sessions are migrated from (`legacyStore`). */
  legacyStore: SessionStore | undefined;
}

const logger = new Logger('SessionModule');

const defaultOnError = (error: SessionError): void => {
  logger.warn(`${error.code}: ${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ''}`);
};

function invalid(option: string, rule: string, fix: string): SessionError {
  return new SessionError('SESSION_OPTIONS_INVALID', SessionMessages.invalidOption(option, rule, fix));
}

function duration(option: string, value: Duration | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (ms === undefined) {
    throw invalid(option, `${JSON.stringify(value)} is not a duration`, "Give milliseconds or a string such as '30m', '12h' or '7d'.");
  }
  return ms;
}

/**
 * Validate {@link SessionModuleOptions} and apply defaults. Runs once at bootstrap; every error
 * is a `SessionError` with code `SESSION_OPTIONS_INVALID` naming the option, the rule and the fix.
 */
export async function resolveSessionOptions(options: SessionModuleOptions | undefined): Promise<ResolvedSessionOptions> {
  if (!options || typeof options !== 'object') {
    throw invalid('options', 'SessionModule needs an options object', 'Call SessionModule.forRoot({ secret: ... }).');
  }

  const secrets = typeof options.secret === 'string' ? [options.secret] : options.secret;
  if (!Array.isArray(secrets) || secrets.length === 0) {
    throw invalid(
      'secret',
      'a secret is required',
      `Pass a random string of at least ${MIN_SECRET_LENGTH} characters, e.g. from process.env.SESSION_SECRET.`,
    );
  }
  secrets.forEach((secret, index) => {
    if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) {
      throw invalid(
        secrets.length > 1 ? `secret[${index}]` : 'secret',
        `must be a string of at least ${MIN_SECRET_LENGTH} characters`,
        "Generate one with `node -e \"console.log(require('crypto').randomBytes(32).toString('base64url'))\"`.",
      );
    }
  });

  const idleTimeout = duration('idleTimeout', options.idleTimeout, 86_400_000);
  const absoluteTimeout = duration('absoluteTimeout', options.absoluteTimeout, 7 * 86_400_000);
  if (idleTimeout <= 0) throw invalid('idleTimeout', 'must be longer than zero', "Give e.g. '30m'.");
  if (absoluteTimeout < idleTimeout) {
    throw invalid('absoluteTimeout', 'must not be shorter than idleTimeout', 'Raise absoluteTimeout or lower idleTimeout.');
  }
  // Browsers cap cookie lifetimes at 400 days; a longer deadline would silently end sooner.
  if (absoluteTimeout > 400 * 86_400_000) {
    throw invalid('absoluteTimeout', 'must not exceed 400 days (the browser cookie limit)', "Give e.g. '30d'.");
  }
  const touchInterval = duration('touchInterval', options.touchInterval, Math.min(60_000, Math.floor(idleTimeout / 2)));
  if (touchInterval >= idleTimeout) {
    throw invalid('touchInterval', 'must be shorter than idleTimeout', 'Lower touchInterval, e.g. to a tenth of idleTimeout.');
  }

  const idLength = options.idLength ?? DEFAULT_ID_LENGTH;
  if (!Number.isInteger(idLength) || idLength < MIN_ID_LENGTH || idLength > MAX_ID_LENGTH) {
    throw invalid(
      'idLength',
      `must be a whole number from ${MIN_ID_LENGTH} (128 bits of entropy) to ${MAX_ID_LENGTH}`,
      `Leave it out for the default of ${DEFAULT_ID_LENGTH}.`,
    );
  }

  const cookie = resolveCookie(options);
  const trustProxy = options.trustProxy ?? false;
  const transports = resolveTransports(options, cookie, trustProxy);
  const codec = resolveCodec(options.codec);
  const gcInterval = options.gcInterval === undefined ? undefined : duration('gcInterval', options.gcInterval, 0);
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw invalid('onError', 'must be a function', 'Pass (error, { req, res }) => { ... } or leave it out.');
  }

  const principal = resolvePrincipal(options.principal);
  const maxIndexEntries = options.maxIndexEntries ?? DEFAULT_MAX_INDEX_ENTRIES;
  if (!Number.isInteger(maxIndexEntries) || maxIndexEntries < 1) {
    throw invalid(
      'maxIndexEntries',
      'must be a whole number of at least 1',
      `Leave it out for the default of ${DEFAULT_MAX_INDEX_ENTRIES}.`,
    );
  }
  const storeTimeout = duration('storeTimeout', options.storeTimeout, 5000);
  if (storeTimeout <= 0) throw invalid('storeTimeout', 'must be longer than zero', "Give e.g. '2s'.");
  const onStoreUnavailable = options.onStoreUnavailable ?? 'fail';
  if (onStoreUnavailable !== 'fail' && onStoreUnavailable !== 'anonymous') {
    throw invalid('onStoreUnavailable', "must be 'fail' or 'anonymous'", "Leave it out for 'fail'.");
  }
  const { store, ownsStore } = await resolveStore(options.store, gcInterval);
  if (isClientSideStore(store)) {
    if (transports.length !== 1 || !(transports[0] instanceof CookieTransport)) {
      throw invalid(
        'transport',
        'a client-side store (CookieStore) keeps the session in cookies',
        "Leave transport out, or use a server-side store for 'header' or custom transports.",
      );
    }
    const cookieTransport = transports[0];
    store.configure({
      secrets,
      cookieName: cookie.name,
      attributes: (req, expiresAt) => cookieTransport.attributes(req, expiresAt),
    });
  }

  const legacySecrets = resolveLegacySecrets(options.legacyCookies, secrets as readonly string[]);
  const legacyStore = options.legacyStore;
  if (legacyStore !== undefined) {
    if (legacySecrets === undefined) {
      throw invalid('legacyStore', 'needs legacyCookies', 'Set legacyCookies: true (or { secrets }) as well, or leave legacyStore out.');
    }
    if (!isSessionStore(legacyStore)) {
      throw invalid('legacyStore', 'must be a session store (get, set, destroy)', "Wrap express-session's store: fromConnectStore(store).");
    }
  }
  if (legacySecrets !== undefined && isClientSideStore(store)) {
    throw invalid(
      'legacyCookies',
      'a client-side store (CookieStore) keeps no sessions by ID',
      'Use a server-side store (the one express-session used, through fromConnectStore, works).',
    );
  }

  return {
    store,
    ownsStore,
    secrets: [...(secrets as readonly string[])],
    cookie,
    idleTimeout,
    absoluteTimeout,
    touchInterval,
    idLength,
    codec,
    transports,
    trustProxy,
    onError: options.onError ?? defaultOnError,
    gcInterval,
    principal,
    maxIndexEntries,
    storeTimeout,
    onStoreUnavailable,
    legacySecrets,
    legacyStore,
  };
}

function resolveLegacySecrets(legacy: SessionModuleOptions['legacyCookies'], secrets: readonly string[]): readonly string[] | undefined {
  if (legacy === undefined || legacy === false) return undefined;
  if (legacy === true) return secrets;
  const given: unknown = typeof legacy === 'object' && legacy !== null ? (legacy as { secrets?: unknown }).secrets : undefined;
  const list = typeof given === 'string' ? [given] : given;
  if (!Array.isArray(list) || list.length === 0 || !list.every((secret) => typeof secret === 'string' && secret !== '')) {
    throw invalid(
      'legacyCookies',
      'must be true, or { secrets } with one or more non-empty strings',
      "Give express-session's secret(s), e.g. { secrets: ['keyboard cat'] }, or true to use `secret`.",
    );
  }
  return [...(list as string[])];
}

/** Whether `store` has the methods the engine calls on every store. */
function isSessionStore(store: unknown): store is SessionStore {
  const candidate = store as Partial<SessionStore> | null;
  return typeof candidate?.get === 'function' && typeof candidate.set === 'function' && typeof candidate.destroy === 'function';
}

function resolvePrincipal(principal: SessionModuleOptions['principal']): ResolvedSessionOptions['principal'] {
  if (principal === undefined) return undefined;
  if (typeof principal === 'function') return principal;
  if (typeof principal === 'string' && principal !== '') {
    return (session) => {
      const value: unknown = session.get(principal);
      if (value === undefined || value === null) return undefined;
      return typeof value === 'string' ? value : JSON.stringify(value);
    };
  }
  throw invalid('principal', 'must be a session key name or a function of the session', "Pass e.g. 'userId'.");
}

function resolveCookie(options: SessionModuleOptions): ResolvedCookieOptions {
  const given = options.cookie ?? {};
  const cookie: ResolvedCookieOptions = {
    name: given.name ?? 'sid',
    path: given.path ?? '/',
    domain: given.domain,
    httpOnly: given.httpOnly ?? true,
    secure: given.secure ?? true,
    sameSite: given.sameSite ?? 'lax',
    partitioned: given.partitioned ?? false,
    priority: given.priority,
    persistent: given.persistent ?? true,
  };
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookie.name)) {
    throw invalid('cookie.name', `"${cookie.name}" is not a valid cookie name`, 'Use letters, digits, "-" and "_".');
  }
  if (!cookie.path.startsWith('/') || /[;\s]/.test(cookie.path)) {
    throw invalid('cookie.path', 'must start with "/" and contain no ";" or spaces', "Use e.g. '/'.");
  }
  if (cookie.domain !== undefined && !/^\.?[A-Za-z0-9.-]+$/.test(cookie.domain)) {
    throw invalid('cookie.domain', `"${cookie.domain}" is not a domain`, 'Give a host name such as "example.com", or leave it out.');
  }
  if (![true, false, 'auto'].includes(cookie.secure)) {
    throw invalid('cookie.secure', "must be true, false or 'auto'", 'Leave it out for the secure default.');
  }
  if (![false, 'lax', 'strict', 'none'].includes(cookie.sameSite)) {
    throw invalid('cookie.sameSite', "must be 'lax', 'strict', 'none' or false", "Leave it out for 'lax'.");
  }
  if (/^__host-/i.test(cookie.name) && (cookie.secure !== true || cookie.path !== '/' || cookie.domain)) {
    throw invalid(
      'cookie.name',
      'a "__Host-" cookie needs secure: true, path: "/" and no domain, or browsers refuse it',
      'Set cookie.secure to true and drop cookie.domain and cookie.path.',
    );
  }
  if (/^__secure-/i.test(cookie.name) && cookie.secure !== true) {
    throw invalid('cookie.name', 'a "__Secure-" cookie needs secure: true', 'Set cookie.secure to true.');
  }
  if (cookie.sameSite === 'none' && cookie.secure === false) {
    throw invalid('cookie.sameSite', "'none' needs a secure cookie, or browsers refuse it", "Set cookie.secure to true or 'auto'.");
  }
  if (cookie.partitioned && cookie.secure === false) {
    throw invalid('cookie.partitioned', 'needs a secure cookie', "Set cookie.secure to true or 'auto'.");
  }
  return cookie;
}

function resolveTransports(options: SessionModuleOptions, cookie: ResolvedCookieOptions, trustProxy: boolean): SessionIdTransport[] {
  const given = options.transport ?? 'cookie';
  const list: readonly SessionTransportOption[] = Array.isArray(given) ? given : [given as SessionTransportOption];
  if (list.length === 0) throw invalid('transport', 'needs at least one transport', "Leave it out for 'cookie'.");
  if (options.headerName !== undefined && !/^[A-Za-z0-9-]+$/.test(options.headerName)) {
    throw invalid('headerName', `"${options.headerName}" is not a header name`, "Use e.g. 'X-Session-Id'.");
  }
  return list.map((entry, index) => {
    if (entry === 'cookie') return new CookieTransport(cookie, trustProxy);
    if (entry === 'header') return new HeaderTransport(options.headerName);
    if (entry && typeof entry === 'object' && typeof entry.read === 'function' && typeof entry.write === 'function') {
      return entry;
    }
    throw invalid(
      list.length > 1 ? `transport[${index}]` : 'transport',
      "must be 'cookie', 'header' or an object with read() and write()",
      'See docs/configuration.md#session-id-transports.',
    );
  });
}

function resolveCodec(codec: SessionModuleOptions['codec']): SessionCodec {
  if (codec === undefined || codec === 'json') return new JsonCodec();
  if (codec === 'rich') return new RichCodec();
  if (codec && typeof codec === 'object' && typeof codec.encode === 'function' && typeof codec.decode === 'function') {
    return codec;
  }
  throw invalid('codec', "must be 'json', 'rich' or an object with encode() and decode()", "Leave it out for 'json'.");
}

async function resolveStore(
  store: SessionModuleOptions['store'],
  gcInterval: number | undefined,
): Promise<{ store: SessionStore | ClientSideSessionStore; ownsStore: boolean }> {
  if (store === undefined || typeof store === 'string') {
    return { store: await createStoreFromUrl(store ?? 'memory:', { gcInterval }), ownsStore: true };
  }
  if (isClientSideStore(store)) return { store, ownsStore: false };
  const required = ['get', 'set', 'patch', 'touch', 'destroy'] as const;
  const missing = required.filter((method) => typeof (store as unknown as Record<string, unknown>)?.[method] !== 'function');
  if (missing.length > 0) {
    throw invalid(
      'store',
      `the store has no ${missing.join(', ')} method${missing.length > 1 ? 's' : ''}`,
      'Pass an object implementing SessionStore, or a URL such as "memory:".',
    );
  }
  return { store, ownsStore: false };
}
