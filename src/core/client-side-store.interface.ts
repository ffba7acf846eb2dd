import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CookieAttributes } from './cookie.util.js';
import type { SessionRecord } from './session-store.interface.js';

/** What the engine hands a client-side store: the module's secrets and cookie settings. */
export interface ClientSideStoreContext {
  secrets: readonly string[];
  cookieName: string;
  /** Attributes for a cookie on the response to `req` living until `expiresAt`, or clearing it (`null`). */
  attributes(req: IncomingMessage, expiresAt: number | null): CookieAttributes;
}

/**
 * A store that keeps the session in the browser instead of on a server.
 * @see CookieStore
 */
export interface ClientSideSessionStore {
  readonly clientSide: true;
  /** Receive the module's secrets and cookie settings; called once at bootstrap. */
  configure(context: ClientSideStoreContext): void;
  /** The session the request carries, with its ID, or `null` (absent, tampered, expired). */
  read(req: IncomingMessage, now: number): { id: string; record: SessionRecord } | null;
  /** Whether the request carried any cookie of this store (so a response must clear it). */
  presented(req: IncomingMessage): boolean;
  /** Seal a session into cookie values. @throws SessionError `SESSION_PAYLOAD_TOO_LARGE` */
  seal(id: string, record: SessionRecord): string[];
  /** Write sealed values (or `null` to clear) to the response, removing chunks the request had beyond them. */
  write(req: IncomingMessage, res: ServerResponse, sealed: string[] | null, expiresAt: number): void;
}

/** Whether `store` keeps sessions on the client (see {@link CookieStore}). */
export function isClientSideStore(store: unknown): store is ClientSideSessionStore {
  return typeof store === 'object' && store !== null && (store as { clientSide?: unknown }).clientSide === true;
}
