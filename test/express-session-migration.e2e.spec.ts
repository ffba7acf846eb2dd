import { Controller, Get, Module, Req, UnauthorizedException } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import connectPgSimple from 'connect-pg-simple';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import express, { type Request } from 'express';
import expressSession from 'express-session';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import passport from 'passport';
import pg from 'pg';
import { createClient } from 'redis';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromConnectStore, SessionManager, SessionModule, type SessionModuleOptions, type SessionStore } from '../src/index.js';
import { RedisStore } from '../src/stores/redis/redis.store.js';
import { TypeormStore } from '../src/stores/typeorm/index.js';
import { TestClient } from './support/http-client.js';
import { SECRET } from './support/test-app.js';

/**
 * The move from express-session to nest-sessions, as a real app makes it: an Express app with
 * express-session, a connect store and passport logs a user in and keeps data; then the Nest app
 * takes over the same store and the same cookie jar. The user must still be logged in with the
 * data intact, and the cookie is re-issued once, in nest-sessions' format.
 */
const LEGACY_SECRET = 'keyboard cat';
const COOKIE = 'connect.sid';
const run = `${process.pid}-${Date.now()}`;

class HeaderStrategy extends passport.Strategy {
  override name = 'header';
  override authenticate(req: Request): void {
    if (req.headers['x-user'] === 'alice') this.success({ id: 'u-alice', name: 'Alice' });
    else this.fail(401);
  }
}

function authenticator(): passport.PassportStatic {
  const instance = new passport.Passport() as passport.PassportStatic;
  instance.use(new HeaderStrategy());
  instance.serializeUser((user: Express.User, done) => done(null, (user as { id: string }).id));
  instance.deserializeUser((id: string, done) => done(null, id === 'u-alice' ? { id, name: 'Alice' } : false));
  return instance;
}

/** The app before the move: express-session over `store`, passport, a cart. */
async function startExpressApp(store: expressSession.Store): Promise<{ url: string; close: () => Promise<void> }> {
  const auth = authenticator();
  const app = express();
  app.use(expressSession({ name: COOKIE, secret: LEGACY_SECRET, store, resave: false, saveUninitialized: false }));
  app.use(auth.initialize());
  app.use(auth.session());
  app.post('/login', (req, res, next) => {
    auth.authenticate('header', (err: unknown, user: Express.User | false) => {
      if (err || !user) return next(err ?? new Error('refused'));
      req.logIn(user, (loginErr) => (loginErr ? next(loginErr) : res.json({ ok: true })));
    })(req, res, next);
  });
  app.post('/cart', (req, res) => {
    (req.session as unknown as { cart: unknown }).cart = [{ sku: 'tea', qty: 2 }];
    res.json({ ok: true });
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

@Controller()
class AccountController {
  @Get('me')
  me(@Req() req: Request) {
    if (!req.user) throw new UnauthorizedException();
    return { user: req.user, cart: (req.session as unknown as { cart?: unknown }).cart ?? null };
  }
}

/** The app after the move: nest-sessions, with passport mounted as the README shows. */
async function startNestApp(options: Partial<SessionModuleOptions>): Promise<{ url: string; close: () => Promise<void> }> {
  @Module({
    imports: [SessionModule.forRoot({ secret: SECRET, cookie: { name: COOKIE }, legacyCookies: { secrets: [LEGACY_SECRET] }, ...options })],
    controllers: [AccountController],
  })
  class MigratedApp {}
  const auth = authenticator();
  const app = await NestFactory.create(MigratedApp, { logger: false });
  app.use(app.get(SessionManager).middleware());
  app.use(auth.initialize());
  app.use(auth.session());
  await app.listen(0, '127.0.0.1');
  return { url: await app.getUrl().then((url) => url.replace('[::1]', '127.0.0.1')), close: () => app.close() };
}

/** Log in and fill the cart on the Express app; the client's jar then holds express-session's cookie. */
async function loginBeforeTheMove(store: expressSession.Store): Promise<{ client: TestClient; id: string }> {
  const before = await startExpressApp(store);
  try {
    const client = new TestClient(before.url);
    expect((await client.post('/login', undefined, { headers: { 'x-user': 'alice' } })).json()).toEqual({ ok: true });
    expect((await client.post('/cart')).json()).toEqual({ ok: true });
    const cookie = client.jar.get(COOKIE)!;
    expect(cookie.startsWith('s%3A')).toBe(true);
    const id = decodeURIComponent(cookie).slice(2, decodeURIComponent(cookie).lastIndexOf('.'));
    return { client, id };
  } finally {
    await before.close();
  }
}

/** The first requests after the move: logged in, cart intact, cookie re-issued once in our format. */
async function expectStillLoggedIn(client: TestClient, url: string): Promise<string> {
  const after = new TestClient(url, client.jar);
  const first = await after.get('/me');
  expect(first.status).toBe(200);
  expect(first.json()).toEqual({ user: { id: 'u-alice', name: 'Alice' }, cart: [{ sku: 'tea', qty: 2 }] });
  const reissued = first.cookie(COOKIE);
  expect(reissued).toBeDefined();
  const token = after.jar.get(COOKIE)!;
  expect(token.startsWith('s%3A')).toBe(false);

  const second = await after.get('/me');
  expect(second.json()).toEqual(first.json());
  expect(second.cookie(COOKIE)).toBeUndefined();
  return token.slice(0, token.lastIndexOf('.'));
}

describe('moving from express-session + connect-redis', () => {
  let redis: ReturnType<typeof createClient>;
  const prefix = `migration:${run}:`;

  beforeAll(async () => {
    redis = createClient({ url: 'redis://127.0.0.1:6379' });
    await redis.connect();
  });
  afterAll(async () => {
    for await (const keys of redis.scanIterator({ MATCH: `${prefix}*` })) if (keys.length > 0) await redis.del(keys);
    for await (const keys of redis.scanIterator({ MATCH: `ours:${run}:*` })) if (keys.length > 0) await redis.del(keys);
    redis.destroy();
  });

  it('keeps the user on the same connect-redis store (fromConnectStore), re-issuing the cookie once', async () => {
    const connectStore = new ConnectRedisStore({ client: redis, prefix: `${prefix}same:` });
    const { client, id } = await loginBeforeTheMove(connectStore);
    const after = await startNestApp({ store: fromConnectStore(connectStore) });
    try {
      expect(await expectStillLoggedIn(client, after.url)).toBe(id);
    } finally {
      await after.close();
    }
  });

  it("migrates the session into nest-sessions' RedisStore on first use (legacyStore), deleting the old record", async () => {
    const connectStore = new ConnectRedisStore({ client: redis, prefix: `${prefix}moved:` });
    const { client, id } = await loginBeforeTheMove(connectStore);
    expect(await redis.exists(`${prefix}moved:${id}`)).toBe(1);
    const store = new RedisStore({ host: '127.0.0.1', port: 6379, keyPrefix: `ours:${run}:` });
    const after = await startNestApp({ store, legacyStore: fromConnectStore(connectStore) });
    try {
      expect(await expectStillLoggedIn(client, after.url)).toBe(id);
      expect(await redis.exists(`${prefix}moved:${id}`)).toBe(0);
      expect((await store.get(id))?.data.passport).toBe(JSON.stringify({ user: 'u-alice' }));
    } finally {
      await after.close();
      await store.close();
    }
  });

  it('refuses a legacy cookie signed with another secret: the visitor is simply anonymous, nothing is read or lost', async () => {
    const connectStore = new ConnectRedisStore({ client: redis, prefix: `${prefix}forged:` });
    const { client, id } = await loginBeforeTheMove(connectStore);
    const after = await startNestApp({ store: fromConnectStore(connectStore), legacyCookies: { secrets: ['another secret'] } });
    try {
      const response = await new TestClient(after.url, client.jar).get('/me');
      expect(response.status).toBe(401);
      expect(await redis.exists(`${prefix}forged:${id}`)).toBe(1);
    } finally {
      await after.close();
    }
  });
});

describe('moving from express-session + connect-pg-simple', () => {
  const tableName = `legacy_sessions_${run.replace(/-/g, '_')}`;
  const ourTable = `our_sessions_${run.replace(/-/g, '_')}`;
  let pool: pg.Pool;
  let dataSource: DataSource;
  let store: SessionStore & { close(): Promise<void> };

  beforeAll(async () => {
    pool = new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' });
    dataSource = new DataSource({ type: 'postgres', host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' });
    await dataSource.initialize();
    store = new TypeormStore({ dataSource, tableName: ourTable, createTable: true, gcInterval: 0 });
  });
  afterAll(async () => {
    await pool.query(`DROP TABLE IF EXISTS "${tableName}"`);
    await dataSource.query(`DROP TABLE IF EXISTS "${ourTable}"`);
    await store.close();
    await dataSource.destroy();
    await pool.end();
  });

  it('migrates the session into the TypeORM store on PostgreSQL on first use, deleting the old row', async () => {
    const PgStore = connectPgSimple(expressSession);
    const connectStore = new PgStore({ pool, tableName, createTableIfMissing: true });
    const { client, id } = await loginBeforeTheMove(connectStore);
    expect((await pool.query(`SELECT 1 FROM "${tableName}" WHERE sid = $1`, [id])).rowCount).toBe(1);
    const after = await startNestApp({ store, legacyStore: fromConnectStore(connectStore) });
    try {
      expect(await expectStillLoggedIn(client, after.url)).toBe(id);
      expect((await pool.query(`SELECT 1 FROM "${tableName}" WHERE sid = $1`, [id])).rowCount).toBe(0);
      expect((await store.get(id))?.data.passport).toBe(JSON.stringify({ user: 'u-alice' }));
    } finally {
      await after.close();
    }
  });
});
