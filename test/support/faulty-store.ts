import type { SessionPatch, SessionRecord, SessionStore } from '../../src/index.js';

/** The store operations a {@link FaultyStore} can fail or stall. */
export type FaultyOperation = 'get' | 'set' | 'patch' | 'touch' | 'destroy' | 'tryLock' | 'unlock';

/**
 * FAULT INJECTION, named as such: wraps a real store and makes chosen operations fail or stall,
 * to produce an outage at a precise moment of a request, which a real server cannot be made to do
 * deterministically. Everything not failed goes to the real store.
 */
export class FaultyStore implements SessionStore {
  failing = new Set<FaultyOperation>();
  /** Delay, in ms, added before every write. */
  writeDelay = 0;
  /** Operations that never answer, like a store behind a dropped network link. */
  stalling = new Set<FaultyOperation>();
  /** Operations that throw synchronously instead of returning a promise, like a store with a bug. */
  throwing = new Set<FaultyOperation>();

  constructor(readonly inner: SessionStore) {}

  protected async gate(method: FaultyOperation): Promise<void> {
    if (method !== 'get' && this.writeDelay > 0) await new Promise((resolve) => setTimeout(resolve, this.writeDelay));
    if (this.failing.has(method)) throw new Error(`injected ${method} failure (connection refused 10.0.0.1:6379)`);
    if (this.stalling.has(method)) await new Promise(() => undefined);
  }

  /** Throw now (not as a rejection) when `method` is in {@link FaultyStore.throwing}. */
  protected throwNow(method: FaultyOperation): void {
    if (this.throwing.has(method)) throw new TypeError(`injected synchronous ${method} throw`);
  }

  get(id: string): Promise<SessionRecord | null> {
    this.throwNow('get');
    return this.gate('get').then(() => this.inner.get(id));
  }

  set(id: string, record: SessionRecord): Promise<void> {
    this.throwNow('set');
    return this.gate('set').then(() => this.inner.set(id, record));
  }

  patch(id: string, patch: SessionPatch, expiresAt: number): Promise<boolean> {
    this.throwNow('patch');
    return this.gate('patch').then(() => this.inner.patch(id, patch, expiresAt));
  }

  touch(id: string, expiresAt: number): Promise<boolean> {
    this.throwNow('touch');
    return this.gate('touch').then(() => this.inner.touch(id, expiresAt));
  }

  async destroy(id: string): Promise<void> {
    await this.gate('destroy');
    return this.inner.destroy(id);
  }
}

/**
 * FAULT INJECTION, like {@link FaultyStore}, for a store with locks: `tryLock` and `unlock` go to
 * the inner store's (which must have them) unless they are made to fail or stall. A plain
 * `FaultyStore` has no locks.
 */
export class FaultyLockingStore extends FaultyStore {
  async tryLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    await this.gate('tryLock');
    return this.inner.tryLock!(key, owner, ttlMs);
  }

  async unlock(key: string, owner: string): Promise<void> {
    await this.gate('unlock');
    return this.inner.unlock!(key, owner);
  }
}
