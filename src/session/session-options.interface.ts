import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientSideSessionStore } from '../core/client-side-store.interface.js';
import type { SessionStore } from '../core/session-store.interface.js';
import type { SessionOwnCookie } from './session-cookie.types.js';
import type { SessionCodec } from './codecs/session-codec.interface.js';
import type { Duration } from '../core/duration.util.js';
import type { SessionError } from '../core/errors/session.error.js';
import type { SessionEventListeners } from './session-events.js';

/** Attributes of the session cookie. Every field is optional; the defaults are the secure choice. */
export interface SessionCookieOptions {
  /**
   * Cookie name. A name starting with `__Host-` is checked at bootstrap to have `secure: true`,
   * `path: '/'` and no `domain`, as browsers require; `__Secure-` needs `secure: true`.
   * @default 'sid'
   * @example '__Host-sid'
   */
  name?: string;
  /** @default '/' */
  path?: string;
  /**
   * Domain the cookie is sent to. Leave unset to keep it on the exact host (safest).
   * @default undefined
   */
  domain?: string;
  /**
   * Hide the cookie from page scripts.
   * @default true
   */
  httpOnly?: boolean;
  /**
   * Send the cookie over HTTPS only. `'auto'` sets it when the request arrived over TLS, or, with
   * `trustProxy`, when `X-Forwarded-Proto` says `https`. Browsers accept secure cookies on
   * `http://localhost`, so the default works in local development too.
   * @default true
   */
  secure?: boolean | 'auto';
  /**
   * `SameSite` attribute. `'none'` requires `secure`. `'auto'` (express-session's) is `'none'` on a
   * request that arrived over HTTPS (as `trustProxy` decides) and `'lax'` otherwise, for apps
   * embedded cross-site in production and developed over plain HTTP; it needs `secure` too.
   * @default 'lax'
   * @example 'auto'
   */
  sameSite?: 'lax' | 'strict' | 'none' | 'auto' | false;
  /**
   * Add the `Partitioned` attribute (CHIPS) for cookies used in third-party iframes; requires `secure`.
   * @default false
   */
  partitioned?: boolean;
  /**
   * `Priority` attribute (Chromium).
   * @default undefined
   */
  priority?: 'low' | 'medium' | 'high';
  /**
   * `true`: the cookie carries `Expires`/`Max-Age` up to the session's absolute deadline, so it
   * survives a browser restart. `false`: a browser-session cookie that the browser drops when it
   * closes. Either way the idle and absolute timeouts are enforced on the server.
   * @default true
   */
  persistent?: boolean;
  /**
   * Give a session only to requests whose path lies under `path` (RFC 6265 path matching, on the
   * URL the request arrived with: `/app` covers `/app` and `/app/x`, not `/application`), as
   * express-session does. Any other request gets none: no store read, no cookie, `req.session`
   * is `undefined` and `@Session()` throws `SESSION_NOT_FOUND`. Off, every request gets a session
   * whatever `path` says. Applies to HTTP requests through the module's middleware.
   * @default false
   * @example { path: '/app', matchPath: true }
   */
  matchPath?: boolean;
  /**
   * Do not set a `Secure` cookie on a request that did not arrive over HTTPS (a TLS socket, or
   * with `trustProxy` a proxy that says so), as express-session does, and log that once: over
   * plain HTTP it is usually a proxy that is not trusted. The session is still saved. Off, the
   * cookie is always set (browsers keep `Secure` cookies from `http://localhost`). Server-side
   * stores only.
   * @default false
   * @example { secure: true, withholdOverHttp: true }
   */
  withholdOverHttp?: boolean;
  /**
   * Cookie attributes per request (express-session's `cookie` given as a function of `req`):
   * called whenever the cookie is written (and, with `matchPath`, as each request arrives); what
   * it returns overrides the attributes above for that request. The result is checked as the
   * options are at bootstrap; a wrong one fails that cookie with `SESSION_OPTIONS_INVALID`. The
   * cookie name and the session lifetimes stay module-wide.
   * @default undefined (the same attributes for every request)
   * @example { perRequest: (req) => ({ path: req.url?.startsWith('/admin') ? '/admin' : '/' }) }
   */
  perRequest?: (req: IncomingMessage) => SessionCookieAttributes;
}

/**
 * The attributes {@link SessionCookieOptions.perRequest} may give per request: all of
 * {@link SessionCookieOptions} but the name and the module-wide switches.
 * @example
 * ```ts
 * const attributes: SessionCookieAttributes = { path: '/admin', secure: 'auto', sameSite: 'strict' };
 * ```
 */
export type SessionCookieAttributes = Omit<SessionCookieOptions, 'name' | 'matchPath' | 'withholdOverHttp' | 'perRequest'>;

/** Everything a {@link SessionIdTransport} needs to write the session ID back. */
export interface SessionIdWriteContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** The signed session token, or `null` to remove it (the session was destroyed or is stale). */
  value: string | null;
  /**
   * When a persistent cookie written now expires (epoch ms): the session's absolute deadline, or
   * with `rolling` its idle deadline.
   */
  expiresAt: number;
  /**
   * The session's own cookie settings (`req.session.cookie.*` changed in a handler), laid over the
   * module's for this session; `undefined` when it has none. `CookieTransport` applies them; a
   * transport that does not write a cookie ignores them.
   */
  cookie?: SessionOwnCookie;
}

export type { SessionOwnCookie } from './session-cookie.types.js';

/**
 * Where the session ID travels: how it is read from a request and written to a response.
 * Like flamego's `ReadIDFunc`/`WriteIDFunc`. The value handed over is the *signed* token; the
 * signature is checked by nest-sessions, never by the transport.
 *
 * @example An ID in a query parameter for a legacy client (read only)
 * ```ts
 * const transport: SessionIdTransport = {
 *   read: (req) => new URL(req.url ?? '/', 'http://x').searchParams.get('sid') ?? undefined,
 *   write: () => {},
 * };
 * ```
 */
export interface SessionIdTransport {
  /** The signed token the request carries, or `undefined`. Must not throw. */
  read(req: IncomingMessage): string | undefined;
  /** Write (or clear) the token on the response. Called synchronously just before headers are sent. */
  write(context: SessionIdWriteContext): void;
}

/** Context given to the {@link SessionModuleOptions.onError} hook; empty for background work such as GC. */
export interface SessionErrorContext {
  req?: IncomingMessage;
  res?: ServerResponse;
}

/**
 * Options of `SessionModule.forRoot()` / `forRootAsync()`. They are validated once at bootstrap;
 * a wrong value stops the application with an error that names the option and the fix.
 */
export interface SessionModuleOptions {
  /**
   * Where sessions are kept: a {@link SessionStore} instance, a `CookieStore` (the session sealed
   * in the cookie itself), or a URL: `memory:` (in-process, bounded; `memory:?max=50000`),
   * `file:./path`, `cookie:`, `redis://…`, `rediss://…`, `postgres://…`, `mysql://…`,
   * `mariadb://…`, `sqlite:./file.db`, `memcached://…`, `mongodb://…` (the last ones need their
   * optional peer installed).
   * @default 'memory:'
   * @example 'file:./var/sessions'
   */
  store?: SessionStore | ClientSideSessionStore | string;
  /**
   * Secret(s) for signing session IDs, at least 32 characters each. With an array, the first signs
   * and all verify, so a secret is rotated by putting the new one first.
   * @example [process.env.SESSION_SECRET, process.env.SESSION_SECRET_OLD]
   */
  secret: string | readonly string[];
  /**
   * Accept secrets shorter than 32 characters (any non-empty string), logging a warning for each
   * at bootstrap: a short secret can be guessed offline from one cookie, after which anyone can
   * sign session IDs. Only for a deployment that must keep an existing secret for a while (an app
   * moving from express-session, whose secrets had no minimum; `fromExpressSessionOptions()` sets
   * it when a secret is short). Put a new long secret first as soon as you can, and drop the short
   * one once its cookies have expired.
   * @default false
   * @example { secret: ['a-new-secret-of-32-characters-or-more', 'keyboard cat'], allowShortSecrets: true }
   */
  allowShortSecrets?: boolean;
  /** Cookie attributes (used by the cookie transport). */
  cookie?: SessionCookieOptions;
  /**
   * A session with no activity for this long expires. Enforced by the server (the store's expiry).
   * @default '1d'
   */
  idleTimeout?: Duration;
  /**
   * A session expires this long after it was created, however active it is. Activity never moves
   * this deadline. Must not be shorter than `idleTimeout`.
   * @default '7d'
   */
  absoluteTimeout?: Duration;
  /**
   * The idle deadline of an unchanged session is moved forward at most once per interval, so a
   * read-only request does not write to the store every time. Must be shorter than `idleTimeout`.
   * `0` writes the expiry of every stored session on every response, changed or not
   * (express-session's `resave: true`; a `fromConnectStore()` store then rewrites the whole record).
   * @default the smaller of one minute and half of `idleTimeout`
   * @example '5m'
   */
  touchInterval?: Duration;
  /**
   * Length of new session IDs in base64url characters (6 bits each). At least 22 (128 bits).
   * @default 32
   */
  idLength?: number;
  /**
   * Make the ID of each new session (express-session's `genid`), called with the request. Every ID
   * it returns must look like the IDs this package issues (22 to 128 characters of `A-Z a-z 0-9 _
   * -`; `crypto.randomUUID()` does) and be unpredictable: the ID is the bearer credential, and
   * replaces the default's 192 random bits. An ID of any other shape is refused, never used and
   * never replaced by one of ours: that request's new session fails with `SESSION_OPTIONS_INVALID`
   * (500, reported to `onError`), so a wrong generator shows on its first use. Server-side stores
   * only.
   * @default undefined (random IDs of `idLength` base64url characters)
   * @example () => randomUUID() // import { randomUUID } from 'node:crypto'
   */
  generateId?: (req: IncomingMessage) => string;
  /**
   * Store every new session and set its cookie even when nothing was put in it
   * (express-session's `saveUninitialized`), so each visitor has a session ID from the first
   * response. Off, a visitor gets no cookie and costs no store write until something is stored,
   * which keeps anonymous traffic (and floods) out of the store. A session destroyed in the
   * request, or one `req.session = null` dropped, is not started again. Server-side stores only.
   * @default false
   * @example true
   */
  eagerSessions?: boolean;
  /**
   * Send the session cookie on every response of a stored session (express-session's `rolling`),
   * not only when its ID changes. A persistent cookie then expires at the session's idle
   * deadline (the earlier of now plus `idleTimeout` and the absolute deadline), moving with each
   * response, so the browser forgets it when the server does. Costs an HMAC and a `Set-Cookie` per
   * response. Server-side stores only.
   * @default false
   * @example true
   */
  rolling?: boolean;
  /**
   * What `req.session = null` (or `undefined`) does (express-session's `unset`). `'destroy'`:
   * destroys the session, as `req.session.destroy()` does (a logout). `'keep'`: the stored session
   * stays as it was, the request's changes to it are not saved and no cookie is sent. Server-side
   * stores only for `'keep'`.
   * @default 'destroy'
   * @example 'keep'
   */
  unset?: 'destroy' | 'keep';
  /**
   * How values are written to the store: `'json'`, `'rich'` (also Date, Map, Set, BigInt and
   * registered classes) or a {@link SessionCodec}.
   * @default 'json'
   */
  codec?: 'json' | 'rich' | SessionCodec;
  /**
   * How the session ID travels: `'cookie'`, `'header'` (`X-Session-Id` in and out), a custom
   * {@link SessionIdTransport}, or several in order of preference (the first one that carries an ID
   * on a request is used; new sessions are written through the first).
   * @default 'cookie'
   * @example ['cookie', 'header']
   */
  transport?: SessionTransportOption | readonly SessionTransportOption[];
  /**
   * Name of the header used by the `'header'` transport.
   * @default 'X-Session-Id'
   */
  headerName?: string;
  /**
   * How to tell that a request arrived over HTTPS (for `cookie.secure: 'auto'`, `cookie.sameSite:
   * 'auto'` and `cookie.withholdOverHttp`). `false`: only a TLS socket counts. `true`: also an
   * `X-Forwarded-Proto: https` from a reverse proxy (its first value). `'express'`: Express's
   * `req.secure`, which follows the app's own `trust proxy` setting (express-session's `proxy`
   * left unset); requests of other platforms count only with a TLS socket.
   * @default false
   * @example 'express'
   */
  trustProxy?: boolean | 'express';
  /**
   * Called with every error the request hook meets: a store that fails, a session lost while the
   * request ran, a cookie that could no longer be set. For logging and metrics; the response is
   * handled by nest-sessions (503 for store failures). Never given the session ID.
   * @default logs a warning through Nest's Logger
   */
  onError?: (error: SessionError, context: SessionErrorContext) => void;
  /**
   * Longest wait for one store call. A call that takes longer fails the request with 503 instead of
   * hanging it; the app recovers by itself when the store answers again.
   * @default '5s'
   */
  storeTimeout?: Duration;
  /**
   * What a request does when the store cannot be read. `'fail'`: answer 503. `'anonymous'`: GET,
   * HEAD and OPTIONS requests go on with an empty, read-only session (`session.isDegraded`), so
   * public pages stay up; writing to it, and every other method, still answers 503. A cookie is
   * never cleared because the store was unreachable.
   * @default 'fail'
   */
  onStoreUnavailable?: 'fail' | 'anonymous';
  /**
   * Who a session belongs to, so all sessions of one user can be listed and destroyed ("log out
   * everywhere", `SessionManager.destroyByPrincipal`): the name of a session key (its value, as a
   * string, is the principal) or a function of the session.
   * @default undefined (sessions are not indexed)
   * @example 'userId'
   */
  principal?: string | ((session: import('./session.js').AnySession) => string | undefined);
  /**
   * Most sessions one key of `SessionIndex` lists (such as the sessions of one identity-provider
   * subject, which `AuthModule` links for back-channel logout), so scripted logins cannot grow an
   * index record without bound (stores that rewrite the whole record on each link slow down, and
   * memcached refuses records over 1 MB). A link that would exceed it drops the entries with the
   * earliest linked expiry (ties by session ID); the session being linked is always kept. A dropped
   * session is not destroyed: it just can no longer be found through that key, so
   * `SessionIndex.find` misses it and `SessionIndex.destroy` (a back-channel logout) leaves it alive
   * until its own expiry. Dropping the earliest expiries keeps the newest logins, the likeliest in
   * use, and gives up those closest to ending anyway; raise the limit when every session of a key
   * must stay reachable. Concurrent links can leave a record a few entries over it until the next
   * link. An entry takes about 50 bytes (with the default `idLength`).
   * @default 100
   */
  maxIndexEntries?: number;
  /**
   * How often a store built from a URL (`memory:`, `file:`) sweeps expired sessions, on an
   * `unref()`ed timer; `0` turns sweeping off. A store instance you construct yourself takes its own
   * `gcInterval` option instead. Stores whose backend expires keys itself need no sweeping.
   * @default the store's default (one minute for memory, five for files)
   */
  gcInterval?: Duration;
  /**
   * Accept session cookies in express-session's format (`s:<id>.<signature>`), so the users of an
   * app that moved from express-session stay logged in. A request that presents one is served the
   * session of that ID, and its cookie is re-issued once in this module's format. `true` checks
   * the signature with `secret`; `{ secrets }` with express-session's own secrets (any length, as
   * express-session accepted them). Name the cookie as express-session did (`cookie.name`,
   * express-session's default is `connect.sid`). Server-side stores only.
   * @default false
   * @example { secrets: ['keyboard cat'] }
   */
  legacyCookies?: boolean | { secrets: string | readonly string[] };
  /**
   * Where express-session kept its sessions (its connect store, through `fromConnectStore()`), for
   * users who present a legacy cookie (`legacyCookies`) whose session is not in `store` yet: the
   * record is read from here, written to `store` under the same ID and deleted from here, on the
   * user's first request after the switch. Needs `legacyCookies`.
   * @default undefined (legacy IDs are looked up in `store` only)
   * @example fromConnectStore(new RedisStore({ client: redis })) // connect-redis
   */
  legacyStore?: SessionStore;
  /**
   * Listeners of the session's lifecycle: `created` (first written to the store), `regenerated`
   * (new ID), `destroyed` (with its reason: `logout`, `regenerated`, `revoked`, `backchannel`,
   * `expired`, `idle`, `absolute`) and `principalSet`. Each gets the session's handle (never its ID),
   * its principal when known, and the request when there is one. Sync or async; not waited for; a
   * listener that throws is reported through `onError` and never fails the request. With
   * `@nestjs/event-emitter`'s `EventEmitterModule` in the app, the same events are emitted under
   * `session.created`, `session.regenerated`, `session.destroyed` and `session.principal-set` as
   * well (see `SESSION_EVENT_NAMES`). Server-side stores only: a `CookieStore` session emits nothing.
   * @default {}
   * @example { destroyed: ({ handle, reason }) => audit.log('session ended', handle, reason) }
   */
  events?: SessionEventListeners;
  /**
   * Keep, with each server-side session, the browser's user agent (its first 512 characters) and
   * the client's IP address as they were when the session was first written, for "your devices"
   * pages (`SessionDevices`).
   * Both are personal data: keep them only if you tell your users, and keep sessions no longer than
   * needed. The IP address is read as `trustProxy` says: the socket's address, the first address of
   * `X-Forwarded-For` with `trustProxy: true`, or Express's `req.ip` with `'express'`. Every session
   * keeps its creation and last-seen times either way (last seen moves with the touch, at most once
   * per `touchInterval`).
   * @default false
   * @example { userAgent: true, ip: false }
   */
  deviceInfo?: boolean | { userAgent?: boolean; ip?: boolean };
}

/** One entry of {@link SessionModuleOptions.transport}. */
export type SessionTransportOption = 'cookie' | 'header' | SessionIdTransport;
