import type { MaybePromise } from '../../src/core/maybe-promise.js';
import type { SessionPatch, SessionRecord, SessionStore } from '../../src/index.js';

type Method = 'get' | 'set' | 'patch' | 'touch' | 'destroy';

/**
 * Instrumentation, not a fake: forwards every call to a real store and records which methods
 * were called, so tests can assert how many store round trips a request cost.
 */
export class CountingStore implements SessionStore {
  calls: Method[] = [];

  constructor(readonly inner: SessionStore) {}

  count(method: Method): number {
    return this.calls.filter((call) => call === method).length;
  }

  reset(): void {
    this.calls = [];
  }

  get(id: string): MaybePromise<SessionRecord | null> {
    this.calls.push('get');
    return this.inner.get(id);
  }

  set(id: string, record: SessionRecord): MaybePromise<void> {
    this.calls.push('set');
    return this.inner.set(id, record);
  }

  patch(id: string, patch: SessionPatch, expiresAt: number): MaybePromise<boolean> {
    this.calls.push('patch');
    return this.inner.patch(id, patch, expiresAt);
  }

  touch(id: string, expiresAt: number): MaybePromise<boolean> {
    this.calls.push('touch');
    return this.inner.touch(id, expiresAt);
  }

  destroy(id: string): MaybePromise<void> {
    this.calls.push('destroy');
    return this.inner.destroy(id);
  }
}
