import { Injectable } from '@nestjs/common';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { ClientSideSessionStore } from '../core/client-side-store.interface.js';
import type { SessionPatch, SessionRecord } from '../core/session-store.interface.js';
import { SessionError } from '../core/errors/session.error.js';
import { SessionMessages } from '../core/errors/session.messages.js';
import { generateSessionId } from '../core/session-id.js';
import { SessionManager, type LoadedSession, type SessionBinding } from './session.manager.js';
import { isEmptyPatch, sessionState, type AnySession } from './session.js';

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

  protected override readSession(req: IncomingMessage, now: number): LoadedSession {
    const found = this.clientStore.read(req, now);
    return { id: found?.id, record: found?.record ?? null, presented: this.clientStore.presented(req), transport: 0, degraded: false };
  }

  protected override persist(session: AnySession, binding: SessionBinding): void {
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
    const state = sessionState(session);
    state.id = newId;
    // A new ID means new cookies even when no value changed.
    state.touchRequested = true;
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
    const state = sessionState(session);
    let sealed = binding.sealed;
    if (sealed === undefined && state.presented && state.isNew && !session.hasData) sealed = null;
    if (sealed === undefined || (binding.failed && sealed !== null)) return;
    const before = res.getHeader('set-cookie');
    // The session's own lifetime ("remember me") counts too, as for a server-side session's cookie.
    this.clientStore.write(binding.req, res, sealed, this.cookieExpiry(session));
    this.mergeIntoWriteHead(headers, before, res);
  }

  /** Whether the session changed (given its `patch`), or must be re-sealed for a new ID or a due touch. */
  private needsSealing(session: AnySession, patch: SessionPatch = session.buildPatch()): boolean {
    const state = sessionState(session);
    if (state.isNew) return session.hasData;
    if (state.touchRequested || state.id !== state.loadedId) return true;
    if (this.nextExpiry(session) - state.expiresAt >= this.options.touchInterval) return true;
    return !isEmptyPatch(patch) || this.principalOf(session) !== state.principal;
  }

  /** Seal the session into `binding.sealed` (or mark its cookies for clearing when it became empty). */
  private seal(session: AnySession, binding: SessionBinding): void {
    const patch = session.buildPatch();
    if (!this.needsSealing(session, patch)) return;
    const state = sessionState(session);
    if (!session.hasData) {
      binding.sealed = null;
      state.loadedId = undefined;
      session.reset(Date.now());
      return;
    }
    const id = (state.id ??= generateSessionId(this.options.idLength));
    const expiresAt = this.nextExpiry(session);
    const data = session.encodeAll(patch);
    const principal = this.principalOf(session);
    binding.sealed = this.clientStore.seal(id, { data, createdAt: state.createdAt, expiresAt, ...this.principalField(principal) });
    session.markSaved(id, data, expiresAt, principal);
    state.loadedId = id;
  }
}
