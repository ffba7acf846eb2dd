import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { appendSetCookie, readCookie, serializeCookie, type CookieAttributes } from '../../core/cookie.util.js';
import type { SessionCookieOptions, SessionIdTransport, SessionIdWriteContext } from '../session-options.interface.js';

/** Cookie attributes after defaults were applied. */
export type ResolvedCookieOptions = Required<Omit<SessionCookieOptions, 'domain' | 'priority'>> &
  Pick<SessionCookieOptions, 'domain' | 'priority'>;

/**
 * The default transport: the signed ID in a cookie. Clearing writes the same name, path and
 * domain the cookie was set with, so the browser really drops it.
 */
export class CookieTransport implements SessionIdTransport {
  constructor(
    protected readonly cookie: ResolvedCookieOptions,
    protected readonly trustProxy: boolean,
  ) {}

  read(req: IncomingMessage): string | undefined {
    return readCookie(req.headers.cookie, this.cookie.name);
  }

  write({ req, res, value, expiresAt }: SessionIdWriteContext): void {
    const attributes = this.attributes(req, value === null ? null : expiresAt);
    appendSetCookie(res, serializeCookie(this.cookie.name, value ?? '', attributes));
  }

  /**
   * Attributes of a cookie set on the response to `req` that lives until `expiresAt`, or of one
   * that clears the cookie (`null`). Shared with `CookieStore`, which writes its own cookies.
   */
  attributes(req: IncomingMessage, expiresAt: number | null): CookieAttributes {
    const { path, domain, httpOnly, sameSite, partitioned, priority, persistent } = this.cookie;
    const secure = this.cookie.secure === 'auto' ? this.isSecureRequest(req) : this.cookie.secure;
    // Browsers refuse SameSite=None and Partitioned without Secure; with secure: 'auto' over plain
    // HTTP (local development) the cookie falls back to the browser's default instead of vanishing.
    const attributes: CookieAttributes = {
      path,
      domain,
      httpOnly,
      secure,
      sameSite: sameSite === 'none' && !secure ? false : sameSite,
      partitioned: partitioned && secure,
      priority,
    };
    if (expiresAt === null) return { ...attributes, expires: 0, maxAge: 0 };
    return persistent ? { ...attributes, expires: expiresAt, maxAge: (expiresAt - Date.now()) / 1000 } : attributes;
  }

  /** Whether the request reached us over HTTPS; override for unusual proxy set-ups. */
  protected isSecureRequest(req: IncomingMessage): boolean {
    if ((req.socket as TLSSocket | undefined)?.encrypted) return true;
    if (!this.trustProxy) return false;
    const proto = req.headers['x-forwarded-proto'];
    const first = (Array.isArray(proto) ? proto[0] : proto)?.split(',')[0]?.trim().toLowerCase();
    return first === 'https';
  }
}
