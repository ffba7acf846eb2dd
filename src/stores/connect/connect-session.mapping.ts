import { SessionError } from '../../core/errors/session.error.js';
import { SessionMessages } from '../../core/errors/session.messages.js';
import type { SessionRecord } from '../../core/session-store.interface.js';

/**
 * The conversion between our {@link SessionRecord} and the session object an express-session
 * (connect) store keeps, used by `fromConnectStore`.
 *
 * A connect session is one object: `{ cookie: { originalMaxAge, expires, ... }, ...data }`, every
 * data member a plain value that the store serializes itself (JSON for connect-redis and
 * connect-pg-simple). Our records keep each session key's value as text encoded by the session
 * codec. The conversion is lossless both ways:
 *
 * - A value whose text is exactly what `JSON.stringify` gives for its parsed value (everything
 *   the default JSON codec writes) is stored as that plain value, so express-session apps sharing
 *   the store read it as theirs; on the way back it is encoded as the JSON codec would encode it.
 * - Any other text (another codec's, or JSON with other spacing), and the values of keys named
 *   `cookie` or {@link META_KEY} (taken by the format itself), are kept verbatim in the
 *   {@link META_KEY} member, beside the record's `createdAt` and `principal`.
 * - The expiry is `cookie.expires`, the member connect stores compute their own TTL from.
 *
 * @internal
 */

/** The member of a connect session where the adapter keeps what has no place in the connect format. */
export const META_KEY = 'nest-sessions';

/**
 * A session object as connect stores keep it: a `cookie` member and data members.
 *
 * @example
 * ```ts
 * const stored: ConnectSessionData = { cookie: { originalMaxAge: 3_600_000, expires: '2030-01-01T00:00:00.000Z' }, user: { id: 7 } };
 * ```
 */
export interface ConnectSessionData {
  /** The cookie settings of express-session; connect stores read `expires` (or `maxAge`) for their TTL. */
  cookie?: Record<string, unknown> | null;
  [key: string]: unknown;
}

/** What the adapter keeps under {@link META_KEY}. */
interface Meta {
  createdAt: number;
  principal?: string;
  /** Values stored as text, by session key. */
  text?: Record<string, string>;
}

/** Members of express-session's cookie that are carried over when a stored session is rewritten. */
const COOKIE_FIELDS = ['secure', 'httpOnly', 'domain', 'path', 'sameSite', 'partitioned', 'priority'] as const;

/**
 * `record` as a connect session object. `base` is the session as the store held it before, whose
 * cookie settings (`path`, `httpOnly`, ...) are kept, so an express-session app reading the store
 * finds them unchanged; `originalMaxAge` and `expires` always describe the record's own expiry.
 */
export function toConnectSession(record: SessionRecord, now: number, base?: ConnectSessionData | null): ConnectSessionData {
  const session: ConnectSessionData = { cookie: cookieFor(record.expiresAt, now, base?.cookie) };
  const meta: Meta = { createdAt: record.createdAt };
  if (record.principal !== undefined) meta.principal = record.principal;
  for (const key of Object.keys(record.data)) {
    const text = record.data[key];
    const value = key === 'cookie' || key === META_KEY ? NOT_PLAIN : plainValueOf(text);
    if (value === NOT_PLAIN) {
      meta.text ??= {};
      define(meta.text, key, text);
    } else {
      define(session, key, value);
    }
  }
  session[META_KEY] = meta;
  return session;
}

/**
 * The record a connect session object stands for, or `null` when it is not a session object or
 * has expired by `now`. `fallbackTtl` gives the expiry of a session whose cookie has none.
 *
 * @throws SessionError `SESSION_CODEC_ERROR` for a value the JSON codec refuses (a function, a
 *   symbol, a BigInt or a cycle: only a store that does not serialize can hand those out).
 */
export function fromConnectSession(session: unknown, now: number, fallbackTtl: number): SessionRecord | null {
  if (!isObject(session)) return null;
  const cookie = isObject(session.cookie) ? session.cookie : undefined;
  const expires = timeOf(cookie?.expires);
  const expiresAt = expires ?? now + fallbackTtl;
  if (expiresAt <= now) return null;

  const meta = isObject(session[META_KEY]) ? session[META_KEY] : undefined;
  const data: Record<string, string> = {};
  for (const key of Object.keys(session)) {
    if (key === 'cookie' || key === META_KEY) continue;
    const value = session[key];
    // JSON drops undefined members; a store that does not serialize may still hand them out.
    if (value !== undefined) define(data, key, encodeJsonValue(value, key));
  }
  if (isObject(meta?.text)) {
    for (const key of Object.keys(meta.text)) {
      const text = meta.text[key];
      if (typeof text === 'string') define(data, key, text);
    }
  }

  const record: SessionRecord = { data, createdAt: createdAtOf(meta, cookie, expires, now), expiresAt };
  if (typeof meta?.principal === 'string') record.principal = meta.principal;
  return record;
}

/**
 * `value` as the default JSON codec encodes it: `JSON.stringify`, refusing what JSON would drop
 * or cannot represent (functions, symbols, BigInts, cycles) with `SESSION_CODEC_ERROR`, so the
 * text always equals the codec's for the same value.
 */
export function encodeJsonValue(value: unknown, key: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value, refuseUnrepresentable);
  } catch (err) {
    throw new SessionError('SESSION_CODEC_ERROR', SessionMessages.codec('encode', key), { cause: err });
  }
  if (text === undefined) {
    throw new SessionError('SESSION_CODEC_ERROR', SessionMessages.codec('encode', key), {
      cause: new Error('the value has no JSON form (undefined, a function or a symbol, or a toJSON() that returned undefined)'),
    });
  }
  return text;
}

/** Marks a text that is not stored as a plain value. */
const NOT_PLAIN = Symbol('not plain');

/** The value `text` is the canonical JSON of, or {@link NOT_PLAIN} when it is anything else. */
function plainValueOf(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return NOT_PLAIN;
  }
  return JSON.stringify(value) === text ? value : NOT_PLAIN;
}

function refuseUnrepresentable(_key: string, value: unknown): unknown {
  const type = typeof value;
  if (type === 'function' || type === 'symbol' || type === 'bigint') throw new TypeError(`JSON cannot represent a ${type}`);
  return value;
}

/**
 * The cookie member for a record expiring at `expiresAt`: `expires` as a `Date` and
 * `originalMaxAge` as the lifetime this write gives it, as express-session's own cookie has them,
 * plus a non-enumerable `maxAge` getter (time left, in ms) for stores that read that instead.
 * `maxAge` is left out of the stored JSON, like express-session's.
 */
function cookieFor(expiresAt: number, now: number, base: unknown): Record<string, unknown> {
  const cookie: Record<string, unknown> = { originalMaxAge: Math.max(0, expiresAt - now), expires: new Date(expiresAt) };
  if (isObject(base)) {
    for (const field of COOKIE_FIELDS) if (base[field] !== undefined) cookie[field] = base[field];
  }
  Object.defineProperty(cookie, 'maxAge', { get: () => expiresAt - Date.now(), enumerable: false, configurable: true });
  return cookie;
}

/**
 * When the session was created: the adapter's own note when it wrote the session; else, for a
 * session written by express-session (which keeps no creation time), `expires - originalMaxAge`,
 * the moment its cookie's lifetime last started (its creation or its latest touch, so never
 * earlier than the real creation); else `now`.
 */
function createdAtOf(
  meta: Record<string, unknown> | undefined,
  cookie: Record<string, unknown> | undefined,
  expires: number | undefined,
  now: number,
): number {
  const noted = meta?.createdAt;
  if (typeof noted === 'number' && Number.isFinite(noted)) return noted;
  const lifetime = cookie?.originalMaxAge;
  if (expires !== undefined && typeof lifetime === 'number' && Number.isFinite(lifetime) && lifetime > 0) {
    return Math.min(expires - lifetime, now);
  }
  return now;
}

/** Epoch milliseconds of a `Date`, an ISO string or a number; `undefined` for anything else. */
function timeOf(value: unknown): number | undefined {
  const time =
    value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : typeof value === 'number' ? value : NaN;
  return Number.isFinite(time) ? time : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Set `key` as an own data property, so a key named `__proto__` is stored like any other. */
function define(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
