import type { IncomingMessage, ServerResponse } from 'node:http';
import { SessionError } from '../../core/errors/session.error.js';
import { SessionMessages } from '../../core/errors/session.messages.js';
import { appendSetCookie, readCookie, serializeCookie } from '../../core/cookie.util.js';
import { SealedBox } from '../../core/sealed-box.js';
import { isValidSessionId } from '../../core/session-id.js';
import type { ClientSideSessionStore, ClientSideStoreContext } from '../../core/client-side-store.interface.js';
import type { SessionRecord } from '../../core/session-store.interface.js';

/** Options of {@link CookieStore}. */
export interface CookieStoreOptions {
  /**
   * Largest sealed session, in bytes, summed over all its cookies. Beyond it the response fails
   * with `SESSION_PAYLOAD_TOO_LARGE` instead of sending cookies that proxies or browsers would
   * drop (nginx rejects request headers over 8 KiB by default).
   * @default 8192
   */
  maxSize?: number;
  /**
   * Largest value of one cookie, in bytes, before the session is split into `name`, `name.1`,
   * `name.2`… Browsers cap a whole cookie (name, value and attributes) at 4096 bytes.
   * @default 3800
   */
  chunkSize?: number;
}

/** Most chunks read from a request, whatever it sends. */
const MAX_CHUNKS = 20;

interface Payload {
  i: string;
  d: Record<string, string>;
  c: number;
  e: number;
  p?: string;
}

/**
 * Keeps the whole session in the cookie, encrypted and authenticated with AES-256-GCM under keys
 * derived (HKDF-SHA256) from the module's `secret`s: the first seals, all open, so secrets rotate
 * like signing secrets. A session larger than one cookie is split across `name`, `name.1`, …; the
 * total is capped by `maxSize`. An empty session sends no cookie at all. Idle and absolute
 * timeouts are sealed into the cookie and checked on every request.
 *
 * The trade-off: nothing is kept on the server, so a session **cannot be revoked server-side**.
 * `destroy()` clears the cookie in the browser it is called from, but a copy of the cookie taken
 * earlier stays valid until its idle or absolute deadline. There is no "log out everywhere".
 * Use a server-side store when revocation matters.
 *
 * @example
 * ```ts
 * SessionModule.forRoot({ secret, store: new CookieStore({ maxSize: 6000 }) }) // or store: 'cookie:'
 * ```
 */
export class CookieStore implements ClientSideSessionStore {
  readonly clientSide = true as const;
  protected readonly maxSize: number;
  protected readonly chunkSize: number;
  private box: SealedBox | undefined;
  private context: ClientSideStoreContext | undefined;

  constructor(options: CookieStoreOptions = {}) {
    this.maxSize = options.maxSize ?? 8192;
    this.chunkSize = options.chunkSize ?? 3800;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize < 256 || this.chunkSize > 4000) {
      throw invalid('chunkSize', 'must be a whole number from 256 to 4000 bytes', 'Leave it out for 3800.');
    }
    if (!Number.isInteger(this.maxSize) || this.maxSize < this.chunkSize || this.maxSize > this.chunkSize * MAX_CHUNKS) {
      throw invalid('maxSize', `must be a whole number from chunkSize to ${MAX_CHUNKS} × chunkSize`, 'Leave it out for 8192.');
    }
  }

  configure(context: ClientSideStoreContext): void {
    this.context = context;
    this.box = new SealedBox(context.secrets, 'nest-sessions/cookie-store');
  }

  presented(req: IncomingMessage): boolean {
    return readCookie(req.headers.cookie, this.name) !== undefined;
  }

  read(req: IncomingMessage, now: number): { id: string; record: SessionRecord } | null {
    const sealed = this.readChunks(req);
    if (sealed === undefined) return null;
    const payload = this.open(sealed);
    if (!payload || payload.e <= now || !isValidSessionId(payload.i)) return null;
    const record: SessionRecord = { data: payload.d, createdAt: payload.c, expiresAt: payload.e };
    if (payload.p !== undefined) record.principal = payload.p;
    return { id: payload.i, record };
  }

  seal(id: string, record: SessionRecord): string[] {
    const payload: Payload = { i: id, d: record.data, c: record.createdAt, e: record.expiresAt };
    if (record.principal !== undefined) payload.p = record.principal;
    const sealed = this.sealer.seal(JSON.stringify(payload), this.name);
    if (sealed.length > this.maxSize) {
      throw new SessionError('SESSION_PAYLOAD_TOO_LARGE', SessionMessages.payloadTooLarge(sealed.length, this.maxSize));
    }
    const chunks: string[] = [];
    for (let offset = 0; offset < sealed.length; offset += this.chunkSize) chunks.push(sealed.slice(offset, offset + this.chunkSize));
    return chunks;
  }

  write(req: IncomingMessage, res: ServerResponse, sealed: string[] | null, expiresAt: number): void {
    const context = this.context!;
    const values = sealed ?? [];
    const attributes = context.attributes(req, expiresAt);
    values.forEach((value, index) => appendSetCookie(res, serializeCookie(this.chunkName(index), value, attributes)));
    // Clear chunks the browser holds beyond the new count, so stale pieces never join a new session.
    const cleared = context.attributes(req, null);
    const held = this.heldChunks(req);
    for (let index = values.length; index < held; index++) {
      appendSetCookie(res, serializeCookie(this.chunkName(index), '', cleared));
    }
  }

  /** Name of chunk `index`: the cookie name itself, then `name.1`, `name.2`, … */
  protected chunkName(index: number): string {
    return index === 0 ? this.name : `${this.name}.${index}`;
  }

  private get name(): string {
    if (!this.context) throw new Error('CookieStore used before SessionModule configured it');
    return this.context.cookieName;
  }

  private get sealer(): SealedBox {
    if (!this.box) throw new Error('CookieStore used before SessionModule configured it');
    return this.box;
  }

  private heldChunks(req: IncomingMessage): number {
    let count = 0;
    while (count < MAX_CHUNKS && readCookie(req.headers.cookie, this.chunkName(count)) !== undefined) count++;
    return count;
  }

  private readChunks(req: IncomingMessage): string | undefined {
    const held = this.heldChunks(req);
    if (held === 0) return undefined;
    let sealed = '';
    for (let index = 0; index < held; index++) sealed += readCookie(req.headers.cookie, this.chunkName(index));
    return sealed.length <= this.maxSize ? sealed : undefined;
  }

  private open(sealed: string): Payload | null {
    const text = this.sealer.open(sealed, this.name);
    return text === undefined ? null : parsePayload(text);
  }
}

function parsePayload(text: string): Payload | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const payload = value as Partial<Payload> | null;
  if (typeof payload !== 'object' || payload === null) return null;
  if (typeof payload.i !== 'string' || typeof payload.c !== 'number' || typeof payload.e !== 'number') return null;
  if (typeof payload.d !== 'object' || payload.d === null || !Object.values(payload.d).every((v) => typeof v === 'string')) {
    return null;
  }
  if (payload.p !== undefined && typeof payload.p !== 'string') return null;
  return payload as Payload;
}

function invalid(option: string, rule: string, fix: string): SessionError {
  return new SessionError('SESSION_OPTIONS_INVALID', SessionMessages.invalidOption(option, rule, fix));
}
