import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { PrincipalSession, SessionPatch, SessionRecord, SessionStore } from '../core/session-store.interface.js';
import { SessionError } from '../core/errors/session.error.js';
import { SessionMessages } from '../core/errors/session.messages.js';
import { createExpressSessionView } from './express-session.view.js';
import { SESSION_RESOLVED_OPTIONS } from './session.internal-constants.js';
import { bindSession, getSessionFromRequest } from './session-context.util.js';
import { generateSessionId, isValidSessionId } from '../core/session-id.js';
import type { ResolvedSessionOptions } from './session-options.resolver.js';
import { SessionSigner } from '../core/session-signer.js';
import { unsignLegacyCookie } from '../core/legacy-cookie.js';
import { chain, isPromiseLike, type MaybePromise } from '../core/maybe-promise.js';
import { ExpressHttpSeam } from './http/express-http.seam.js';
import {
  mergeSetCookie,
  type ResponseEnd,
  type ResponseHookState,
  type ResponseListener,
  type SessionAccessor,
  type SessionHttpSeam,
} from './http/session-http.seam.js';
import { StoreCalls } from './store-calls.js';
import { SessionIndex } from './session-index.service.js';
import { isClientSideStore } from '../core/client-side-store.interface.js';
import {
  COOKIE_KEY,
  DEVICE_KEY,
  Session,
  isEmptyPatch,
  sessionOperations,
  sessionState,
  type AnySession,
  type SessionOperations,
  type SessionUpdateOptions,
} from './session.js';
import { SessionEvents, type SessionDestroyReason } from './session-events.js';
import { sessionHandle } from '../core/session-handle.js';
import { DERIVED_KEY_LENGTH } from '../core/derived-store-key.js';
import { KeyUpdates } from './key-updates.js';
import { clientAddress } from './client-address.js';
import { decodeValue } from './codecs/codec-calls.js';
import type { SessionCookieOverride, SessionState } from './session-state.js';
import { CookieTransport, checkCookieAttributes } from './transports/cookie.transport.js';
import type { SessionCookieDescription, SessionOwnCookie } from './session-cookie.types.js';

/** Most handles {@link SessionManager} remembers of sessions it ended from outside their requests. */
const MAX_ENDED_ELSEWHERE = 10_000;

/** Methods that must not change state, and so may go on without a session when the store is down. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** What {@link SessionManager.readSession} found on a request. */
export interface LoadedSession {
  /** The verified ID the request presented, when the store knew it. */
  id?: string;
  record: SessionRecord | null;
  /** Whether the request presented a valid ID (so a stale one must be cleared). */
  presented: boolean;
  /** Index of the transport the ID came through. */
  transport: number;
  /** The ID came in express-session's cookie format (`legacyCookies`), so the cookie is re-issued in ours. */
  legacy?: boolean;
  /** The store could not be read and the request goes on without its session. */
  degraded: boolean;
}

/**
 * Per-request state the engine keeps beside a session; it is also what the HTTP seam calls back
 * as the response goes out (shared methods, so a request makes no closures).
 * @internal
 */
export class SessionBinding implements ResponseListener {
  res: ServerResponse | undefined = undefined;
  /** The ID written to the response in this request, if any. */
  issuedId: string | null | undefined = undefined;
  /** Serialises store work of one session (a save() racing the end of the response); made on first use. */
  queue: Promise<unknown> | undefined = undefined;
  /** The response was replaced by an error; no new ID may be issued with it. */
  failed: boolean | undefined = undefined;
  /** Client-side stores: the sealed session waiting to be written as the headers go out (`null` clears it). */
  sealed: string[] | null | undefined = undefined;
  /** The session, once made. */
  session: AnySession | undefined = undefined;
  /** The HTTP seam's state of the hooked response. */
  hook: ResponseHookState | undefined = undefined;
  /** The handler ended the response and its end waits for the store write (see onEnd). */
  endHeld = false;
  /**
   * The session was destroyed in this request (so `eagerSessions` does not start it again), or
   * dropped by `req.session = null` with `unset: 'keep'` (nothing is written, no cookie is sent).
   */
  dropped: 'destroyed' | 'kept' | undefined = undefined;
  /** `req.session.cookie` was changed in this request: the cookie is issued again with it. */
  cookieChanged = false;
  /** The session's own cookie settings when it was destroyed: its cookie is cleared with its own path and domain. */
  endedCookie: SessionCookieOverride | null | undefined = undefined;
  /** When this request gave the session a lifetime of its own (`req.session.cookie.maxAge`/`expires`): its expiry counts from then. */
  lifetimeSetAt: number | undefined = undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly manager: SessionManager,
  ) {}

  beforeHeaders(headers: OutgoingHttpHeaders | undefined): void {
    this.manager.onWriteHead(this, headers);
  }

  mustWaitBeforeEnd(): boolean {
    return this.dropped !== 'kept' && this.manager.mayWrite(this.session!);
  }

  beforeEnd(end: ResponseEnd): void {
    this.manager.onEnd(this, end);
  }
}

/**
 * The session engine: loads the session of a request, writes its ID to the response just before
 * the headers go out, and writes its changes to the store before the response ends.
 *
 * Inject it to load sessions outside the HTTP pipeline (a WebSocket handshake, say) or subclass it
 * and provide it under the same token to change how the response is failed.
 */
@Injectable()
export class SessionManager implements SessionOperations, OnApplicationBootstrap, OnApplicationShutdown {
  protected readonly signer: SessionSigner;

  /** The server-side store (every store but a client-side one such as CookieStore). */
  protected get serverStore(): SessionStore {
    return this.options.store as SessionStore;
  }

  /** The per-request state of `session`. @internal */
  protected bindingOf(session: AnySession): SessionBinding {
    return sessionState(session).binding as SessionBinding;
  }

  private readonly calls: StoreCalls;
  /** Calls to `legacyStore`, when sessions are migrated from express-session's store. */
  private readonly legacyCalls: StoreCalls | undefined;
  /** How responses are hooked and `req.session` is exposed (see {@link SessionManager.createHttpSeam}). */
  protected readonly http: SessionHttpSeam;
  private readonly idChangeListeners: Array<(session: AnySession, oldId: string, newId: string) => Promise<void>> = [];
  /**
   * The one index of sessions by key: a principal's sessions, and the keys extensions link (the
   * auth module's identity-provider subjects and sessions). `SessionModule` provides this instance
   * as `SessionIndex`.
   */
  readonly index: SessionIndex;
  /** The engine links principals in {@link SessionManager.index} (the store has no principal index of its own). */
  private readonly linksPrincipals: boolean;
  /** Key prefixes extensions reserved for their records (see {@link SessionManager.reserveKeys}). @internal */
  reservedKeyPrefixes: readonly string[] = [];
  /** With `cookie.matchPath` (and a path narrower than `/`): the transport whose path a request must lie under to get a session. */
  private readonly pathScope: CookieTransport | undefined;
  /**
   * Where the session's lifecycle events go (the `events` listeners, and `EventEmitter2` once
   * connected). Sessions of a client-side store emit none.
   * @internal
   */
  readonly events: SessionEvents;
  /** Whether sessions here live in a server-side store (the only ones that emit events). */
  private readonly serverSide: boolean;
  /** `session.update()`: one key changed under the store's lock. */
  private readonly keyUpdates: KeyUpdates;
  /**
   * Handles of sessions this process ended from outside their requests (revoked, back-channel), so
   * the next request of such a session is not reported once more as `expired`. Bounded; oldest first.
   */
  private readonly endedElsewhere = new Set<string>();
  /** Stops the store's report of expiries (see {@link SessionManager.onApplicationBootstrap}). */
  private stopWatchingExpiries: (() => Promise<void>) | undefined;

  constructor(@Inject(SESSION_RESOLVED_OPTIONS) protected readonly options: ResolvedSessionOptions) {
    this.signer = new SessionSigner(options.secrets);
    this.calls = new StoreCalls(options.store as SessionStore, options.storeTimeout);
    this.legacyCalls = options.legacyStore && new StoreCalls(options.legacyStore, options.storeTimeout);
    this.http = this.createHttpSeam();
    this.index = new SessionIndex(options);
    this.linksPrincipals = options.principal !== undefined && !isClientSideStore(options.store) && !this.index.storeIndexesPrincipals;
    const { cookie } = options;
    this.pathScope =
      cookie.matchPath === true && (cookie.path !== '/' || cookie.perRequest !== undefined)
        ? options.transports.find((transport): transport is CookieTransport => transport instanceof CookieTransport)
        : undefined;
    if (this.linksPrincipals) this.onIdChange((session, oldId, newId) => this.relinkPrincipal(session, oldId, newId));
    this.serverSide = !isClientSideStore(options.store);
    this.events = new SessionEvents(options.events, options.onError);
    const events = this.events;
    this.index.reportDestroyed({
      get active() {
        return events.active;
      },
      destroyed: (ids, principal, reason) => {
        for (const id of ids) this.reportDestroyed(id, principal, reason, undefined);
      },
    });
    this.keyUpdates = new KeyUpdates(options, (operation, call) => this.storeCall(operation, call));
  }

  /**
   * The seam to the web framework: how a response is hooked (the session ID written as the headers
   * go out, the store written before the end) and where `req.session` lives. The default serves
   * Express, with a fast path per app, and any framework on Node's HTTP server.
   */
  protected createHttpSeam(): SessionHttpSeam {
    return new ExpressHttpSeam(listenerOf);
  }

  /** The codec values are encoded with. */
  get codec() {
    return this.options.codec;
  }

  /** The store sessions are kept in. */
  get store() {
    return this.options.store;
  }

  /**
   * With listeners of session events, have the store report sessions it expires by itself, where
   * it can (`RedisStore`'s `expiryEvents`), as `destroyed` events with reason `expired`.
   * @throws SessionError `SESSION_OPTIONS_INVALID` when the store is set up to report them but cannot.
   */
  async onApplicationBootstrap(): Promise<void> {
    const store = this.options.store as SessionStore;
    if (!this.serverSide || !this.events.active || typeof store.watchExpiries !== 'function') return;
    this.stopWatchingExpiries = await store.watchExpiries((id) => {
      // Index records (SessionIndex) are records too; their derived IDs have a length of their own.
      if (id.length === DERIVED_KEY_LENGTH && this.options.idLength !== DERIVED_KEY_LENGTH) return;
      this.reportDestroyed(id, undefined, 'expired', undefined);
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.stopWatchingExpiries?.().catch(() => undefined);
    this.calls.close();
    if (this.options.ownsStore) await (this.options.store as SessionStore).close?.();
  }

  /**
   * The read path of every request: load the session of `req` (once per request), expose it as
   * `req.session`, and hook `res` so the ID and the store write are never lost. Synchronous when
   * the store answers synchronously (`MemoryStore`, `CookieStore`), else a promise. `undefined`
   * for a request outside the cookie's path with `cookie.matchPath`: it gets no session at all.
   * @throws SessionError `SESSION_STORE_UNAVAILABLE` (thrown or rejected) when the store cannot be read.
   */
  attach(req: IncomingMessage, res: ServerResponse): MaybePromise<Session | undefined> {
    const existing = getSessionFromRequest<Session>(req);
    if (existing) return existing;
    if (this.pathScope !== undefined && !this.pathScope.covers(req)) return undefined;
    const now = Date.now();
    return chain(
      () => this.readSession(req, now),
      (loaded) => {
        const session = this.bind(req, loaded, now);
        const binding = this.bindingOf(session as AnySession);
        binding.res = res;
        binding.session = session as AnySession;
        this.http.hookResponse(res, binding);
        return session;
      },
    );
  }

  /**
   * A connect-style middleware that attaches sessions, for `app.use()`. Nest runs middleware
   * registered with `app.use()` before the middleware of modules, so Express middleware that reads
   * `req.session` (passport's `passport.session()`, a CSRF library) needs the session mounted ahead
   * of it. Requests it handled are skipped by `SessionModule`'s own middleware.
   *
   * @example
   * ```ts
   * const app = await NestFactory.create(AppModule);
   * app.use(app.get(SessionManager).middleware());
   * app.use(passport.initialize());
   * app.use(passport.session());
   * ```
   */
  middleware(): (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void {
    return (req, res, next) => {
      void chain(
        () => this.attach(req, res),
        () => next(),
        // Answered here, not through next(error): Express's final handler would show a stack trace in development.
        (error: unknown) => this.failResponse(res, toSessionError(error), (body) => res.end(body)),
      );
    };
  }

  /**
   * Load the session a request carries without hooking a response (no cookie can be written, so a
   * new session is not saved). For WebSocket handshakes and similar; call {@link SessionManager.save}
   * to write changes. The session is attached to `req` for the decorators; `fresh` reads the store
   * again even when `req` already has one (a WebSocket handshake request serves many messages).
   */
  async load(req: IncomingMessage, options?: { fresh?: boolean }): Promise<Session> {
    const bound = getSessionFromRequest<Session>(req);
    if (bound && !options?.fresh) return bound;
    const now = Date.now();
    // A connection read again for each message reports its session's end once, on the first read.
    return this.bind(req, await this.readSession(req, now), now, bound === undefined);
  }

  /** Make the session of what `readSession()` found and attach it to `req`. */
  private bind(req: IncomingMessage, loaded: LoadedSession, now: number, report = true): Session {
    let record = loaded.record;
    // Defence in depth: a store that serves stale records must not extend a session's life.
    if (record && (record.expiresAt <= now || (record.createdAt + this.options.absoluteTimeout <= now && !this.outlives(record, now)))) {
      if (report && this.events.active && this.serverSide) {
        const deadline = record.createdAt + this.options.absoluteTimeout;
        // Whichever deadline came first ended it: an expiry before the absolute deadline is an idle one.
        const reason = record.expiresAt <= now && record.expiresAt < deadline ? 'idle' : 'absolute';
        this.reportDestroyed(loaded.id!, record.principal, reason, req);
      }
      record = null;
    } else if (record === null && loaded.presented && report && loaded.id !== undefined && this.events.active && this.serverSide) {
      const handle = this.handleOf(loaded.id);
      // Ended here already, with its own reason: the device only learns of it now.
      if (!this.endedElsewhere.delete(handle))
        this.events.emit('destroyed', { handle, principal: undefined, reason: 'expired', req, at: now });
    }
    const state: SessionState = {
      id: record ? loaded.id : undefined,
      isNew: !record,
      createdAt: record ? record.createdAt : now,
      expiresAt: record ? record.expiresAt : 0,
      // A legacy cookie names the ID in express-session's format: leaving loadedId unset re-issues it in ours.
      loadedId: record && !loaded.legacy ? loaded.id : undefined,
      presented: loaded.presented,
      transport: loaded.transport,
      principal: record?.principal,
      degraded: loaded.degraded,
      touchRequested: false,
      saveRequested: false,
      written: false,
      cookie: undefined,
      binding: new SessionBinding(req, this),
    };
    const session = new Session(this, state, record ? record.data : {});
    bindSession(req, session as AnySession);
    this.exposeView(req);
    return session;
  }

  /**
   * Expose the session as express-session's `req.session`, made only when something reads it
   * (passport, a CSRF library), so requests that never touch it pay nothing. The seam decides where
   * the accessor lives (on an Express app's request prototype, or on the request itself).
   */
  private exposeView(req: IncomingMessage): void {
    const assigned = (req as ViewRequest)[ASSIGNED_VIEW];
    if (assigned !== undefined) {
      // Set by earlier middleware (another session library) before this request had a session:
      // it stays `req.session`, as express-session leaves a request alone that has one already.
      if (assigned.foreign) return;
      // A request loaded again (`load(req, { fresh: true })`) shows its new session, not an earlier assignment.
      (req as ViewRequest)[ASSIGNED_VIEW] = undefined;
    }
    this.http.exposeSession(req, SESSION_ACCESSOR);
  }

  /**
   * Hide the keys starting with `prefix` from `keys()`, `toJSON()`, `Object.keys(req.session)`,
   * `JSON.stringify(req.session)` and logs: an extension's records (the auth module's tokens under
   * `auth:`). `get()`, `has()`, `set()` and `delete()` still reach them, `Session.allKeys()` lists
   * them, and `clear()` removes them.
   * @internal
   */
  reserveKeys(prefix: string): void {
    if (typeof prefix !== 'string' || prefix === '') {
      throw new SessionError(
        'SESSION_OPTIONS_INVALID',
        SessionMessages.invalidArgument('SessionManager.reserveKeys', 'prefix', 'it must be a non-empty string', "Pass e.g. 'auth:'."),
      );
    }
    if (!this.reservedKeyPrefixes.includes(prefix)) this.reservedKeyPrefixes = [...this.reservedKeyPrefixes, prefix];
  }

  /**
   * `req.session = null` (cookie-session's way to log out): destroy the session as
   * `req.session.destroy()` does. Nothing awaits an assignment, so the end of the response waits
   * for the destroy; a failed one is reported to `onError` and leaves the session degraded, so it is
   * not written again and the response answers 503.
   * @throws SessionError `SESSION_HEADERS_SENT` once the response headers were sent,
   *   `SESSION_STORE_UNAVAILABLE` when the store could not be read for this request.
   * @internal
   */
  destroyAssigned(session: AnySession): void {
    if (this.headersSent(session)) throw new SessionError('SESSION_HEADERS_SENT', SessionMessages.headersSent('destroy the session'));
    this.assertNotDegraded(session, 'destroy the session');
    // Makes the end of the response wait for the store (see mayWrite()) when the destroy is still
    // running; the reset after a destroy drops it.
    sessionState(session).touchRequested = true;
    this.destroy(session).catch((error: unknown) => {
      // Handlers run in the order they were added: this one before the end of the response's write,
      // which is chained on the same promise (see exclusive()) and so fails with 503.
      sessionState(session).degraded = true;
      const binding = this.bindingOf(session);
      this.options.onError(toSessionError(error), { req: binding.req, res: binding.res });
    });
  }

  /**
   * `req.session.destroy()` was called: from now on `req.session` is `undefined` in this request,
   * as express-session deletes it (the session itself, and `@Session()`, stay usable).
   * @internal Called by the express-session view.
   */
  hideView(session: AnySession): void {
    const req = this.bindingOf(session).req as ViewRequest;
    if (req[ASSIGNED_VIEW] === undefined) req[ASSIGNED_VIEW] = { value: undefined, foreign: false };
  }

  /**
   * `req.session = null` or `undefined`, as the `unset` option says: destroy the session
   * ({@link SessionManager.destroyAssigned}), or with `'keep'` drop it from this request: the
   * stored session stays as it was, nothing of this request is written and no cookie is sent.
   * @internal
   */
  unsetAssigned(session: AnySession): void {
    if (this.options.unset === 'keep') this.bindingOf(session).dropped = 'kept';
    else this.destroyAssigned(session);
  }

  /**
   * `req.sessionID` was given a value that is not a string: as in express-session, nothing of this
   * request is saved and no cookie is sent (the stored session stays as it was).
   * @internal
   */
  unsetAssignedId(session: AnySession): void {
    this.bindingOf(session).dropped = 'kept';
  }

  /** The view was assigned back to `req.session` after an `unset: 'keep'`: the session counts again. @internal */
  restoreAssigned(session: AnySession): void {
    const binding = this.bindingOf(session);
    if (binding.dropped === 'kept') binding.dropped = undefined;
  }

  /**
   * Find the session a request carries: its signed ID through the transports, then the record in
   * the store (synchronously when the store answers synchronously). `ClientSessionManager`
   * overrides it for stores that keep sessions in the request itself.
   */
  protected readSession(req: IncomingMessage, _now: number): MaybePromise<LoadedSession> {
    const { id, transport, legacy } = this.presentedId(req);
    if (id === undefined) return { record: null, presented: false, transport, degraded: false };
    return chain(
      () => this.readRecord(id, legacy),
      (record): LoadedSession => ({ id, record, presented: true, transport, degraded: false, legacy }),
      (error) => this.unreadable(req, transport, error as SessionError),
    );
  }

  /** The record of `id`; one presented by a legacy cookie and not in the store yet is migrated from `legacyStore`. */
  private readRecord(id: string, legacy: boolean): MaybePromise<SessionRecord | null> {
    const read = this.storeCall('read the session', () => this.serverStore.get(id));
    if (!legacy || this.legacyCalls === undefined) return read;
    return chain(
      () => read,
      (record) => record ?? this.migrateLegacy(id),
    );
  }

  /**
   * Move the session `id` from express-session's store into ours: read, write under the same ID,
   * then delete the old copy (only after the write, so a failure leaves the session where it was).
   */
  private async migrateLegacy(id: string): Promise<SessionRecord | null> {
    const legacyStore = this.options.legacyStore!;
    const record = await this.legacyCalls!.call('read the express-session session', () => legacyStore.get(id));
    if (record === null) return null;
    await this.storeCall('save the session', () => this.serverStore.set(id, record));
    try {
      await this.legacyCalls!.call('delete the express-session session', () => legacyStore.destroy(id));
    } catch (error) {
      // The session lives on in our store; the old copy only waits for its own expiry.
      this.options.onError(toSessionError(error), {});
    }
    return record;
  }

  /** The verified, well-formed session ID the request presents, if any, its transport, and whether it came in express-session's format. */
  private presentedId(req: IncomingMessage): { id: string | undefined; transport: number; legacy: boolean } {
    const { token, transport } = this.readToken(req);
    if (token === undefined) return { id: undefined, transport, legacy: false };
    let id = this.signer.unsign(token);
    let legacy = false;
    if (id === undefined && this.options.legacySecrets !== undefined) {
      id = unsignLegacyCookie(token, this.options.legacySecrets);
      legacy = id !== undefined;
    }
    return { id: id !== undefined && isValidSessionId(id) ? id : undefined, transport, legacy };
  }

  /** The store could not be read: report it, then fail the request, or go on anonymous (see `onStoreUnavailable`). */
  private unreadable(req: IncomingMessage, transport: number, error: SessionError): LoadedSession {
    this.options.onError(error, { req });
    if (this.options.onStoreUnavailable !== 'anonymous' || !SAFE_METHODS.has(req.method ?? 'GET')) throw error;
    // Read-only requests go on without the session; any write to it fails (see persist()). A
    // degraded request must not clear the cookie of a session it merely could not read.
    return { record: null, presented: false, transport, degraded: true };
  }

  /**
   * Write the session's pending changes now (what `Session.save()` and the end of the response do).
   * Only keys that changed are written; an unchanged session is touched when its touch is due.
   */
  save(session: AnySession): Promise<void> {
    return this.exclusive(session, () => this.persist(session, this.bindingOf(session)));
  }

  /** New ID, same data, old record deleted (used by `Session.regenerate()`). */
  regenerate(session: AnySession): Promise<void> {
    return this.exclusive(session, async () => {
      this.assertNotDegraded(session, 'regenerate the session');
      await this.replaceId(session, this.newId(this.bindingOf(session).req));
    });
  }

  /**
   * A new session ID: `generateId`'s, checked, when given; else random, of `idLength` characters.
   * @throws SessionError `SESSION_OPTIONS_INVALID` when `generateId` returns anything but a
   *   well-formed session ID (never used, never replaced by one of ours).
   */
  private newId(req: IncomingMessage): string {
    const generate = this.options.generateId;
    if (generate === undefined) return generateSessionId(this.options.idLength);
    const id: unknown = generate(req);
    if (isValidSessionId(id)) return id;
    // Never the value itself: it may be a credential, or carry one.
    const given = typeof id === 'string' ? `a string of ${id.length} characters` : `a value of type ${id === null ? 'null' : typeof id}`;
    throw new SessionError(
      'SESSION_OPTIONS_INVALID',
      SessionMessages.invalidOption(
        'generateId',
        `it returned ${given}, not a session ID (22 to 128 characters of A-Z a-z 0-9 _ -)`,
        "Return e.g. randomUUID() of node:crypto (express-session's genid becomes generateId).",
      ),
    );
  }

  /** Move the session to `newId`: the record is written under the new ID and the old one deleted. */
  protected async replaceId(session: AnySession, newId: string): Promise<void> {
    const oldId = sessionState(session).isNew ? undefined : sessionState(session).id;
    if (oldId === undefined) {
      sessionState(session).id = newId;
      return;
    }
    const expiresAt = this.nextExpiry(session);
    const data = session.encodeAll();
    const principal = this.principalOf(session);
    await this.storeCall('regenerate the session', () =>
      this.serverStore.set(newId, { data, createdAt: sessionState(session).createdAt, expiresAt, ...this.principalField(principal) }),
    );
    try {
      for (const listener of this.idChangeListeners) await listener(session, oldId, newId);
    } catch (error) {
      // Keep the session under the ID its cookie still names; the copy would only be an orphan.
      await Promise.resolve(this.storeCall('regenerate the session', () => this.serverStore.destroy(newId))).catch(() => undefined);
      throw error;
    }
    await this.storeCall('regenerate the session', () => this.serverStore.destroy(oldId));
    session.markSaved(newId, data, expiresAt, principal);
    if (this.events.active) {
      const req = this.bindingOf(session).req;
      this.reportDestroyed(oldId, principal, 'regenerated', req);
      this.events.emit('regenerated', {
        handle: this.handleOf(newId),
        previousHandle: this.handleOf(oldId),
        principal,
        req,
        at: Date.now(),
      });
    }
  }

  /** Delete the record and start over empty (used by `Session.destroy()`). */
  destroy(session: AnySession): Promise<void> {
    return this.exclusive(session, async () => {
      this.assertNotDegraded(session, 'destroy the session');
      const state = sessionState(session);
      if (!state.isNew && state.id !== undefined) {
        const { id, principal } = state;
        await this.removeRecord(id);
        if (this.linksPrincipals && principal !== undefined) await this.unlinkPrincipal(principal, id);
        if (this.events.active && this.serverSide) this.reportDestroyed(id, principal, 'logout', this.bindingOf(session).req);
      }
      const binding = this.bindingOf(session);
      binding.endedCookie ??= this.cookieOverride(session);
      sessionState(session).loadedId = undefined;
      session.reset(Date.now());
      // `eagerSessions` must not start the session again in this request.
      if (binding.dropped === undefined) binding.dropped = 'destroyed';
    });
  }

  /** Delete the stored record of `id`. */
  protected async removeRecord(id: string): Promise<void> {
    await this.storeCall('destroy the session', () => this.serverStore.destroy(id));
  }

  /**
   * Read the record again, dropping unsaved changes (used by `Session.reload()`).
   * @throws SessionError `SESSION_LOST` when the store has no record of the session (expired,
   *   destroyed elsewhere, never saved): the session is left as it was, as express-session leaves it.
   */
  reload(session: AnySession): Promise<void> {
    return this.exclusive(session, async () => {
      const record = await this.rereadRecord(session);
      if (record === null) throw new SessionError('SESSION_LOST', SessionMessages.reloadMissing());
      session.reset(Date.now(), record);
    });
  }

  /** The record of `session` as the store holds it now. */
  protected async rereadRecord(session: AnySession): Promise<SessionRecord | null> {
    const id = sessionState(session).isNew ? undefined : sessionState(session).id;
    return id === undefined ? null : this.storeCall('read the session', () => this.serverStore.get(id));
  }

  /**
   * The value of `key` as the store holds it now, which another request or process may have
   * changed since this request loaded the session; the session's own unsaved changes are left
   * alone. `undefined` for a new session, a missing key or a store that keeps sessions client-side.
   * @throws SessionError `SESSION_STORE_UNAVAILABLE`
   */
  async peek<V = unknown>(session: AnySession, key: string): Promise<V | undefined> {
    const record = await this.rereadRecord(session);
    // Own properties only: a name of Object.prototype is not session data.
    const raw = record && Object.hasOwn(record.data, key) ? record.data[key] : undefined;
    return raw === undefined ? undefined : (decodeValue(this.options.codec, key, raw) as V);
  }

  /**
   * When `session` ends at the latest (epoch ms): its creation plus `absoluteTimeout`, or for a
   * session given its own lifetime (`req.session.cookie.maxAge`, "remember me") at least that
   * lifetime after it was given.
   */
  absoluteDeadline(session: AnySession): number {
    const deadline = sessionState(session).createdAt + this.options.absoluteTimeout;
    const own = ownLifetime(this.cookieOverride(session));
    return own === undefined ? deadline : Math.max(deadline, own.since + own.maxAge);
  }

  /**
   * Whether a record past `absoluteTimeout` lives on by a lifetime of its own (`req.session.cookie.maxAge`).
   * Decodes the hidden cookie key only for such a record.
   */
  private outlives(record: SessionRecord, now: number): boolean {
    const lifetime = this.recordLifetime(record);
    return lifetime !== undefined && lifetime.since + lifetime.maxAge > now;
  }

  /**
   * The session's own cookie settings (see {@link SessionCookieOverride}), read once per request
   * from its hidden `__cookie` key; `null` when it has none.
   * @internal
   */
  cookieOverride(session: AnySession): SessionCookieOverride | null {
    const state = sessionState(session);
    if (state.cookie === undefined) {
      let stored: unknown;
      try {
        stored = session.has(COOKIE_KEY) ? session.readDetached(COOKIE_KEY) : undefined;
      } catch {
        // Undecodable: the module's cookie, rather than a failed response for every request of it.
        stored = undefined;
      }
      const own = stored !== null && typeof stored === 'object' ? ({ ...stored } as SessionCookieOverride) : null;
      // A lifetime that did not come through req.session.cookie (a value written under the key
      // directly) is not trusted to extend the session.
      if (own !== null && typeof own.maxAge === 'number' && ownLifetime(own) === undefined) delete own.maxAge;
      state.cookie = own;
    }
    return state.cookie;
  }

  /**
   * Change the session's own cookie settings (`req.session.cookie.<member> = value`): checked,
   * kept in the session's hidden `__cookie` key (written with the session), and the cookie issued
   * again with them on this response.
   * @throws SessionError `SESSION_READ_ONLY` for a value the member cannot take, or attributes
   *   browsers would refuse together (`sameSite: 'none'` without `secure`, say);
   *   `SESSION_HEADERS_SENT` once the response headers were sent.
   * @internal Called by the express-session view.
   */
  setCookieMember(session: AnySession, member: string, value: unknown): void {
    if (this.headersSent(session))
      throw new SessionError('SESSION_HEADERS_SENT', SessionMessages.headersSent(`change req.session.cookie.${member}`));
    const current = this.cookieOverride(session);
    const next: SessionCookieOverride = { ...current };
    const now = Date.now();
    applyCookieMember(next, member, value, now);
    // As express-session: a value the cookie has already is no change, so no cookie is issued for it.
    if (sameCookieOverride(current ?? {}, next)) return;
    const { maxAge: _maxAge, since: _since, ...attributes } = next;
    if (Object.keys(attributes).length > 0) {
      try {
        checkCookieAttributes({ ...this.options.cookie, ...attributes }, 'req.session.cookie');
      } catch (error) {
        throw new SessionError('SESSION_READ_ONLY', (error as Error).message);
      }
    }
    sessionState(session).cookie = next;
    session.set(COOKIE_KEY, next);
    const binding = this.bindingOf(session);
    binding.cookieChanged = true;
    binding.lifetimeSetAt = typeof next.maxAge === 'number' && next.since !== current?.since ? next.since : binding.lifetimeSetAt;
  }

  /**
   * The session's cookie as express-session's `req.session.cookie` shows it: its expiry and the
   * time left (`null` for a browser-session cookie), the lifetime it was given (`originalMaxAge`),
   * and its attributes (the session's own, else the module's).
   * @internal Called by the express-session view.
   */
  describeCookie(session: AnySession): SessionCookieDescription {
    const own = this.cookieOverride(session);
    const cookie = this.options.cookie;
    const persistent = own?.maxAge === null ? false : typeof own?.maxAge === 'number' || cookie.persistent;
    const expires = persistent ? this.cookieExpiry(session) : null;
    return {
      expires,
      maxAge: expires === null ? null : expires - Date.now(),
      originalMaxAge: persistent ? this.cookieLifetime(session) : null,
      secure: own?.secure ?? cookie.secure,
      httpOnly: own?.httpOnly ?? cookie.httpOnly,
      sameSite: own?.sameSite ?? cookie.sameSite,
      domain: own?.domain ?? cookie.domain,
      path: own?.path ?? cookie.path,
      partitioned: own?.partitioned ?? cookie.partitioned,
      priority: own?.priority ?? cookie.priority,
    };
  }

  /**
   * The ID of `session`, chosen now when it has none yet (a new session), so that
   * `req.session.id` and `req.sessionID` are never `undefined`. Choosing it stores nothing: the
   * session is still written only once it has data (or with `eagerSessions`).
   * @throws SessionError `SESSION_OPTIONS_INVALID` when `generateId` gives no valid ID.
   * @internal Called by the express-session view and `req.sessionID`.
   */
  idOf(session: AnySession): string {
    const state = sessionState(session);
    return (state.id ??= this.newId(this.bindingOf(session).req));
  }

  /**
   * The request `session` was loaded for, and the response it is answered with (`undefined` for a
   * session loaded without one, see {@link SessionManager.load}).
   * @internal For extensions such as the auth module, which sets cookies of its own.
   */
  exchangeOf(session: AnySession): { req: IncomingMessage; res: ServerResponse | undefined } {
    const binding = this.bindingOf(session);
    return { req: binding.req, res: binding.res };
  }

  /**
   * Whether `req` has its session from the HTTP path ({@link SessionManager.attach}), whose
   * response writes it: a GraphQL query or mutation over HTTP, which `SessionInterceptor` must leave
   * alone. A gateway's handshake request, loaded without a response, has not.
   * @internal
   */
  answersFor(req: IncomingMessage): boolean {
    const session = getSessionFromRequest<AnySession>(req);
    return session !== undefined && this.bindingOf(session).res !== undefined;
  }

  /**
   * Call `listener` whenever a session's ID changes (`regenerate()`), after the record was written
   * under the new ID and before the old one is deleted, so state kept elsewhere under the ID (the
   * auth module's index of logins) can move with it. When it rejects, the new record is deleted
   * again, the old one kept, and the regeneration fails with its error.
   * @internal
   */
  onIdChange(listener: (session: AnySession, oldId: string, newId: string) => Promise<void>): void {
    this.idChangeListeners.push(listener);
  }

  /** Whether the response of the session's request has sent its headers. */
  headersSent(session: AnySession): boolean {
    return (sessionState(session).binding as SessionBinding | undefined)?.res?.headersSent ?? false;
  }

  /**
   * When a persistent cookie written now expires: the absolute deadline, or with `rolling` the idle
   * deadline; for a session given its own lifetime (`req.session.cookie.maxAge`), the session's
   * expiry, as express-session writes it.
   */
  protected cookieExpiry(session: AnySession): number {
    if (this.options.rolling || typeof this.cookieOverride(session)?.maxAge === 'number') return this.nextExpiry(session);
    return this.absoluteDeadline(session);
  }

  /** The lifetime a persistent cookie is given ({@link SessionManager.cookieExpiry} less the moment it counts from). */
  private cookieLifetime(session: AnySession): number {
    const own = this.cookieOverride(session)?.maxAge;
    if (typeof own === 'number') return own;
    return this.options.rolling ? this.options.idleTimeout : this.options.absoluteTimeout;
  }

  /**
   * Whether a new session with nothing in it is started anyway (`eagerSessions`): not in a request
   * that destroyed or dropped it, not over a store that could not be read, not without a response.
   */
  private startsEagerly(state: SessionState): boolean {
    if (!this.options.eagerSessions || state.degraded) return false;
    const binding = state.binding as SessionBinding;
    return binding.dropped === undefined && binding.res !== undefined;
  }

  /**
   * Answer a request whose session could not be written. Override to change the body; the status
   * comes from the error (503 store unavailable, 409 session lost).
   */
  protected failResponse(res: ServerResponse, error: SessionError, end: (body: string) => void): void {
    if (res.headersSent) {
      // The status line is out: cut the response short so the client cannot take it for a success.
      res.destroy(error);
      return;
    }
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    const body = JSON.stringify({ statusCode: error.statusCode, message: error.message, error: error.code });
    res.statusCode = error.statusCode;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.setHeader('content-length', Buffer.byteLength(body));
    res.setHeader('cache-control', 'no-store');
    end(body);
  }

  private readToken(req: IncomingMessage): { token: string | undefined; transport: number } {
    const transports = this.options.transports;
    for (let i = 0; i < transports.length; i++) {
      const token = transports[i].read(req);
      if (token) return { token, transport: i };
    }
    return { token: undefined, transport: 0 };
  }

  /** The expiry a write made now gives `session`: the earlier of its idle and absolute deadlines. */
  protected nextExpiry(session: AnySession): number {
    const state = sessionState(session);
    // The common case, kept cheap: a session without cookie settings of its own.
    if (state.cookie === null || (state.cookie === undefined && this.cookieOverride(session) === null)) {
      return Math.min(Date.now() + this.options.idleTimeout, state.createdAt + this.options.absoluteTimeout);
    }
    const own = state.cookie!.maxAge;
    if (typeof own !== 'number') return Math.min(Date.now() + this.options.idleTimeout, this.absoluteDeadline(session));
    // Set in this request: exactly the expiry the handler gave (`expires = date` reads back as that date).
    const from = this.bindingOf(session).lifetimeSetAt ?? Date.now();
    return Math.min(from + own, this.absoluteDeadline(session));
  }

  /**
   * Whether the end of the response may have store work to do. Checked synchronously so a request
   * that changed nothing ends without waiting; conservative (objects that were read may have been
   * edited in place), since the exact patch is computed once, by {@link SessionManager.save}.
   */
  /** @internal */
  mayWrite(session: AnySession): boolean {
    const state = sessionState(session);
    if (state.isNew) return session.hasData || this.startsEagerly(state);
    if (state.touchRequested || session.mayHaveChanges()) return true;
    return !state.written && this.nextExpiry(session) - state.expiresAt >= this.options.touchInterval;
  }

  /**
   * The write path of every request (what the end of the response and `save()` run): a new
   * session written whole, a stored one's changed keys as a patch, or a due touch; nothing when
   * nothing changed. Synchronous when the store answers synchronously, else a promise.
   * `ClientSessionManager` overrides it to seal the session into cookies instead.
   */
  protected persist(session: AnySession, binding: SessionBinding): MaybePromise<void> {
    // `req.session = null` with `unset: 'keep'`: nothing of this request is written.
    if (binding.dropped === 'kept') return;
    const store = this.serverStore;
    const expiresAt = this.nextExpiry(session);
    if (sessionState(session).degraded) {
      if (!session.hasData && !session.hasChanged) return;
      // The stored session could not be read, so writing would overwrite it with a partial one.
      throw new SessionError('SESSION_STORE_UNAVAILABLE', SessionMessages.storeUnavailable('save the session'));
    }
    if (sessionState(session).isNew) {
      if (!session.hasData && !this.startsEagerly(sessionState(session)) && !sessionState(session).saveRequested) return;
      if (binding.res?.headersSent && binding.issuedId !== sessionState(session).id) {
        // No cookie can carry a new ID any more; storing the record would only leave an orphan.
        this.options.onError(new SessionError('SESSION_HEADERS_SENT', SessionMessages.headersSent('start a session')), {
          req: binding.req,
          res: binding.res,
        });
        return;
      }
      if (!binding.res) return;
      const id = (sessionState(session).id ??= this.newId(binding.req));
      const data = session.encodeAll();
      const device = this.deviceInfo(binding.req);
      if (device !== undefined) data[DEVICE_KEY] = device;
      const principal = this.principalOf(session);
      const record = { data, createdAt: sessionState(session).createdAt, expiresAt, ...this.principalField(principal) };
      return this.indexedWrite(session, id, undefined, principal, () =>
        chain(
          () => this.storeCall('save the session', () => store.set(id, record)),
          () => {
            session.markSaved(id, data, expiresAt, principal);
            if (this.events.active) this.reportCreated(id, principal, binding.req);
          },
        ),
      );
    }
    const id = sessionState(session).id!;
    const { patch, principal } = this.pendingPatch(session);
    if (!isEmptyPatch(patch) || patch.principal !== undefined) {
      return this.indexedWrite(session, id, sessionState(session).principal, principal, () =>
        chain(
          () => this.storeCall('save the session', () => store.patch(id, patch, expiresAt)),
          (saved) => this.patched(session, saved, id, patch, expiresAt, principal),
        ),
      );
    }
    const state = sessionState(session);
    if (state.touchRequested || state.saveRequested || (!state.written && expiresAt - state.expiresAt >= this.options.touchInterval)) {
      return chain(
        () => this.storeCall('extend the session', () => store.touch(id, expiresAt)),
        (touched) => this.touched(session, touched, expiresAt),
      );
    }
  }

  /** What `deviceInfo` keeps of `req` (encoded for the session's record), or `undefined` when nothing. */
  private deviceInfo(req: IncomingMessage): string | undefined {
    const { userAgent, ip } = this.options.deviceInfo;
    if (!userAgent && !ip) return undefined;
    const info: { userAgent?: string; ip?: string } = {};
    const agent = req.headers['user-agent'];
    if (userAgent && typeof agent === 'string') info.userAgent = agent.slice(0, 512);
    const address = ip ? clientAddress(req, this.options.trustProxy) : undefined;
    if (address !== undefined) info.ip = address;
    return this.options.codec.encode(info);
  }

  /** The changes of a stored session to write, with its principal (set on the patch when it moved). */
  private pendingPatch(session: AnySession): { patch: SessionPatch; principal: string | undefined } {
    const patch = session.buildPatch();
    const principal = this.principalOf(session);
    if (principal !== sessionState(session).principal) patch.principal = principal ?? null;
    return { patch, principal };
  }

  private patched(
    session: AnySession,
    saved: boolean,
    id: string,
    patch: SessionPatch,
    expiresAt: number,
    principal: string | undefined,
  ): void {
    if (!saved) {
      sessionState(session).loadedId = undefined;
      session.reset(Date.now());
      throw new SessionError('SESSION_LOST', SessionMessages.lost());
    }
    const previous = sessionState(session).principal;
    session.markPatched(id, patch, expiresAt, principal);
    if (patch.principal !== undefined && this.events.active) {
      this.events.emit('principalSet', {
        handle: this.handleOf(id),
        principal,
        previousPrincipal: previous,
        req: this.bindingOf(session).req,
        at: Date.now(),
      });
    }
  }

  private touched(session: AnySession, touched: boolean, expiresAt: number): void {
    sessionState(session).touchRequested = false;
    sessionState(session).saveRequested = false;
    if (touched) {
      sessionState(session).expiresAt = expiresAt;
      sessionState(session).written = true;
    } else {
      // Nothing was going to be written, so nothing is lost: the visitor simply has no session now.
      sessionState(session).loadedId = undefined;
      session.reset(Date.now());
    }
  }

  protected assertNotDegraded(session: AnySession, operation: string): void {
    if (sessionState(session).degraded) throw new SessionError('SESSION_STORE_UNAVAILABLE', SessionMessages.storeUnavailable(operation));
  }

  /**
   * Run `write` (a record of `id` that names principal `after`, where it named `before`) keeping
   * the principal index true when the engine keeps it (see {@link SessionManager.index}): the new
   * principal is linked before the write, so a "log out everywhere" never misses a written session;
   * the old one unlinked after it (a stale entry is skipped on reading, so a failure there is only
   * reported).
   */
  private indexedWrite(
    session: AnySession,
    id: string,
    before: string | undefined,
    after: string | undefined,
    write: () => MaybePromise<void>,
  ): MaybePromise<void> {
    if (!this.linksPrincipals || before === after) return write();
    return (async () => {
      if (after !== undefined) {
        await this.index.linkPrincipal(after, id, this.absoluteDeadline(session));
      }
      await write();
      if (before !== undefined) await this.unlinkPrincipal(before, id);
    })();
  }

  /** Move the session's principal entry to its new ID (an `onIdChange` listener). */
  private async relinkPrincipal(session: AnySession, oldId: string, newId: string): Promise<void> {
    const principal = this.principalOf(session);
    if (principal !== undefined) {
      await this.index.linkPrincipal(principal, newId, this.absoluteDeadline(session));
    }
    const stored = sessionState(session).principal;
    if (stored !== undefined) await this.unlinkPrincipal(stored, oldId);
  }

  /** Best effort: an entry left behind is skipped on reading and pruned then. */
  private async unlinkPrincipal(principal: string, id: string): Promise<void> {
    await this.index.unlinkPrincipal(principal, id).catch((error: unknown) => this.options.onError(toSessionError(error), {}));
  }

  protected principalOf(session: AnySession): string | undefined {
    return this.options.principal?.(session);
  }

  protected principalField(principal: string | undefined): { principal?: string } {
    return principal === undefined ? {} : { principal };
  }

  /**
   * The live sessions of `principal` (needs the `principal` option), oldest first: from the store's
   * own principal index where it has one, else from the index the engine keeps for it in
   * {@link SessionManager.index} (memcached, a connect store).
   * @throws SessionError `SESSION_NOT_SUPPORTED` over a client-side store (CookieStore), which keeps
   *   no sessions to list; `SESSION_STORE_UNAVAILABLE` when the store fails.
   */
  async findByPrincipal(principal: string): Promise<PrincipalSession[]> {
    if (isClientSideStore(this.options.store)) throw this.notSupported('findByPrincipal');
    return this.index.sessionsOf(principal);
  }

  /**
   * Destroy every session of `principal` ("log out everywhere"); resolves how many were destroyed.
   * A request of that user still in flight cannot write to its session afterwards (it gets 409).
   * @throws SessionError `SESSION_NOT_SUPPORTED` over a client-side store (CookieStore).
   */
  async destroyByPrincipal(principal: string): Promise<number> {
    if (isClientSideStore(this.options.store)) throw this.notSupported('destroyByPrincipal');
    return this.index.destroySessionsOf(principal);
  }

  /**
   * The handle of the session `id`: an opaque name for it that is no credential (see
   * `SessionDestroyedEvent.handle`), the one events and `SessionDevices` use.
   * @example manager.handleOf(manager.idOf(session))
   */
  handleOf(id: string): string {
    return sessionHandle(this.options.secrets[0], id);
  }

  /**
   * Who `session` belongs to: the `principal` option's answer for it now, else the principal its
   * stored record names; `undefined` without the option or before a login.
   */
  principalOfSession(session: AnySession): string | undefined {
    return this.principalOf(session) ?? sessionState(session).principal;
  }

  /** Whether sessions are indexed by principal (the `principal` option is given). */
  get indexesPrincipals(): boolean {
    return this.options.principal !== undefined;
  }

  /**
   * When the session of `record` was last used, read off its expiry, which every write and touch
   * sets to that moment plus the session's idle lifetime (`idleTimeout`, or its own
   * `req.session.cookie.maxAge`): exact to within `touchInterval`. Once the absolute deadline caps
   * the expiry (the session's last idle lifetime), it is a lower bound.
   * @internal For `SessionDevices`.
   */
  lastSeenOf(record: SessionRecord): number {
    const lifetime = this.recordLifetime(record)?.maxAge ?? this.options.idleTimeout;
    return Math.min(Date.now(), Math.max(record.createdAt, record.expiresAt - lifetime));
  }

  /**
   * The lifetime of its own that a stored record's hidden cookie key gives it, when it has a
   * well-formed one; undecodable settings count as none, as `cookieOverride()` falls back to the
   * module's cookie. Decodes only records that have the key.
   */
  private recordLifetime(record: SessionRecord): { maxAge: number; since: number } | undefined {
    if (!Object.hasOwn(record.data, COOKIE_KEY)) return undefined;
    try {
      return ownLifetime(this.options.codec.decode(record.data[COOKIE_KEY]));
    } catch {
      return undefined;
    }
  }

  /** The stored record of `id` (`null` when gone), read within `storeTimeout`. @internal For `SessionDevices`. */
  async readStored(id: string): Promise<SessionRecord | null> {
    return this.storeCall('list sessions', () => this.serverStore.get(id));
  }

  /**
   * End the stored session `id` from outside its requests (a device revoked): the record is
   * deleted, its principal entry removed, and a `destroyed` event (`revoked`) reported. A request of
   * that session still in flight cannot write to it afterwards (409).
   * @internal For `SessionDevices`.
   */
  async revoke(id: string, principal: string | undefined, req?: IncomingMessage): Promise<void> {
    await this.removeRecord(id);
    if (this.linksPrincipals && principal !== undefined) await this.unlinkPrincipal(principal, id);
    if (this.events.active) this.reportDestroyed(id, principal, 'revoked', req);
  }

  /** `Session.update()`: see there. */
  update(session: AnySession, key: string, fn: (current: unknown) => unknown, options: SessionUpdateOptions | undefined): Promise<unknown> {
    return this.exclusive(session, async () => {
      this.assertNotDegraded(session, 'update the session');
      const state = sessionState(session);
      if (state.isNew) {
        // Not stored yet: no other request can reach it, so a plain change is atomic.
        const next = await fn(session.get(key));
        if (next === undefined) session.delete(key);
        else session.set(key, next);
        return next;
      }
      if (!this.serverSide) throw this.notSupported('update');
      const expiresAt = this.nextExpiry(session);
      const { value, encoded } = await this.keyUpdates.run(state.id!, key, expiresAt, fn, options, () => {
        state.loadedId = undefined;
        session.reset(Date.now());
      });
      session.adoptStored(key, encoded);
      // The write moved the expiry as a touch would have.
      state.expiresAt = expiresAt;
      return value;
    });
  }

  private reportCreated(id: string, principal: string | undefined, req: IncomingMessage): void {
    const handle = this.handleOf(id);
    const at = Date.now();
    this.events.emit('created', { handle, principal, req, at });
    if (principal !== undefined) this.events.emit('principalSet', { handle, principal, req, at });
  }

  private reportDestroyed(id: string, principal: string | undefined, reason: SessionDestroyReason, req: IncomingMessage | undefined): void {
    const handle = this.handleOf(id);
    if (reason === 'revoked' || reason === 'backchannel') {
      if (this.endedElsewhere.size >= MAX_ENDED_ELSEWHERE) this.endedElsewhere.delete(this.endedElsewhere.values().next().value!);
      this.endedElsewhere.add(handle);
    }
    this.events.emit('destroyed', { handle, principal, reason, req, at: Date.now() });
  }

  /**
   * One round trip to the store within `storeTimeout` (a read of `id`), for health checks.
   * @throws SessionError `SESSION_STORE_UNAVAILABLE` when the store does not answer in time.
   */
  async probe(id: string): Promise<void> {
    await this.storeCall('answer a health check', () => this.serverStore.get(id));
  }

  private notSupported(method: string): SessionError {
    return new SessionError('SESSION_NOT_SUPPORTED', SessionMessages.notSupported(this.options.store.constructor.name, method));
  }

  /**
   * Run a store call within `storeTimeout` (an in-process store needs no deadline), mapping its
   * failure (thrown or rejected) to `SESSION_STORE_UNAVAILABLE` naming `operation`. A call that
   * times out is reported as failed even though the store may still complete it later: the
   * response never claims a write that is not certain. Every store call of the engine goes through
   * here: override it to observe or wrap them.
   */
  protected storeCall<R>(operation: string, call: () => MaybePromise<R>): MaybePromise<R> {
    return this.calls.call(operation, call);
  }

  /** Run `work` after the session's store work still in flight (one at a time per session). */
  private exclusive<R>(session: AnySession, work: () => MaybePromise<R>): Promise<R> {
    const binding = this.bindingOf(session);
    const run = binding.queue ? binding.queue.then(work, work) : settled(work);
    // The caller handles a rejection; the next caller chains on both outcomes.
    binding.queue = run;
    return run;
  }

  /**
   * Write (or clear) the session ID on the response; runs synchronously as the headers go out.
   * `headers` are those given to `writeHead()`, which Set-Cookie must be merged into.
   */
  protected emitIdentity(session: AnySession, binding: SessionBinding, headers: OutgoingHttpHeaders | undefined): void {
    const res = binding.res!;
    const state = sessionState(session);
    // `req.session = null` with `unset: 'keep'`: no cookie, as if the request had no session.
    if (binding.dropped === 'kept') return;
    let value: string | null | undefined;
    if (state.isNew ? session.hasData || this.startsEagerly(state) : true) {
      // A failed response gets no new ID (and makes none: `generateId` may be what failed).
      if (binding.failed) return;
      const id = (state.id ??= this.newId(binding.req));
      // `rolling` re-sends the cookie of a stored session on every response; so does a change of
      // `req.session.cookie` on this one.
      if (id !== state.loadedId || this.options.rolling || binding.cookieChanged) value = this.signer.sign(id);
    } else if (state.presented && binding.issuedId === undefined) {
      value = null;
    }
    if (value === undefined || (binding.failed && value !== null)) return;
    binding.issuedId = value === null ? null : state.id;
    const before = res.getHeader('set-cookie');
    const own = value === null && binding.endedCookie ? binding.endedCookie : state.cookie === null ? null : this.cookieOverride(session);
    this.options.transports[state.transport].write({
      req: binding.req,
      res,
      value,
      expiresAt: this.cookieExpiry(session),
      cookie: own === null ? undefined : ownCookieOf(own),
    });
    mergeSetCookie(headers, before, res);
  }

  /** Copy Set-Cookie values added since `before` into the headers given to `writeHead()`. */
  protected mergeIntoWriteHead(
    headers: OutgoingHttpHeaders | undefined,
    before: number | string | string[] | undefined,
    res: ServerResponse,
  ): void {
    mergeSetCookie(headers, before, res);
  }

  /** @internal Called as the headers go out: write (or clear) the session ID; `headers` are those given to `writeHead()`. */
  onWriteHead(binding: SessionBinding, headers: OutgoingHttpHeaders | undefined): void {
    try {
      this.emitIdentity(binding.session!, binding, headers);
    } catch (error) {
      this.report(error, binding);
    }
  }

  /** @internal Called when the handler ended the response and the session may have changed: write it, then end. */
  onEnd(binding: SessionBinding, end: ResponseEnd): void {
    const session = binding.session!;
    binding.endHeld = true;
    let written: MaybePromise<void>;
    if (binding.queue !== undefined) {
      // A save() or regenerate() is still running: write after it.
      written = this.save(session);
    } else {
      try {
        written = this.persist(session, binding);
      } catch (error) {
        this.fail(binding, error, end);
        return;
      }
      // Written already (an in-process store): end in the same tick.
      if (!isPromiseLike(written)) {
        end.proceed();
        return;
      }
      // As exclusive() does: a save() called meanwhile waits for this write.
      binding.queue = written;
    }
    written.then(
      () => end.proceed(),
      (error: unknown) => this.fail(binding, error, end),
    );
  }

  /**
   * A callback given to a method of `req.session` threw (`error`: what it threw when a
   * SessionError, else `SESSION_CALLBACK_FAILED` with it as `cause`): report it to `onError` and
   * fail the response through {@link SessionManager.failResponse}, unless the response is answered
   * already (ended, its end waiting for the store write, or gone). The answer goes through the
   * hooked `end`, so what the method did (a new ID, a destroyed session) still reaches the cookie.
   * @internal Called by the express-session view.
   */
  callbackFailed(session: AnySession, error: SessionError): void {
    const binding = this.bindingOf(session);
    const res = binding.res;
    try {
      this.options.onError(error, { req: binding.req, res });
    } finally {
      if (res !== undefined && !binding.endHeld && !res.writableEnded && !res.destroyed) {
        this.failResponse(res, error, (body) => res.end(body));
      }
    }
  }

  private fail(binding: SessionBinding, error: unknown, end: ResponseEnd): void {
    binding.failed = true;
    // The held response refuses header changes from the handler's code after its end, not from us.
    end.release();
    this.failResponse(end.res, this.report(error, binding), (body) => end.replace(body));
  }

  private report(error: unknown, binding: SessionBinding): SessionError {
    const sessionError = toSessionError(error);
    this.options.onError(sessionError, { req: binding.req, res: binding.res! });
    return sessionError;
  }
}

/** `work()` as a promise, a synchronous throw included. */
function settled<R>(work: () => MaybePromise<R>): Promise<R> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error);
  }
}

/** `error` as a SessionError: anything else a store threw is an outage. */
function toSessionError(error: unknown): SessionError {
  return error instanceof SessionError
    ? error
    : new SessionError('SESSION_STORE_UNAVAILABLE', SessionMessages.storeUnavailable('save the session'), { cause: error });
}

/** What a request assigned to `req.session` itself (kept apart from the view). */
const ASSIGNED_VIEW = Symbol('nest-sessions:assigned-session');
/** The view made for a session, kept on the session so the request object gets no new property. */
const VIEW = Symbol('nest-sessions:view');

/**
 * What was assigned to `req.session`; `foreign` when it was set before the request had a session
 * of ours (another session library mounted earlier), which then keeps it.
 */
type ViewRequest = IncomingMessage & { [ASSIGNED_VIEW]?: { value: unknown; foreign: boolean } };
type ViewedSession = AnySession & { [VIEW]?: unknown };

/**
 * Read `req.session`: the express-session view of the request's session, made on first read, or
 * what the request assigned (`null` after a logout).
 */
function readView(this: ViewRequest): unknown {
  const assigned = this[ASSIGNED_VIEW];
  if (assigned !== undefined) return assigned.value;
  const session = getSessionFromRequest<ViewedSession>(this);
  if (session === undefined) return undefined;
  return (session[VIEW] ??= createExpressSessionView(session, sessionOperations(session) as SessionManager));
}

/**
 * Assign `req.session`. `null` or `undefined` log out (cookie-session's idiom) as `destroy()` does,
 * or with `unset: 'keep'` drop the session from the request (see `unsetAssigned()`); the view
 * itself is taken back; anything else would hide the session from the code that reads
 * `req.session` while the engine went on saving it, so it throws. A request without a session
 * keeps what it is given, as a plain property would.
 * @throws SessionError `SESSION_READ_ONLY` for any other value.
 */
function assignView(this: ViewRequest, value: unknown): void {
  const session = getSessionFromRequest<ViewedSession>(this);
  const assigned = this[ASSIGNED_VIEW];
  if (session === undefined || assigned?.foreign) {
    // Not ours (no session yet, or another library's req.session): a plain property's behaviour.
    this[ASSIGNED_VIEW] = { value, foreign: true };
    return;
  }
  if (value !== undefined && value === session[VIEW]) {
    if (assigned !== undefined) {
      this[ASSIGNED_VIEW] = undefined;
      (sessionOperations(session) as SessionManager).restoreAssigned(session);
    }
    return;
  }
  if (value !== null && value !== undefined) throw new SessionError('SESSION_READ_ONLY', SessionMessages.replaceSession());
  (sessionOperations(session) as SessionManager).unsetAssigned(session);
  this[ASSIGNED_VIEW] = { value, foreign: false };
}

/**
 * Read `req.sessionID`: the session's ID, chosen now for a new session (nothing is stored for it);
 * `undefined` for a request without a session of ours.
 */
function readSessionId(this: ViewRequest): unknown {
  const session = getSessionFromRequest<ViewedSession>(this);
  if (session === undefined || this[ASSIGNED_VIEW]?.foreign) return undefined;
  return (sessionOperations(session) as SessionManager).idOf(session);
}

/**
 * Assign `req.sessionID`. As in express-session, a value that is not a string keeps this request
 * from saving the session or sending its cookie (as `req.session = null` with `unset: 'keep'`);
 * the session's own ID is a no-op. A request without a session of ours keeps what it is given, as a
 * plain property would.
 * @throws SessionError `SESSION_READ_ONLY` for another string: IDs are issued, never chosen.
 */
function assignSessionId(this: ViewRequest, value: unknown): void {
  const session = getSessionFromRequest<ViewedSession>(this);
  if (session === undefined || this[ASSIGNED_VIEW]?.foreign) {
    Object.defineProperty(this, 'sessionID', { value, writable: true, enumerable: true, configurable: true });
    return;
  }
  const manager = sessionOperations(session) as SessionManager;
  if (typeof value !== 'string') manager.unsetAssignedId(session);
  else if (value !== manager.idOf(session)) throw new SessionError('SESSION_READ_ONLY', SessionMessages.viewSessionId());
}

/** `req.session` and `req.sessionID` for every request (see `exposeView()`). */
const SESSION_ACCESSOR: SessionAccessor = { get: readView, set: assignView, getId: readSessionId, setId: assignSessionId };

/** The binding of a hooked response, found through its request (`res.req`) and the request's session. */
function listenerOf(res: ServerResponse): SessionBinding | undefined {
  const session = res.req === undefined ? undefined : getSessionFromRequest<AnySession>(res.req);
  const binding = session === undefined ? undefined : (sessionState(session).binding as SessionBinding);
  return binding?.res === res ? binding : undefined;
}

/** What the cookie transport is given of a session's own cookie settings. */
function ownCookieOf(own: SessionCookieOverride): SessionOwnCookie {
  const { maxAge, since: _since, ...attributes } = own;
  return maxAge === undefined ? attributes : { ...attributes, persistent: maxAge !== null };
}

/** Browsers keep a cookie at most 400 days. */
const MAX_COOKIE_LIFETIME = 400 * 86_400_000;

/** The lifetime a session's own cookie settings give it, when well-formed (1 ms to 400 days, set at a known time). */
function ownLifetime(own: unknown): { maxAge: number; since: number } | undefined {
  if (own === null || typeof own !== 'object') return undefined;
  const { maxAge, since } = own as SessionCookieOverride;
  if (typeof maxAge !== 'number' || !(maxAge > 0 && maxAge <= MAX_COOKIE_LIFETIME)) return undefined;
  if (typeof since !== 'number' || !Number.isFinite(since)) return undefined;
  return { maxAge, since };
}

/** The refusal of a value `req.session.cookie.<member>` cannot take, naming the rule and the fix. */
function cookieMemberError(member: string, rule: string, fix: string): SessionError {
  return new SessionError('SESSION_READ_ONLY', SessionMessages.viewCookieMember(member, rule, fix));
}

/** A lifetime in ms for `member`, checked: 1 ms to 400 days. */
function lifetime(member: string, ms: number): number {
  if (!Number.isFinite(ms) || ms <= 0 || ms > MAX_COOKIE_LIFETIME) {
    throw cookieMemberError(
      member,
      'must give a lifetime of 1 ms to 400 days',
      'Give e.g. 30 * 86_400_000, or null for a browser-session cookie.',
    );
  }
  return Math.ceil(ms);
}

/** Whether two cookie overrides give the same settings (a member set to `undefined` counts as absent). */
function sameCookieOverride(a: SessionCookieOverride, b: SessionCookieOverride): boolean {
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  for (const key of new Set([...Object.keys(left), ...Object.keys(right)])) if (!Object.is(left[key], right[key])) return false;
  return true;
}

/**
 * Apply `req.session.cookie.<member> = value` to `own`, as express-session's `Cookie` takes it:
 * `maxAge` (and `originalMaxAge`) a lifetime in ms or a Date, `expires` a Date (its distance from
 * now becomes the lifetime, as in express-session), `null` for a browser-session cookie; the
 * attributes with express-session's values (`sameSite: true` is `'strict'`), `undefined` for the
 * module's own.
 * @throws SessionError `SESSION_READ_ONLY` for an unknown member or a value it cannot take.
 */
function applyCookieMember(own: SessionCookieOverride, member: string, value: unknown, now: number): void {
  const attribute = own as Record<string, unknown>;
  switch (member) {
    case 'maxAge':
    case 'originalMaxAge':
    case 'expires': {
      if (value === null || (value === undefined && member === 'expires')) {
        own.maxAge = null;
        own.since = undefined;
        return;
      }
      if (value === undefined) {
        delete own.maxAge;
        delete own.since;
        return;
      }
      let ms: number;
      if (value instanceof Date) ms = value.getTime() - now;
      else if (typeof value === 'number' && member !== 'expires') ms = value;
      else {
        throw cookieMemberError(
          member,
          member === 'expires' ? 'must be a Date or null' : 'must be a number of ms, a Date or null',
          'Give e.g. 30 * 86_400_000 for 30 days.',
        );
      }
      own.maxAge = lifetime(member, ms);
      own.since = now;
      return;
    }
    case 'secure':
    case 'httpOnly':
    case 'partitioned':
      if (value === undefined) delete attribute[member];
      else if (typeof value === 'boolean') attribute[member] = value;
      else
        throw cookieMemberError(
          member,
          'must be true or false for one session',
          member === 'secure' ? "Set secure: 'auto' module-wide (SessionModule's cookie.secure) instead." : 'Give a boolean.',
        );
      return;
    case 'sameSite':
      if (value === undefined) delete own.sameSite;
      else if (value === true) own.sameSite = 'strict';
      else if (value === false || value === 'lax' || value === 'strict' || value === 'none') own.sameSite = value;
      else
        throw cookieMemberError(
          member,
          "must be 'lax', 'strict', 'none', true or false for one session",
          "Set 'auto' module-wide instead.",
        );
      return;
    case 'domain':
    case 'path':
      if (value === undefined) delete attribute[member];
      else if (typeof value === 'string') attribute[member] = value;
      else throw cookieMemberError(member, 'must be a string', member === 'path' ? "Give e.g. '/'." : "Give e.g. 'example.com'.");
      return;
    case 'priority':
      if (value === undefined) delete own.priority;
      else if (value === 'low' || value === 'medium' || value === 'high') own.priority = value;
      else throw cookieMemberError(member, "must be 'low', 'medium' or 'high'", 'Or leave it undefined.');
      return;
    default:
      throw cookieMemberError(
        member,
        'is not a member of the session cookie',
        'Use maxAge, expires, originalMaxAge, secure, httpOnly, sameSite, domain, path, partitioned or priority.',
      );
  }
}
