import { Logger } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import {
  appendSetCookie,
  cookiePathMatches,
  readCookie,
  requestPath,
  serializeCookie,
  type CookieAttributes,
} from '../../core/cookie.util.js';
import { SessionError } from '../../core/errors/session.error.js';
import { SessionMessages } from '../../core/errors/session.messages.js';
import type {
  SessionCookieAttributes,
  SessionCookieOptions,
  SessionIdTransport,
  SessionIdWriteContext,
  SessionOwnCookie,
} from '../session-options.interface.js';

/** The options of {@link SessionCookieOptions} that may be left unset after defaults were applied. */
type OptionalCookieOption = 'domain' | 'priority' | 'matchPath' | 'withholdOverHttp' | 'perRequest';

/**
 * Cookie attributes after defaults were applied.
 * @example
 * ```ts
 * const cookie: ResolvedCookieOptions = {
 *   name: 'sid', path: '/', httpOnly: true, secure: true, sameSite: 'lax', partitioned: false, persistent: true,
 * };
 * ```
 */
export type ResolvedCookieOptions = Required<Omit<SessionCookieOptions, OptionalCookieOption>> &
  Pick<SessionCookieOptions, OptionalCookieOption>;

/** The attribute keys {@link SessionCookieOptions.perRequest} may set. */
const PER_REQUEST_KEYS = ['path', 'domain', 'httpOnly', 'secure', 'sameSite', 'partitioned', 'priority', 'persistent'] as const;

const logger = new Logger('SessionModule');

/**
 * The default transport: the signed ID in a cookie. Clearing writes the same name, path and
 * domain the cookie was set with, so the browser really drops it.
 *
 * @example
 * ```ts
 * const transport = new CookieTransport({ name: 'sid', path: '/', httpOnly: true, secure: true, sameSite: 'lax', partitioned: false, persistent: true }, false);
 * ```
 */
export class CookieTransport implements SessionIdTransport {
  /** A withheld `Secure` cookie was logged already (see `withholdOverHttp`). */
  private warnedWithheld = false;

  /**
   * @param cookie the resolved cookie options.
   * @param trustProxy how a request is found to have arrived over HTTPS (see `SessionModuleOptions.trustProxy`).
   */
  constructor(
    protected readonly cookie: ResolvedCookieOptions,
    protected readonly trustProxy: boolean | 'express',
  ) {}

  /**
   * The cookie's value from the `Cookie` header, else from `req.cookies` (cookie-parser's result,
   * for apps whose middleware rewrote the header after parsing it, as express-session reads it).
   * Either way the value is only a candidate: the engine checks its signature.
   */
  read(req: IncomingMessage): string | undefined {
    return readCookie(req.headers.cookie, this.cookie.name) ?? parsedEarlier(req, this.cookie.name);
  }

  write({ req, res, value, expiresAt, cookie }: SessionIdWriteContext): void {
    const attributes = this.attributes(req, value === null ? null : expiresAt);
    if (cookie !== undefined) applyOwnCookie(attributes, cookie, value === null ? null : expiresAt);
    if (this.cookie.withholdOverHttp === true && attributes.secure && !this.isSecureRequest(req)) {
      this.withheld();
      return;
    }
    appendSetCookie(res, serializeCookie(this.cookie.name, value ?? '', attributes));
  }

  /**
   * Whether the cookie's path covers the path `req` arrived with (Express's `originalUrl`, else
   * `url`), as browsers match cookie paths: `/app` covers `/app` and `/app/x`, not `/application`.
   * Used by `cookie.matchPath`.
   * @throws SessionError `SESSION_OPTIONS_INVALID` when `cookie.perRequest` gives invalid attributes.
   */
  covers(req: IncomingMessage): boolean {
    const path = this.cookie.perRequest === undefined ? this.cookie.path : this.cookieFor(req).path;
    if (path === '/') return true;
    return cookiePathMatches(requestPath((req as { originalUrl?: string }).originalUrl ?? req.url), path);
  }

  /**
   * Attributes of a cookie set on the response to `req` that lives until `expiresAt`, or of one
   * that clears the cookie (`null`). Shared with `CookieStore`, which writes its own cookies.
   * @throws SessionError `SESSION_OPTIONS_INVALID` when `cookie.perRequest` gives invalid attributes.
   */
  attributes(req: IncomingMessage, expiresAt: number | null): CookieAttributes {
    const cookie = this.cookie.perRequest === undefined ? this.cookie : this.cookieFor(req);
    const { path, domain, httpOnly, partitioned, priority, persistent } = cookie;
    const secure = cookie.secure === 'auto' ? this.isSecureRequest(req) : cookie.secure;
    let sameSite = cookie.sameSite;
    // express-session's 'auto': cross-site on HTTPS, the browser's own default otherwise.
    if (sameSite === 'auto') sameSite = (cookie.secure === 'auto' ? secure : this.isSecureRequest(req)) ? 'none' : 'lax';
    const attributes: CookieAttributes = { path, domain, httpOnly, secure, sameSite, partitioned, priority };
    keepBrowserRules(attributes);
    if (expiresAt === null) return { ...attributes, expires: 0, maxAge: 0 };
    return persistent ? { ...attributes, expires: expiresAt, maxAge: (expiresAt - Date.now()) / 1000 } : attributes;
  }

  /** Whether the request reached us over HTTPS; override for unusual proxy set-ups. */
  protected isSecureRequest(req: IncomingMessage): boolean {
    if ((req.socket as TLSSocket | undefined)?.encrypted) return true;
    // Express's req.secure follows the app's `trust proxy` setting.
    if (this.trustProxy === 'express') return (req as { secure?: unknown }).secure === true;
    if (!this.trustProxy) return false;
    const proto = req.headers['x-forwarded-proto'];
    const first = (Array.isArray(proto) ? proto[0] : proto)?.split(',')[0]?.trim().toLowerCase();
    return first === 'https';
  }

  /** The cookie options for `req`: what `cookie.perRequest` gives over the module's, checked. */
  private cookieFor(req: IncomingMessage): ResolvedCookieOptions {
    const given: unknown = this.cookie.perRequest!(req);
    if (given === null || typeof given !== 'object') {
      throw invalidCookie('cookie.perRequest(req)', 'must return an object of cookie attributes', 'Return e.g. { path: "/" }.');
    }
    const cookie: ResolvedCookieOptions = { ...this.cookie };
    for (const key of PER_REQUEST_KEYS) {
      const value = (given as SessionCookieAttributes)[key];
      if (value !== undefined && value !== null) (cookie as unknown as Record<string, unknown>)[key] = value;
    }
    checkCookieAttributes(cookie, 'cookie.perRequest(req)');
    return cookie;
  }

  private withheld(): void {
    if (this.warnedWithheld) return;
    this.warnedWithheld = true;
    logger.warn(
      'nest-sessions: a Secure session cookie was not set on a request that arrived over plain HTTP (cookie.withholdOverHttp). ' +
        "Behind a reverse proxy that terminates TLS, set trustProxy (express-session's `proxy`) or Express's `trust proxy`. Logged once.",
    );
  }
}

function invalidCookie(option: string, rule: string, fix: string): SessionError {
  return new SessionError('SESSION_OPTIONS_INVALID', SessionMessages.invalidOption(option, rule, fix));
}

/**
 * Check the attributes of `cookie` (all but the form of its name) as browsers need them; `scope`
 * names where they came from (`cookie`, or `cookie.perRequest(req)` for attributes of one request).
 * @throws SessionError `SESSION_OPTIONS_INVALID` naming the attribute, the rule and the fix.
 * @example checkCookieAttributes({ ...resolved.cookie, sameSite: 'none', secure: false }, 'cookie'); // throws
 * @internal
 */
export function checkCookieAttributes(cookie: ResolvedCookieOptions, scope: string): void {
  if (typeof cookie.path !== 'string' || !cookie.path.startsWith('/') || /[;\s]/.test(cookie.path)) {
    throw invalidCookie(`${scope}.path`, 'must start with "/" and contain no ";" or spaces', "Use e.g. '/'.");
  }
  if (cookie.domain !== undefined && (typeof cookie.domain !== 'string' || !/^\.?[A-Za-z0-9.-]+$/.test(cookie.domain))) {
    throw invalidCookie(
      `${scope}.domain`,
      `"${String(cookie.domain)}" is not a domain`,
      'Give a host name such as "example.com", or leave it out.',
    );
  }
  if (![true, false, 'auto'].includes(cookie.secure)) {
    throw invalidCookie(`${scope}.secure`, "must be true, false or 'auto'", 'Leave it out for the secure default.');
  }
  if (![false, 'lax', 'strict', 'none', 'auto'].includes(cookie.sameSite)) {
    throw invalidCookie(`${scope}.sameSite`, "must be 'lax', 'strict', 'none', 'auto' or false", "Leave it out for 'lax'.");
  }
  if (/^__host-/i.test(cookie.name) && (cookie.secure !== true || cookie.path !== '/' || cookie.domain)) {
    throw invalidCookie(
      scope === 'cookie' ? 'cookie.name' : `${scope}.path`,
      'a "__Host-" cookie needs secure: true, path: "/" and no domain, or browsers refuse it',
      'Set cookie.secure to true and drop cookie.domain and cookie.path.',
    );
  }
  if (/^__secure-/i.test(cookie.name) && cookie.secure !== true) {
    throw invalidCookie(
      scope === 'cookie' ? 'cookie.name' : `${scope}.secure`,
      'a "__Secure-" cookie needs secure: true',
      'Set cookie.secure to true.',
    );
  }
  if (cookie.sameSite === 'none' && cookie.secure === false) {
    throw invalidCookie(`${scope}.sameSite`, "'none' needs a secure cookie, or browsers refuse it", "Set cookie.secure to true or 'auto'.");
  }
  if (cookie.sameSite === 'auto' && cookie.secure === false) {
    throw invalidCookie(
      `${scope}.sameSite`,
      "'auto' is 'none' on HTTPS requests, which needs a secure cookie, or browsers refuse it",
      "Set cookie.secure to true or 'auto'.",
    );
  }
  if (cookie.partitioned && cookie.secure === false) {
    throw invalidCookie(`${scope}.partitioned`, 'needs a secure cookie', "Set cookie.secure to true or 'auto'.");
  }
}

/** The attributes a session may set for its own cookie (see `SessionOwnCookie`). */
const OWN_ATTRIBUTES = ['secure', 'httpOnly', 'sameSite', 'domain', 'path', 'partitioned', 'priority'] as const;

/**
 * Lay a session's own cookie settings over the module's `attributes` (of a cookie that lives until
 * `expiresAt`, or clears it: `null`), keeping the rules browsers enforce (see {@link keepBrowserRules}).
 */
function applyOwnCookie(attributes: CookieAttributes, own: SessionOwnCookie, expiresAt: number | null): void {
  for (const key of OWN_ATTRIBUTES) if (own[key] !== undefined) (attributes as Record<string, unknown>)[key] = own[key];
  if (expiresAt !== null && own.persistent !== undefined) {
    attributes.expires = own.persistent ? expiresAt : undefined;
    attributes.maxAge = own.persistent ? (expiresAt - Date.now()) / 1000 : undefined;
  }
  keepBrowserRules(attributes);
}

/**
 * Browsers refuse SameSite=None and Partitioned without Secure: such a cookie falls back to the
 * browser's default instead of vanishing (secure: 'auto' over plain HTTP in local development).
 */
function keepBrowserRules(attributes: CookieAttributes): void {
  if (attributes.sameSite === 'none' && !attributes.secure) attributes.sameSite = false;
  if (!attributes.secure) attributes.partitioned = false;
}

/** The value of `name` in `req.cookies`, where cookie-parser leaves what it parsed. */
function parsedEarlier(req: IncomingMessage, name: string): string | undefined {
  const parsed = (req as { cookies?: unknown }).cookies;
  if (typeof parsed !== 'object' || parsed === null || !Object.hasOwn(parsed, name)) return undefined;
  const value = (parsed as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}
