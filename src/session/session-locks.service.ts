import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { isClientSideStore } from '../core/client-side-store.interface.js';
import { isValidLockTtl, MAX_LOCK_TTL } from '../core/lock-arguments.js';
import type { SessionStore } from '../core/session-store.interface.js';
import { deriveStoreKey } from '../core/derived-store-key.js';
import { SessionError } from '../core/errors/session.error.js';
import { SessionMessages } from '../core/errors/session.messages.js';
import { SESSION_RESOLVED_OPTIONS } from './session.internal-constants.js';
import type { ResolvedSessionOptions } from './session-options.resolver.js';
import { StoreCalls } from './store-calls.js';

/** Namespace of lock keys, so no lock name can produce the key of an index or anything else. */
const LOCK_PURPOSE = 'nest-sessions:lock:';

/** A lock held through {@link SessionLocks.tryAcquire}. */
export interface SessionLock {
  /** The name the lock was acquired under. */
  readonly name: string;
  /**
   * Release the lock, if this holder still holds it (a lock that expired and was taken by someone
   * else is left alone). Idempotent: later calls share the first one's outcome, and one that
   * failed (`SESSION_STORE_UNAVAILABLE`) can be retried; a lock never released expires by itself.
   *
   * @example
   * ```ts
   * try { await work(); } finally { await lock.release(); }
   * ```
   */
  release(): Promise<void>;
  /**
   * Keep the lock `ttl` milliseconds from now, if this holder still holds it: resolves `false`
   * when it expired meanwhile (someone else may hold it now, and this holder no longer does).
   *
   * @throws SessionError `SESSION_OPTIONS_INVALID` for a bad `ttl`; `SESSION_STORE_UNAVAILABLE`
   *   when the store fails or does not answer within `storeTimeout`.
   * @example if (!(await lock.extend(60_000))) throw new Error('lost the lock');
   */
  extend(ttl: number): Promise<boolean>;
}

/**
 * Named locks kept in the session store, so that processes sharing the store exclude each other:
 * only one of them refreshes a token, sends a mail or runs a job at a time. A lock expires by
 * itself after its `ttl`, so a process that dies holding one blocks the others only that long.
 *
 * The store key of a lock is `base64url(HMAC-SHA256(secret, 'nest-sessions:lock:' + name))` (43
 * characters, with the first of the module's `secret`s), so names never reach the store and all
 * processes with the same first secret share the locks; the holder is a fresh random string per
 * acquisition. The work is `SessionStore.tryLock` and `unlock`: the memory, file, Redis, TypeORM,
 * memcached and MongoDB stores have them (the memory store's locks are those of one process).
 * Each store call runs within `storeTimeout`; a lock the store takes after that deadline passed
 * is released as soon as its late answer arrives.
 *
 * Provided and exported by `SessionModule`.
 *
 * @example
 * ```ts
 * constructor(private readonly locks: SessionLocks) {}
 *
 * async refresh(userId: string) {
 *   const lock = await this.locks.tryAcquire(`refresh:${userId}`, 30_000);
 *   if (!lock) return; // another process is on it
 *   try { await this.refreshTokens(userId); } finally { await lock.release(); }
 * }
 * ```
 */
@Injectable()
export class SessionLocks implements OnApplicationShutdown {
  private readonly calls: StoreCalls | undefined;

  constructor(@Inject(SESSION_RESOLVED_OPTIONS) private readonly options: ResolvedSessionOptions) {
    this.calls = isClientSideStore(options.store) ? undefined : new StoreCalls(options.store, options.storeTimeout);
  }

  /**
   * Whether the store has locks (`tryLock` and `unlock`); when it does not, {@link SessionLocks.tryAcquire}
   * throws `SESSION_NOT_SUPPORTED`. Always `false` for a client-side store such as `CookieStore`.
   *
   * @example if (!locks.supported) logger.warn('session store without locks: running unguarded');
   */
  get supported(): boolean {
    const store = this.options.store;
    return !isClientSideStore(store) && typeof store.tryLock === 'function' && typeof store.unlock === 'function';
  }

  /**
   * Take the lock `name` for `ttl` milliseconds, unless someone holds it: resolves the held lock,
   * or `null` when another holder (this process or another) has it. It never waits for the lock.
   *
   * @param name Any non-empty string; only its HMAC reaches the store.
   * @param ttl Milliseconds until the lock expires by itself, from 1 to 400 days' worth. Make it
   *   longer than the work it guards: once it has expired someone else can take it.
   * @throws SessionError `SESSION_NOT_SUPPORTED` when the store has no locks (see
   *   {@link SessionLocks.supported}) or is client-side; `SESSION_OPTIONS_INVALID` for an empty
   *   `name` or a bad `ttl`; `SESSION_STORE_UNAVAILABLE` when the store fails or does not answer
   *   within `storeTimeout`.
   * @example const lock = await locks.tryAcquire('nightly-report', 10 * 60_000);
   */
  async tryAcquire(name: string, ttl: number): Promise<SessionLock | null> {
    const store = this.lockingStore();
    if (typeof name !== 'string' || name === '') {
      throw invalidArgument('name', 'it must be a non-empty string', "Pass e.g. 'refresh:' + userId.");
    }
    if (!isValidLockTtl(ttl)) {
      throw invalidArgument('ttl', `it must be a number of milliseconds from 1 to ${MAX_LOCK_TTL}`, 'Pass e.g. 30_000.');
    }
    const calls = this.calls!;
    const key = deriveStoreKey(this.options.secrets[0], LOCK_PURPOSE, name);
    const owner = randomBytes(24).toString('base64url');
    const attempt = new Promise<boolean>((resolve) => resolve(store.tryLock!(key, owner, ttl)));
    let acquired: boolean;
    try {
      acquired = await calls.run('take a lock', () => attempt);
    } catch (error) {
      // The store may still take the lock after the deadline; nobody would ever release it.
      attempt.then((late) => (late ? store.unlock!(key, owner) : undefined)).catch(() => undefined);
      throw error;
    }
    if (!acquired) return null;
    return new HeldLock(
      name,
      () => calls.run('release a lock', () => store.unlock!(key, owner)),
      // A store's tryLock by the lock's own holder takes it again with the new ttl.
      (extendTo) => calls.run('extend a lock', () => store.tryLock!(key, owner, extendTo)),
    );
  }

  onApplicationShutdown(): void {
    this.calls?.close();
  }

  /** The store, when it has locks. */
  private lockingStore(): SessionStore {
    const store = this.options.store;
    if (isClientSideStore(store)) {
      throw new SessionError('SESSION_NOT_SUPPORTED', SessionMessages.clientSideStore('SessionLocks'));
    }
    if (!this.supported) {
      throw new SessionError('SESSION_NOT_SUPPORTED', SessionMessages.locksNotSupported(store.constructor.name));
    }
    return store;
  }
}

/** A {@link SessionLock} whose release runs once (again only after a failure). */
class HeldLock implements SessionLock {
  private releasing: Promise<void> | undefined;

  constructor(
    readonly name: string,
    private readonly unlock: () => Promise<void>,
    private readonly retake: (ttl: number) => Promise<boolean>,
  ) {}

  async extend(ttl: number): Promise<boolean> {
    if (!isValidLockTtl(ttl)) {
      throw invalidArgument('ttl', `it must be a number of milliseconds from 1 to ${MAX_LOCK_TTL}`, 'Pass e.g. 30_000.');
    }
    return this.retake(ttl);
  }

  release(): Promise<void> {
    this.releasing ??= this.unlock().catch((error: unknown) => {
      this.releasing = undefined;
      throw error;
    });
    return this.releasing;
  }
}

function invalidArgument(argument: string, rule: string, fix: string): SessionError {
  return new SessionError('SESSION_OPTIONS_INVALID', SessionMessages.invalidArgument('SessionLocks.tryAcquire', argument, rule, fix));
}
