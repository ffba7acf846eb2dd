import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { isClientSideStore } from '../core/client-side-store.interface.js';
import type { PrincipalSession, SessionPatch, SessionRecord, SessionStore } from '../core/session-store.interface.js';
import { deriveStoreKey } from '../core/derived-store-key.js';
import { SessionError } from '../core/errors/session.error.js';
import { SessionMessages } from '../core/errors/session.messages.js';
import { SESSION_RESOLVED_OPTIONS } from './session.internal-constants.js';
import { isValidSessionId } from '../core/session-id.js';
import type { ResolvedSessionOptions } from './session-options.resolver.js';
import { StoreCalls } from './store-calls.js';
import type { SessionDestroyReason } from './session-events.js';

/** Who hears of the sessions an index destroys (the engine, for its `destroyed` events). @internal */
export interface IndexDestroyReporter {
  /** Whether anything listens; when not, nothing extra is read to report. */
  readonly active: boolean;
  destroyed(ids: readonly string[], principal: string | undefined, reason: SessionDestroyReason): void;
}

/** Namespace of index record IDs, so no index key can produce the key of a lock or anything else. */
const INDEX_PURPOSE = 'nest-sessions:index:';
/** Keys of this namespace list the sessions of one `principal`; the engine keeps them (see {@link SessionIndex}). */
export const PRINCIPAL_KEY_PREFIX = 'principal:';
/** Longest random pause, in ms, while another caller creates the index record a link waits for. */
const MAX_CREATE_PAUSE = 20;

/**
 * A lookup from arbitrary strings to sessions, such as an identity provider's session ID or
 * subject (`oidc:main:sid:abc`, `oidc:main:sub:alice`) to the sessions they logged in, for
 * back-channel logout or "log out everywhere" without a `principal`. It works in every
 * server-side store, memcached included, with no schema change: each key's index is an ordinary
 * session record in the same store.
 *
 * - **Layout.** The record's ID is `base64url(HMAC-SHA256(secret, 'nest-sessions:index:' + key))`
 *   (43 characters, a valid session-ID shape; unguessable, and the key unreadable, without the
 *   secret). Its `data` maps each linked session ID to that session's expiry (epoch ms, as a
 *   string). It lives until `absoluteTimeout` (plus `storeTimeout`) after its last change, longer
 *   than any session it lists can, and then expires by itself. A store that evicts records early
 *   (`MemoryStore` beyond `maxSessions`, memcached out of memory) can evict an index like a session.
 * - **Bounded.** Each link removes the entries whose expiry has passed and keeps at most
 *   `maxIndexEntries` (module option, default 100) by dropping the earliest expiries, so repeated
 *   logins cannot grow a record forever. A dropped session is not destroyed, only no longer found
 *   through the key (see {@link SessionIndex.link}).
 * - **Never a user's session.** A request can only present a session ID signed with the module's
 *   secret, and index IDs are never signed (nor derivable from a signature), so no request ever
 *   loads an index record as its session. Index records have no principal, so
 *   `findByPrincipal` never lists them.
 * - **Secrets.** Links are written under the first secret; `find`, `unlink` and `destroy` read the
 *   indexes of every secret, so rotating secrets loses no link.
 * - **Store calls** run within `storeTimeout`; failures reject with `SESSION_STORE_UNAVAILABLE`.
 * - **Principals are keys too.** With the module's `principal` option, the sessions of a principal
 *   are the key `principal:<principal>` (`SessionManager.findByPrincipal` and `destroyByPrincipal`
 *   read it). A store with a principal index of its own (memory, file, Redis, SQL, MongoDB) answers
 *   that key from the record's `principal` field; on any other server-side store (memcached, a
 *   connect store) the engine links and unlinks the key here as principals and IDs change. Those
 *   keys are the engine's: `link` and `unlink` refuse them.
 *
 * Provided and exported by `SessionModule`.
 *
 * @example
 * ```ts
 * constructor(private readonly index: SessionIndex) {}
 *
 * // at login
 * await this.index.link(`oidc:main:sid:${claims.sid}`, session.id!, session.createdAt + absoluteTimeout);
 * // on a back-channel logout for that sid
 * await this.index.destroy(`oidc:main:sid:${sid}`);
 * ```
 */
@Injectable()
export class SessionIndex implements OnApplicationShutdown {
  private readonly calls: StoreCalls | undefined;
  private reporter: IndexDestroyReporter | undefined;

  constructor(@Inject(SESSION_RESOLVED_OPTIONS) private readonly options: ResolvedSessionOptions) {
    this.calls = isClientSideStore(options.store) ? undefined : new StoreCalls(options.store, options.storeTimeout);
  }

  /**
   * Whether the store can keep indexes: every server-side store can; a client-side store such as
   * `CookieStore` cannot, and every method then throws `SESSION_NOT_SUPPORTED`.
   *
   * @example if (index.supported) await index.link(key, id, expiresAt);
   */
  get supported(): boolean {
    return !isClientSideStore(this.options.store);
  }

  /**
   * Add session `sessionId`, which expires at `expiresAt`, to the index of `key`. Linking again
   * moves the entry's expiry. Pass the latest time the session can live (its absolute deadline,
   * `createdAt + absoluteTimeout`), or link again whenever its expiry moves: {@link SessionIndex.find}
   * counts an entry as dead once its expiry has passed. Expiries beyond `absoluteTimeout` from now
   * are cut to it, since no session lives longer.
   *
   * Each link keeps the record bounded: it reads the record, then one `patch` sets the entry and
   * removes the other entries whose expiry has passed and, when more than the module's
   * `maxIndexEntries` would remain, those with the earliest expiry (ties by session ID). The entry
   * being linked is always kept. A removed entry's session is not destroyed: it can no longer be
   * found by {@link SessionIndex.find} or logged out by {@link SessionIndex.destroy} of this key,
   * and ends at its own expiry. For back-channel logout that is the trade-off of the limit: past it,
   * the sessions nearest their end escape a logout by `key`, while the newest logins, the likeliest
   * in use, stay reachable.
   *
   * The patch sets only this entry and removes only the entries it names, so concurrent links of
   * different sessions all survive; the limit is then approximate, a record holding up to one entry
   * more per concurrent link until a later link trims it. Re-linking a session whose entry another
   * call is removing at that moment (as expired or over the limit, here or in `find`) can lose the
   * entry. When there is no record yet, it is created with `set`; two first links at the same
   * instant would replace each other's record, so with a store that has locks the record is created
   * under a lock on the index ID (a concurrent first link waits for it, then patches), and with a
   * store without locks the record is read back after `set` and a missing entry patched in again.
   * That leaves, for stores without locks only, a window: a `set` landing after another linker's
   * read-back still drops that linker's entry.
   *
   * @throws SessionError `SESSION_INVALID_ID` for a malformed `sessionId`; `SESSION_OPTIONS_INVALID`
   *   for an empty `key` or a non-finite `expiresAt`; `SESSION_NOT_SUPPORTED` for a client-side
   *   store; `SESSION_STORE_UNAVAILABLE` when the store fails or does not answer in time.
   * @example await index.link('oidc:main:sub:alice', session.id!, Date.now() + 86_400_000);
   */
  async link(key: string, sessionId: string, expiresAt: number): Promise<void> {
    checkKey('link', key, true);
    return this.linkKey(key, sessionId, expiresAt);
  }

  private async linkKey(key: string, sessionId: string, expiresAt: number): Promise<void> {
    const store = this.serverStore();
    if (!isValidSessionId(sessionId)) throw new SessionError('SESSION_INVALID_ID', SessionMessages.invalidId());
    if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) {
      throw invalidArgument(
        'link',
        'expiresAt',
        'it must be a time in epoch milliseconds',
        'Pass e.g. session.createdAt + absoluteTimeout.',
      );
    }
    const expiry = Math.min(expiresAt, Date.now() + this.options.absoluteTimeout);
    const id = this.indexIds(key)[0];
    const record = await this.read(store, id);
    const patch: SessionPatch = { set: { [sessionId]: String(expiry) }, unset: record ? this.dropped(record, sessionId) : [] };
    if (record && (await this.patch(store, id, patch))) return;
    if (typeof store.tryLock === 'function' && typeof store.unlock === 'function') await this.createLocked(store, id, patch);
    else await this.createUnlocked(store, id, sessionId, patch);
  }

  /**
   * Remove session `sessionId` from the index of `key`. Unlinking a session that is not linked, or
   * a malformed session ID, does nothing.
   *
   * @throws SessionError `SESSION_OPTIONS_INVALID` for an empty `key`; `SESSION_NOT_SUPPORTED` for
   *   a client-side store; `SESSION_STORE_UNAVAILABLE` when the store fails or does not answer in time.
   * @example await index.unlink('oidc:main:sub:alice', session.id!);
   */
  async unlink(key: string, sessionId: string): Promise<void> {
    checkKey('unlink', key, true);
    return this.unlinkKey(key, sessionId);
  }

  private async unlinkKey(key: string, sessionId: string): Promise<void> {
    const store = this.serverStore();
    if (!isValidSessionId(sessionId)) return;
    await Promise.all(this.indexIds(key).map((id) => this.patch(store, id, { set: {}, unset: [sessionId] })));
  }

  /**
   * The IDs of the sessions linked to `key` whose linked expiry has not passed (`[]` when none).
   * A session destroyed by other means stays listed until then; reading its ID from the store
   * gives `null`. Entries found expired are removed from the index on the way.
   *
   * @throws SessionError `SESSION_OPTIONS_INVALID` for an empty `key`; `SESSION_NOT_SUPPORTED` for
   *   a client-side store; `SESSION_STORE_UNAVAILABLE` when the store fails or does not answer in time.
   * @example const ids = await index.find('oidc:main:sub:alice');
   */
  async find(key: string): Promise<string[]> {
    checkKey('find', key);
    if (key.startsWith(PRINCIPAL_KEY_PREFIX)) {
      return (await this.sessionsOf(key.slice(PRINCIPAL_KEY_PREFIX.length))).map((session) => session.id);
    }
    return this.findKey(key);
  }

  private async findKey(key: string): Promise<string[]> {
    const store = this.serverStore();
    const now = Date.now();
    const live = new Set<string>();
    await Promise.all(
      this.indexIds(key).map(async (id) => {
        const record = await this.read(store, id);
        if (!record) return;
        const expired: string[] = [];
        for (const [sessionId, expiry] of linkedSessions(record)) {
          if (expiry > now) live.add(sessionId);
          else expired.push(sessionId);
        }
        if (expired.length > 0) await this.prune(store, id, expired);
      }),
    );
    return [...live];
  }

  /**
   * Destroy every session linked to `key` (`store.destroy` of each), then the index itself;
   * resolves how many of them were live (their linked expiry had not passed). When a session
   * cannot be destroyed the index is kept, so calling again retries. A link made while `destroy`
   * runs, between its read of the index and its deletion, is lost with the index (the session it
   * names is not destroyed). The live ones are reported as `destroyed` session events with `reason`
   * (`revoked` unless given; the auth module's back-channel logout gives `backchannel`).
   *
   * @throws SessionError `SESSION_OPTIONS_INVALID` for an empty `key`; `SESSION_NOT_SUPPORTED` for
   *   a client-side store; `SESSION_STORE_UNAVAILABLE` when the store fails or does not answer in time.
   * @example const loggedOut = await index.destroy(`oidc:main:sid:${sid}`);
   */
  async destroy(key: string, reason: SessionDestroyReason = 'revoked'): Promise<number> {
    checkKey('destroy', key);
    if (key.startsWith(PRINCIPAL_KEY_PREFIX)) return this.destroySessionsOf(key.slice(PRINCIPAL_KEY_PREFIX.length), reason);
    const store = this.serverStore();
    const calls = this.calls!;
    const now = Date.now();
    const live = new Set<string>();
    await Promise.all(
      this.indexIds(key).map(async (id) => {
        const record = await this.read(store, id);
        if (!record) return;
        const linked = linkedSessions(record);
        await Promise.all(linked.map(([sessionId]) => calls.run('destroy a session', () => store.destroy(sessionId))));
        for (const [sessionId, expiry] of linked) if (expiry > now) live.add(sessionId);
        await calls.run('destroy a session index', () => store.destroy(id));
      }),
    );
    if (live.size > 0) this.reporter?.destroyed([...live], undefined, reason);
    return live.size;
  }

  /** Tell `reporter` of every session this index destroys from now on. @internal */
  reportDestroyed(reporter: IndexDestroyReporter): void {
    this.reporter = reporter;
  }

  /**
   * Whether the store answers principal keys itself (it implements `findByPrincipal` and
   * `destroyByPrincipal` from the `principal` field of its records), so the engine links nothing.
   */
  get storeIndexesPrincipals(): boolean {
    const store = this.options.store;
    return !isClientSideStore(store) && typeof store.findByPrincipal === 'function' && typeof store.destroyByPrincipal === 'function';
  }

  /**
   * The live sessions of `principal`: from the store's own principal index, or else from the
   * index record of `principal:<principal>`, each entry checked against the session's record
   * (a session destroyed, expired or handed to another principal since it was linked is left
   * out, and its entry removed).
   */
  async sessionsOf(principal: string): Promise<PrincipalSession[]> {
    const store = this.serverStore();
    const calls = this.calls!;
    if (this.storeIndexesPrincipals) return calls.run('list sessions', () => store.findByPrincipal!(principal));
    const key = PRINCIPAL_KEY_PREFIX + principal;
    const ids = await this.findKey(key);
    const now = Date.now();
    const sessions: PrincipalSession[] = [];
    const stale: string[] = [];
    await Promise.all(
      ids.map(async (id) => {
        const record = await calls.run('list sessions', () => store.get(id));
        if (record && record.principal === principal && record.expiresAt > now) {
          sessions.push({ id, createdAt: record.createdAt, expiresAt: record.expiresAt });
        } else stale.push(id);
      }),
    );
    if (stale.length > 0) {
      await Promise.all(this.indexIds(key).map((id) => this.prune(store, id, stale)));
    }
    return sessions.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
  }

  /**
   * Destroy every session of `principal` (see {@link SessionIndex.sessionsOf}); resolves how many.
   * `reason` is what the `destroyed` events say (`revoked` unless given).
   */
  async destroySessionsOf(principal: string, reason: SessionDestroyReason = 'revoked'): Promise<number> {
    const store = this.serverStore();
    const calls = this.calls!;
    const reporter = this.reporter?.active ? this.reporter : undefined;
    if (this.storeIndexesPrincipals) {
      // The store deletes by principal without naming the sessions; listeners need their handles.
      const listed = reporter === undefined ? [] : await this.sessionsOf(principal);
      const count = await calls.run('destroy sessions', () => store.destroyByPrincipal!(principal));
      if (listed.length > 0)
        reporter!.destroyed(
          listed.map(({ id }) => id),
          principal,
          reason,
        );
      return count;
    }
    const sessions = await this.sessionsOf(principal);
    await Promise.all(sessions.map(({ id }) => calls.run('destroy sessions', () => store.destroy(id))));
    await Promise.all(sessions.map(({ id }) => this.unlinkKey(PRINCIPAL_KEY_PREFIX + principal, id)));
    if (sessions.length > 0)
      reporter?.destroyed(
        sessions.map(({ id }) => id),
        principal,
        reason,
      );
    return sessions.length;
  }

  /**
   * Link session `sessionId` under `principal` (the engine, before it writes a record naming that
   * principal). Nothing to do when the store indexes principals itself.
   * @internal
   */
  async linkPrincipal(principal: string, sessionId: string, expiresAt: number): Promise<void> {
    if (!this.storeIndexesPrincipals) await this.linkKey(PRINCIPAL_KEY_PREFIX + principal, sessionId, expiresAt);
  }

  /** Unlink session `sessionId` from `principal` (the engine, after the record stopped naming it). @internal */
  async unlinkPrincipal(principal: string, sessionId: string): Promise<void> {
    if (!this.storeIndexesPrincipals) await this.unlinkKey(PRINCIPAL_KEY_PREFIX + principal, sessionId);
  }

  onApplicationShutdown(): void {
    this.calls?.close();
  }

  /** The store, when it is server-side. */
  private serverStore(): SessionStore {
    const store = this.options.store;
    if (isClientSideStore(store)) throw new SessionError('SESSION_NOT_SUPPORTED', SessionMessages.clientSideStore('SessionIndex'));
    return store;
  }

  /** The index record IDs of `key`, one per secret (the first secret's first, the one links write). */
  private indexIds(key: string): string[] {
    return [...new Set(this.options.secrets.map((secret) => deriveStoreKey(secret, INDEX_PURPOSE, key)))];
  }

  /**
   * Until when an index record must live: past every session it can list (none outlives
   * `absoluteTimeout` from now), plus `storeTimeout` so that of two changes landing out of order
   * the later-landing one never cuts the other's entry short.
   */
  private recordExpiry(): number {
    return Date.now() + this.options.absoluteTimeout + this.options.storeTimeout;
  }

  private read(store: SessionStore, id: string): Promise<SessionRecord | null> {
    return this.calls!.run('read a session index', () => store.get(id));
  }

  /** Merge `patch` into index record `id`; `false` when there is no such record. */
  private patch(store: SessionStore, id: string, patch: SessionPatch): Promise<boolean> {
    return this.calls!.run('update a session index', () => store.patch(id, patch, this.recordExpiry()));
  }

  private create(store: SessionStore, id: string, patch: SessionPatch): Promise<void> {
    const record: SessionRecord = { data: { ...patch.set }, createdAt: Date.now(), expiresAt: this.recordExpiry() };
    return this.calls!.run('create a session index', () => store.set(id, record));
  }

  /**
   * Create index record `id` holding `patch`'s entry, under a lock on the index ID (locks never
   * clash with a record of the same key), so that of several first links only one creates it and
   * the others patch it. Waits while another caller holds the lock, for as long as that lock
   * can live.
   */
  private async createLocked(store: SessionStore, id: string, patch: SessionPatch): Promise<void> {
    const calls = this.calls!;
    const owner = randomBytes(24).toString('base64url');
    // The holder makes at most two store calls, each within storeTimeout.
    const lockTtl = 3 * this.options.storeTimeout;
    const giveUpAt = Date.now() + lockTtl + this.options.storeTimeout;
    for (;;) {
      if (await calls.run('lock a session index', () => store.tryLock!(id, owner, lockTtl))) {
        try {
          // Created by the previous holder of the lock, meanwhile?
          if (!(await this.patch(store, id, patch))) await this.create(store, id, patch);
        } finally {
          await calls
            .run('unlock a session index', () => store.unlock!(id, owner))
            .catch((error: unknown) => {
              // The lock expires by itself; waiting linkers then go on.
              this.options.onError(error as SessionError, {});
            });
        }
        return;
      }
      await new Promise((done) => setTimeout(done, 1 + Math.random() * MAX_CREATE_PAUSE));
      if (await this.patch(store, id, patch)) return;
      if (Date.now() > giveUpAt) {
        throw new SessionError('SESSION_STORE_UNAVAILABLE', SessionMessages.storeUnavailable('create a session index'), {
          cause: new Error(`another caller kept the index locked for more than ${lockTtl} ms without creating it`),
        });
      }
    }
  }

  /**
   * Create index record `id` with `set` (the store has no locks), then read it back and patch
   * `sessionId`'s entry in again when a concurrent first link's `set` replaced the record.
   */
  private async createUnlocked(store: SessionStore, id: string, sessionId: string, patch: SessionPatch): Promise<void> {
    await this.create(store, id, patch);
    const record = await this.read(store, id);
    if (record && Object.hasOwn(record.data, sessionId)) return;
    if (!(await this.patch(store, id, patch))) await this.create(store, id, patch);
  }

  /**
   * The entries of `record` a link of `sessionId` removes: every other one whose expiry has passed,
   * then, while more than `maxIndexEntries` would remain, the earliest expiries (ties by session ID).
   */
  private dropped(record: SessionRecord, sessionId: string): string[] {
    const now = Date.now();
    const dropped: string[] = [];
    const live: [string, number][] = [];
    for (const entry of linkedSessions(record)) {
      if (entry[0] === sessionId) continue;
      if (entry[1] > now) live.push(entry);
      else dropped.push(entry[0]);
    }
    const excess = live.length + 1 - this.options.maxIndexEntries;
    if (excess > 0) {
      live.sort(([idA, expiryA], [idB, expiryB]) => expiryA - expiryB || (idA < idB ? -1 : 1));
      for (const [id] of live.slice(0, excess)) dropped.push(id);
    }
    return dropped;
  }

  /** Remove expired entries; best effort (reported through `onError`), a later `find` tries again. */
  private async prune(store: SessionStore, id: string, expired: string[]): Promise<void> {
    await this.patch(store, id, { set: {}, unset: expired }).catch((error: unknown) => {
      this.options.onError(error as SessionError, {});
    });
  }
}

/** The well-formed entries of an index record: session ID and linked expiry (epoch ms). */
function linkedSessions(record: SessionRecord): [string, number][] {
  return Object.entries(record.data)
    .filter(([sessionId]) => isValidSessionId(sessionId))
    .map(([sessionId, expiry]) => [sessionId, Number(expiry)]);
}

function checkKey(method: string, key: unknown, writing = false): void {
  if (typeof key !== 'string' || key === '') {
    throw invalidArgument(method, 'key', 'it must be a non-empty string', "Pass e.g. 'oidc:main:sid:' + sid.");
  }
  if (writing && key.startsWith(PRINCIPAL_KEY_PREFIX)) {
    throw invalidArgument(
      method,
      'key',
      `keys starting with '${PRINCIPAL_KEY_PREFIX}' are kept by the engine from the \`principal\` option`,
      'Set the session key the `principal` option names, or use a key of your own namespace.',
    );
  }
}

function invalidArgument(method: string, argument: string, rule: string, fix: string): SessionError {
  return new SessionError('SESSION_OPTIONS_INVALID', SessionMessages.invalidArgument(`SessionIndex.${method}`, argument, rule, fix));
}
