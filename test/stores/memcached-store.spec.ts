import Memcached from 'memcached';
import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SessionError } from '../../src/core/errors/session.error.js';
import { generateSessionId } from '../../src/core/session-id.js';
import { FailFastMemcached } from '../../src/stores/memcached/fail-fast-memcached.js';
import { parseMemcachedUrl } from '../../src/stores/memcached/memcached-store.url.js';
import { MemcachedStore, type MemcachedClientOptions, type MemcachedStoreOptions } from '../../src/stores/memcached/memcached.store.js';
import type { SessionRecord } from '../../src/core/session-store.interface.js';
import { createStoreFromUrl } from '../../src/stores/store-url.js';
import { MemcachedTestServer } from '../support/memcached-server.js';
import { freePort } from '../support/ports.js';
import { describeStoreConformance } from '../../src/store-kit/store-conformance.js';

const MiB = 1024 * 1024;
const DAY = 24 * 60 * 60 * 1000;
/** The conformance suite stores two values of about 1.5 MB each in one session (about 3.1 MB of JSON). */
const server = new MemcachedTestServer(['-I', '4m']);

beforeAll(() => server.start());
afterAll(() => server.stop());

describeStoreConformance('MemcachedStore', () => new MemcachedStore({ servers: server.address, maxItemSize: 4 * MiB }), {
  supportsGc: false,
  supportsPrincipal: false,
  supportsLocks: true,
  ttlGranularityMs: 1000,
});

/** Exposes the protected override points. */
class InspectableMemcachedStore extends MemcachedStore {
  backoffs = 0;

  expirationOf(expiresAt: number): number {
    return this.expiration(expiresAt);
  }

  override async backoff(attempt: number): Promise<void> {
    this.backoffs++;
    await super.backoff(attempt);
  }
}

/** Promise wrappers around a raw client, to look at what the store wrote. */
const raw = {
  get: (client: Memcached, key: string): Promise<unknown> =>
    new Promise((resolve, reject) => client.get(key, (err, data) => (err ? reject(err) : resolve(data)))),
  set: (client: Memcached, key: string, value: string, lifetime: number): Promise<boolean> =>
    new Promise((resolve, reject) => client.set(key, value, lifetime, (err, ok) => (err ? reject(err) : resolve(ok)))),
  del: (client: Memcached, key: string): Promise<boolean> =>
    new Promise((resolve, reject) => client.del(key, (err, ok) => (err ? reject(err) : resolve(ok)))),
};

/** The remaining TTL (seconds) memcached reports for `key` (meta get with the `t` flag), and when it answered. */
function metaTtl(port: number, key: string): Promise<{ ttl: number; at: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (!reply.includes('\r\n')) return;
      const at = Date.now();
      socket.end();
      const match = /^HD t(-?\d+)\r\n/.exec(reply);
      if (match) resolve({ ttl: Number(match[1]), at });
      else reject(new Error(`unexpected meta get reply: ${JSON.stringify(reply)}`));
    });
    socket.write(`mg ${key} t\r\n`);
  });
}

/** The rejection of `promise` (failing the test when it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<SessionError> {
  const error: unknown = await promise.then(
    () => expect.unreachable('expected a rejection'),
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(SessionError);
  return error as SessionError;
}

const record = (data: Record<string, string>, ttl = 10 * 60_000): SessionRecord => ({
  data,
  createdAt: Date.now() - 1000,
  expiresAt: Date.now() + ttl,
});

describe('MemcachedStore', () => {
  const stores: MemcachedStore[] = [];
  const clients: Memcached[] = [];
  const create = <T extends MemcachedStore = MemcachedStore>(
    options: MemcachedStoreOptions = {},
    Store: new (options: MemcachedStoreOptions) => T = MemcachedStore as new (options: MemcachedStoreOptions) => T,
  ): T => {
    const store = new Store(options.client ? options : { servers: server.address, maxItemSize: 4 * MiB, ...options });
    stores.push(store);
    return store;
  };
  const rawClient = (address = server.address, options: Memcached.options = {}): Memcached => {
    const client = new FailFastMemcached(address, { timeout: 1000, maxValue: 16 * MiB, ...options });
    clients.push(client);
    return client;
  };

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    for (const client of clients.splice(0)) client.end();
  });

  describe('expiration', () => {
    it('stores and serves a record that expires in 40 days (sent as an absolute unix time)', async () => {
      const store = create({}, InspectableMemcachedStore);
      const id = generateSessionId();
      const rec = record({ a: '1' }, 40 * DAY);
      expect(store.expirationOf(rec.expiresAt)).toBe(Math.ceil(rec.expiresAt / 1000));

      await store.set(id, rec);
      expect(await store.get(id)).toEqual(rec);
      expect(await raw.get(rawClient(), `sess:${id}`)).toEqual(expect.any(String));
      // patch and touch send the long expiration the same way.
      expect(await store.patch(id, { set: { b: '2' }, unset: [] }, rec.expiresAt + DAY)).toBe(true);
      expect(await store.touch(id, rec.expiresAt + 2 * DAY)).toBe(true);
      expect(await store.get(id)).toEqual({ ...rec, data: { a: '1', b: '2' }, expiresAt: rec.expiresAt + 2 * DAY });
    });

    it('gives the item whole seconds plus one, switches to absolute times beyond 30 days, and never sends 0', () => {
      const now = 1_700_000_000_123;
      const store = create({ now: () => now }, InspectableMemcachedStore);
      const thirtyDays = 30 * DAY;

      expect(store.expirationOf(now + 1)).toBe(2);
      expect(store.expirationOf(now + 1000)).toBe(2);
      expect(store.expirationOf(now + 1001)).toBe(3);
      expect(store.expirationOf(now + 1500)).toBe(3);
      expect(store.expirationOf(now + thirtyDays - 1000)).toBe(2_592_000);
      expect(store.expirationOf(now + thirtyDays - 999)).toBe(Math.ceil((now + thirtyDays - 999) / 1000));
      expect(store.expirationOf(now + thirtyDays)).toBe(Math.ceil((now + thirtyDays) / 1000));
      expect(store.expirationOf(now)).toBe(-1);
      expect(store.expirationOf(now - 5000)).toBe(-1);
      expect(store.expirationOf(Number.NaN)).toBe(-1);
    });

    it('keeps the item at least until the record expires, and lets memcached drop it afterwards', async () => {
      const store = create();
      const id = generateSessionId();
      const rec = record({ a: '1' }, 1100);
      await store.set(id, rec);

      // memcached's own remaining TTL, read with the time it was read at: its clock ticks in whole
      // seconds, so the item dies no sooner than (ttl - 1) s from now. That bound must reach past
      // expiresAt, however late this line runs (a late read sees a smaller TTL and less time left).
      const { ttl, at } = await metaTtl(server.port, `sess:${id}`);
      expect((ttl - 1) * 1000).toBeGreaterThanOrEqual(rec.expiresAt - at);

      await new Promise((done) => setTimeout(done, Math.max(0, rec.expiresAt + 50 - Date.now())));
      expect(await store.get(id)).toBeNull();

      // The item was sent as 3 s; memcached's clock may lag by one more. Waiting longer only helps.
      await new Promise((done) => setTimeout(done, Math.max(0, rec.expiresAt - 1100 + 4200 - Date.now())));
      expect(await raw.get(rawClient(), `sess:${id}`)).toBeUndefined();
    });
  });

  describe('compare-and-swap', () => {
    it('keeps every key of 50 parallel writers on 5 clients', async () => {
      const writers = Array.from({ length: 5 }, () => create({}, InspectableMemcachedStore));
      const id = generateSessionId();
      const rec = record({ base: '0' });
      await writers[0].set(id, rec);

      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => writers[i % 5].patch(id, { set: { [`key${i}`]: String(i) }, unset: [] }, rec.expiresAt)),
      );
      expect(results.every((ok) => ok)).toBe(true);
      const expected = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`key${i}`, String(i)]));
      expect((await writers[4].get(id))!.data).toEqual({ base: '0', ...expected });
      // Writers really collided and retried, so the CAS path was exercised.
      expect(writers.reduce((sum, writer) => sum + writer.backoffs, 0)).toBeGreaterThan(0);
    });

    it('gives up with SESSION_STORE_UNAVAILABLE after casRetries lost races, leaving the other write in place', async () => {
      const real = rawClient();
      const id = generateSessionId();
      const key = `sess:${id}`;
      const intruder = JSON.stringify({ data: { other: 'x' }, createdAt: 1, expiresAt: Date.now() + 60_000 });
      let reads = 0;
      // Another writer replaces the item right after every read, so every compare-and-swap loses.
      const racing = Object.assign(Object.create(real) as Memcached, {
        gets(k: string, cb: (err: unknown, data: unknown) => void): void {
          reads++;
          real.gets(k, (err, data) => {
            if (err) return cb(err, data);
            real.set(k, intruder, 60, () => cb(undefined, data));
          });
        },
      });
      const store = create({ client: racing, casRetries: 3 });
      await store.set(id, record({ a: '1' }));

      const error = await rejectionOf(store.patch(id, { set: { b: '2' }, unset: [] }, Date.now() + 60_000));
      expect(error.code).toBe('SESSION_STORE_UNAVAILABLE');
      expect(String((error.cause as Error).message)).toContain('compare-and-swap');
      expect(reads).toBe(4);
      expect(await raw.get(real, key)).toBe(intruder);
    });

    it('does not bring back a session destroyed between its read and its write', async () => {
      const real = rawClient();
      const id = generateSessionId();
      const racing = Object.assign(Object.create(real) as Memcached, {
        gets(k: string, cb: (err: unknown, data: unknown) => void): void {
          real.gets(k, (err, data) => {
            if (err || !data) return cb(err, data);
            real.del(k, () => cb(undefined, data));
          });
        },
      });
      const store = create({ client: racing });
      await store.set(id, record({ a: '1' }));

      expect(await store.patch(id, { set: { b: '2' }, unset: [] }, Date.now() + 60_000)).toBe(false);
      expect(await store.get(id)).toBeNull();
      await store.set(id, record({ a: '1' }));
      expect(await store.touch(id, Date.now() + 60_000)).toBe(false);
      expect(await raw.get(real, `sess:${id}`)).toBeUndefined();
    });
  });

  describe('faults', () => {
    const own = new MemcachedTestServer();
    afterAll(() => own.stop());

    it('fails fast while memcached is down and works again, with the same store, once it is back', async () => {
      await own.start();
      const timeout = 500;
      const store = create({ servers: own.address, timeout });
      const id = generateSessionId();
      const rec = record({ a: '1' });
      await store.set(id, rec);
      expect(await store.get(id)).toEqual(rec);

      await own.stop();
      for (const operation of [
        () => store.get(id),
        () => store.set(id, rec),
        () => store.patch(id, { set: {}, unset: [] }, rec.expiresAt),
      ]) {
        const started = Date.now();
        const error = await rejectionOf(operation());
        expect(error.code).toBe('SESSION_STORE_UNAVAILABLE');
        expect(error.cause).toBeDefined();
        expect(Date.now() - started).toBeLessThan(timeout + 300);
      }
      // Many operations failing at once (the stock client would schedule its `ping` probe here).
      const burst = await Promise.allSettled(Array.from({ length: 20 }, () => store.get(id)));
      expect(burst.every((result) => result.status === 'rejected')).toBe(true);

      await own.start();
      // memcached keeps nothing across a restart, so the session is gone, but the store works.
      expect(await store.get(id)).toBeNull();
      await store.set(id, rec);
      expect(await store.get(id)).toEqual(rec);
      expect(await store.patch(id, { set: { b: '2' }, unset: [] }, rec.expiresAt)).toBe(true);
      expect((await store.get(id))!.data).toEqual({ a: '1', b: '2' });
    });

    it('gives up on a server that stops answering after timeout ms, and goes on when it answers again', async () => {
      await own.start();
      const timeout = 400;
      const store = create({ servers: own.address, timeout });
      const id = generateSessionId();
      const rec = record({ a: '1' });
      await store.set(id, rec);

      await own.pause();
      try {
        const started = Date.now();
        const error = await rejectionOf(store.get(id));
        const elapsed = Date.now() - started;
        expect(error.code).toBe('SESSION_STORE_UNAVAILABLE');
        expect((error.cause as Error).message).toContain(`within ${timeout} ms`);
        expect(elapsed).toBeGreaterThanOrEqual(timeout - 20);
        expect(elapsed).toBeLessThan(timeout + 500);
      } finally {
        own.resume();
      }
      expect(await store.get(id)).toEqual(rec);
    });

    it('refuses a record larger than maxItemSize before sending it, and keeps working', async () => {
      const store = create({ maxItemSize: MiB });
      const id = generateSessionId();
      const small = record({ a: '1' });
      await store.set(id, small);

      const big = record({ big: 'x'.repeat(MiB) });
      const error = await rejectionOf(store.set(id, big));
      expect(error.code).toBe('SESSION_STORE_UNAVAILABLE');
      expect((error.cause as Error).message).toMatch(/more than maxItemSize \(1048576 bytes/);
      const patchError = await rejectionOf(store.patch(id, { set: { big: 'x'.repeat(MiB) }, unset: [] }, small.expiresAt));
      expect(patchError.code).toBe('SESSION_STORE_UNAVAILABLE');

      expect(await store.get(id)).toEqual(small);
    });

    it('reports a record the server refuses (SERVER_ERROR object too large) as SESSION_STORE_UNAVAILABLE, and keeps working', async () => {
      // The store believes items of 16 MiB are fine; the server (-I 4m) does not.
      const store = create({ maxItemSize: 16 * MiB });
      const id = generateSessionId();
      const small = record({ a: '1' });
      await store.set(id, small);

      const error = await rejectionOf(store.set(id, record({ big: 'x'.repeat(5 * MiB) })));
      expect(error.code).toBe('SESSION_STORE_UNAVAILABLE');
      expect((error.cause as Error).message).toContain('SERVER_ERROR object too large');
      // memcached deletes the item it was asked to replace when it refuses the new value.
      expect(await store.get(id)).toBeNull();

      await store.set(id, small);
      expect(await store.get(id)).toEqual(small);
      expect(await store.patch(id, { set: { b: '2' }, unset: [] }, small.expiresAt)).toBe(true);
    });
  });

  describe('clients and keys', () => {
    it('writes under keyPrefix', async () => {
      const store = create({ keyPrefix: 'shop:sess:' });
      const id = generateSessionId();
      await store.set(id, record({ a: '1' }));
      const client = rawClient();
      expect(await raw.get(client, `shop:sess:${id}`)).toEqual(expect.any(String));
      expect(await raw.get(client, `sess:${id}`)).toBeUndefined();
      await store.destroy(id);
      expect(await raw.get(client, `shop:sess:${id}`)).toBeUndefined();
    });

    it('reads a corrupt or foreign item as no session', async () => {
      const store = create();
      const client = rawClient();
      const id = generateSessionId();
      for (const value of ['not json', '[]', '{"data":{"a":1},"createdAt":1,"expiresAt":9e15}', '{"data":{},"createdAt":1}']) {
        await raw.set(client, `sess:${id}`, value, 60);
        expect(await store.get(id), value).toBeNull();
        expect(await store.patch(id, { set: { a: '1' }, unset: [] }, Date.now() + 60_000), value).toBe(false);
      }
    });

    it('uses a client passed in and never ends it', async () => {
      const client = rawClient();
      const end = vi.spyOn(client, 'end');
      const store = create({ client });
      const id = generateSessionId();
      await store.set(id, record({ a: '1' }));
      await store.close();
      expect(end).not.toHaveBeenCalled();
      expect(await raw.get(client, `sess:${id}`)).toEqual(expect.any(String));
    });

    it('ends the client it created on close()', async () => {
      let created: Memcached | undefined;
      class Spied extends MemcachedStore {
        protected override createClient(servers: Memcached.Location, options: MemcachedClientOptions & { maxValue: number }): Memcached {
          created = super.createClient(servers, options);
          return created;
        }
      }
      const store = create({}, Spied);
      await store.set(generateSessionId(), record({ a: '1' }));
      expect(created).toBeInstanceOf(FailFastMemcached);
      const end = vi.spyOn(created!, 'end');
      await store.close();
      expect(end).toHaveBeenCalledOnce();
    });

    it('passes its defaults and clientOptions to the client it creates', () => {
      let received: MemcachedClientOptions | undefined;
      class Spied extends MemcachedStore {
        protected override createClient(servers: Memcached.Location, options: MemcachedClientOptions & { maxValue: number }): Memcached {
          received = options;
          return super.createClient(servers, options);
        }
      }
      create({ timeout: 700, maxItemSize: 2 * MiB, clientOptions: { poolSize: 3, retries: 0 } }, Spied);
      expect(received).toEqual({ timeout: 700, retries: 0, minTimeout: 10, maxTimeout: 100, factor: 2, poolSize: 3, maxValue: 2 * MiB });
    });
  });

  describe('URL', () => {
    it('parses memcached:// URLs', () => {
      expect(parseMemcachedUrl('memcached://localhost')).toEqual({ servers: ['localhost:11211'] });
      expect(parseMemcachedUrl('memcached://cache-1:11212,10.0.0.7/')).toEqual({ servers: ['cache-1:11212', '10.0.0.7:11211'] });
      expect(parseMemcachedUrl('MEMCACHED://c:1?prefix=shop%3Asess%3A&timeout=250&maxItemSize=4194304')).toEqual({
        servers: ['c:1'],
        keyPrefix: 'shop:sess:',
        timeout: 250,
        maxItemSize: 4194304,
      });
    });

    it.each([
      ['memcached://', /names no server/],
      ['memcached:localhost', /not a memcached:\/\/ URL/],
      ['memcached://user:pw@localhost', /no user name or password/],
      ['memcached://localhost:0', /"localhost:0"/],
      ['memcached://localhost:99999', /"localhost:99999"/],
      ['memcached://a:1,,b:2', /"" is not/],
      ['memcached://[::1]:11211', /"\[::1\]:11211"/],
      ['memcached://localhost/db', /not a memcached:\/\/ URL/],
      ['memcached://localhost?ttl=5', /"ttl" is not supported/],
      ['memcached://localhost?prefix=a&prefix=b', /"prefix" more than once/],
      ['memcached://localhost?timeout=0', /`timeout`/],
      ['memcached://localhost?maxItemSize=1e6', /`maxItemSize`/],
    ])('refuses %s', (url, message) => {
      let error: unknown;
      try {
        parseMemcachedUrl(url);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(SessionError);
      expect((error as SessionError).code).toBe('SESSION_OPTIONS_INVALID');
      expect((error as SessionError).message).toMatch(message);
    });

    it('builds a working store through createStoreFromUrl', async () => {
      const built = await createStoreFromUrl(`memcached://${server.address}?prefix=url:&timeout=800`);
      expect(built).toBeInstanceOf(MemcachedStore);
      const store = built as MemcachedStore;
      stores.push(store);
      const id = generateSessionId();
      const rec = record({ a: '1' });
      await store.set(id, rec);
      expect(await store.get(id)).toEqual(rec);
      expect(await raw.get(rawClient(), `url:${id}`)).toEqual(expect.any(String));
      expect('findByPrincipal' in store).toBe(false);
      expect('gc' in store).toBe(false);
    });

    it('rejects a bad URL through createStoreFromUrl', async () => {
      const error = await rejectionOf(createStoreFromUrl('memcached://localhost?nope=1'));
      expect(error.code).toBe('SESSION_OPTIONS_INVALID');
    });
  });

  describe('options', () => {
    it.each<[string, unknown]>([
      ['servers', {}],
      ['servers', { servers: '' }],
      ['servers', { servers: [] }],
      ['servers', { servers: ['ok:11211', 'bad host'] }],
      ['servers', { servers: 'host:70000' }],
      ['servers', { servers: { 'a:11211': 0 } }],
      ['servers', { servers: {} }],
      ['servers', { servers: 11211 }],
      ['servers', null],
      ['keyPrefix', { servers: 'a', keyPrefix: 'has space' }],
      ['keyPrefix', { servers: 'a', keyPrefix: 'tab\t' }],
      ['keyPrefix', { servers: 'a', keyPrefix: 'ключ' }],
      ['keyPrefix', { servers: 'a', keyPrefix: 'x'.repeat(123) }],
      ['timeout', { servers: 'a', timeout: 0 }],
      ['timeout', { servers: 'a', timeout: Number.NaN }],
      ['maxItemSize', { servers: 'a', maxItemSize: 100 }],
      ['maxItemSize', { servers: 'a', maxItemSize: 1.5 * MiB + 0.5 }],
      ['casRetries', { servers: 'a', casRetries: -1 }],
      ['casRetries', { servers: 'a', casRetries: 2.5 }],
      ['clientOptions', { servers: 'a', clientOptions: 'poolSize=3' }],
      ['clientOptions.namespace', { servers: 'a', clientOptions: { namespace: 'x:' } }],
      ['clientOptions.maxValue', { servers: 'a', clientOptions: { maxValue: 5 } }],
      ['clientOptions.reconnect', { servers: 'a', clientOptions: { reconnect: 1000 } }],
      ['clientOptions.failures', { servers: 'a', clientOptions: { failures: 1 } }],
      ['client', { client: { get() {} } }],
      ['servers', { client: 'CLIENT', servers: 'a' }],
      ['clientOptions', { client: 'CLIENT', clientOptions: { poolSize: 1 } }],
    ])('rejects an invalid %s option', (option, options) => {
      const resolved =
        options && typeof options === 'object' && (options as { client?: unknown }).client === 'CLIENT'
          ? { ...options, client: rawClient() }
          : options;
      let error: unknown;
      try {
        new MemcachedStore(resolved as MemcachedStoreOptions);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(SessionError);
      expect((error as SessionError).code).toBe('SESSION_OPTIONS_INVALID');
      expect((error as SessionError).message).toContain(`\`${option}\``);
    });

    it('accepts the documented server forms and an empty keyPrefix', async () => {
      for (const servers of ['localhost', 'cache-1.internal:11212', ['a:1', 'b'], { 'a:11211': 2, 'b:11211': 1 }]) {
        create({ servers });
      }
      const store = create({ keyPrefix: '' });
      const id = generateSessionId();
      await store.set(id, record({ a: '1' }));
      expect(await raw.get(rawClient(), id)).toEqual(expect.any(String));
    });
  });
});

/**
 * `FailFastMemcached` (what the store creates) replaces `connectionIssue`, an undocumented method of
 * the `memcached` 2.2.x client (not in @types/memcached), and reads two more of its internals: the
 * socket's queue of unanswered queries (`metaData`, oldest first) and the query the client passes
 * to callbacks as `this`. These tests fail when an update of `memcached` changes any of that shape;
 * the fault tests above then fail too, but less directly.
 */
describe('FailFastMemcached: the `memcached` internals it relies on', () => {
  type Issue = (error: unknown, source?: { serverAddress?: string; tokens?: string[]; metaData?: unknown[]; end?: unknown }) => void;
  const clients: Memcached[] = [];
  afterEach(() => {
    for (const client of clients.splice(0)) client.end();
  });

  it('overrides the prototype method connectionIssue(error, socket) of the stock client', () => {
    const stock = (Memcached.prototype as unknown as { connectionIssue?: Issue }).connectionIssue;
    expect(typeof stock).toBe('function');
    expect(stock!.length).toBe(2);
    expect(FailFastMemcached.prototype.connectionIssue).not.toBe(stock);
    // Nothing else of the stock issue handling may take over: the client keeps its issue logs in `issues`.
    expect(new FailFastMemcached('127.0.0.1:1', {})).toHaveProperty('issues');
  });

  it('is what the client calls, naming the server, when a server refuses connections; no server is marked dead', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const client = new FailFastMemcached(address, { timeout: 500, retries: 0 });
    clients.push(client);
    const issue = vi.spyOn(client, 'connectionIssue');
    const events: string[] = [];
    for (const name of ['issue', 'failure', 'reconnecting', 'reconnect', 'remove'] as const) client.on(name, () => events.push(name));

    for (let attempt = 0; attempt < 5; attempt++) {
      const error = await new Promise<unknown>((resolve) => client.get('k', (err) => resolve(err)));
      expect(error).toBeInstanceOf(Error);
    }
    expect(issue.mock.calls.length).toBeGreaterThanOrEqual(5);
    for (const [error, source] of issue.mock.calls) {
      expect(typeof error === 'string' || error instanceof Error).toBe(true);
      expect(source).toMatchObject({ serverAddress: address, tokens: expect.any(Array) });
    }
    // The stock method would have logged the problems in `issues` and taken the server out of service.
    expect(Object.keys((client as unknown as { issues: object }).issues)).toEqual([]);
    expect(new Set(events)).toEqual(new Set(['issue']));
  });

  it('gets a SERVER_ERROR answer as (text, socket) while the answered query is first in socket.metaData, and the callback gets that query as `this`', async () => {
    const client = new FailFastMemcached(server.address, { timeout: 1000, maxValue: 16 * MiB });
    clients.push(client);
    let pendingAtIssue: unknown[] = [];
    const issue = vi.spyOn(client, 'connectionIssue').mockImplementation(function (this: FailFastMemcached, error, source) {
      pendingAtIssue = [...((source as { metaData?: unknown[] } | undefined)?.metaData ?? [])];
      FailFastMemcached.prototype.connectionIssue.call(this, error, source);
    });

    const answer = await new Promise<{ error: unknown; result: unknown; query: unknown }>((resolve) =>
      client.set('too-big', 'x'.repeat(5 * MiB), 60, function (this: unknown, error: unknown, result: boolean) {
        resolve({ error, result, query: this });
      }),
    );
    expect(issue).toHaveBeenCalledWith(
      'object too large for cache',
      expect.objectContaining({ serverAddress: server.address, metaData: expect.any(Array), end: expect.any(Function) }),
    );
    expect(pendingAtIssue[0]).toBe(answer.query);
    expect(answer.query).toMatchObject({ type: 'set', key: 'too-big', serverError: 'object too large for cache' });
    // The client itself reports no error for a SERVER_ERROR answer, which is why the override marks the query.
    expect(answer.error).toBeUndefined();
    expect(answer.result).toBe(false);
  });
});
