import type { IncomingMessage, ServerResponse } from 'node:http';
import { appendSetCookie, readCookie, serializeCookie, type CookieAttributes } from '../core/cookie.util.js';
import { SealedBox } from '../core/sealed-box.js';
import type { PendingLogin } from './auth-session.js';

/** Largest sealed value; a cookie's name, value and attributes must stay under 4096 bytes. */
const MAX_SEALED = 3600;

/** A login in flight with the `state` it is found by. */
export interface PendingLoginEntry extends PendingLogin {
  state: string;
}

/** What the login-state cookie needs from the session module's settings. */
export interface LoginStateCookieSettings {
  /** The session cookie's name; this cookie is `<name>.login`. */
  sessionCookieName: string;
  secrets: readonly string[];
  /** The session cookie's attributes for a cookie living until `expiresAt`, or clearing it (`null`). */
  attributes(req: IncomingMessage, expiresAt: number | null): CookieAttributes;
  /** How long a login in flight may take (`loginTimeout`). */
  lifetime: number;
  /** Most logins kept in flight at once (tabs); older ones are dropped first. */
  maxPending: number;
}

/**
 * Logins in flight (PKCE verifier, `state`, `nonce`, `returnTo`) kept in a short-lived cookie of
 * their own, sealed with the session secrets, instead of in the session: starting a login then
 * writes nothing to the session store, so a flood of anonymous login starts cannot push
 * logged-in sessions out of a bounded store or fill a shared one. The cookie lives `loginTimeout`,
 * is `SameSite=Lax` at most (the provider's redirect back is a cross-site navigation), and holds at
 * most `maxPending` logins (several tabs).
 * @internal
 */
export class LoginStateCookie {
  private readonly box: SealedBox;
  readonly name: string;

  constructor(private readonly settings: LoginStateCookieSettings) {
    this.box = new SealedBox(settings.secrets, 'nest-sessions/login-state');
    this.name = `${settings.sessionCookieName}.login`;
  }

  /** The logins in flight the request carries that have not timed out, oldest first. */
  read(req: IncomingMessage, now: number): PendingLoginEntry[] {
    const sealed = readCookie(req.headers.cookie, this.name);
    if (sealed === undefined || sealed.length > MAX_SEALED * 2) return [];
    const text = this.box.open(sealed, this.name);
    if (text === undefined) return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return [];
    }
    if (!Array.isArray(parsed)) return [];
    return parsed.filter((entry): entry is PendingLoginEntry => isEntry(entry) && now - entry.startedAt <= this.settings.lifetime);
  }

  /**
   * Write `entries` (the newest last) to the response, dropping the oldest beyond `maxPending` or
   * beyond what one cookie can hold; an empty list clears the cookie.
   */
  write(req: IncomingMessage, res: ServerResponse, entries: PendingLoginEntry[]): void {
    let kept = entries.slice(-this.settings.maxPending);
    let sealed = kept.length === 0 ? '' : this.box.seal(JSON.stringify(kept), this.name);
    while (sealed.length > MAX_SEALED && kept.length > 1) {
      kept = kept.slice(1);
      sealed = this.box.seal(JSON.stringify(kept), this.name);
    }
    const newest = kept.at(-1);
    const attributes = this.settings.attributes(req, newest === undefined ? null : newest.startedAt + this.settings.lifetime);
    // The provider sends the browser back with a cross-site navigation, which Strict cookies miss.
    if (attributes.sameSite === 'strict') attributes.sameSite = 'lax';
    appendSetCookie(res, serializeCookie(this.name, sealed, attributes));
  }
}

function isEntry(value: unknown): value is PendingLoginEntry {
  if (typeof value !== 'object' || value === null) return false;
  const entry = value as Record<string, unknown>;
  return (
    typeof entry.state === 'string' &&
    typeof entry.provider === 'string' &&
    typeof entry.codeVerifier === 'string' &&
    typeof entry.nonce === 'string' &&
    typeof entry.returnTo === 'string' &&
    typeof entry.startedAt === 'number'
  );
}
