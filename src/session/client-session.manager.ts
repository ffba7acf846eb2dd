import { Injectable } from '@nestjs/common';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { ClientSideSessionStore } from '../stores/cookie/cookie.store.js';
import type { SessionPatch, SessionRecord } from '../stores/session-store.interface.js';
import { SessionError } from './errors/session.error.js';
import { SessionMessages } from './errors/session.messages.js';
import { generateSessionId } from './session-id.js';
import { SessionManager, type LoadedSession, type SessionBinding } from './session.manager.js';
import { isEmptyPatch, type AnySession } from './session.js';

/**
 * The engine for client-side stores such as `CookieStore`: the whole session travels in the
 * response's cookies, so "saving" seals the session into cookie values just before the headers
 * go out, and there is nothing on a server to delete. `SessionModule` uses it instead of
 * {@link SessionManager} when the store is client-side.
 */
@Injectable()
export class ClientSessionManager extends SessionManager {
  private get clientStore(): ClientSideSessionStore {
    return this.options.store as unknown as ClientSideSessionStore;
  }

  protected override async readSession(req: IncomingMessage, now: number): Promise<LoadedSession> {
    const found = this.clientStore.read(req, now);
    return { id: found?.id, record: found?.record ?? null, presented: this.clientStore.presented(req), transport: 0, degraded: false };
  }

  protected override async persist(session: AnySession, binding: SessionBinding): Promise<void> {
    if (binding.res?.headersSent) {
      if (this.needsSealing(session)) {
        this.options.onError(new SessionError('SESSION_HEADERS_SENT', SessionMessages.headersSent('change a cookie session')), {
          req: binding.req,
          res: binding.res,
        });
      }
      return;
    }
    if (binding.res) this.seal(session, binding);
  }

  protected override async replaceId(session: AnySession, newId: string): Promise<void> {
    session._id = newId;
    // A new ID means new cookies even when no value changed.
    session._touchRequested = true;
  }

  protected override async removeRecord(): Promise<void> {
    // Nothing is kept on a server; the cleared cookies are the deletion.
  }

  protected override async rereadRecord(session: AnySession): Promise<SessionRecord | null> {
    return this.clientStore.read(this.bindingOf(session).req, Date.now())?.record ?? null;
  }

  protected override emitIdentity(session: AnySession, binding: SessionBinding, headers: OutgoingHttpHeaders | undefined): void {
    const res = binding.res!;
    // Headers going out before the end of the response (a stream): seal now, it is the last chance.
    if (binding.sealed === undefined && !binding.failed) this.seal(session, binding);
    let sealed = binding.sealed;
    if (sealed === undefined && session._presentedId && session._isNew && !session.hasData) sealed = null;
    if (sealed === undefined || (binding.failed && sealed !== null)) return;
    const before = res.getHeader('set-cookie');
    this.clientStore.write(binding.req, res, sealed, session._createdAt + this.options.absoluteTimeout);
    this.mergeIntoWriteHead(headers, before, res);
  }

  /** Whether the session changed (given its `patch`), or must be re-sealed for a new ID or a due touch. */
  private needsSealing(session: AnySession, patch: SessionPatch = session.buildPatch()): boolean {
    if (session._isNew) return session.hasData;
    if (session._touchRequested || session._id !== session._loadedId) return true;
    if (this.nextExpiry(session) - session._expiresAt >= this.options.touchInterval) return true;
    return !isEmptyPatch(patch) || this.principalOf(session) !== session._principal;
  }

  /** Seal the session into `binding.sealed` (or mark its cookies for clearing when it became empty). */
  private seal(session: AnySession, binding: SessionBinding): void {
    const patch = session.buildPatch();
    if (!this.needsSealing(session, patch)) return;
    if (!session.hasData) {
      binding.sealed = null;
      session._loadedId = undefined;
      session.reset(Date.now());
      return;
    }
    const id = (session._id ??= generateSessionId(this.options.idLength));
    const expiresAt = this.nextExpiry(session);
    const data = session.encodeAll(patch);
    const principal = this.principalOf(session);
    binding.sealed = this.clientStore.seal(id, { data, createdAt: session._createdAt, expiresAt, ...this.principalField(principal) });
    session.markSaved(id, data, expiresAt, principal);
    session._loadedId = id;
  }
}
