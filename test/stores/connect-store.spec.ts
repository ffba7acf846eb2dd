import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisStore } from 'connect-redis';
import connectPgSimple from 'connect-pg-simple';
import express from 'express';
import session from 'express-session';
import pg from 'pg';
import { createClient } from 'redis';
import sessionFileStore from 'session-file-store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromConnectStore, JsonCodec, RichCodec, SessionError, type ConnectSessionStore } from '../../src/index.js';
import { generateSessionId } from '../../src/core/session-id.js';
import type { SessionRecord } from '../../src/core/session-store.interface.js';
import { describeStoreConformance } from '../../src/store-kit/store-conformance.js';
import { encodeJsonValue, META_KEY } from '../../src/stores/connect/connect-session.mapping.js';
import { startRedis } from '../support/redis-servers.js';
import { startSessionApp } from '../support/test-app.js';

/**
 * fromConnectStore against real connect stores on the real servers: connect-redis on Redis
 * (127.0.0.1:6379), connect-pg-simple on PostgreSQL (127.0.0.1:5432, database `test`), and
 * session-file-store on the file system for the ENOENT rule.
 */

/** Unique per run: every Redis key of this file starts with it, and the PostgreSQL tables live in this schema. */
const RUN = `${process.pid}_${randomBytes(4).toString('hex')}`;
const REDIS_PREFIX = `test:connect:${RUN}:`;
const SCHEMA = `connect_store_${RUN}`;
const HOUR = 60 * 60_000;
const PGStore = connectPgSimple(session);
const FileStore = sessionFileStore(session);
const json = new JsonCodec();

type RedisClient = ReturnType<typeof createClient>;

let redis: RedisClient;
let pool: pg.Pool;
let prefixes = 0;

/** A Redis key prefix of its own (under this run's), so a test sees only its own sessions. */
const freshPrefix = (): string => `${REDIS_PREFIX}${++prefixes}:`;
const redisStore = (prefix = `${REDIS_PREFIX}conformance:`, client: RedisClient = redis): RedisStore => new RedisStore({ client, prefix });
const pgStore = (options: connectPgSimple.PGStoreOptions = {}): connectPgSimple.PGStore =>
  new PGStore({ pool, schemaName: SCHEMA, tableName: 'session', pruneSessionInterval: false, ...options });

const record = (data: Record<string, string>, ttl = HOUR, principal?: string): SessionRecord => ({
  data,
  createdAt: Date.now() - 5000,
  expiresAt: Date.now() + ttl,
  ...(principal === undefined ? {} : { principal }),
});

const quiet = <T extends { on(event: 'error', listener: (err: unknown) => void): unknown }>(client: T): T => {
  client.on('error', () => {
    // Tests assert on the adapter's results, not on connection events.
  });
  return client;
};

/** The rejection of `promise` as a SessionError (failing the test when it resolves). */
async function rejectionOf(promise: unknown): Promise<SessionError> {
  const error: unknown = await Promise.resolve(promise).then(
    () => expect.unreachable('expected a rejection'),
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(SessionError);
  return error as SessionError;
}

/** Everything an error says: message, stack and own properties, down its cause chain. */
function everythingIn(error: unknown, depth = 0): string {
  if (typeof error !== 'object' || error === null || depth > 5) return String(error);
  const err = error as Error;
  const own = Object.entries(err).map(
    ([key, value]) => `${key}=${typeof value === 'object' ? everythingIn(value, depth + 1) : String(value)}`,
  );
  return [err.message, err.stack, ...own, everythingIn(err.cause, depth + 1)].join('\n');
}

async function until(condition: () => boolean, timeout = 10_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeout) throw new Error('timed out waiting for a condition');
    await new Promise((done) => setTimeout(done, 20));
  }
}

async function redisKeys(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const batch of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) keys.push(...batch);
  return keys;
}

beforeAll(async () => {
  redis = quiet(createClient({ url: 'redis://127.0.0.1:6379' }));
  await redis.connect();
  pool = new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test', max: 4 });
  await pool.query(`CREATE SCHEMA "${SCHEMA}"`);
  // connect-pg-simple creates its table (from its own table.sql) on the first query.
  await fromConnectStore(pgStore({ createTableIfMissing: true })).get(generateSessionId());
});

afterAll(async () => {
  const keys = await redisKeys(REDIS_PREFIX);
  if (keys.length > 0) await redis.del(keys);
  await redis.close();
  await pool.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
  await pool.end();
});

describeStoreConformance('fromConnectStore(connect-redis)', () => fromConnectStore(redisStore()), {
  supportsGc: false,
  supportsPrincipal: false,
  supportsLocks: false,
});

describeStoreConformance('fromConnectStore(connect-pg-simple)', () => fromConnectStore(pgStore()), {
  supportsGc: false,
  supportsPrincipal: false,
  supportsLocks: false,
});

describe('fromConnectStore', () => {
  describe('the stored format', () => {
    it('stores JSON-codec values as plain members, with cookie.expires driving the store TTL', async () => {
      const prefix = freshPrefix();
      const store = fromConnectStore(redisStore(prefix));
      const id = generateSessionId();
      const profile = { name: 'Ada', roles: ['admin'], nested: { ok: true } };
      const rec = record({ profile: json.encode(profile), count: json.encode(42), note: json.encode('héllo "q"\n') }, 90_000, 'user-1');
      await store.set(id, rec);

      const raw = JSON.parse((await redis.get(`${prefix}${id}`))!);
      expect(raw.profile).toEqual(profile);
      expect(raw.count).toBe(42);
      expect(raw.note).toBe('héllo "q"\n');
      expect(raw.cookie).toEqual({ originalMaxAge: expect.any(Number), expires: new Date(rec.expiresAt).toISOString() });
      expect(raw.cookie.originalMaxAge).toBeGreaterThan(85_000);
      expect(raw.cookie.originalMaxAge).toBeLessThanOrEqual(90_000);
      expect(raw[META_KEY]).toEqual({ createdAt: rec.createdAt, principal: 'user-1' });
      // connect-redis computed its TTL from cookie.expires.
      const ttl = await redis.ttl(`${prefix}${id}`);
      expect(ttl).toBeGreaterThanOrEqual(85);
      expect(ttl).toBeLessThanOrEqual(90);

      expect(await store.get(id)).toEqual(rec);
    });

    it('keeps text that is not canonical JSON, and keys named cookie or nest-sessions, exactly', async () => {
      const prefix = freshPrefix();
      const store = fromConnectStore(redisStore(prefix));
      const rich = new RichCodec();
      const cart = new Map<string, bigint>([['sku-1', 2n]]);
      const data = {
        cookie: json.encode({ mine: true }),
        [META_KEY]: json.encode('not the adapter’s'),
        spaced: '{ "a": 1 }',
        decimal: '1.0',
        huge: '12345678901234567890',
        text: 'not json at all',
        cart: rich.encode(cart),
        plain: json.encode([1, 'two']),
      };
      const id = generateSessionId();
      await store.set(id, record(data));

      const got = (await store.get(id))!;
      expect(got.data).toEqual(data);
      expect(rich.decode(got.data.cart)).toEqual(cart);
      const raw = JSON.parse((await redis.get(`${prefix}${id}`))!);
      expect(raw.plain).toEqual([1, 'two']);
      expect(raw.spaced).toBeUndefined();
      expect(raw[META_KEY].text).toMatchObject({
        cookie: data.cookie,
        [META_KEY]: data[META_KEY],
        spaced: '{ "a": 1 }',
        text: 'not json at all',
      });

      expect(await store.patch(id, { set: { cookie: '"changed"' }, unset: ['text'], principal: 'p' }, Date.now() + HOUR)).toBe(true);
      const patched = (await store.get(id))!;
      expect(patched.data.cookie).toBe('"changed"');
      expect(patched.data.text).toBeUndefined();
      expect(patched.principal).toBe('p');
      expect(patched.createdAt).toBe(got.createdAt);
    });

    it('encodes a stored value exactly as the JSON codec does, and refuses what it refuses', () => {
      const values: unknown[] = [
        'héllo "q" \\ \n \u2028 😀',
        '',
        0,
        -0,
        1.5,
        1e21,
        -123456789.125,
        Number.MAX_SAFE_INTEGER,
        true,
        false,
        null,
        [],
        {},
        [1, 'a', null, { b: [true] }],
        JSON.parse('{"__proto__":{"polluted":1},"constructor":"c"}'),
        { nested: { deeper: { list: [1, 2, { k: 'v' }] } }, 'key with "quotes"': 'x' },
        new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)),
        { when: new Date(0), skipped: undefined, list: [undefined] },
        { toJSON: () => ({ custom: 1 }) },
      ];
      for (const value of values) expect(encodeJsonValue(value, 'k'), JSON.stringify(value)).toBe(json.encode(value));

      const circular: Record<string, unknown> = {};
      circular.self = circular;
      for (const refused of [() => 1, Symbol('s'), 10n, { deep: [() => 1] }, { big: 1n }, circular]) {
        let ours: unknown;
        let theirs: unknown;
        try {
          encodeJsonValue(refused, 'k');
        } catch (err) {
          ours = err;
        }
        try {
          json.encode(refused);
        } catch (err) {
          theirs = err;
        }
        expect((ours as SessionError).code).toBe('SESSION_CODEC_ERROR');
        expect((theirs as SessionError).code).toBe('SESSION_CODEC_ERROR');
      }
    });

    it('gives a session without a cookie expiry fallbackTtl, and derives createdAt from expires - originalMaxAge', async () => {
      const prefix = freshPrefix();
      const store = fromConnectStore(redisStore(prefix), { fallbackTtl: 2 * HOUR });
      const browserSession = generateSessionId();
      await redis.set(`${prefix}${browserSession}`, JSON.stringify({ cookie: { originalMaxAge: null, expires: null, path: '/' }, n: 1 }));
      const before = Date.now();
      const got = (await store.get(browserSession))!;
      expect(got.data).toEqual({ n: '1' });
      expect(got.expiresAt).toBeGreaterThanOrEqual(before + 2 * HOUR);
      expect(got.expiresAt).toBeLessThanOrEqual(Date.now() + 2 * HOUR);
      expect(got.createdAt).toBeGreaterThanOrEqual(before);

      const lastTouched = Date.now() - 10 * 60_000;
      const legacy = generateSessionId();
      const expires = new Date(lastTouched + HOUR).toISOString();
      await redis.set(`${prefix}${legacy}`, JSON.stringify({ cookie: { originalMaxAge: HOUR, expires, httpOnly: true, path: '/' }, n: 2 }));
      const legacyRecord = (await store.get(legacy))!;
      expect(legacyRecord).toEqual({ data: { n: '2' }, createdAt: lastTouched, expiresAt: Date.parse(expires) });

      // A rewrite keeps express-session's cookie settings and notes createdAt for good.
      expect(await store.touch(legacy, Date.now() + HOUR)).toBe(true);
      const raw = JSON.parse((await redis.get(`${prefix}${legacy}`))!);
      expect(raw.cookie).toMatchObject({ httpOnly: true, path: '/' });
      expect(raw[META_KEY].createdAt).toBe(lastTouched);
      expect((await store.get(legacy))!.createdAt).toBe(lastTouched);

      await redis.set(`${prefix}${legacy}`, JSON.stringify({ cookie: { expires: new Date(Date.now() - 1000).toISOString() }, n: 3 }));
      expect(await store.get(legacy)).toBeNull();
      for (const corrupt of ['[]', '"text"', 'null', '42']) {
        await redis.set(`${prefix}${legacy}`, corrupt);
        expect(await store.get(legacy), corrupt).toBeNull();
      }
    });

    it('refuses a store without get, set and destroy, and a bad fallbackTtl', () => {
      for (const [bad, option] of [
        [{}, 'store'],
        [{ get() {}, set() {} }, 'store'],
        [null, 'store'],
      ] as const) {
        let error: unknown;
        try {
          fromConnectStore(bad as never);
        } catch (err) {
          error = err;
        }
        expect((error as SessionError).code).toBe('SESSION_OPTIONS_INVALID');
        expect((error as SessionError).message).toContain(`\`${option}\``);
      }
      for (const fallbackTtl of [0, -1, 1.5, Number.NaN]) {
        expect(() => fromConnectStore(redisStore(), { fallbackTtl })).toThrow(/`fallbackTtl`/);
      }
    });
  });

  describe('the engine and express-session on the same store', () => {
    it('a session written by the engine through the adapter is read back identically by the engine', async () => {
      const prefix = freshPrefix();
      const app = await startSessionApp({ store: fromConnectStore(redisStore(prefix)) });
      try {
        const client = app.client();
        const values = {
          profile: { name: 'Ada', tags: ['a', 'b'], nested: { n: 1.25 } },
          count: 3,
          note: 'héllo "q"',
          flag: false,
          none: null,
        };
        expect((await client.post('/set', values)).status).toBe(200);
        expect((await client.get('/all')).json()).toEqual(values);

        const [key] = await redisKeys(prefix);
        const raw = JSON.parse((await redis.get(key))!);
        expect(raw).toMatchObject(values);
        const got = (await fromConnectStore(redisStore(prefix)).get(key.slice(prefix.length)))!;
        for (const [name, value] of Object.entries(values)) expect(got.data[name]).toBe(json.encode(value));
      } finally {
        await app.close();
      }
    });

    it('a session written by express-session + connect-redis is readable through the adapter, and the other way round', async () => {
      const prefix = freshPrefix();
      const connectStore = redisStore(prefix);
      const secret = 'legacy-express-session-secret';
      const app = express();
      app.use(express.json());
      app.use(session({ store: connectStore, secret, resave: false, saveUninitialized: false, cookie: { maxAge: HOUR } }));
      app.post('/login', (req, res) => {
        Object.assign(req.session, { user: { id: 7, name: 'Ada' }, cart: ['sku-1', 'sku-2'], views: 3, greeting: 'héllo' });
        res.json({ id: req.sessionID });
      });
      app.get('/read', (req, res) => {
        res.json({ ...req.session });
      });
      const server: Server = await new Promise((listening) => {
        const started = app.listen(0, '127.0.0.1', () => listening(started));
      });
      try {
        const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const before = Date.now();
        const login = await fetch(`${base}/login`, { method: 'POST' });
        const { id } = (await login.json()) as { id: string };
        const cookie = login.headers.getSetCookie()[0].split(';')[0];
        expect(decodeURIComponent(cookie)).toContain(`s:${id}.`);

        const adapter = fromConnectStore(connectStore);
        const got = (await adapter.get(id))!;
        expect(got.data).toEqual({
          user: json.encode({ id: 7, name: 'Ada' }),
          cart: json.encode(['sku-1', 'sku-2']),
          views: json.encode(3),
          greeting: json.encode('héllo'),
        });
        expect(json.decode(got.data.user)).toEqual({ id: 7, name: 'Ada' });
        expect(got.expiresAt).toBeGreaterThanOrEqual(before + HOUR);
        expect(got.expiresAt).toBeLessThanOrEqual(Date.now() + HOUR);
        // express-session keeps no creation time: the cookie's lifetime started when it was written.
        expect(got.createdAt).toBeGreaterThanOrEqual(before);
        expect(got.createdAt).toBeLessThanOrEqual(Date.now());

        // Written back through the adapter, the session is still express-session's.
        expect(await adapter.patch(id, { set: { theme: json.encode('dark') }, unset: ['views'] }, Date.now() + HOUR)).toBe(true);
        const read = await fetch(`${base}/read`, { headers: { cookie } });
        const seen = (await read.json()) as Record<string, unknown>;
        expect(seen).toMatchObject({ user: { id: 7, name: 'Ada' }, cart: ['sku-1', 'sku-2'], greeting: 'héllo', theme: 'dark' });
        expect(seen.views).toBeUndefined();
        expect(seen.cookie).toMatchObject({ httpOnly: true, path: '/', originalMaxAge: expect.any(Number) });
      } finally {
        await new Promise((closed) => server.close(closed));
      }
    });
  });

  describe('optional methods', () => {
    it('length, clear and all where the connect store has them (connect-redis)', async () => {
      const prefix = freshPrefix();
      const store = fromConnectStore(redisStore(prefix));
      expect(typeof store.length).toBe('function');
      expect(typeof store.clear).toBe('function');
      expect(typeof store.all).toBe('function');
      const [a, b, expired] = [generateSessionId(), generateSessionId(), generateSessionId()];
      const recA = record({ n: '1' });
      const recB = record({ n: '2', cookie: '"kept"' });
      await store.set(a, recA);
      await store.set(b, recB);
      await redis.set(`${prefix}${expired}`, JSON.stringify({ cookie: { expires: new Date(Date.now() - 1000).toISOString() }, n: 3 }));
      await redis.set(`${prefix}not-an-id`, JSON.stringify({ cookie: {}, n: 4 }));

      expect(await store.length!()).toBe(4);
      const all = await store.all!();
      expect(all.sort((x, y) => (x.id < y.id ? -1 : 1))).toEqual(
        [
          { id: a, record: recA },
          { id: b, record: recB },
        ].sort((x, y) => (x.id < y.id ? -1 : 1)),
      );
      await store.clear!();
      expect(await store.length!()).toBe(0);
      expect(await store.all!()).toEqual([]);
    });

    it('leaves out what the connect store does not have, and what no connect store can give', () => {
      const store: ConnectSessionStore = fromConnectStore(pgStore());
      for (const method of ['length', 'clear', 'all', 'gc', 'findByPrincipal', 'destroyByPrincipal', 'tryLock', 'unlock']) {
        expect(method in store, method).toBe(false);
      }
      const redisAdapter = fromConnectStore(redisStore());
      for (const method of ['gc', 'findByPrincipal', 'destroyByPrincipal', 'tryLock', 'unlock']) {
        expect(method in redisAdapter, method).toBe(false);
      }
    });
  });

  describe('faults', () => {
    it('reads ENOENT from a file store (session-file-store) as not found', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ns-connect-file-'));
      const fileStore = new FileStore({ path: dir, retries: 0, reapInterval: -1, logFn: () => undefined });
      try {
        const store = fromConnectStore(fileStore);
        const missing = generateSessionId();
        // The store itself answers a missing session with an ENOENT error, as express-session expects.
        const rawError = await new Promise((done) => fileStore.get(missing, (err) => done(err)));
        expect((rawError as NodeJS.ErrnoException).code).toBe('ENOENT');

        expect(await store.get(missing)).toBeNull();
        expect(await store.patch(missing, { set: { a: '1' }, unset: [] }, Date.now() + HOUR)).toBe(false);
        expect(await store.touch(missing, Date.now() + HOUR)).toBe(false);
        await expect(store.destroy(missing)).resolves.toBeUndefined();
        expect(await store.get(missing)).toBeNull();

        const id = generateSessionId();
        await store.set(id, record({ a: '"x"' }));
        expect((await store.get(id))!.data).toMatchObject({ a: '"x"' });
        await store.destroy(id);
        expect(await store.get(id)).toBeNull();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('maps store errors to SESSION_STORE_UNAVAILABLE with the cause, without the session ID', async () => {
      // Redis: a key of another type answers WRONGTYPE.
      const prefix = freshPrefix();
      const store = fromConnectStore(redisStore(prefix));
      const id = generateSessionId();
      await redis.hSet(`${prefix}${id}`, 'field', 'value');
      for (const operation of [
        () => store.get(id),
        () => store.patch(id, { set: { a: '1' }, unset: [] }, Date.now() + HOUR),
        () => store.touch(id, Date.now() + HOUR),
      ]) {
        const error = await rejectionOf(operation());
        expect(error.code).toBe('SESSION_STORE_UNAVAILABLE');
        expect(error.status).toBe(503);
        expect((error.cause as Error).message).toContain('WRONGTYPE');
        expect(everythingIn(error)).not.toContain(id);
      }

      // PostgreSQL: connect-pg-simple on a schema that does not exist.
      const missingTable = fromConnectStore(pgStore({ schemaName: `${SCHEMA}_missing` }));
      for (const operation of [
        () => missingTable.get(id),
        () => missingTable.set(id, record({ a: '1' })),
        () => missingTable.destroy(id),
      ]) {
        const error = await rejectionOf(operation());
        expect(error.code).toBe('SESSION_STORE_UNAVAILABLE');
        expect((error.cause as Error).message).toMatch(/does not exist/);
        expect(everythingIn(error)).not.toContain(id);
      }

      // A file store whose error names the session file: the ID is redacted from the cause.
      const dir = await mkdtemp(join(tmpdir(), 'ns-connect-file-'));
      const sessions = join(dir, 'sessions');
      const fileStore = new FileStore({ path: sessions, retries: 0, reapInterval: -1, logFn: () => undefined });
      try {
        await rm(sessions, { recursive: true });
        await writeFile(sessions, 'not a directory');
        const error = await rejectionOf(fromConnectStore(fileStore).get(id));
        expect(error.code).toBe('SESSION_STORE_UNAVAILABLE');
        expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOTDIR');
        expect((error.cause as Error).message).toContain('[redacted]');
        expect(everythingIn(error)).not.toContain(id);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('maps errors of stores that throw or reject instead of calling back', async () => {
      const cause = new Error('boom');
      const throwing = fromConnectStore({
        get() {
          throw cause;
        },
        set: async () => Promise.reject(cause),
        destroy: (_sid: string, callback: (err?: unknown) => void) => {
          callback(cause);
          callback(); // a second answer is ignored
        },
      });
      const id = generateSessionId();
      for (const operation of [() => throwing.get(id), () => throwing.set(id, record({ a: '1' })), () => throwing.destroy(id)]) {
        const error = await rejectionOf(operation());
        expect(error.code).toBe('SESSION_STORE_UNAVAILABLE');
        expect((error.cause as Error).message).toBe('boom');
      }
    });

    it('fails fast between disconnect and connect, and works again after (a Redis server stopped and started)', async () => {
      const server = await startRedis();
      const client = quiet(createClient({ socket: { host: server.host, port: server.port, reconnectStrategy: () => 100 } }));
      const connectStore = new RedisStore({ client, prefix: freshPrefix() });
      // The wiring an express-session app gives connect-redis, whose client reports its state.
      client.on('error', () => connectStore.emit('disconnect'));
      client.on('ready', () => connectStore.emit('connect'));
      await client.connect();
      const store = fromConnectStore(connectStore);
      const app = await startSessionApp({ store });
      try {
        const id = generateSessionId();
        const rec = record({ a: '1' });
        await store.set(id, rec);
        expect(await store.get(id)).toEqual(rec);

        await server.stop();
        await until(() => store.disconnected);
        for (const operation of [
          () => store.get(id),
          () => store.set(id, rec),
          () => store.patch(id, { set: { b: '2' }, unset: [] }, rec.expiresAt),
          () => store.touch(id, rec.expiresAt),
          () => store.destroy(id),
        ]) {
          const started = Date.now();
          const error = await rejectionOf(operation());
          expect(Date.now() - started).toBeLessThan(200);
          expect(error.code).toBe('SESSION_STORE_UNAVAILABLE');
          expect((error.cause as Error).message).toContain('"disconnect"');
        }
        // The engine answers 503 at once, per the outage rule.
        const started = Date.now();
        expect((await app.client().post('/set', { a: 1 })).status).toBe(503);
        expect(Date.now() - started).toBeLessThan(1000);

        await server.start();
        await until(() => !store.disconnected);
        // The server kept nothing (no persistence), but the same adapter works again.
        expect(await store.get(id)).toBeNull();
        await store.set(id, rec);
        expect(await store.get(id)).toEqual(rec);
        expect((await app.client().post('/set', { a: 1 })).status).toBe(200);
      } finally {
        await app.close();
        client.destroy();
        await server.dispose();
      }
    });

    it('follows the events of the store it was given, until close()', async () => {
      const connectStore = redisStore(freshPrefix());
      const store = fromConnectStore(connectStore);
      const id = generateSessionId();
      await store.set(id, record({ a: '1' }));

      connectStore.emit('disconnect');
      expect(store.disconnected).toBe(true);
      expect((await rejectionOf(store.get(id))).code).toBe('SESSION_STORE_UNAVAILABLE');
      connectStore.emit('connect');
      expect(store.disconnected).toBe(false);
      expect(await store.get(id)).not.toBeNull();

      await store.close();
      connectStore.emit('disconnect');
      expect(store.disconnected).toBe(false);
      expect(await store.get(id)).not.toBeNull();
      expect(connectStore.listenerCount('disconnect') + connectStore.listenerCount('connect')).toBe(0);
    });
  });
});
