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

  constructor(readonly inner: SessionStore) {}

  protected async gate(method: FaultyOperation): Promise<void> {
    if (method !== 'get' && this.writeDelay > 0) await new Promise((resolve) => setTimeout(resolve, this.writeDelay));
    if (this.failing.has(method)) throw new Error(`injected ${method} failure (connection refused 10.0.0.1:6379)`);
    if (this.stalling.has(method)) await new Promise(() => undefined);
  }

  async get(id: string): Promise<SessionRecord | null> {
    await this.gate('get');
    return this.inner.get(id);
  }

  async set(id: string, record: SessionRecord): Promise<void> {
    await this.gate('set');
    return this.inner.set(id, record);
  }

  async patch(id: string, patch: SessionPatch, expiresAt: number): Promise<boolean> {
    await this.gate('patch');
    return this.inner.patch(id, patch, expiresAt);
  }

  async touch(id: string, expiresAt: number): Promise<boolean> {
    await this.gate('touch');
    return this.inner.touch(id, expiresAt);
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
