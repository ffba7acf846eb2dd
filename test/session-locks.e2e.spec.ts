import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CookieStore,
  MemoryStore,
  SessionError,
  SessionLocks,
  SessionModule,
  type SessionLock,
  type SessionModuleOptions,
  type SessionStore,
} from '../src/index.js';
import { resolveSessionOptions } from '../src/session/session-options.resolver.js';
import { FaultyLockingStore, FaultyStore } from './support/faulty-store.js';
import { SHARED_STORE_BACKENDS, type OpenBackend } from './support/shared-store-backends.js';
import { ADAPTERS, SECRET, startApp, testModule } from './support/test-app.js';

/** SessionLocks of one "process": its own resolved options around its own store instance. */
async function locksFor(store: SessionStore, options: Partial<SessionModuleOptions> = {}): Promise<SessionLocks> {
  return new SessionLocks(await resolveSessionOptions({ secret: SECRET, store, ...options }));
}

/** The store key the README documents for the lock `name`. */
const lockKeyOf = (name: string): string =>
  createHmac('sha256', SECRET).update(`nest-sessions:lock:${name}`).digest('base64url').slice(0, 43);

let names = 0;
/** A lock name no other test uses. */
const nameOf = (label: string): string => `${label}:${process.pid}:${Date.now()}:${++names}`;

/** The rejection of `promise`, which must reject with a SessionError. */
async function rejectionOf(promise: Promise<unknown>): Promise<SessionError> {
  const error: unknown = await promise.then(
    () => expect.unreachable('expected a rejection'),
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(SessionError);
  return error as SessionError;
}

const waitPast = async (time: number): Promise<void> => {
  while (Date.now() <= time + 20) await new Promise((done) => setTimeout(done, 25));
};

for (const backend of SHARED_STORE_BACKENDS) {
  describe(`SessionLocks on ${backend.name}, from two processes`, () => {
    let opened: OpenBackend;
    let first: SessionLocks;
    let second: SessionLocks;

    beforeAll(async () => {
      opened = await backend.open();
      first = await locksFor(opened.store);
      second = await locksFor(await opened.peer());
    });

    afterAll(async () => {
      first?.onApplicationShutdown();
      second?.onApplicationShutdown();
      await opened?.cleanup();
    });

    it('lets one process hold a named lock at a time, until it releases it', async () => {
      const name = nameOf('refresh');
      expect(first.supported && second.supported).toBe(true);
      const held = await first.tryAcquire(name, 60_000);
      expect(held?.name).toBe(name);
      expect(await second.tryAcquire(name, 60_000)).toBeNull();
      expect(await first.tryAcquire(name, 60_000)).toBeNull();
      const other = await second.tryAcquire(nameOf('other'), 60_000);
      expect(other).not.toBeNull();

      await held!.release();
      await held!.release();
      const next = await second.tryAcquire(name, 60_000);
      expect(next).not.toBeNull();
      expect(await first.tryAcquire(name, 60_000)).toBeNull();
      await Promise.all([next!.release(), other!.release()]);
    });

    it('admits exactly one of 20 concurrent acquirers spread over both processes', async () => {
      const name = nameOf('job');
      const attempts = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? first : second).tryAcquire(name, 60_000));
      const held = (await Promise.all(attempts)).filter((lock): lock is SessionLock => lock !== null);
      expect(held).toHaveLength(1);
      await held[0].release();
      expect(await second.tryAcquire(name, 60_000)).not.toBeNull();
    });

    it('frees a lock whose ttl passed without a release, and a late release leaves the new holder alone', async () => {
      const name = nameOf('crashed');
      const expiresAt = Date.now() + 300;
      const abandoned = await first.tryAcquire(name, 300);
      expect(abandoned).not.toBeNull();
      await waitPast(expiresAt);
      const taken = await second.tryAcquire(name, 60_000);
      expect(taken).not.toBeNull();
      await abandoned!.release();
      expect(await first.tryAcquire(name, 60_000)).toBeNull();
      await taken!.release();
    });

    it('keys the lock by the HMAC of its name, never by the name itself', async () => {
      const name = nameOf('secret-name');
      const held = await first.tryAcquire(name, 60_000);
      // The documented key is taken: the store refuses it to anyone else.
      expect(await opened.store.tryLock!(lockKeyOf(name), 'someone-else', 60_000)).toBe(false);
      await held!.release();
      expect(await opened.store.tryLock!(lockKeyOf(name), 'someone-else', 60_000)).toBe(true);
      await opened.store.unlock!(lockKeyOf(name), 'someone-else');
    });
  });
}

// Only these tests start a Nest app, so only they run on each platform; the others drive
// SessionLocks directly on its resolved options (no HTTP platform involved).
describe.each(ADAPTERS)('SessionLocks in a Nest app on %s', (adapter) => {
  it('is provided and exported by SessionModule', async () => {
    const running = await startApp(testModule(SessionModule.forRoot({ secret: SECRET, store: 'memory:' })), { adapter });
    try {
      const locks = running.app.get(SessionLocks);
      expect(locks.supported).toBe(true);
      const held = await locks.tryAcquire(nameOf('app'), 10_000);
      expect(held).not.toBeNull();
      await held!.release();
    } finally {
      await running.close();
    }
  });

  it('throws SESSION_NOT_SUPPORTED for a client-side store, naming the fix', async () => {
    const running = await startApp(testModule(SessionModule.forRoot({ secret: SECRET, store: new CookieStore() })), { adapter });
    try {
      const locks = running.app.get(SessionLocks);
      expect(locks.supported).toBe(false);
      const error = await rejectionOf(locks.tryAcquire(nameOf('cookie'), 10_000));
      expect(error.code).toBe('SESSION_NOT_SUPPORTED');
      expect(error.message).toContain('server-side store');
      expect(error.message).toContain('`store`');
    } finally {
      await running.close();
    }
  });
});

describe('SessionLocks without locks in the store', () => {
  it('throws SESSION_NOT_SUPPORTED for a server-side store without tryLock and unlock', async () => {
    const locks = await locksFor(new FaultyStore(new MemoryStore({ gcInterval: 0 })));
    expect(locks.supported).toBe(false);
    const error = await rejectionOf(locks.tryAcquire(nameOf('plain'), 10_000));
    expect(error.code).toBe('SESSION_NOT_SUPPORTED');
    expect(error.message).toContain('FaultyStore store has no tryLock() and unlock()');
    expect(error.message).toContain('SessionLocks.supported');
  });

  it('refuses an empty name and a ttl that is not a positive number of milliseconds', async () => {
    const locks = await locksFor(new MemoryStore({ gcInterval: 0 }));
    expect((await rejectionOf(locks.tryAcquire('', 1000))).message).toContain('`name`');
    for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '30s' as unknown as number]) {
      const error = await rejectionOf(locks.tryAcquire(nameOf('ttl'), ttl));
      expect(error.code).toBe('SESSION_OPTIONS_INVALID');
      expect(error.message).toContain('`ttl`');
    }
  });
});

describe('SessionLocks when the store fails', () => {
  let store: FaultyLockingStore;
  let locks: SessionLocks;

  beforeAll(async () => {
    store = new FaultyLockingStore(new MemoryStore({ gcInterval: 0 }));
    locks = await locksFor(store, { storeTimeout: 300 });
  });

  afterAll(() => locks.onApplicationShutdown());

  it('rejects with SESSION_STORE_UNAVAILABLE within storeTimeout when the store stalls or fails', async () => {
    const name = nameOf('outage');
    store.stalling.add('tryLock');
    const stalled = await rejectionOf(locks.tryAcquire(name, 60_000));
    expect(stalled.code).toBe('SESSION_STORE_UNAVAILABLE');
    expect(stalled.statusCode).toBe(503);
    expect((stalled.cause as Error).message).toBe('no answer from the store within 300 ms');
    store.stalling.clear();

    store.failing.add('tryLock');
    const failed = await rejectionOf(locks.tryAcquire(name, 60_000));
    expect(failed.code).toBe('SESSION_STORE_UNAVAILABLE');
    expect((failed.cause as Error).message).toContain('injected tryLock failure');
    store.failing.clear();

    const held = await locks.tryAcquire(name, 60_000);
    expect(held).not.toBeNull();
    store.failing.add('unlock');
    expect((await rejectionOf(held!.release())).code).toBe('SESSION_STORE_UNAVAILABLE');
    store.failing.clear();
    // A failed release can be retried.
    await held!.release();
    expect(await locks.tryAcquire(name, 60_000)).not.toBeNull();
  });

  it('releases a lock the store took only after the deadline had passed', async () => {
    const name = nameOf('late');
    const started = Date.now();
    store.writeDelay = 600;
    expect((await rejectionOf(locks.tryAcquire(name, 60_000))).code).toBe('SESSION_STORE_UNAVAILABLE');
    store.writeDelay = 0;
    // The store takes the lock 600 ms after the call (a timer due before this one), for a minute.
    await new Promise((done) => setTimeout(done, started + 800 - Date.now()));
    expect(await store.inner.tryLock!(lockKeyOf(name), 'probe', 60_000)).toBe(true);
  });
});
