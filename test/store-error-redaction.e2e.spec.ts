import type { MaybePromise } from '../src/core/maybe-promise.js';
import 'reflect-metadata';
import { Controller, Get, HttpCode, Module, Post, type INestApplication, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MongoClient, MongoServerError } from 'mongodb';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  FileStore,
  Session,
  SessionError,
  SessionIndex,
  SessionLocks,
  SessionModule,
  generateSessionId,
  isValidSessionId,
  type SessionHandle,
  type SessionModuleOptions,
  type SessionRecord,
  type SessionStore,
} from '../src/index.js';
import { MemcachedStore } from '../src/stores/memcached/index.js';
import { MongoStore } from '../src/stores/mongodb/index.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { redactError } from '../src/core/redact-error.js';
import { TypeormStore } from '../src/stores/typeorm/index.js';
import { TestClient } from './support/http-client.js';
import { MemcachedTestServer } from './support/memcached-server.js';
import { freePort } from './support/ports.js';
import { startRedis } from './support/redis-servers.js';
import { SECRET } from './support/test-app.js';

/**
 * Point 8 of the security review (issue 10): no error a store reports may carry a raw session ID,
 * since `onError` and Nest's Logger write what they get to the logs, and a session ID is a bearer
 * credential.
 *
 * Every store that can fail here is broken for real (a directory replaced by a file, a table
 * dropped, a Redis out of memory or stopped, a memcached given an item above its size limit or
 * stopped), then its failure paths are run through a real Nest app (default `onError`, which logs
 * through Nest's Logger, and a capturing `onError`; both apps log to a capturing LoggerService) and
 * directly. Every captured error is serialised deeply (message, stack, cause chain, every own
 * property, `util.inspect` with unlimited depth) and must not contain any session ID the store was
 * handed, nor any signed cookie value.
 *
 * Not here: the MemoryStore has no failure path (it never rejects with a store error), and the
 * CookieStore makes no store calls (the session travels in the cookie).
 */

/** Methods whose first argument is a session ID, an index record ID or a lock key. */
const KEYED_METHODS = new Set(['get', 'set', 'patch', 'touch', 'destroy', 'tryLock', 'unlock']);
/** The biggest value the app stores: over memcached's item limit in the memcached backend. */
const BIG_VALUE = 'x'.repeat(4096);

/** Collects everything written to Nest's Logger. */
class CapturingLogger implements LoggerService {
  readonly entries: { level: string; args: unknown[] }[] = [];
  log(...args: unknown[]): void {
    this.entries.push({ level: 'log', args });
  }
  error(...args: unknown[]): void {
    this.entries.push({ level: 'error', args });
  }
  warn(...args: unknown[]): void {
    this.entries.push({ level: 'warn', args });
  }
  debug(...args: unknown[]): void {
    this.entries.push({ level: 'debug', args });
  }
  verbose(...args: unknown[]): void {
    this.entries.push({ level: 'verbose', args });
  }
  fatal(...args: unknown[]): void {
    this.entries.push({ level: 'fatal', args });
  }
}

@Controller()
class RedactionController {
  constructor(
    private readonly index: SessionIndex,
    private readonly locks: SessionLocks,
  ) {}

  @Get('value')
  value(@Session('count') count?: number) {
    return { count: count ?? null };
  }

  @Post('increment')
  @HttpCode(200)
  increment(@Session() session: SessionHandle) {
    const count = ((session.get('count') as number | undefined) ?? 0) + 1;
    session.set('count', count);
    return { count };
  }

  @Post('big')
  @HttpCode(200)
  big(@Session() session: SessionHandle) {
    session.set('big', BIG_VALUE);
    return {};
  }

  @Post('touch')
  @HttpCode(200)
  touch(@Session() session: SessionHandle) {
    session.touch();
    return {};
  }

  @Post('link')
  @HttpCode(200)
  async link(@Session() session: SessionHandle) {
    await this.index.link('user:alice', session.id!, Date.now() + 60_000);
    return {};
  }

  @Post('lock')
  @HttpCode(200)
  async lock(@Session() session: SessionHandle) {
    const lock = await this.locks.tryAcquire(`refresh:${session.id}`, 5_000);
    await lock?.release();
    return { locked: lock !== null };
  }

  @Post('regenerate')
  @HttpCode(200)
  async regenerate(@Session() session: SessionHandle) {
    await session.regenerate();
    session.set('user', 'alice');
    return {};
  }

  @Post('logout')
  @HttpCode(200)
  async logout(@Session() session: SessionHandle) {
    await session.destroy();
    return {};
  }
}

/**
 * The store as the app sees it, recording every ID-shaped string it is handed as a key (session
 * IDs, index record IDs, lock keys) or inside the data (the session IDs an index links). Only
 * records: every call goes to the real store.
 */
function recording(store: SessionStore, ids: Set<string>): SessionStore {
  const collect = (value: unknown): void => {
    if (typeof value === 'string') {
      if (isValidSessionId(value)) ids.add(value);
    } else if (Array.isArray(value)) {
      value.forEach(collect);
    } else if (typeof value === 'object' && value !== null) {
      for (const [key, inner] of Object.entries(value)) {
        collect(key);
        // Data values are the app's own; only keys and nested objects can name a session.
        if (typeof inner === 'object') collect(inner);
      }
    }
  };
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (typeof property !== 'string' || !KEYED_METHODS.has(property)) return value.bind(target);
      return (...args: unknown[]) => {
        collect(args[0]);
        // `set(id, record)` and `patch(id, patch)`: the data keys (an index's linked session IDs).
        if (property === 'set' || property === 'patch') collect(args[1]);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** Everything `value` holds, as text: message, stack, cause chain, every own property, deeply. */
function deepText(value: unknown): string {
  const parts = [
    inspect(value, { depth: Infinity, showHidden: true, breakLength: Infinity, maxArrayLength: Infinity, maxStringLength: Infinity }),
  ];
  const seen = new Set<object>();
  const walk = (current: unknown, depth: number): void => {
    if (typeof current === 'string') {
      parts.push(current);
      return;
    }
    if (typeof current !== 'object' || current === null) {
      parts.push(String(current));
      return;
    }
    if (seen.has(current) || depth > 40) return;
    seen.add(current);
    if (current instanceof Error) parts.push(String(current.name), String(current.message), String(current.stack), String(current));
    for (const key of Reflect.ownKeys(current)) {
      parts.push(String(key));
      const descriptor = Object.getOwnPropertyDescriptor(current, key);
      let child: unknown;
      try {
        child = descriptor && 'value' in descriptor ? descriptor.value : descriptor?.get?.call(current);
      } catch {
        continue;
      }
      walk(child, depth + 1);
    }
  };
  walk(value, 0);
  try {
    parts.push(JSON.stringify(value) ?? '');
  } catch {
    // Circular: the walk above has it all.
  }
  return parts.join('\n');
}

/** Where each secret appears in the captured values: `[]` when none does. */
function leaks(captured: { where: string; value: unknown }[], secrets: Map<string, string>): string[] {
  const found: string[] = [];
  for (const { where, value } of captured) {
    const text = deepText(value);
    for (const [secret, what] of secrets) {
      const at = text.indexOf(secret);
      if (at >= 0) found.push(`${where} carries ${what}: …${text.slice(Math.max(0, at - 120), at + secret.length + 40)}…`);
    }
  }
  return found;
}

/** A working store, and the ways to break it (in order, each after the previous one ended). */
interface Subject {
  store: SessionStore;
  outages: Outage[];
}

interface Outage {
  name: string;
  /** Break the store (it worked until now). */
  start(): Promise<void>;
  /** Repair it, when a later outage follows. */
  end?(): Promise<void>;
}

/** A full session record whose data links `linked` the way a session index does. */
const recordLinking = (linked: string): SessionRecord => ({
  data: { [linked]: String(Date.now() + 60_000), big: BIG_VALUE },
  createdAt: Date.now(),
  expiresAt: Date.now() + 60_000,
});

/**
 * Run every store method the session engine, SessionIndex and SessionLocks call, directly, with
 * fresh IDs (added to `ids`); resolves the errors they rejected with.
 */
async function directFailures(store: SessionStore, ids: Set<string>): Promise<unknown[]> {
  const id = generateSessionId();
  const linked = generateSessionId();
  const lockKey = generateSessionId(43);
  const owner = 'owner-1';
  ids.add(id).add(linked).add(lockKey);
  const calls: (() => MaybePromise<unknown>)[] = [
    () => store.get(id),
    () => store.set(id, recordLinking(linked)),
    () => store.patch(id, { set: { [linked]: '1', big: BIG_VALUE }, unset: [linked] }, Date.now() + 60_000),
    () => store.touch(id, Date.now() + 60_000),
    () => store.destroy(id),
  ];
  if (store.tryLock && store.unlock) {
    calls.push(
      () => store.tryLock!(lockKey, owner, 5_000),
      () => store.unlock!(lockKey, owner),
    );
  }
  const errors: unknown[] = [];
  for (const call of calls) {
    try {
      await call();
    } catch (error) {
      errors.push(error);
    }
  }
  return errors;
}

async function startApp(
  store: SessionStore,
  logger: LoggerService,
  extra: Partial<SessionModuleOptions>,
): Promise<{ app: INestApplication; url: string }> {
  @Module({
    imports: [SessionModule.forRoot({ secret: SECRET, store, storeTimeout: 5_000, ...extra })],
    controllers: [RedactionController],
  })
  class RedactionAppModule {}
  const app = await NestFactory.create(RedactionAppModule, { logger });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${port}` };
}

/**
 * Break `subject`'s store in each of its ways and run its failure paths through two apps and
 * directly; then check that nothing captured carries an ID or a signed cookie value, and that the
 * failures were really reached and reported.
 */
async function runRedactionCheck(subject: Subject, expectCause: (cause: unknown) => void): Promise<void> {
  const logger = new CapturingLogger();
  const reported: SessionError[] = [];
  const ids = new Set<string>();
  const cookies = new Set<string>();
  const store = recording(subject.store, ids);
  const apps = [
    await startApp(store, logger, { onError: (error) => reported.push(error) }),
    // The default onError, which logs through Nest's Logger.
    await startApp(store, logger, {}),
  ];
  const direct: unknown[] = [];
  let lastDirect: unknown[] = [];
  const responses: number[] = [];
  try {
    for (const outage of subject.outages) {
      // Sessions made while the store works, so the failing requests carry a cookie.
      const clients = apps.map(({ url }) => new TestClient(url));
      for (const client of clients) {
        expect((await client.post('/increment')).status).toBe(200);
        cookies.add(client.jar.get('sid')!);
      }
      await outage.start();
      for (const [i, client] of clients.entries()) {
        const fresh = new TestClient(apps[i].url);
        const requests = [
          () => client.get('/value'),
          () => client.post('/increment'),
          () => client.post('/big'),
          () => client.post('/touch'),
          () => client.post('/link'),
          () => client.post('/lock'),
          () => client.post('/regenerate'),
          () => client.post('/logout'),
          () => fresh.post('/increment'),
          () => fresh.post('/big'),
        ];
        for (const request of requests) {
          const response = await request();
          responses.push(response.status);
          for (const token of [client.jar.get('sid'), fresh.jar.get('sid')]) if (token) cookies.add(token);
        }
      }
      // The app's own services, called the way an application would.
      const index = apps[0].app.get(SessionIndex);
      const locks = apps[0].app.get(SessionLocks);
      const linked = generateSessionId();
      ids.add(linked);
      await index.link('user:bob', linked, Date.now() + 60_000).catch((error: unknown) => direct.push(error));
      await index.unlink('user:bob', linked).catch((error: unknown) => direct.push(error));
      await locks
        .tryAcquire(`refresh:${linked}`, 5_000)
        .then((lock) => lock?.release())
        .catch((error: unknown) => direct.push(error));
      lastDirect = await directFailures(store, ids);
      direct.push(...lastDirect);
      await outage.end?.();
    }
  } finally {
    for (const { app } of apps) await app.close();
  }

  const secrets = new Map<string, string>();
  for (const id of ids) secrets.set(id, `the ID ${id}`);
  for (const cookie of cookies) {
    secrets.set(cookie, 'a signed cookie value');
    secrets.set(cookie.split('.')[0], 'a session ID from a cookie');
  }
  const captured = [
    ...reported.map((value, i) => ({ where: `onError report #${i} (${value.code})`, value })),
    ...logger.entries.map((entry, i) => ({ where: `Logger.${entry.level} #${i}`, value: entry.args })),
    ...direct.map((value, i) => ({ where: `direct rejection #${i}`, value })),
  ];

  expect(leaks(captured, secrets)).toEqual([]);

  // Not vacuous: requests failed, errors were reported and logged, calls rejected, IDs were seen.
  expect(responses.filter((status) => status >= 500).length).toBeGreaterThan(0);
  expect(reported.filter((error) => error.code === 'SESSION_STORE_UNAVAILABLE').length).toBeGreaterThan(0);
  expect(logger.entries.some((entry) => entry.level === 'warn' || entry.level === 'error')).toBe(true);
  expect(direct.length).toBeGreaterThan(0);
  for (const error of direct) {
    expect(error).toBeInstanceOf(SessionError);
    expect((error as SessionError).code).toBe('SESSION_STORE_UNAVAILABLE');
  }
  expect(secrets.size).toBeGreaterThan(4);
  // The causes stay useful: the store's own error (here the last outage's failed get) keeps its
  // name, code and message.
  expectCause(innermost(lastDirect[0]));
}

/** The end of `error`'s cause chain. */
function innermost(error: unknown): unknown {
  let current = error;
  while (current instanceof Error && current.cause !== undefined) current = current.cause;
  return current;
}

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('store errors carry no session ID (security review, point 8)', () => {
  it('FileStore: its directory replaced by a file (fs errors name the session file)', async () => {
    const base = await mkdtemp(join(tmpdir(), 'nest-sessions-redaction-'));
    dirs.push(base);
    const directory = join(base, 'sessions');
    const store = new FileStore({ directory, gcInterval: 0 });
    await runRedactionCheck(
      {
        store,
        outages: [
          {
            name: 'directory replaced by a file',
            async start() {
              await rm(directory, { recursive: true, force: true });
              await writeFile(directory, 'not a directory');
            },
          },
        ],
      },
      (cause) => {
        expect(cause).toBeInstanceOf(Error);
        expect((cause as NodeJS.ErrnoException).code).toBe('ENOTDIR');
        expect((cause as Error).message).toContain('[redacted]');
        expect((cause as Error).message).toContain(directory);
      },
    );
    await store.close();
  }, 60_000);

  it('RedisStore: a Redis out of memory (writes refused), then stopped', async () => {
    const server = await startRedis();
    const store = new RedisStore({ host: '127.0.0.1', port: server.port, commandTimeout: 500, keyPrefix: 'redaction:' });
    const admin = new RedisStore({ host: '127.0.0.1', port: server.port });
    try {
      const causes: unknown[] = [];
      await runRedactionCheck(
        {
          store,
          outages: [
            {
              name: 'out of memory',
              async start() {
                await admin.client.config('SET', 'maxmemory', '1');
              },
              async end() {
                await admin.client.config('SET', 'maxmemory', '0');
              },
            },
            {
              name: 'stopped',
              async start() {
                await admin.close();
                await server.stop();
              },
            },
          ],
        },
        (cause) => causes.push(cause),
      );
      expect(causes[0]).toBeInstanceOf(Error);
    } finally {
      await store.close();
      await admin.close();
      await server.dispose();
    }
  }, 60_000);

  it('RedisStore: the OOM reply error keeps its name and command name, not its arguments', async () => {
    const server = await startRedis();
    const store = new RedisStore({ host: '127.0.0.1', port: server.port, commandTimeout: 500 });
    try {
      const id = generateSessionId();
      await store.set(id, { data: { a: '1' }, createdAt: Date.now(), expiresAt: Date.now() + 60_000 });
      await store.client.config('SET', 'maxmemory', '1');
      const error = await store.patch(id, { set: { b: '2' }, unset: [] }, Date.now() + 60_000).then(
        () => expect.unreachable('the patch should fail'),
        (err: unknown) => err as SessionError,
      );
      expect(deepText(error)).not.toContain(id);
      const cause = error.cause as Error & { command?: { name?: string; args?: unknown } };
      expect(cause.message).toMatch(/^OOM command not allowed/);
      expect(cause.name).toBe('ReplyError');
      expect(cause.command?.name).toBe('evalsha');
      expect(cause.command?.args).toBeUndefined();
    } finally {
      await store.close();
      await server.dispose();
    }
  }, 30_000);

  for (const [name, source, dropTable] of [
    [
      'PostgreSQL',
      { type: 'postgres', host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' },
      (table: string) => `DROP TABLE IF EXISTS "${table}"`,
    ],
    [
      'MariaDB',
      { type: 'mysql', host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test' },
      (table: string) => `DROP TABLE IF EXISTS \`${table}\``,
    ],
    ['SQLite', { type: 'better-sqlite3', database: ':memory:' }, (table: string) => `DROP TABLE IF EXISTS "${table}"`],
  ] as [string, DataSourceOptions, (table: string) => string][]) {
    it(`TypeormStore (${name}): its table dropped (query parameters and inlined SQL hold the ID)`, async () => {
      const dataSource = new DataSource(source);
      await dataSource.initialize();
      const tableName = `ns_redaction_${process.pid}_${generateSessionId()
        .slice(0, 6)
        .toLowerCase()
        .replace(/[^a-z0-9]/g, 'x')}`;
      const store = new TypeormStore({ dataSource, tableName, createTable: true, gcInterval: 0 });
      try {
        await runRedactionCheck(
          {
            store,
            outages: [{ name: 'table dropped', start: async () => void (await dataSource.query(dropTable(tableName))) }],
          },
          (cause) => {
            expect(cause).toBeInstanceOf(Error);
            expect((cause as Error).name).toBe('QueryFailedError');
            expect((cause as Error).message).toContain(tableName);
            expect((cause as { query?: unknown }).query).toEqual(expect.stringContaining(tableName));
            expect((cause as { parameters?: unknown }).parameters).toBeUndefined();
          },
        );
      } finally {
        await store.close();
        await dataSource.query(dropTable(tableName)).catch(() => undefined);
        await dataSource.destroy();
      }
    }, 60_000);
  }

  it('MemcachedStore: sessions over the item size limit, then memcached stopped', async () => {
    const server = new MemcachedTestServer();
    await server.start();
    // maxItemSize 1 KiB: the app's /big value (4 KiB) is refused before it is sent.
    const store = new MemcachedStore({ servers: server.address, timeout: 300, maxItemSize: 1024 });
    try {
      await runRedactionCheck(
        {
          store,
          outages: [
            // Not an outage: the store refuses the app's /big writes, everything else works.
            { name: 'items too large', start: async () => undefined },
            { name: 'stopped', start: () => server.stop() },
          ],
        },
        (cause) => expect(cause).toBeInstanceOf(Error),
      );
      // The too-large refusal still says what happened, without the key.
      const id = generateSessionId();
      const error = await store.set(id, { data: { big: BIG_VALUE }, createdAt: Date.now(), expiresAt: Date.now() + 60_000 }).then(
        () => expect.unreachable('the set should fail'),
        (err: unknown) => err as SessionError,
      );
      expect(deepText(error)).not.toContain(id);
      expect((error.cause as Error).message).toMatch(/would take about \d+ bytes, more than maxItemSize \(1024 bytes/);
    } finally {
      await store.close();
      await server.stop();
    }
  }, 60_000);

  it('MemcachedStore: compare-and-swap races lost (the gave-up message names the item)', async () => {
    const server = new MemcachedTestServer();
    await server.start();
    const store = new MemcachedStore({ servers: server.address, timeout: 1_000, casRetries: 0 });
    try {
      const id = generateSessionId();
      const failures: unknown[] = [];
      for (let round = 0; round < 50 && failures.length === 0; round++) {
        await store.set(id, { data: {}, createdAt: Date.now(), expiresAt: Date.now() + 60_000 });
        const results = await Promise.allSettled(
          Array.from({ length: 8 }, (_, i) => store.patch(id, { set: { [`k${i}`]: '1' }, unset: [] }, Date.now() + 60_000)),
        );
        for (const result of results) if (result.status === 'rejected') failures.push(result.reason);
      }
      expect(failures.length).toBeGreaterThan(0);
      for (const failure of failures) {
        expect(deepText(failure)).not.toContain(id);
        expect((failure as SessionError).code).toBe('SESSION_STORE_UNAVAILABLE');
        expect(((failure as SessionError).cause as Error).message).toContain('kept winning');
      }
    } finally {
      await store.close();
      await server.stop();
    }
  }, 60_000);

  it('MongoStore: a client pointed at a closed port (no MongoDB server here)', async () => {
    const port = await freePort();
    const store = new MongoStore({
      url: `mongodb://127.0.0.1:${port}/test`,
      clientOptions: { serverSelectionTimeoutMS: 200, connectTimeoutMS: 200 },
      createIndexes: false,
    });
    const ids = new Set<string>();
    const logger = new CapturingLogger();
    const reported: SessionError[] = [];
    const { app, url } = await startApp(recording(store, ids), logger, { onError: (error) => reported.push(error) });
    let direct: unknown[];
    try {
      // No session can be made, so only a new session's save fails through the app.
      expect((await new TestClient(url).post('/increment')).status).toBe(503);
      direct = await directFailures(store, ids);
    } finally {
      await app.close();
      await store.close();
    }
    expect(direct).toHaveLength(7);
    expect(reported.map((error) => error.code)).toEqual(['SESSION_STORE_UNAVAILABLE']);
    const secrets = new Map([...ids].map((id) => [id, `the ID ${id}`]));
    expect(
      leaks(
        [...reported, ...direct, ...logger.entries.map((entry) => entry.args)].map((value, i) => ({ where: `#${i}`, value })),
        secrets,
      ),
    ).toEqual([]);
  }, 60_000);

  // FAULT INJECTION, named as such: there is no MongoDB server here, so the driver's own error for a
  // duplicate key (which names the document's _id in its message and in keyValue) is thrown by the
  // stubbed methods of a real Collection of a client that never connects.
  it('MongoStore: a MongoServerError naming the _id (duplicate key) is reported without it', async () => {
    const client = new MongoClient('mongodb://127.0.0.1:1/test');
    const store = new MongoStore({ client, createIndexes: false });
    const collection = (store as unknown as { collection: Record<string, (filter: unknown) => Promise<unknown>> }).collection;
    const serverError = (filter: unknown): MongoServerError => {
      const _id = JSON.stringify((filter as { _id?: unknown })?._id ?? (filter as { _id?: unknown }));
      return new MongoServerError({
        message: `E11000 duplicate key error collection: test.sessions index: _id_ dup key: { _id: ${_id} }`,
        code: 11000,
        keyPattern: { _id: 1 },
        keyValue: { _id: JSON.parse(_id) as unknown },
        errmsg: `E11000 duplicate key error collection: test.sessions index: _id_ dup key: { _id: ${_id} }`,
      });
    };
    for (const method of ['findOne', 'replaceOne', 'updateOne', 'deleteOne', 'insertOne', 'findOneAndUpdate']) {
      vi.spyOn(collection, method).mockImplementation((filter) => Promise.reject(serverError(filter)));
    }
    const ids = new Set<string>();
    try {
      const direct = await directFailures(store, ids);
      expect(direct).toHaveLength(7);
      const secrets = new Map([...ids].map((id) => [id, `the ID ${id}`]));
      expect(
        leaks(
          direct.map((value, i) => ({ where: `direct rejection #${i}`, value })),
          secrets,
        ),
      ).toEqual([]);
      const cause = (direct[0] as SessionError).cause as Error & { code?: unknown };
      expect(cause.name).toBe('MongoServerError');
      expect(cause.code).toBe(11000);
      expect(cause.message).toContain('dup key: { _id: "[redacted]" }');
    } finally {
      vi.restoreAllMocks();
      await store.close();
      await client.close();
    }
  }, 30_000);
});

describe('redactError (the shared helper the stores use)', () => {
  it('replaces every ID it is given, down the cause chain and nested errors, and keeps name, code and message', () => {
    const id = generateSessionId();
    const linked = generateSessionId();
    const inner = Object.assign(new Error(`ENOENT: no such file, open '/srv/sessions/${id}.json'`), {
      code: 'ENOENT',
      errno: -2,
      path: `/srv/sessions/${id}.json`,
    });
    const aggregate = new AggregateError([inner, new Error(`dup key: { _id: "${linked}" }`)], 'several errors', { cause: inner });
    Object.assign(aggregate, {
      self: aggregate,
      parameters: [id, `{"${linked}":"1"}`],
      sql: `SELECT 1 WHERE id = '${id}'`,
      // JSON.parse keeps `__proto__` as an own key, as drivers' decoded replies do.
      keyValue: JSON.parse(`{"_id":"${id}","__proto__":"${linked}"}`) as unknown,
      socket: new (class Socket {})(),
    });
    const copy = redactError(aggregate, [`sess:${id}`, { [linked]: '1' }]);

    expect(deepText(copy)).not.toContain(id);
    expect(deepText(copy)).not.toContain(linked);
    expect(copy.name).toBe('AggregateError');
    expect(copy.message).toBe('several errors');
    const cause = copy.cause as NodeJS.ErrnoException;
    expect(cause.message).toBe("ENOENT: no such file, open '/srv/sessions/[redacted].json'");
    expect(cause).toMatchObject({ code: 'ENOENT', errno: -2, path: '/srv/sessions/[redacted].json' });
    expect((copy as AggregateError).errors.map((error: Error) => error.message)).toEqual([
      "ENOENT: no such file, open '/srv/sessions/[redacted].json'",
      'dup key: { _id: "[redacted]" }',
    ]);
    const props = copy as unknown as Record<string, unknown>;
    expect(props.self).toBe(copy);
    expect(props.keyValue).toEqual({ _id: '[redacted]', ['__proto__']: '[redacted]' });
    expect(props.parameters).toBeUndefined();
    expect(props.sql).toBeUndefined();
    expect(props.socket).toBeUndefined();
  });

  it('turns a thrown string into an Error, redacted', () => {
    const id = generateSessionId();
    const copy = redactError(`no item sess:${id}`, [id]);
    expect(copy).toBeInstanceOf(Error);
    expect(copy.message).toBe('no item sess:[redacted]');
  });
});
