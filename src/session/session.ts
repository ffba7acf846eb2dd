import { inspect } from 'node:util';
import type { SessionPatch, SessionRecord } from '../core/session-store.interface.js';
import type { SessionCodec } from './codecs/session-codec.interface.js';
import { SessionError } from '../core/errors/session.error.js';
import { SessionMessages } from '../core/errors/session.messages.js';
import { FlashBag } from './flash-bag.js';
import { decodeValue, encodeValue } from './codecs/codec-calls.js';
import type { SessionState } from './session-state.js';

/**
 * The shape of session data. Extend it by declaration merging to type `session.get()`:
 *
 * @example
 * ```ts
 * declare module 'nest-sessions' {
 *   interface SessionData { userId: number; cart: string[] }
 * }
 * session.get('userId'); // number | undefined
 * ```
 */

export interface SessionData {
  [key: string]: unknown;
}

/** Whether `patch` sets and unsets nothing (its principal aside). */
export function isEmptyPatch(patch: SessionPatch): boolean {
  if (patch.unset.length > 0) return false;
  for (const _ in patch.set) return false;
  return true;
}

/** Where a session keeps its {@link SessionState}; read through {@link sessionState}. */
const STATE = Symbol('nest-sessions:state');
/** Where a session keeps the engine that loaded it; read through {@link sessionOperations}. */
const OPS = Symbol('nest-sessions:operations');

/** The engine's view of `session`, which the engine created with it. @internal */
export function sessionState(session: AnySession): SessionState {
  return session[STATE];
}

/** The engine `session` belongs to (extensions such as the auth module find theirs through it). @internal */
export function sessionOperations(session: AnySession): SessionOperations {
  return session[OPS];
}

/** The empty key set every session starts with; never added to (sessions replace it on first use). */
const NONE: Set<string> = new Set();
/** The empty value map every session starts with; never added to (sessions replace it on first use). */
const NO_VALUES: Map<string, unknown> = new Map();

/** A session of any data shape, for code that does not care about the data. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnySession = Session<any>;

/** Session key that holds the flash message; hidden from {@link Session.keys}. */
export const FLASH_KEY = '__flash';

/**
 * Session key that holds the session's own cookie settings, made by `req.session.cookie.maxAge = …`
 * and the other members of express-session's `req.session.cookie` (see `SessionCookieOverride`);
 * hidden from {@link Session.keys} and not data of its own ({@link Session.hasData}).
 */
export const COOKIE_KEY = '__cookie';

/**
 * Session key the engine keeps the `deviceInfo` it was asked to keep in (user agent, IP address,
 * encoded by the session codec, written once with the new session), for `SessionDevices`; hidden
 * like {@link COOKIE_KEY}, and not data of its own ({@link Session.hasData}).
 */
export const DEVICE_KEY = '__device';

/** Options of {@link Session.update}. */
export interface SessionUpdateOptions {
  /**
   * How long to wait for the key's lock while other requests hold it, in milliseconds, before
   * giving up with `SESSION_UPDATE_CONFLICT`.
   * @default 5000
   */
  timeout?: number;
}

/** What a session needs from the engine that loaded it (implemented by `SessionManager`). */
export interface SessionOperations {
  readonly codec: SessionCodec;
  save(session: AnySession): Promise<void>;
  regenerate(session: AnySession): Promise<void>;
  destroy(session: AnySession): Promise<void>;
  reload(session: AnySession): Promise<void>;
  update(session: AnySession, key: string, fn: (current: unknown) => unknown, options: SessionUpdateOptions | undefined): Promise<unknown>;
  /** Whether the response headers already went out. */
  headersSent(session: AnySession): boolean;
  /**
   * Key prefixes of records an extension keeps in the session (the auth module's `auth:`), left out
   * of {@link Session.keys} and {@link Session.toJSON}.
   * @internal
   */
  readonly reservedKeyPrefixes: readonly string[];
}

/**
 * The session of one request. Reads are synchronous (the record was loaded before guards ran);
 * methods that touch the store are async. Changes are written once, when the response ends,
 * and only the keys that changed are written, so parallel requests of one user do not undo
 * each other's writes to different keys. For two writes to the same key, the later one to reach
 * the store wins.
 *
 * @typeParam T the session data; defaults to {@link SessionData}.
 */
export class Session<T extends object = SessionData> {
  /** The engine's view of this session (see {@link SessionState}). */
  private readonly [STATE]: SessionState;
  /** Encoded values as the store holds them. */
  private raw: Record<string, string>;
  /**
   * Values set in this request, and objects read in it (primitives that were only read are decoded
   * again when read again); the shared empty map until the first entry.
   */
  private values: Map<string, unknown> = NO_VALUES;
  /** Keys set in this request (the shared empty set until the first write). */
  private changed: Set<string> = NONE;
  /** Keys deleted in this request (the shared empty set until the first delete). */
  private deleted: Set<string> = NONE;
  private bag: FlashBag | undefined = undefined;

  /** The engine that loaded this session. */
  private readonly [OPS]: SessionOperations;

  /** @internal */
  constructor(ops: SessionOperations, state: SessionState, data: Record<string, string>) {
    this[OPS] = ops;
    this[STATE] = state;
    this.raw = data;
  }

  /**
   * The session ID, or `undefined` for a visitor who has nothing stored yet (IDs are issued
   * lazily, on the first write). Never log it: it is a bearer credential.
   */
  get id(): string | undefined {
    return this[STATE].id;
  }

  /**
   * `true` when the store could not be read and the request went on without its session
   * (`onStoreUnavailable: 'anonymous'` on a GET or HEAD), or when `req.session = null` could not
   * destroy the session; writing to such a session fails with 503.
   */
  get isDegraded(): boolean {
    return this[STATE].degraded;
  }

  /** `true` until the session has been written to the store. */
  get isNew(): boolean {
    return this[STATE].isNew;
  }

  /** When the session was created (epoch ms). */
  get createdAt(): number {
    return this[STATE].createdAt;
  }

  /** One value, or `undefined`. */
  get<K extends keyof T & string>(key: K): T[K] | undefined {
    if (this.values.has(key)) return this.values.get(key) as T[K];
    if (this.deleted.has(key)) return undefined;
    const raw = this.stored(key);
    if (raw === undefined) return undefined;
    const value = this.decode(key, raw);
    // An object is kept, so every read returns the same one and an edit in place is found when the
    // session is saved; a primitive has no identity to keep.
    if (typeof value === 'object' && value !== null) this.ownValues().set(key, value);
    return value as T[K];
  }

  /** Set one value. `undefined` deletes the key. */
  set<K extends keyof T & string>(key: K, value: T[K]): this {
    if (value === undefined) return this.delete(key);
    this.ownValues().set(key, value);
    if (this.changed === NONE) this.changed = new Set();
    this.changed.add(key);
    if (this.deleted !== NONE) this.deleted.delete(key);
    return this;
  }

  /** Whether `key` holds a value. */
  has(key: keyof T & string): boolean {
    if (this.values.has(key)) return true;
    return !this.deleted.has(key) && this.stored(key) !== undefined;
  }

  /** Remove one key. */
  delete(key: keyof T & string): this {
    this.values.delete(key);
    if (this.changed !== NONE) this.changed.delete(key);
    if (this.deleted === NONE) this.deleted = new Set();
    this.deleted.add(key);
    return this;
  }

  /**
   * The keys holding values. The flash key and the records extensions keep in the session (the
   * auth module's tokens) are left out; `get()` still reads those.
   */
  keys(): Array<keyof T & string> {
    const keys = this.allKeys();
    return (this[OPS].reservedKeyPrefixes.length === 0 ? keys : keys.filter((key) => !this.isReservedKey(key))) as Array<keyof T & string>;
  }

  /**
   * Every key holding a value, extensions' reserved records included (the flash key excluded).
   * @internal
   */
  allKeys(): string[] {
    const keys = new Set<string>();
    for (const key of Object.keys(this.raw)) if (!this.deleted.has(key)) keys.add(key);
    for (const key of this.values.keys()) keys.add(key);
    keys.delete(FLASH_KEY);
    keys.delete(COOKIE_KEY);
    keys.delete(DEVICE_KEY);
    return [...keys];
  }

  /**
   * Whether {@link Session.keys} leaves `key` out: the flash key, or a key of an extension's records.
   * @internal
   */
  isHiddenKey(key: string): boolean {
    return key === FLASH_KEY || key === COOKIE_KEY || key === DEVICE_KEY || this.isReservedKey(key);
  }

  /** All values as a plain object (decodes every key). */
  toJSON(): Partial<T> {
    const result: Record<string, unknown> = {};
    for (const key of this.keys()) {
      // defineProperty, so a key named `__proto__` is an own property, not a prototype change.
      Object.defineProperty(result, key, { value: this.get(key), enumerable: true, writable: true, configurable: true });
    }
    return result as Partial<T>;
  }

  /**
   * What `console.log(session)` and `util.inspect()` print, also when a whole request is logged:
   * whether there is an ID (never the ID itself, a bearer credential) and the keys, not the values
   * (tokens may be among them).
   * @example `Session { id: [redacted], isNew: false, keys: [ 'userId', 'cart' ] }`
   */
  [inspect.custom](): string {
    const keys = this.keys().map((key) => inspect(key));
    const list = keys.length === 0 ? '[]' : `[ ${keys.join(', ')} ]`;
    return `${this.constructor.name} { id: ${this[STATE].id === undefined ? 'none' : '[redacted]'}, isNew: ${this[STATE].isNew}, keys: ${list} }`;
  }

  /**
   * Remove every key, the records extensions keep in the session included: a login of the auth
   * module ends too, so `clear()` never leaves a user logged in. The session itself and its ID stay
   * (see {@link Session.destroy}).
   */
  clear(): this {
    for (const key of this.allKeys()) this.delete(key as keyof T & string);
    return this;
  }

  /**
   * Leave a message for the next request that reads the flash (`@Flash()`), replacing any unread
   * one. Any codec-encodable value works.
   * @example session.setFlash({ success: 'Saved.' })
   */
  setFlash(value: unknown): this {
    this.flashBag().set(value);
    return this;
  }

  /**
   * Add a keyed flash message; several messages of one type accumulate in an array.
   * @example session.flash('error', 'Name is required'); // next request: @Flash('error') → ['Name is required']
   */
  flash(type: string, message: unknown): this {
    this.flashBag().add(type, message);
    return this;
  }

  /**
   * The flash the previous request left (or one key of it), removed as it is read so it shows
   * exactly once. What this request sets is not visible until the next one.
   */
  consumeFlash<V = unknown>(key?: string): V | undefined {
    return this.flashBag().consume(key) as V | undefined;
  }

  /**
   * Issue a new session ID and keep the data; the old record is deleted. Call it when privileges
   * change (login) to defeat session fixation.
   * @throws SessionError `SESSION_HEADERS_SENT` once the response headers were sent.
   */
  async regenerate(): Promise<void> {
    this.assertHeadersNotSent('regenerate the session');
    await this[OPS].regenerate(this as AnySession);
  }

  /**
   * Delete the record and clear the cookie (with the attributes it was set with). The object
   * stays usable as a fresh, empty session: a value set afterwards (a "logged out" flash, say)
   * starts a new session with a new ID.
   * @throws SessionError `SESSION_HEADERS_SENT` once the response headers were sent.
   */
  async destroy(): Promise<void> {
    this.assertHeadersNotSent('destroy the session');
    await this[OPS].destroy(this as AnySession);
  }

  /**
   * Change one key atomically: `fn` gets the value the store holds now (not this request's copy)
   * and returns the new one (`undefined` removes the key), which is written at once. Calls of
   * `update()` on the same key of the same session, from parallel requests or other app instances,
   * run one at a time (the store's lock on that key), so none of their changes is lost: counters,
   * carts, quotas. Resolves the new value, which `get()` reads from then on. Keep `fn` short: it
   * runs while the lock is held. A plain `set()` of the same key in another request is not
   * serialised with it (the later write wins), so change such keys only through `update()`.
   *
   * A session not stored yet is only this request's, so its `update()` is a plain change, written
   * at the end of the response like `set()`.
   *
   * @throws SessionError `SESSION_UPDATE_CONFLICT` (409) when the lock stays taken for `timeout`;
   *   `SESSION_NOT_SUPPORTED` for a store without locks (`CookieStore`, a connect store);
   *   `SESSION_LOST` (409) when the session was destroyed elsewhere; `SESSION_STORE_UNAVAILABLE`.
   * @example
   * ```ts
   * const views = await session.update('views', (n) => (n ?? 0) + 1);
   * await session.update('cart', (cart = []) => [...cart, itemId]);
   * ```
   */
  async update<K extends keyof T & string>(
    key: K,
    fn: (current: T[K] | undefined) => T[K] | undefined | Promise<T[K] | undefined>,
    options?: SessionUpdateOptions,
  ): Promise<T[K] | undefined> {
    if (typeof key !== 'string' || key === '' || this.isHiddenKey(key)) {
      throw new SessionError(
        'SESSION_OPTIONS_INVALID',
        SessionMessages.invalidArgument('Session.update', 'key', 'it must be a data key of the session', "Pass e.g. 'views'."),
      );
    }
    if (typeof fn !== 'function') {
      throw new SessionError(
        'SESSION_OPTIONS_INVALID',
        SessionMessages.invalidArgument('Session.update', 'fn', 'it must be a function', 'Pass e.g. (n) => (n ?? 0) + 1.'),
      );
    }
    return (await this[OPS].update(this as AnySession, key, fn as (current: unknown) => unknown, options)) as T[K] | undefined;
  }

  /**
   * Take `encoded` (or its absence) as what the store now holds for `key`, dropping this request's
   * own pending change of it (written by `update()` already).
   * @internal
   */
  adoptStored(key: string, encoded: string | undefined): void {
    if (encoded === undefined) delete this.raw[key];
    else Object.defineProperty(this.raw, key, { value: encoded, enumerable: true, writable: true, configurable: true });
    if (this.values !== NO_VALUES) this.values.delete(key);
    if (this.changed !== NONE) this.changed.delete(key);
    if (this.deleted !== NONE) this.deleted.delete(key);
  }

  /** Move the idle deadline forward at the end of this request even if nothing changed. */
  touch(): this {
    this[STATE].touchRequested = true;
    return this;
  }

  /**
   * Write now instead of at the end of the response: the pending changes, or when nothing changed
   * the session's expiry (an explicit save is a request to write, as in express-session); a new
   * session is stored even when empty. The end of the response does not write again unless
   * something changes after.
   */
  async save(): Promise<void> {
    this[STATE].saveRequested = true;
    await this[OPS].save(this as AnySession);
  }

  /**
   * Discard unsaved changes and read the record again from the store.
   * @throws SessionError `SESSION_LOST` (the session left as it was) when the store has no record
   *   of this session: it expired, was destroyed elsewhere, or was never saved.
   */
  async reload(): Promise<void> {
    await this[OPS].reload(this as AnySession);
  }

  /** Whether this request changed anything that will be written (in-place edits of objects included). */
  get hasChanged(): boolean {
    return !isEmptyPatch(this.buildPatch());
  }

  /**
   * The keys to write: set keys whose encoding differs from the stored one, objects that were read
   * and then edited in place, and deleted keys the store holds.
   * @internal
   */
  buildPatch(): SessionPatch {
    // No prototype, so a session key named `__proto__` is an ordinary entry.
    const set = Object.create(null) as Record<string, string>;
    const unset: string[] = [];
    for (const [key, value] of this.values) {
      // Objects read through get() may have been edited in place, so they are compared by encoding too.
      if (!this.changed.has(key) && (typeof value !== 'object' || value === null)) continue;
      const encoded = this.encode(key, value);
      if (encoded !== this.stored(key)) set[key] = encoded;
    }
    for (const key of this.deleted) if (this.stored(key) !== undefined) unset.push(key);
    const flash = this.bag;
    if (flash?.hasChanged) {
      const pending = flash.pending;
      if (pending === undefined) {
        if (this.stored(FLASH_KEY) !== undefined) unset.push(FLASH_KEY);
      } else {
        const encoded = this.encode(FLASH_KEY, pending);
        if (encoded !== this.stored(FLASH_KEY)) set[FLASH_KEY] = encoded;
      }
    }
    return { set, unset };
  }

  /**
   * Every value encoded, for writing a whole record.
   * @internal
   */
  encodeAll(patch: SessionPatch = this.buildPatch()): Record<string, string> {
    const data: Record<string, string> = { ...this.raw, ...patch.set };
    for (const key of patch.unset) delete data[key];
    return data;
  }

  /**
   * Mark `data` as what the store now holds and forget the tracked changes.
   * @internal
   */
  markSaved(id: string, data: Record<string, string>, expiresAt: number, principal: string | undefined): void {
    this[STATE].id = id;
    this[STATE].principal = principal;
    this[STATE].isNew = false;
    this.raw = data;
    this[STATE].expiresAt = expiresAt;
    this.changed = NONE;
    this.deleted = NONE;
    this[STATE].touchRequested = false;
    this[STATE].saveRequested = false;
    this[STATE].written = true;
    // Decoded objects stay cached but now compare against the new encoding.
    this.bag?.markSaved();
  }

  /**
   * Start over as an empty, unsaved session.
   * @internal
   */
  reset(now: number, record?: SessionRecord): void {
    this[STATE].isNew = !record;
    this.raw = record ? record.data : {};
    this[STATE].createdAt = record ? record.createdAt : now;
    this[STATE].expiresAt = record ? record.expiresAt : 0;
    this[STATE].principal = record?.principal;
    this.values = NO_VALUES;
    this.changed = NONE;
    this.deleted = NONE;
    this[STATE].touchRequested = false;
    this[STATE].saveRequested = false;
    this[STATE].written = false;
    // The session's own cookie settings are read again from what it now holds.
    this[STATE].cookie = undefined;
    this.bag = undefined;
    if (!record) this[STATE].id = undefined;
  }

  /** Whether the session holds anything worth storing (reserved records count). @internal */
  get hasData(): boolean {
    if (this.allKeys().length > 0) return true;
    return this.bag ? this.bag.pending !== undefined : this.stored(FLASH_KEY) !== undefined;
  }

  /**
   * Mark `patch` as written (on top of what the store held) and forget the tracked changes. The
   * session's copy of the stored data is its own (stores hand out copies), so it is changed in
   * place rather than copied.
   * @internal
   */
  markPatched(id: string, patch: SessionPatch, expiresAt: number, principal: string | undefined): void {
    const raw = this.raw;
    for (const key of patch.unset) delete raw[key];
    for (const key in patch.set) {
      // defineProperty for `__proto__`, so it stays an own key instead of changing the prototype.
      if (key === '__proto__')
        Object.defineProperty(raw, key, { value: patch.set[key], enumerable: true, writable: true, configurable: true });
      else raw[key] = patch.set[key]!;
    }
    this.markSaved(id, raw, expiresAt, principal);
  }

  /**
   * Whether the end of the request may have something to write: keys set or deleted, a changed
   * flash, or objects that were read (they may have been edited in place). Conservative and cheap;
   * {@link Session.buildPatch} gives the exact answer.
   * @internal
   */
  mayHaveChanges(): boolean {
    if (this.changed.size > 0 || this.deleted.size > 0 || this.bag?.hasChanged) return true;
    for (const value of this.values.values()) if (typeof value === 'object' && value !== null) return true;
    return false;
  }

  /**
   * The value of `key` as {@link Session.get} gives it, without keeping a decoded object (so
   * reading it does not make the session look possibly changed, see {@link Session.mayHaveChanges}).
   * @internal
   */
  readDetached(key: string): unknown {
    if (this.values.has(key)) return this.values.get(key);
    if (this.deleted.has(key)) return undefined;
    const raw = this.stored(key);
    return raw === undefined ? undefined : this.decode(key, raw);
  }

  /** `values`, made this session's own before its first entry. */
  private ownValues(): Map<string, unknown> {
    if (this.values === NO_VALUES) this.values = new Map();
    return this.values;
  }

  /**
   * The encoded value the store holds for `key`. Own properties only: a name of `Object.prototype`
   * (`constructor`, or one a polluted prototype gained) is not session data.
   */
  private stored(key: string): string | undefined {
    return Object.hasOwn(this.raw, key) ? this.raw[key] : undefined;
  }

  private isReservedKey(key: string): boolean {
    for (const prefix of this[OPS].reservedKeyPrefixes) if (key.startsWith(prefix)) return true;
    return false;
  }

  private flashBag(): FlashBag {
    if (!this.bag) {
      const raw = this.deleted.has(FLASH_KEY) ? undefined : this.stored(FLASH_KEY);
      this.bag = new FlashBag(raw === undefined ? undefined : this.decode(FLASH_KEY, raw));
    }
    return this.bag;
  }

  private assertHeadersNotSent(what: string): void {
    if (this[OPS].headersSent(this as AnySession)) {
      throw new SessionError('SESSION_HEADERS_SENT', SessionMessages.headersSent(what));
    }
  }

  private encode(key: string, value: unknown): string {
    return encodeValue(this[OPS].codec, key, value);
  }

  private decode(key: string, raw: string): unknown {
    return decodeValue(this[OPS].codec, key, raw);
  }
}
