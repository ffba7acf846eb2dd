import { Logger } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
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
import type { SessionEventListeners } from './session-events.js';
import type { SessionErrorContext, SessionIdTransport, SessionModuleOptions, SessionTransportOption } from './session-options.interface.js';
import { CookieTransport, checkCookieAttributes, type ResolvedCookieOptions } from './transports/cookie.transport.js';
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
  trustProxy: boolean | 'express';
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
  /** Makes the IDs of new sessions (`generateId`), or `undefined` for random IDs of `idLength` characters. */
  generateId: ((req: IncomingMessage) => string) | undefined;
  /** Store new sessions and set their cookie even when empty (`eagerSessions`). */
  eagerSessions: boolean;
  /** Send the cookie on every response of a stored session (`rolling`). */
  rolling: boolean;
  /** What `req.session = null` does (`unset`). */
  unset: 'destroy' | 'keep';
  /** The lifecycle listeners (`events`), each a function. */
  events: SessionEventListeners;
  /** What `deviceInfo` keeps with each session. */
  deviceInfo: { userAgent: boolean; ip: boolean };
}

/** The options resolved without the store, which needs async work (see {@link checkSessionOptions}). */
type StaticOptions = Omit<ResolvedSessionOptions, 'store' | 'ownsStore'>;

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
  const resolved = resolveStatic(options);
  const given = options as SessionModuleOptions;
  if (given.allowShortSecrets === true) warnShortSecrets(resolved.secrets);
  const { store, ownsStore } = await resolveStore(given.store, resolved.gcInterval);
  if (isClientSideStore(store)) {
    const { transports, cookie } = resolved;
    if (transports.length !== 1 || !(transports[0] instanceof CookieTransport)) {
      throw invalid(
        'transport',
        'a client-side store (CookieStore) keeps the session in cookies',
        "Leave transport out, or use a server-side store for 'header' or custom transports.",
      );
    }
    if (resolved.legacySecrets !== undefined) {
      throw invalid(
        'legacyCookies',
        'a client-side store (CookieStore) keeps no sessions by ID',
        'Use a server-side store (the one express-session used, through fromConnectStore, works).',
      );
    }
    refuseOnClientSideStore(given);
    const cookieTransport = transports[0];
    store.configure({
      secrets: resolved.secrets,
      cookieName: cookie.name,
      attributes: (req, expiresAt) => cookieTransport.attributes(req, expiresAt),
    });
  }
  return { store, ownsStore, ...resolved };
}

/**
 * Check `options` as {@link resolveSessionOptions} does, synchronously, except what depends on the
 * store it builds (for `fromExpressSessionOptions()`, which refuses what it maps at once).
 * @throws SessionError `SESSION_OPTIONS_INVALID` naming the option, the rule and the fix.
 * @example checkSessionOptions({ secret: process.env.SESSION_SECRET!, rolling: true });
 * @internal
 */
export function checkSessionOptions(options: SessionModuleOptions): void {
  resolveStatic(options);
}

/** Every option but the store, validated, with defaults applied. */
function resolveStatic(options: SessionModuleOptions | undefined): StaticOptions {
  if (!options || typeof options !== 'object') {
    throw invalid('options', 'SessionModule needs an options object', 'Call SessionModule.forRoot({ secret: ... }).');
  }

  const secrets = resolveSecrets(options);

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
  if (trustProxy !== true && trustProxy !== false && trustProxy !== 'express') {
    throw invalid('trustProxy', "must be true, false or 'express'", 'Leave it out to trust no proxy.');
  }
  const transports = resolveTransports(options, cookie, trustProxy);
  if (!transports.some((transport) => transport instanceof CookieTransport)) {
    for (const option of ['matchPath', 'withholdOverHttp'] as const) {
      if (cookie[option] === true) {
        throw invalid(`cookie.${option}`, "needs the 'cookie' transport", "Add 'cookie' to transport, or leave it out.");
      }
    }
  }
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

  const legacySecrets = resolveLegacySecrets(options.legacyCookies, secrets);
  const legacyStore = options.legacyStore;
  if (legacyStore !== undefined) {
    if (legacySecrets === undefined) {
      throw invalid('legacyStore', 'needs legacyCookies', 'Set legacyCookies: true (or { secrets }) as well, or leave legacyStore out.');
    }
    if (!isSessionStore(legacyStore)) {
      throw invalid('legacyStore', 'must be a session store (get, set, destroy)', "Wrap express-session's store: fromConnectStore(store).");
    }
  }

  const generateId = options.generateId ?? undefined;
  if (generateId !== undefined && typeof generateId !== 'function') {
    throw invalid(
      'generateId',
      'must be a function of the request that returns a session ID',
      'Pass e.g. () => randomUUID(), or leave it out.',
    );
  }
  const eagerSessions = flag('eagerSessions', options.eagerSessions);
  const rolling = flag('rolling', options.rolling);
  const unset = options.unset ?? 'destroy';
  if (unset !== 'destroy' && unset !== 'keep') {
    throw invalid('unset', "must be 'destroy' or 'keep'", "Leave it out for 'destroy'.");
  }
  const events = resolveEvents(options.events);
  const deviceInfo = resolveDeviceInfo(options.deviceInfo);

  return {
    secrets,
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
    generateId,
    eagerSessions,
    rolling,
    unset,
    events,
    deviceInfo,
  };
}

/** A boolean option, `false` when left out. */
function flag(option: string, value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw invalid(option, 'must be true or false', 'Leave it out for false.');
  return value;
}

/** The secrets, each at least {@link MIN_SECRET_LENGTH} characters unless `allowShortSecrets`. */
function resolveSecrets(options: SessionModuleOptions): string[] {
  const secrets = typeof options.secret === 'string' ? [options.secret] : options.secret;
  if (!Array.isArray(secrets) || secrets.length === 0) {
    throw invalid(
      'secret',
      'a secret is required',
      `Pass a random string of at least ${MIN_SECRET_LENGTH} characters, e.g. from process.env.SESSION_SECRET.`,
    );
  }
  const allowShort = options.allowShortSecrets ?? false;
  if (typeof allowShort !== 'boolean') {
    throw invalid('allowShortSecrets', 'must be true or false', 'Leave it out to require secrets of 32 characters or more.');
  }
  secrets.forEach((secret, index) => {
    const option = secrets.length > 1 ? `secret[${index}]` : 'secret';
    if (allowShort) {
      if (typeof secret !== 'string' || secret === '') {
        throw invalid(option, 'must be a non-empty string', 'Give the secret as a string.');
      }
      return;
    }
    if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) {
      throw invalid(
        option,
        `must be a string of at least ${MIN_SECRET_LENGTH} characters`,
        "Generate one with `node -e \"console.log(require('crypto').randomBytes(32).toString('base64url'))\"`.",
      );
    }
  });
  return [...(secrets as readonly string[])];
}

/** Log a warning for each secret under {@link MIN_SECRET_LENGTH} characters (`allowShortSecrets`); never the secret itself. */
function warnShortSecrets(secrets: readonly string[]): void {
  secrets.forEach((secret, index) => {
    if (secret.length >= MIN_SECRET_LENGTH) return;
    logger.warn(
      `nest-sessions: ${secrets.length > 1 ? `secret[${index}]` : 'secret'} is shorter than ${MIN_SECRET_LENGTH} characters ` +
        `(${secret.length}), accepted because of allowShortSecrets. A short secret can be guessed from one cookie, and then ` +
        'anyone can sign session IDs: put a random secret of 32 characters or more first, and drop this one once its cookies have expired.',
    );
  });
}

/**
 * Options a client-side store (CookieStore) cannot honour: it seals each session into its own
 * cookies, with no store to write eagerly, keep, or name by a generated ID, and writes them itself.
 */
function refuseOnClientSideStore(options: SessionModuleOptions): void {
  const refused: Array<[string, boolean]> = [
    ['generateId', options.generateId !== undefined && options.generateId !== null],
    ['eagerSessions', options.eagerSessions === true],
    ['rolling', options.rolling === true],
    ['unset', options.unset === 'keep'],
    ['cookie.withholdOverHttp', options.cookie?.withholdOverHttp === true],
  ];
  for (const [option, given] of refused) {
    if (given) {
      throw invalid(
        option,
        'a client-side store (CookieStore) seals each session into its own cookies and cannot honour it',
        'Leave it out, or use a server-side store.',
      );
    }
  }
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

const EVENT_LISTENER_NAMES: readonly string[] = ['created', 'regenerated', 'destroyed', 'principalSet'];

function resolveEvents(events: SessionModuleOptions['events']): SessionEventListeners {
  if (events === undefined || events === null) return {};
  if (typeof events !== 'object') throw invalid('events', 'must be an object of listeners', 'Pass e.g. { destroyed: (event) => { ... } }.');
  for (const [name, listener] of Object.entries(events)) {
    if (!EVENT_LISTENER_NAMES.includes(name)) {
      throw invalid(`events.${name}`, 'is not a session event', `Listen to ${EVENT_LISTENER_NAMES.join(', ')}.`);
    }
    if (listener !== undefined && typeof listener !== 'function') {
      throw invalid(`events.${name}`, 'must be a function', `Pass (event) => { ... } or leave ${name} out.`);
    }
  }
  return { ...events };
}

function resolveDeviceInfo(deviceInfo: SessionModuleOptions['deviceInfo']): ResolvedSessionOptions['deviceInfo'] {
  if (deviceInfo === undefined || deviceInfo === false) return { userAgent: false, ip: false };
  if (deviceInfo === true) return { userAgent: true, ip: true };
  if (typeof deviceInfo !== 'object' || deviceInfo === null) {
    throw invalid('deviceInfo', 'must be true, false or { userAgent?, ip? }', 'Pass e.g. { userAgent: true }, or leave it out.');
  }
  return { userAgent: flag('deviceInfo.userAgent', deviceInfo.userAgent), ip: flag('deviceInfo.ip', deviceInfo.ip) };
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
  // Only when given, so the resolved options of an app that uses none of them keep their shape.
  if (given.matchPath !== undefined && given.matchPath !== null) cookie.matchPath = flag('cookie.matchPath', given.matchPath);
  if (given.withholdOverHttp !== undefined && given.withholdOverHttp !== null) {
    cookie.withholdOverHttp = flag('cookie.withholdOverHttp', given.withholdOverHttp);
  }
  if (given.perRequest !== undefined && given.perRequest !== null) {
    if (typeof given.perRequest !== 'function') {
      throw invalid('cookie.perRequest', 'must be a function of the request', 'Pass (req) => ({ path: ... }), or leave it out.');
    }
    cookie.perRequest = given.perRequest;
  }
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookie.name)) {
    throw invalid('cookie.name', `"${cookie.name}" is not a valid cookie name`, 'Use letters, digits, "-" and "_".');
  }
  checkCookieAttributes(cookie, 'cookie');
  return cookie;
}

function resolveTransports(
  options: SessionModuleOptions,
  cookie: ResolvedCookieOptions,
  trustProxy: boolean | 'express',
): SessionIdTransport[] {
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
