import { Injectable } from '@nestjs/common';
import { SessionError } from '../core/errors/session.error.js';
import type { AnySession } from '../session/session.js';
import { sidIndexKey, subIndexKey, type StoredLogin } from './auth-session.js';
import { AuthSessionReader } from './auth-session.reader.js';
import { AuthReporter } from './auth.reporter.js';
import { describe } from './oidc-clients.service.js';
import { SessionBridge } from './session.bridge.js';

/**
 * Keeps `SessionIndex` in step with the logins sessions hold: each login is linked under its
 * provider's `sub` and, when the provider gave one, `sid`, so a back-channel logout finds the
 * sessions to end. Over a store that cannot index (a client-side store) it does nothing.
 * @internal
 */
@Injectable()
export class LoginIndex {
  private following = false;

  constructor(
    private readonly bridge: SessionBridge,
    private readonly reader: AuthSessionReader,
    private readonly reporter: AuthReporter,
  ) {}

  /**
   * Move a session's entries whenever its ID changes ({@link LoginIndex.relink}). Registers once;
   * `AuthManager` calls it at start-up.
   * @throws AuthError `AUTH_OPTIONS_INVALID` when the app has no `SessionModule`
   */
  followIdChanges(): void {
    if (this.following) return;
    this.bridge.sessions.onIdChange((session, oldId, newId) => this.relink(session, oldId, newId));
    this.following = true;
  }

  /**
   * Index the session by the login's `sub` and `sid`, until the session's absolute deadline. A
   * session not saved yet (no ID) is not indexed.
   * @throws SessionError `SESSION_STORE_UNAVAILABLE` when the store fails: a login nobody could
   *   end by back-channel logout must not be reported as done
   */
  async link(session: AnySession, login: StoredLogin): Promise<void> {
    const id = session.id;
    if (id === undefined) return;
    const expiresAt = this.bridge.sessions.absoluteDeadline(session);
    try {
      await this.bridge.index.link(subIndexKey(login.provider, login.claims.sub), id, expiresAt);
      if (login.sid !== undefined) await this.bridge.index.link(sidIndexKey(login.provider, login.sid), id, expiresAt);
    } catch (error) {
      if (error instanceof SessionError && error.code === 'SESSION_NOT_SUPPORTED') return;
      throw error;
    }
  }

  /**
   * Remove the index entries of a login; `id` is the session's ID while it was logged in. Never
   * throws: an entry left behind names a session that no longer holds the login, which the index
   * prunes, so a failure is only logged.
   */
  async unlink(session: AnySession, login: StoredLogin, id: string | undefined = session.id): Promise<void> {
    try {
      if (id === undefined) return;
      await this.bridge.index.unlink(subIndexKey(login.provider, login.claims.sub), id);
      if (login.sid !== undefined) await this.bridge.index.unlink(sidIndexKey(login.provider, login.sid), id);
    } catch (error) {
      if (error instanceof SessionError && error.code === 'SESSION_NOT_SUPPORTED') return;
      this.reporter.warn(`Could not remove a logout from the session index: ${describe(error)}`);
    }
  }

  /**
   * Move the index entries of every login the session holds from `oldId` to `newId`: a session's ID
   * changes when the app regenerates it, or another provider logs in, and a back-channel logout
   * must still find it. A failed link fails the ID change (nothing is lost: the session keeps its
   * old ID); a failed unlink only leaves an entry naming a deleted ID, which the index prunes.
   * @throws SessionError `SESSION_STORE_UNAVAILABLE` when a new entry cannot be written
   */
  async relink(session: AnySession, oldId: string, newId: string): Promise<void> {
    const logins = this.reader.logins(session);
    if (logins.length === 0 || !this.bridge.index.supported) return;
    const expiresAt = this.bridge.sessions.absoluteDeadline(session);
    for (const login of logins) {
      await this.bridge.index.link(subIndexKey(login.provider, login.claims.sub), newId, expiresAt);
      if (login.sid !== undefined) await this.bridge.index.link(sidIndexKey(login.provider, login.sid), newId, expiresAt);
    }
    for (const login of logins) await this.unlink(session, login, oldId);
  }
}
