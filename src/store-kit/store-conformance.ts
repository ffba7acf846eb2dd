import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SessionError } from '../core/errors/session.error.js';
import { generateSessionId } from '../core/session-id.js';
import type { SessionRecord, SessionStore } from '../core/session-store.interface.js';

/** Options of {@link describeStoreConformance}. */
export interface StoreConformanceOptions {
  /**
   * Releases the store after each test.
   * @default (store) => store.close?.()
   * @example { teardown: async (store) => { await redis.flushdb(); await store.close?.(); } }
   */
  teardown?: (store: SessionStore) => Promise<void> | void;
  /**
   * Whether to run the `gc()` test. Turn it off for stores whose backend expires keys by itself
   * and that leave `gc` out. The test expects `setup` to return a store holding no records, since it
   * checks the exact count `gc()` resolves.
   * @default true
   * @example { supportsGc: false } // Redis, memcached
   */
  supportsGc?: boolean;
  /**
   * The coarsest step, in milliseconds, in which the backend stores expiry times (memcached: 1000).
   * Short-lived test records live `max(300, 3 × ttlGranularityMs)` ms, so they are certainly still
   * alive when first read, and the tests wait that long for them to expire. However coarse the
   * backend, `get` must never serve a record once its `expiresAt` has passed.
   * @default 1
   * @example { ttlGranularityMs: 1000 }
   */
  ttlGranularityMs?: number;
  /**
   * Whether the store lists and destroys sessions by principal (`findByPrincipal`,
   * `destroyByPrincipal`). A store that says so must pass the principal tests.
   * @default true
   * @example { supportsPrincipal: false } // memcached
   */
  supportsPrincipal?: boolean;
  /**
   * Whether the store has locks (`tryLock`, `unlock`). A store that says so must pass the lock
   * tests: exclusion, re-taking, expiry, owner-only release, one winner among concurrent takers,
   * and locks kept apart from session records.
   * @default true
   * @example { supportsLocks: false } // a custom store without locks
   */
  supportsLocks?: boolean;
}

/**
 * Registers the behaviour every {@link SessionStore} must show, as a vitest `describe` block named
 * `name`. `setup` runs before each test and gives a fresh store; the options' `teardown` runs after
 * it. Tests use real time and fresh IDs from `generateSessionId()`.
 *
 * @example
 * ```ts
 * // test/stores/redis-store.spec.ts
 * describeStoreConformance('RedisStore', () => new RedisStore({ client }), { supportsGc: false });
 * ```
 */
export function describeStoreConformance(
  name: string,
  setup: () => Promise<SessionStore> | SessionStore,
  options: StoreConformanceOptions = {},
): void {
  const teardown = options.teardown ?? ((store: SessionStore) => store.close?.());
  const granularity = Math.max(1, options.ttlGranularityMs ?? 1);
  const shortTtl = Math.max(300, 3 * granularity);
  const longTtl = 10 * 60_000;

  /** A record created a while ago that expires `ttl` ms from now. */
  const record = (data: Record<string, string>, ttl = longTtl): SessionRecord => {
    const now = Date.now();
    return { data, createdAt: now - 12_345, expiresAt: now + ttl };
  };

  /** Waits until `expiresAt` is certainly in the past. */
  const waitPast = async (expiresAt: number): Promise<void> => {
    while (Date.now() <= expiresAt + 20) {
      await new Promise((done) => setTimeout(done, Math.max(5, expiresAt + 25 - Date.now())));
    }
  };

  const sortedEntries = (data: Record<string, string>): [string, string][] =>
    Object.entries(data).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

  /** An object with own properties for every key, including keys such as `__proto__`. */
  const dataOf = (entries: [string, string][]): Record<string, string> => {
    const data: Record<string, string> = {};
    for (const [key, value] of entries) {
      Object.defineProperty(data, key, { value, enumerable: true, writable: true, configurable: true });
    }
    return data;
  };

  describe(`${name} (SessionStore conformance)`, () => {
    let store: SessionStore;

    beforeEach(async () => {
      store = await setup();
    });

    afterEach(async () => {
      await teardown(store);
    });

    it('round-trips a record and gives null for an unknown ID', async () => {
      const id = generateSessionId();
      const rec = record({ user: '"42"', roles: '["admin"]' });
      await store.set(id, rec);

      expect(await store.get(id)).toEqual(rec);
      expect(await store.get(generateSessionId())).toBeNull();
    });

    it('set replaces the whole record', async () => {
      const id = generateSessionId();
      await store.set(id, record({ a: '1', b: '2' }));
      const replacement = record({ c: '3' });
      await store.set(id, replacement);

      expect(await store.get(id)).toEqual(replacement);
    });

    it('keeps no reference to the records it is given or hands out', async () => {
      const id = generateSessionId();
      const rec = record({ a: '1', b: '2' });
      const expected = structuredClone(rec);
      await store.set(id, rec);
      rec.data.a = 'changed by caller';
      delete rec.data.b;
      rec.expiresAt = 0;

      const got = (await store.get(id))!;
      expect(got).toEqual(expected);
      got.data.a = 'changed';
      got.data.extra = 'added';
      delete got.data.b;
      got.createdAt = 1;
      got.expiresAt = 1;
      expect(await store.get(id)).toEqual(expected);

      const patch = { set: { c: '3' }, unset: [] as string[] };
      await store.patch(id, patch, expected.expiresAt);
      patch.set.c = 'changed by caller';
      patch.unset.push('a');
      expect((await store.get(id))!.data).toEqual({ ...expected.data, c: '3' });
    });

    it('treats session keys as opaque strings', async () => {
      const entries: [string, string][] = [
        ['__proto__', '"p"'],
        ['constructor', '"c"'],
        ['toString', '"t"'],
        ['', '"empty"'],
        ['a.b', '"dot"'],
        ['a:b', '"colon"'],
        ['$where', '"dollar"'],
        ['ключ', '"unicode"'],
        [' spaced ', '"space"'],
      ];
      const id = generateSessionId();
      await store.set(id, record(dataOf(entries)));
      expect(sortedEntries((await store.get(id))!.data)).toEqual(sortedEntries(dataOf(entries)));

      // Keys added by patch, `__proto__` included, must survive just like keys given to set.
      const patched = generateSessionId();
      const withoutProto = entries.filter(([key]) => key !== '__proto__');
      await store.set(patched, record(dataOf(withoutProto)));
      const added: [string, string][] = [
        ['__proto__', '"p2"'],
        ['hasOwnProperty', '"h"'],
      ];
      const patch = { set: dataOf(added), unset: ['constructor'] };
      expect(await store.patch(patched, patch, Date.now() + longTtl)).toBe(true);
      const expected = withoutProto.filter(([key]) => key !== 'constructor').concat(added);
      expect(sortedEntries((await store.get(patched))!.data)).toEqual(sortedEntries(dataOf(expected)));
      expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'p2')).toBe(false);
    });

    it('never serves a record after its expiresAt, and patch and touch do not bring it back', async () => {
      const id = generateSessionId();
      const rec = record({ a: '1' }, shortTtl);
      await store.set(id, rec);
      expect(await store.get(id)).toEqual(rec);

      await waitPast(rec.expiresAt);
      expect(await store.get(id)).toBeNull();
      expect(await store.patch(id, { set: { b: '2' }, unset: [] }, Date.now() + longTtl)).toBe(false);
      expect(await store.touch(id, Date.now() + longTtl)).toBe(false);
      expect(await store.get(id)).toBeNull();
    });

    it('never serves a record set with an expiresAt already past', async () => {
      const past = generateSessionId();
      const now = generateSessionId();
      await store.set(past, { data: { a: '1' }, createdAt: Date.now() - 5000, expiresAt: Date.now() - 1000 });
      await store.set(now, { data: { a: '1' }, createdAt: Date.now() - 5000, expiresAt: Date.now() });

      for (const id of [past, now]) {
        expect(await store.get(id)).toBeNull();
        expect(await store.patch(id, { set: { b: '2' }, unset: [] }, Date.now() + longTtl)).toBe(false);
        expect(await store.touch(id, Date.now() + longTtl)).toBe(false);
        expect(await store.get(id)).toBeNull();
      }
    });

    it('touch moves the expiry and leaves the data alone', async () => {
      const id = generateSessionId();
      const rec = record({ a: '1', b: '2' }, shortTtl);
      await store.set(id, rec);
      const later = Date.now() + 4 * shortTtl;

      expect(await store.touch(id, later)).toBe(true);
      expect(await store.get(id)).toEqual({ ...rec, expiresAt: later });
      await waitPast(rec.expiresAt);
      expect(await store.get(id)).toEqual({ ...rec, expiresAt: later });
    });

    it('touch of a missing record resolves false and creates nothing', async () => {
      const id = generateSessionId();
      expect(await store.touch(id, Date.now() + longTtl)).toBe(false);
      expect(await store.get(id)).toBeNull();
    });

    it('patch sets and unsets keys, keeps the others and moves the expiry', async () => {
      const id = generateSessionId();
      const rec = record({ keep: '"k"', change: '1', remove: '"r"' }, shortTtl);
      await store.set(id, rec);
      const later = Date.now() + 4 * shortTtl;

      expect(await store.patch(id, { set: { change: '2', add: '"new"' }, unset: ['remove', 'never-existed'] }, later)).toBe(true);
      const expected: SessionRecord = {
        data: { keep: '"k"', change: '2', add: '"new"' },
        createdAt: rec.createdAt,
        expiresAt: later,
      };
      expect(await store.get(id)).toEqual(expected);
      await waitPast(rec.expiresAt);
      expect(await store.get(id)).toEqual(expected);
    });

    it('patch of a missing record resolves false and creates nothing', async () => {
      const id = generateSessionId();
      expect(await store.patch(id, { set: { a: '1' }, unset: [] }, Date.now() + longTtl)).toBe(false);
      expect(await store.get(id)).toBeNull();
    });

    it('destroy removes only the named record, and destroying a missing record resolves', async () => {
      const id = generateSessionId();
      const other = generateSessionId();
      const otherRecord = record({ b: '2' });
      await store.set(id, record({ a: '1' }));
      await store.set(other, otherRecord);

      await store.destroy(id);
      expect(await store.get(id)).toBeNull();
      expect(await store.get(other)).toEqual(otherRecord);
      await expect(Promise.resolve(store.destroy(id))).resolves.toBeUndefined();
      await expect(Promise.resolve(store.destroy(generateSessionId()))).resolves.toBeUndefined();
    });

    it('rejects malformed IDs: get null, set rejects, patch and touch false, destroy does nothing', async () => {
      const live = generateSessionId();
      const liveRecord = record({ secret: '"s"' });
      await store.set(live, liveRecord);
      const pad = (s: string): string => s.padEnd(32, 'A');
      const badIds: unknown[] = [
        '',
        'short',
        'A'.repeat(21),
        'A'.repeat(129),
        'a'.repeat(500),
        pad('../../etc/passwd'),
        `../${live}`,
        `./${live}`,
        `${live}/`,
        `${live}/../${live}`,
        `${live}.json`,
        `${live}\u0000`,
        `${live}\u0000/../../x`,
        pad('x\u0000y'),
        `${live.slice(0, 12)}*`,
        `${live.slice(0, 12)}%`,
        '*'.repeat(32),
        '%'.repeat(32),
        pad('abc/def'),
        pad('abc\\def'),
        pad('C:\\Windows\\x'),
        pad('%2e%2e%2fetc'),
        pad('a+b/c=='),
        ` ${live}`,
        `${live}\n`,
        pad("x' OR '1'='1"),
        'é'.repeat(32),
        '😀'.repeat(16),
        'Ａ'.repeat(32),
        undefined,
        null,
        12345678901234567890,
        { toString: () => live },
      ];

      for (const bad of badIds) {
        const id = bad as string;
        const label = `id ${JSON.stringify(String(bad))}`;
        expect(await store.get(id), label).toBeNull();
        const error: unknown = await Promise.resolve()
          .then(() => store.set(id, record({ x: '1' })))
          .then(
            () => undefined,
            (err: unknown) => err,
          );
        expect(error, label).toBeInstanceOf(SessionError);
        expect((error as SessionError).code, label).toBe('SESSION_INVALID_ID');
        expect(await store.patch(id, { set: { x: '1' }, unset: ['secret'] }, Date.now() + longTtl), label).toBe(false);
        expect(await store.touch(id, Date.now() + longTtl), label).toBe(false);
        await expect(Promise.resolve(store.destroy(id)), label).resolves.toBeUndefined();
        expect(await store.get(id), label).toBeNull();
      }
      expect(await store.get(live)).toEqual(liveRecord);
    });

    it('round-trips a value of about 1 MiB', async () => {
      const id = generateSessionId();
      const chunk = 'ab"\\\n\t\u00e9\u{1F600}<>&\u2028{}[],:';
      const big = chunk.repeat(Math.ceil((1024 * 1024) / chunk.length));
      const rec = record({ big, small: '1' });
      await store.set(id, rec);
      expect(await store.get(id)).toEqual(rec);

      expect(await store.patch(id, { set: { big2: big }, unset: [] }, rec.expiresAt)).toBe(true);
      const got = (await store.get(id))!;
      expect(got.data.big2 === big && got.data.big === big).toBe(true);
    });

    it('keeps every key of 50 parallel patches of one session', async () => {
      const id = generateSessionId();
      const rec = record({ base: '0' });
      await store.set(id, rec);

      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => store.patch(id, { set: { [`key${i}`]: String(i) }, unset: [] }, rec.expiresAt + i)),
      );
      expect(results.every((ok) => ok)).toBe(true);
      const got = (await store.get(id))!;
      const keys = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`key${i}`, String(i)]));
      expect(got.data).toEqual({ base: '0', ...keys });
      expect(got.expiresAt).toBeGreaterThanOrEqual(rec.expiresAt);
      expect(got.expiresAt).toBeLessThanOrEqual(rec.expiresAt + 49);
    });

    it('keeps every key when patches and touches of one session run in parallel', async () => {
      const id = generateSessionId();
      const rec = record({ base: '0' });
      await store.set(id, rec);

      const operations = Array.from({ length: 30 }, (_, i) =>
        i % 3 === 0
          ? store.touch(id, rec.expiresAt + i)
          : store.patch(id, { set: { [`key${i}`]: String(i) }, unset: [] }, rec.expiresAt + i),
      );
      expect((await Promise.all(operations)).every((ok) => ok)).toBe(true);
      const expected: Record<string, string> = { base: '0' };
      for (let i = 0; i < 30; i++) if (i % 3 !== 0) expected[`key${i}`] = String(i);
      expect((await store.get(id))!.data).toEqual(expected);
    });

    if (options.supportsPrincipal ?? true) {
      it('keeps the principal through get, patch and touch, and changes or removes it by patch', async () => {
        const id = generateSessionId();
        const rec = { ...record({ a: '1' }), principal: 'alice' };
        await store.set(id, rec);
        expect(await store.get(id)).toEqual(rec);
        await store.touch(id, rec.expiresAt + 1);
        expect((await store.get(id))!.principal).toBe('alice');
        await store.patch(id, { set: { b: '2' }, unset: [] }, rec.expiresAt + 2);
        expect((await store.get(id))!.principal).toBe('alice');
        await store.patch(id, { set: {}, unset: [], principal: 'bob' }, rec.expiresAt + 3);
        expect((await store.get(id))!.principal).toBe('bob');
        await store.patch(id, { set: {}, unset: [], principal: null }, rec.expiresAt + 4);
        expect((await store.get(id))!.principal).toBeUndefined();
      });

      it('finds and destroys every live session of a principal, and nothing else', async () => {
        expect(typeof store.findByPrincipal, 'pass { supportsPrincipal: false } for a store without it').toBe('function');
        const principal = `user-${generateSessionId().slice(0, 8)}`;
        const mine = [generateSessionId(), generateSessionId(), generateSessionId()];
        const other = generateSessionId();
        const expired = generateSessionId();
        const changedHands = generateSessionId();
        const records = mine.map((_, i) => ({ ...record({ n: String(i) }), principal }));
        for (const [i, id] of mine.entries()) await store.set(id, records[i]);
        await store.set(other, { ...record({ n: 'x' }), principal: `${principal}-other` });
        await store.set(expired, { data: {}, createdAt: Date.now() - 5000, expiresAt: Date.now() - 1000, principal });
        await store.set(changedHands, { ...record({}), principal });
        await store.patch(changedHands, { set: {}, unset: [], principal: 'someone-else' }, Date.now() + longTtl);

        const found = await store.findByPrincipal!(principal);
        expect(found.map((s) => s.id).sort()).toEqual([...mine].sort());
        for (const session of found) {
          const i = mine.indexOf(session.id);
          expect(session).toEqual({ id: mine[i], createdAt: records[i].createdAt, expiresAt: records[i].expiresAt });
        }
        expect(await store.findByPrincipal!('nobody')).toEqual([]);

        expect(await store.destroyByPrincipal!(principal)).toBe(3);
        for (const id of mine) expect(await store.get(id)).toBeNull();
        expect(await store.get(other)).not.toBeNull();
        expect(await store.get(changedHands)).not.toBeNull();
        expect(await store.findByPrincipal!(principal)).toEqual([]);
      });

      it('lists the expiry a touch or a patch moved, which a devices page reads the last-seen time off', async () => {
        const principal = `seen-${generateSessionId().slice(0, 8)}`;
        const [touched, patched] = [generateSessionId(), generateSessionId()];
        for (const id of [touched, patched]) await store.set(id, { ...record({ n: '1' }), principal });
        const later = Date.now() + longTtl + 60_000;
        expect(await store.touch(touched, later)).toBe(true);
        expect(await store.patch(patched, { set: { n: '2' }, unset: [] }, later + 1)).toBe(true);
        const found = new Map((await store.findByPrincipal!(principal)).map((session) => [session.id, session.expiresAt]));
        expect(found.get(touched)).toBe(later);
        expect(found.get(patched)).toBe(later + 1);
        expect((await store.get(touched))!.expiresAt).toBe(later);
      });

      it('treats principals as opaque strings (glob, path and quote characters)', async () => {
        const principal = `a*b?[c]\\d/../e'"%_{x}:${generateSessionId().slice(0, 6)}`;
        const id = generateSessionId();
        const bystander = generateSessionId();
        await store.set(id, { ...record({}), principal });
        await store.set(bystander, { ...record({}), principal: principal.replace('*', 'X') });
        expect((await store.findByPrincipal!(principal)).map((s) => s.id)).toEqual([id]);
        expect(await store.destroyByPrincipal!(principal)).toBe(1);
        expect(await store.get(bystander)).not.toBeNull();
      });
    }

    if (options.supportsLocks ?? true) {
      /** A lock key: the 43-character base64url shape the engine derives by HMAC. */
      const lockKey = (): string => generateSessionId(43);
      const owner = (label: string): string => `${label}-${generateSessionId(22)}`;
      const lockMethods = (): { tryLock: NonNullable<SessionStore['tryLock']>; unlock: NonNullable<SessionStore['unlock']> } => {
        expect(typeof store.tryLock, 'the store has no tryLock(); pass { supportsLocks: false }').toBe('function');
        expect(typeof store.unlock, 'the store has no unlock(); pass { supportsLocks: false }').toBe('function');
        return { tryLock: store.tryLock!.bind(store), unlock: store.unlock!.bind(store) };
      };

      it('locks: takes a free lock, refuses it to a second owner while held, and frees it on unlock', async () => {
        const { tryLock, unlock } = lockMethods();
        const key = lockKey();
        const [a, b] = [owner('a'), owner('b')];
        expect(await tryLock(key, a, longTtl)).toBe(true);
        expect(await tryLock(key, b, longTtl)).toBe(false);
        expect(await tryLock(lockKey(), b, longTtl)).toBe(true);
        await unlock(key, a);
        expect(await tryLock(key, b, longTtl)).toBe(true);
        expect(await tryLock(key, a, longTtl)).toBe(false);
        await unlock(key, b);
        await expect(unlock(key, b)).resolves.toBeUndefined();
      });

      it('locks: re-taking a lock one holds succeeds and extends it', async () => {
        const { tryLock } = lockMethods();
        const key = lockKey();
        const [a, b] = [owner('a'), owner('b')];
        expect(await tryLock(key, a, shortTtl)).toBe(true);
        const firstExpiry = Date.now() + shortTtl;
        expect(await tryLock(key, a, longTtl)).toBe(true);
        await waitPast(firstExpiry + granularity);
        expect(await tryLock(key, b, longTtl)).toBe(false);
        expect(await tryLock(key, a, longTtl)).toBe(true);
      });

      it('locks: a lock expires by itself after its ttl, and a new owner takes it', async () => {
        const { tryLock, unlock } = lockMethods();
        const key = lockKey();
        const [a, b] = [owner('a'), owner('b')];
        expect(await tryLock(key, a, shortTtl)).toBe(true);
        // Measured once the store answered: the lock was set before then, so it is gone by this.
        const expiry = Date.now() + shortTtl;
        await waitPast(expiry + granularity);
        expect(await tryLock(key, b, longTtl)).toBe(true);
        // The former owner's unlock must not release the new owner's lock.
        await unlock(key, a);
        expect(await tryLock(key, a, longTtl)).toBe(false);
      });

      it('locks: unlock by anyone but the owner does nothing', async () => {
        const { tryLock, unlock } = lockMethods();
        const key = lockKey();
        const [a, b] = [owner('a'), owner('b')];
        expect(await tryLock(key, a, longTtl)).toBe(true);
        await unlock(key, b);
        await unlock(lockKey(), a);
        expect(await tryLock(key, b, longTtl)).toBe(false);
        expect(await tryLock(key, a, longTtl)).toBe(true);
      });

      it('locks: of 20 concurrent takers of a free lock, and of an expired one, exactly one wins', async () => {
        const { tryLock } = lockMethods();
        const key = lockKey();
        const owners = Array.from({ length: 20 }, (_, i) => owner(`o${i}`));
        const first = await Promise.all(owners.map((o) => tryLock(key, o, shortTtl)));
        expect(first.filter(Boolean)).toHaveLength(1);
        const winner = owners[first.indexOf(true)];
        expect(await tryLock(key, owner('late'), longTtl)).toBe(false);

        await waitPast(Date.now() + shortTtl + granularity);
        const takers = owners.filter((o) => o !== winner);
        const second = await Promise.all(takers.map((o) => tryLock(key, o, longTtl)));
        expect(second.filter(Boolean)).toHaveLength(1);
        expect(await tryLock(key, winner, longTtl)).toBe(false);
      });

      it('locks: serialise read-modify-write, so 50 parallel lock-read-patch-unlock increments of one key end at exactly 50', async () => {
        // What session.update() does with them (the engine retries a taken lock after a short pause).
        const { tryLock, unlock } = lockMethods();
        const id = generateSessionId();
        await store.set(id, record({ n: '0' }));
        const key = lockKey();
        const increment = async (who: string): Promise<void> => {
          while (!(await tryLock(key, who, longTtl))) await new Promise((done) => setTimeout(done, 1 + Math.random() * 4));
          try {
            const current = Number((await store.get(id))!.data.n);
            // A pause between read and write: without the lock, increments would overwrite each other.
            await new Promise((done) => setTimeout(done, 1));
            expect(await store.patch(id, { set: { n: String(current + 1) }, unset: [] }, Date.now() + longTtl)).toBe(true);
          } finally {
            await unlock(key, who);
          }
        };
        await Promise.all(Array.from({ length: 50 }, (_, i) => increment(owner(`w${i}`))));
        expect((await store.get(id))!.data.n).toBe('50');
      });

      it('locks: are invisible to get, patch, touch, gc and findByPrincipal, and do not clash with a session of the same key', async () => {
        const { tryLock, unlock } = lockMethods();
        const shared = lockKey();
        const lockOnly = lockKey();
        const expiring = lockKey();
        const session = { ...record({ a: '1' }), principal: 'lock-bystander' };
        await store.set(shared, session);
        const a = owner('a');
        expect(await tryLock(shared, a, longTtl)).toBe(true);
        expect(await tryLock(lockOnly, a, longTtl)).toBe(true);
        expect(await tryLock(expiring, a, shortTtl)).toBe(true);

        expect(await store.get(shared)).toEqual(session);
        expect(await store.get(lockOnly)).toBeNull();
        expect(await store.patch(lockOnly, { set: { x: '1' }, unset: [] }, Date.now() + longTtl)).toBe(false);
        expect(await store.touch(lockOnly, Date.now() + longTtl)).toBe(false);
        expect(await store.get(lockOnly)).toBeNull();
        if ((options.supportsPrincipal ?? true) && store.findByPrincipal) {
          expect((await store.findByPrincipal('lock-bystander')).map((s) => s.id)).toEqual([shared]);
        }

        // The session's record and the lock of the same key live and die apart.
        await store.destroy(shared);
        expect(await tryLock(shared, owner('b'), longTtl)).toBe(false);
        await store.set(shared, session);
        await unlock(shared, a);
        expect(await store.get(shared)).toEqual(session);
        expect(await tryLock(shared, owner('b'), longTtl)).toBe(true);

        if ((options.supportsGc ?? true) && store.gc) {
          await waitPast(Date.now() + shortTtl + granularity);
          expect(await store.gc()).toBe(0);
          expect(await tryLock(lockOnly, owner('b'), longTtl)).toBe(false);
          expect(await store.get(shared)).toEqual(session);
        }
      });

      it('locks: a malformed key, owner or ttl is refused before reaching the backend', async () => {
        const { tryLock, unlock } = lockMethods();
        const key = lockKey();
        const bad: [string, string, number][] = [
          ['short', owner('a'), longTtl],
          [`../${key}`, owner('a'), longTtl],
          [`${key.slice(0, 40)}*:x`, owner('a'), longTtl],
          [key, '', longTtl],
          [key, 'x'.repeat(65), longTtl],
          [key, 'has space', longTtl],
          [key, owner('a'), 0],
          [key, owner('a'), -5],
          [key, owner('a'), Number.NaN],
          [key, owner('a'), Number.POSITIVE_INFINITY],
        ];
        for (const [k, o, ttl] of bad) {
          const label = JSON.stringify([k, o, ttl]);
          const error: unknown = await tryLock(k, o, ttl).then(
            () => undefined,
            (err: unknown) => err,
          );
          expect(error, label).toBeInstanceOf(SessionError);
          expect((error as SessionError).code, label).toBe('SESSION_INVALID_ID');
          await expect(unlock(k, o), label).resolves.toBeUndefined();
        }
        expect(await tryLock(key, owner('a'), longTtl)).toBe(true);
      });
    }

    if (options.supportsGc ?? true) {
      it('gc deletes and counts expired records and keeps live ones', async () => {
        expect(typeof store.gc, 'the store has no gc(); pass { supportsGc: false }').toBe('function');
        const expiring = [generateSessionId(), generateSessionId()];
        const expired = generateSessionId();
        const live = [generateSessionId(), generateSessionId()];
        const liveRecords = live.map((_, i) => record({ n: String(i) }));
        const shortRecord = record({ a: '1' }, shortTtl);
        for (const id of expiring) await store.set(id, shortRecord);
        await store.set(expired, { data: { a: '1' }, createdAt: Date.now() - 5000, expiresAt: Date.now() - 1000 });
        for (const [i, id] of live.entries()) await store.set(id, liveRecords[i]);

        await waitPast(shortRecord.expiresAt + granularity);
        expect(await store.gc!()).toBe(3);
        for (const [i, id] of live.entries()) expect(await store.get(id)).toEqual(liveRecords[i]);
        expect(await store.gc!()).toBe(0);
      });
    }
  });
}
