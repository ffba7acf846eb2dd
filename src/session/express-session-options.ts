import { Logger } from '@nestjs/common';
import type { CipherKey } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isClientSideStore, type ClientSideSessionStore } from '../core/client-side-store.interface.js';
import { SessionError } from '../core/errors/session.error.js';
import { SessionMessages } from '../core/errors/session.messages.js';
import type { SessionStore } from '../core/session-store.interface.js';
import { fromConnectStore, type ConnectStoreLike } from '../stores/connect/connect.store.js';
import type { SessionCookieAttributes, SessionCookieOptions, SessionModuleOptions } from './session-options.interface.js';
import { checkSessionOptions, MIN_SECRET_LENGTH } from './session-options.resolver.js';

/**
 * express-session's cookie options, as its `cookie` option takes them (the `CookieOptions` of
 * `@types/express-session`, which fit here unchanged).
 *
 * @example
 * ```ts
 * const cookie: ExpressSessionCookieOptions = { maxAge: 30 * 60_000, secure: 'auto', sameSite: 'lax' };
 * ```
 */
export interface ExpressSessionCookieOptions {
  /**
   * Lifetime in milliseconds, 1 ms to 400 days; becomes `idleTimeout` and makes the cookie
   * persistent (see {@link fromExpressSessionOptions}).
   * @default undefined (a browser-session cookie)
   * @example 30 * 60_000
   */
  maxAge?: number | null;
  /**
   * A fixed expiry date for every cookie: refused, give `maxAge` instead.
   * @default undefined
   * @example null
   */
  expires?: Date | null;
  /**
   * `HttpOnly`.
   * @default true
   * @example false
   */
  httpOnly?: boolean;
  /**
   * `Path`; a request outside it gets no session.
   * @default '/'
   * @example '/app'
   */
  path?: string;
  /**
   * `Domain`.
   * @default undefined (the exact host)
   * @example 'example.com'
   */
  domain?: string;
  /**
   * `Secure`: `true`, `false` or `'auto'` (secure on HTTPS requests). A `Secure` cookie is not set
   * on a plain-HTTP request.
   * @default false
   * @example 'auto'
   */
  secure?: boolean | 'auto';
  /**
   * `SameSite`: `true` (strict), `false`, `'lax'`, `'strict'`, `'none'` or `'auto'` (`'none'` on
   * HTTPS, `'lax'` otherwise); `'none'` and `'auto'` need `secure`.
   * @default false (no attribute)
   * @example 'lax'
   */
  sameSite?: boolean | 'lax' | 'strict' | 'none' | 'auto';
  /**
   * `Partitioned`; needs `secure`.
   * @default false
   * @example true
   */
  partitioned?: boolean;
  /**
   * `Priority`.
   * @default undefined
   * @example 'high'
   */
  priority?: 'low' | 'medium' | 'high';
  /**
   * Ignored by express-session, whose cookies are always signed; `false` is refused.
   * @default undefined
   * @example true
   */
  signed?: boolean;
  /**
   * Ignored by express-session; refused.
   * @default undefined
   * @example undefined
   */
  encode?: (value: string) => string;
}

/**
 * express-session's `cookie` given as a function of the request (its result is read per request).
 * Declared so that a function of Express's `Request` fits.
 * @example
 * ```ts
 * const cookie: ExpressSessionCookieFunction = (req) => ({ secure: req.headers.host !== 'localhost' });
 * ```
 */
export type ExpressSessionCookieFunction = { bivarianceHack(req: IncomingMessage): ExpressSessionCookieOptions }['bivarianceHack'];

/**
 * The options object of express-session, as `session(options)` took it (the `SessionOptions` of
 * `@types/express-session` fit unchanged). What each option becomes is described at
 * {@link fromExpressSessionOptions}.
 *
 * @example
 * ```ts
 * const options: ExpressSessionOptions = { secret: 'keyboard cat', resave: false, saveUninitialized: false };
 * ```
 */
export interface ExpressSessionOptions {
  /**
   * The secret, or secrets (the first signs, all verify), as strings of any length.
   * @example ['a-new-secret', 'keyboard cat']
   */
  secret: CipherKey | readonly CipherKey[];
  /**
   * The cookie name.
   * @default 'connect.sid'
   * @example 'app.sid'
   */
  name?: string;
  /**
   * The old name of `name`, read when `name` is not given.
   * @default undefined
   * @example 'app.sid'
   */
  key?: string;
  /**
   * An express-session (connect) store, wrapped with `fromConnectStore()`; a nest-sessions store
   * or store URL, used as it is.
   * @default undefined (nest-sessions' in-memory store)
   * @example new RedisStore({ client }) // connect-redis
   */
  store?: ConnectStoreLike | SessionStore | ClientSideSessionStore | string;
  /**
   * Cookie options, or a function of the request that returns them.
   * @default { path: '/', httpOnly: true, secure: false, maxAge: null }
   * @example { maxAge: 86_400_000, secure: 'auto' }
   */
  cookie?: ExpressSessionCookieOptions | ExpressSessionCookieFunction;
  /**
   * Makes the ID of each new session; each must be 22 to 128 characters of `A-Z a-z 0-9 _ -`.
   * @default undefined (random IDs)
   * @example () => randomUUID()
   */
  genid?(req: IncomingMessage): string;
  /**
   * Send the cookie on every response of a stored session.
   * @default false
   * @example true
   */
  rolling?: boolean;
  /**
   * Write every session on every response, changed or not (its expiry).
   * @default true (express-session's default)
   * @example false
   */
  resave?: boolean;
  /**
   * `true`: trust `X-Forwarded-Proto`; `false`: only a TLS socket; unset: Express's `trust proxy`.
   * @default undefined
   * @example true
   */
  proxy?: boolean;
  /**
   * Store, and send a cookie for, new sessions with nothing in them.
   * @default true (express-session's default)
   * @example false
   */
  saveUninitialized?: boolean;
  /**
   * What `req.session = null` does: `'keep'` the stored session, or `'destroy'` it.
   * @default 'keep'
   * @example 'destroy'
   */
  unset?: 'destroy' | 'keep';
}

const OPTIONS = new Set(['secret', 'name', 'key', 'store', 'cookie', 'genid', 'rolling', 'resave', 'proxy', 'saveUninitialized', 'unset']);
const COOKIE_OPTIONS = new Set([
  'maxAge',
  'expires',
  'httpOnly',
  'path',
  'domain',
  'secure',
  'sameSite',
  'partitioned',
  'priority',
  'signed',
  'encode',
]);
const DAY = 86_400_000;
/** nest-sessions' default `absoluteTimeout`, kept as the floor of a mapped one. */
const DEFAULT_ABSOLUTE_TIMEOUT = 7 * DAY;
/** Browsers keep a cookie at most 400 days. */
const MAX_LIFETIME = 400 * DAY;

const logger = new Logger('SessionModule');

function refuse(option: string, rule: string, fix: string): SessionError {
  return new SessionError('SESSION_OPTIONS_INVALID', SessionMessages.invalidOption(option, rule, fix));
}

/**
 * `SessionModule` options that behave as express-session did with `options`, the object given to
 * `session(options)`, unchanged, so an app moves without touching its configuration and without
 * logging anyone out. Spread the result to add options of nest-sessions:
 * `SessionModule.forRoot({ ...fromExpressSessionOptions(options), absoluteTimeout: '30d' })`.
 *
 * What each option becomes:
 * - `secret` (string or array): `secret`, and `legacyCookies` with the same secrets, so the
 *   cookies express-session issued are accepted and re-issued once in this module's format. Any
 *   length express-session accepted: a secret under 32 characters sets `allowShortSecrets`, and a
 *   warning is logged at bootstrap for each one.
 * - `name` (or `key`, default `'connect.sid'`): `cookie.name`.
 * - `store`: a connect store (connect-redis, connect-pg-simple, express-session's `MemoryStore`, …)
 *   through `fromConnectStore()`; a nest-sessions store or URL as it is; none, the in-memory store.
 * - `cookie`: its attributes with express-session's defaults (`secure: false`, no `SameSite`,
 *   `HttpOnly`), `'auto'` values included; `matchPath` (a request outside `cookie.path` gets no
 *   session) and `withholdOverHttp` (a `Secure` cookie is not set over plain HTTP, logged once).
 *   `maxAge` becomes `idleTimeout` (a session unused that long ends, on the server), the cookie is
 *   persistent, and `absoluteTimeout` is the larger of `maxAge` and 7 days (express-session had no
 *   absolute limit; raise it on the result, up to 400 days). No `maxAge`: a browser-session cookie
 *   and the default lifetimes (1 day idle, 7 days absolute). A function of `req` is called per
 *   request for the attributes (`cookie.perRequest`); its `maxAge` then only makes the cookie
 *   persistent (lifetimes are module-wide: set `idleTimeout` on the result), logged once.
 * - `genid`: `generateId`; an ID of any other shape than this module's (22 to 128 characters of
 *   `A-Z a-z 0-9 _ -`, as UUIDs and express-session's own IDs are) fails that request, see
 *   `generateId`.
 * - `resave` (default `true`): `touchInterval: 0`, every response writes the session's expiry
 *   (a connect store rewrites the record); `false` keeps the default touch interval.
 * - `saveUninitialized` (default `true`): `eagerSessions`.
 * - `rolling`: `rolling`. `unset` (default `'keep'`): `unset`.
 * - `proxy`: `trustProxy` (`true`, `false`; unset: `'express'`, Express's `trust proxy` setting).
 *
 * Refused (a `SessionError` thrown here, naming the option): a missing or empty secret, a secret
 * that is not a string (a `Buffer`), `cookie.expires` (one date for every session), a `maxAge`
 * that is not 1 ms to 400 days, `cookie.encode`, `cookie.signed: false`, a client-side store, an
 * unknown option or cookie option, a value of the wrong type, and anything `SessionModule` itself
 * would refuse (`sameSite: 'none'` or `'auto'` without `secure`, say). Express-session let most
 * of these through to the browser, which then dropped the cookie or ignored the attribute.
 *
 * @throws SessionError `SESSION_OPTIONS_INVALID` naming the option that cannot be honoured.
 * @example
 * ```ts
 * import { Module } from '@nestjs/common';
 * import { RedisStore } from 'connect-redis';
 * import { createClient } from 'redis';
 * import { fromExpressSessionOptions, SessionModule } from 'nest-sessions';
 *
 * const client = createClient({ url: process.env.REDIS_URL });
 *
 * @Module({
 *   imports: [
 *     SessionModule.forRoot(
 *       fromExpressSessionOptions({
 *         secret: process.env.SESSION_SECRET!,
 *         store: new RedisStore({ client }),
 *         resave: false,
 *         saveUninitialized: false,
 *         cookie: { maxAge: 86_400_000, secure: 'auto' },
 *       }),
 *     ),
 *   ],
 * })
 * export class AppModule {}
 * ```
 */
export function fromExpressSessionOptions(options: ExpressSessionOptions): SessionModuleOptions {
  if (options === null || typeof options !== 'object') {
    throw refuse(
      'options',
      'must be the options object given to express-session',
      'Pass it as it was: fromExpressSessionOptions({ secret, ... }).',
    );
  }
  const given = options as unknown as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!OPTIONS.has(key) && given[key] !== undefined) {
      throw refuse(
        key,
        'is not an option of express-session',
        `Remove it; to set an option of SessionModule, spread the result: { ...fromExpressSessionOptions(options), ${key}: ... }.`,
      );
    }
  }

  // As express-session: a wrong `genid` or `unset` is named before a missing secret.
  const genid = given.genid ?? undefined;
  if (genid !== undefined && typeof genid !== 'function')
    throw refuse('genid', 'must be a function', 'Pass a function of the request that returns an ID, or leave it out.');
  const unset = mapUnset(given.unset);
  const secrets = mapSecrets(given.secret);
  const name = mapName(given.name, given.key);
  const result: SessionModuleOptions = { secret: secrets, legacyCookies: { secrets } };
  if (secrets.some((secret) => secret.length < MIN_SECRET_LENGTH)) result.allowShortSecrets = true;

  const store = mapStore(given.store);
  if (store !== undefined) result.store = store;

  const cookieOption = given.cookie;
  if (typeof cookieOption === 'function') {
    result.cookie = {
      name,
      ...mapCookie(undefined, 'cookie').attributes,
      matchPath: true,
      withholdOverHttp: true,
      perRequest: perRequest(cookieOption as ExpressSessionCookieFunction),
    };
  } else {
    const { attributes, maxAge } = mapCookie(cookieOption, 'cookie');
    result.cookie = { name, ...attributes, matchPath: true, withholdOverHttp: true };
    if (maxAge !== undefined) {
      result.idleTimeout = maxAge;
      result.absoluteTimeout = Math.max(maxAge, DEFAULT_ABSOLUTE_TIMEOUT);
    }
  }

  if (genid !== undefined) result.generateId = genid as (req: IncomingMessage) => string;
  if (booleanOption('resave', given.resave, true)) result.touchInterval = 0;
  result.eagerSessions = booleanOption('saveUninitialized', given.saveUninitialized, true);
  result.rolling = booleanOption('rolling', given.rolling, false);
  result.unset = unset;
  // As express-session: `proxy` left unset (or null) defers to Express's own `trust proxy` setting.
  result.trustProxy = given.proxy === undefined || given.proxy === null ? 'express' : booleanOption('proxy', given.proxy, false);

  // Whatever SessionModule itself would refuse, refused now rather than at bootstrap.
  checkSessionOptions(result);
  return result;
}

function mapSecrets(secret: unknown): string[] {
  if (secret === undefined || secret === null || secret === '') {
    throw refuse(
      'secret',
      'is required',
      'Give the secret express-session used, e.g. process.env.SESSION_SECRET (req.secret of cookie-parser is not read).',
    );
  }
  const list: unknown[] = Array.isArray(secret) ? secret : [secret];
  if (list.length === 0)
    throw refuse(
      'secret',
      'the secret option array is empty; it must hold one or more strings',
      'Give the secrets express-session used, the signing one first.',
    );
  list.forEach((value, index) => {
    const option = Array.isArray(secret) ? `secret[${index}]` : 'secret';
    if (typeof value !== 'string') {
      throw refuse(
        option,
        `must be a string (a ${Buffer.isBuffer(value) ? 'Buffer' : typeof value} secret is not supported)`,
        'Give the secret as a string; a new string secret logs out the users of the old one, unless both are kept in the list.',
      );
    }
    if (value === '') throw refuse(option, 'must not be empty', 'Give the secret express-session used.');
  });
  return list as string[];
}

function mapName(name: unknown, key: unknown): string {
  // As express-session: `name || key || 'connect.sid'`.
  const chosen = name || key || 'connect.sid';
  const option = name ? 'name' : 'key';
  if (typeof chosen !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(chosen)) {
    throw refuse(option, `${JSON.stringify(chosen)} is not a valid cookie name`, 'Use letters, digits, ".", "-" and "_".');
  }
  return chosen;
}

function mapStore(store: unknown): SessionModuleOptions['store'] {
  if (store === undefined || store === null) return undefined;
  if (typeof store === 'string') return store;
  if (typeof store !== 'object') throw refuse('store', 'must be a session store', 'Pass the store instance express-session used.');
  if (isClientSideStore(store)) {
    throw refuse(
      'store',
      'a client-side store (CookieStore) keeps no sessions by ID, so the cookies express-session issued would name nothing',
      'Pass the store express-session used, or a server-side store of nest-sessions.',
    );
  }
  const candidate = store as Record<string, unknown>;
  // nest-sessions' stores have patch(); connect stores never do.
  if (typeof candidate.patch === 'function') return store as SessionStore;
  if (typeof candidate.get === 'function' && typeof candidate.set === 'function' && typeof candidate.destroy === 'function') {
    return fromConnectStore(store as ConnectStoreLike);
  }
  throw refuse(
    'store',
    'must be an express-session (connect) store, with get(), set() and destroy(), or a nest-sessions store',
    'Pass the store instance express-session used, e.g. new RedisStore({ client }).',
  );
}

function mapUnset(unset: unknown): 'destroy' | 'keep' {
  // As express-session: anything falsy is its default, 'keep'.
  if (!unset) return 'keep';
  if (unset === 'destroy' || unset === 'keep') return unset;
  throw refuse('unset', "must be 'destroy' or 'keep'", "Leave it out for express-session's default, 'keep'.");
}

/** A boolean option; `undefined` is express-session's default, `null` is false (as express-session reads it). */
function booleanOption(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value === null) return false;
  if (typeof value !== 'boolean') throw refuse(option, 'must be true or false', 'Give a boolean, or leave it out.');
  return value;
}

/** express-session's cookie options (with its defaults) as nest-sessions' attributes, and `maxAge`. */
function mapCookie(given: unknown, scope: string): { attributes: SessionCookieAttributes; maxAge: number | undefined } {
  if (given === undefined || given === null) given = {};
  if (typeof given !== 'object')
    throw refuse(scope, 'must be an object of cookie options or a function of the request', 'Pass it as express-session took it.');
  const cookie = given as Record<string, unknown>;
  for (const key of Object.keys(cookie)) {
    if (!COOKIE_OPTIONS.has(key) && cookie[key] !== undefined) {
      throw refuse(`${scope}.${key}`, 'is not a cookie option of express-session, which ignored it', 'Remove it.');
    }
  }
  if (cookie.signed === false) {
    throw refuse(`${scope}.signed`, 'the session cookie is always signed (express-session ignored this option too)', 'Remove it.');
  }
  if (cookie.encode !== undefined) {
    throw refuse(`${scope}.encode`, 'express-session never applied it, and nest-sessions writes its own cookie-safe values', 'Remove it.');
  }
  if (cookie.expires !== undefined && cookie.expires !== null) {
    throw refuse(
      `${scope}.expires`,
      'one expiry date for every session cannot be honoured (express-session documents it as not to be set)',
      'Give the lifetime as maxAge (milliseconds) instead.',
    );
  }
  let maxAge: number | undefined;
  if (cookie.maxAge !== undefined && cookie.maxAge !== null) {
    const value = cookie.maxAge;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 1 || value > MAX_LIFETIME) {
      throw refuse(
        `${scope}.maxAge`,
        'must be a number of milliseconds from 1 to 400 days (browsers keep cookies at most 400 days)',
        'Give e.g. 86_400_000 for one day, or leave it out for a browser-session cookie.',
      );
    }
    maxAge = Math.floor(value);
  }
  const attributes: SessionCookieAttributes = {
    path: stringOption(`${scope}.path`, cookie.path) ?? '/',
    domain: stringOption(`${scope}.domain`, cookie.domain),
    httpOnly: cookie.httpOnly === undefined ? true : booleanOption(`${scope}.httpOnly`, cookie.httpOnly, true),
    secure: cookie.secure === 'auto' ? 'auto' : booleanOption(`${scope}.secure`, cookie.secure, false),
    sameSite: mapSameSite(cookie.sameSite, `${scope}.sameSite`),
    partitioned: booleanOption(`${scope}.partitioned`, cookie.partitioned, false),
    persistent: maxAge !== undefined,
  };
  const priority = mapPriority(cookie.priority, `${scope}.priority`);
  if (priority !== undefined) attributes.priority = priority;
  if (attributes.domain === undefined) delete attributes.domain;
  return { attributes, maxAge };
}

function stringOption(option: string, value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw refuse(option, 'must be a string', 'Give a string, or leave it out.');
  return value;
}

function mapSameSite(value: unknown, option: string): SessionCookieOptions['sameSite'] {
  if (value === undefined || value === null || value === false) return false;
  if (value === true) return 'strict';
  // 'auto' is read by express-session itself, in lower case only; the others by its cookie serializer, in any case.
  if (value === 'auto') return 'auto';
  const lower = typeof value === 'string' ? value.toLowerCase() : undefined;
  if (lower === 'lax' || lower === 'strict' || lower === 'none') return lower;
  throw refuse(option, "must be true, false, 'lax', 'strict', 'none' or 'auto'", 'Give one of them, or leave it out.');
}

function mapPriority(value: unknown, option: string): SessionCookieOptions['priority'] {
  if (value === undefined || value === null) return undefined;
  const lower = typeof value === 'string' ? value.toLowerCase() : undefined;
  if (lower === 'low' || lower === 'medium' || lower === 'high') return lower;
  throw refuse(option, "must be 'low', 'medium' or 'high'", 'Give one of them, or leave it out.');
}

/** `cookie.perRequest` for express-session's cookie function: its result mapped (and checked) per request. */
function perRequest(cookie: (req: IncomingMessage) => unknown): (req: IncomingMessage) => SessionCookieAttributes {
  let warned = false;
  return (req) => {
    const { attributes, maxAge } = mapCookie(cookie(req), 'cookie(req)');
    if (maxAge !== undefined && !warned) {
      warned = true;
      logger.warn(
        "nest-sessions: express-session's cookie(req) returned a maxAge. Session lifetimes are module-wide in nest-sessions " +
          '(idleTimeout, absoluteTimeout), so it only makes the cookie persistent: set idleTimeout on the result of ' +
          'fromExpressSessionOptions() to the lifetime you want. Logged once.',
      );
    }
    return attributes;
  };
}
