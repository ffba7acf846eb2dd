import { afterEach, describe, expect, it } from 'vitest';
import { SessionError } from '../../src/core/errors/session.error.js';
import { generateSessionId } from '../../src/core/session-id.js';
import { MemoryStore, type MemoryStoreOptions } from '../../src/stores/memory.store.js';
import type { SessionRecord } from '../../src/core/session-store.interface.js';
import { describeStoreConformance } from '../../src/store-kit/store-conformance.js';

describeStoreConformance('MemoryStore', () => new MemoryStore(), { supportsLocks: true });

/** Exposes the gc timer and counts gc runs. */
class InspectableMemoryStore extends MemoryStore {
  gcRuns = 0;

  get gcTimer(): NodeJS.Timeout | undefined {
    return this.timer;
  }

  override async gc(): Promise<number> {
    this.gcRuns++;
    return super.gc();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

describe('MemoryStore', () => {
  const stores: MemoryStore[] = [];
  const create = <T extends MemoryStore = MemoryStore>(
    options: MemoryStoreOptions = {},
    Store: new (options: MemoryStoreOptions) => T = MemoryStore as new (options: MemoryStoreOptions) => T,
  ): T => {
    const store = new Store({ gcInterval: 0, ...options });
    stores.push(store);
    return store;
  };
  const record = (expiresAt: number, data: Record<string, string> = { a: '1' }): SessionRecord => ({
    data,
    createdAt: 0,
    expiresAt,
  });

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  it('evicts the least recently used session when maxSessions is reached', async () => {
    const store = create({ maxSessions: 3 });
    const [a, b, c, d, e, f] = Array.from({ length: 6 }, () => generateSessionId());
    const far = Date.now() + 60_000;
    await store.set(a, record(far));
    await store.set(b, record(far));
    await store.set(c, record(far));

    // Reading a makes b the least recently used.
    expect(await store.get(a)).not.toBeNull();
    await store.set(d, record(far));
    expect(store.size).toBe(3);
    expect(await store.get(b)).toBeNull();

    // Order is now c, a, d; patching c and touching a leaves d the oldest.
    expect(await store.patch(c, { set: { x: '1' }, unset: [] }, far)).toBe(true);
    expect(await store.touch(a, far)).toBe(true);
    await store.set(e, record(far));
    expect(await store.get(d)).toBeNull();

    // Order is now c, a, e; replacing c with set refreshes it too, leaving a the oldest.
    await store.set(c, record(far, { y: '2' }));
    await store.set(f, record(far));
    expect(await store.get(a)).toBeNull();
    expect((await store.get(c))?.data).toEqual({ y: '2' });
    expect(await store.get(e)).not.toBeNull();
    expect(await store.get(f)).not.toBeNull();
    expect(store.size).toBe(3);
  });

  it('keeps exact least-recently-used order through any mix of operations (checked against a model)', async () => {
    // A seeded pseudo-random walk, so a failure replays the same way.
    let seed = 0x2f6e2b1;
    const random = (n: number): number => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return seed % n;
    };
    let now = 1_000_000;
    const max = 5;
    const store = create({ maxSessions: max, now: () => now });
    const ids = Array.from({ length: 12 }, () => generateSessionId());
    // The model: live IDs, least recently used first, and each one's expiry.
    let order: string[] = [];
    const expiry = new Map<string, number>();
    const use = (id: string): void => {
      order = [...order.filter((other) => other !== id), id];
    };
    const drop = (id: string): void => {
      order = order.filter((other) => other !== id);
    };
    /** What an access finds: a live ID is used, an expired one is dropped (the store deletes it on access). */
    const access = (id: string): boolean => {
      if (!order.includes(id)) return false;
      if (expiry.get(id)! <= now) {
        drop(id);
        return false;
      }
      use(id);
      return true;
    };

    for (let step = 0; step < 2_000; step++) {
      const id = ids[random(ids.length)];
      const op = random(8);
      if (op === 0 || op === 1) {
        const expiresAt = now + 1 + random(50);
        await store.set(id, record(expiresAt, { step: String(step) }));
        expiry.set(id, expiresAt);
        use(id);
        if (order.length > max) order.shift();
      } else if (op === 2) {
        const live = access(id);
        expect((await store.get(id)) !== null, `get at step ${step}`).toBe(live);
      } else if (op === 3) {
        const live = access(id);
        expect(await store.patch(id, { set: { p: String(step) }, unset: [] }, expiry.get(id) ?? now + 10), `patch at step ${step}`).toBe(
          live,
        );
      } else if (op === 4) {
        const live = access(id);
        expect(await store.touch(id, expiry.get(id) ?? now + 10), `touch at step ${step}`).toBe(live);
      } else if (op === 5) {
        await store.destroy(id);
        drop(id);
      } else if (op === 6) {
        now += random(10);
      } else {
        const expired = order.filter((other) => expiry.get(other)! <= now);
        expect(await store.gc(), `gc at step ${step}`).toBe(expired.length);
        for (const other of expired) drop(other);
      }
      expect(store.size, `size at step ${step}`).toBe(order.length);
    }
    // Every live ID is still there, and filling the store evicts them oldest first.
    now -= 1_000_000; // nothing expires from here on
    const survivors = [...order];
    expect(survivors.length).toBeGreaterThan(0);
    for (let free = max - survivors.length; free > 0; free--) await store.set(generateSessionId(), record(Number.MAX_SAFE_INTEGER));
    for (let index = 0; index < survivors.length; index++) {
      await store.set(generateSessionId(), record(Number.MAX_SAFE_INTEGER));
      expect(store.size).toBe(max);
      expect(await store.get(survivors[index]), `survivor ${index} evicted in turn`).toBeNull();
    }
  });

  it('destroyByPrincipal() skips a session deleted while it was listing, and counts only what it destroyed', async () => {
    const store = create();
    const [first, second] = [generateSessionId(), generateSessionId()];
    const far = Date.now() + 60_000;
    await store.set(first, { ...record(far), principal: 'user-1' });
    await store.set(second, { ...record(far), principal: 'user-1' });
    // destroy() runs while destroyByPrincipal() waits for its own listing.
    const [destroyed] = await Promise.all([store.destroyByPrincipal('user-1'), store.destroy(first)]);
    expect(destroyed).toBe(1);
    expect(store.size).toBe(0);
  });

  it('treats a record as expired once expiresAt <= now, using the injected clock', async () => {
    let now = 1_000_000;
    const store = create({ now: () => now });
    const id = generateSessionId();
    await store.set(id, record(now + 10));

    now += 9;
    expect(await store.get(id)).not.toBeNull();
    now += 1;
    expect(await store.get(id)).toBeNull();
    // The expired entry was deleted on read.
    expect(store.size).toBe(0);
  });

  it('gc deletes and counts expired records by the injected clock', async () => {
    let now = 1_000_000;
    const store = create({ now: () => now });
    const live = generateSessionId();
    await store.set(generateSessionId(), record(now + 5));
    await store.set(generateSessionId(), record(now + 10));
    await store.set(live, record(now + 11));

    now += 10;
    expect(store.size).toBe(3);
    expect(await store.gc()).toBe(2);
    expect(store.size).toBe(1);
    expect(await store.get(live)).not.toBeNull();
  });

  it('runs gc on an unref()ed timer that close() stops', async () => {
    const store = create({ gcInterval: 10 }, InspectableMemoryStore);
    expect(store.gcTimer).toBeDefined();
    expect(store.gcTimer!.hasRef()).toBe(false);

    await sleep(80);
    expect(store.gcRuns).toBeGreaterThan(0);

    await store.close();
    const runs = store.gcRuns;
    await sleep(80);
    expect(store.gcRuns).toBe(runs);
    expect(store.gcTimer).toBeUndefined();
  });

  it('starts no timer when gcInterval is 0', async () => {
    const store = create({ gcInterval: 0 }, InspectableMemoryStore);
    expect(store.gcTimer).toBeUndefined();
    await sleep(30);
    expect(store.gcRuns).toBe(0);
  });

  it('close() drops every record', async () => {
    const store = create();
    const id = generateSessionId();
    await store.set(id, record(Date.now() + 60_000));
    await store.close();
    expect(store.size).toBe(0);
    expect(await store.get(id)).toBeNull();
  });

  it.each([
    ['maxSessions', { maxSessions: 0 }],
    ['maxSessions', { maxSessions: 1.5 }],
    ['maxSessions', { maxSessions: Number.NaN }],
    ['gcInterval', { gcInterval: -1 }],
    ['gcInterval', { gcInterval: Number.POSITIVE_INFINITY }],
  ])('rejects an invalid %s option', (option, options) => {
    let error: unknown;
    try {
      create(options);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SessionError);
    expect((error as SessionError).code).toBe('SESSION_OPTIONS_INVALID');
    expect((error as SessionError).message).toContain(`\`${option}\``);
  });
});
