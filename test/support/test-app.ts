import 'reflect-metadata';
import {
  BadRequestException,
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  HttpCode,
  Inject,
  Injectable,
  Module,
  Post,
  Req,
  Res,
  Sse,
  StreamableFile,
  UseGuards,
  type INestApplication,
  type DynamicModule,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Request, Response } from 'express';
import type { FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { interval, map, take } from 'rxjs';
import {
  Flash,
  Session,
  SessionModule,
  getSessionFromContext,
  SESSION_STORE,
  type SessionStore,
  type SessionHandle,
  type SessionModuleOptions,
} from '../../src/index.js';
import { TestClient } from './http-client.js';

export const SECRET = 'test-secret-that-is-long-enough-0123456789';

/** The Nest HTTP platforms the session suites run on. */
export type AdapterName = 'express' | 'fastify';

/** For `describe.each(ADAPTERS)('... on %s', (adapter) => ...)`: every suite runs on both platforms. */
export const ADAPTERS: Array<[AdapterName]> = [['express'], ['fastify']];

/** A route's request or response: Express's, or Fastify's request and reply. */
type AnyRequest = Request | FastifyRequest;
type AnyResponse = Response | FastifyReply;

/** Fastify's reply, told from Express's response by its `raw` Node response. */
export function isFastifyReply(res: object): res is FastifyReply {
  return 'raw' in res && typeof (res as { hijack?: unknown }).hijack === 'function';
}

/** The request body, on either platform. */
function bodyOf<T>(req: AnyRequest): T {
  return req.body as T;
}

/** Redirect with each platform's own API (Express: `res.redirect(status, url)`, Fastify: `reply.redirect(url, status)`). */
function redirect(res: AnyResponse, status: number, url: string): void {
  if (isFastifyReply(res)) void res.redirect(url, status);
  else res.redirect(status, url);
}

/** Answer JSON with a status through the platform's own API. */
function sendJson(res: AnyResponse, status: number, body: unknown): void {
  if (isFastifyReply(res)) void res.code(status).send(body);
  else res.status(status).json(body);
}

/**
 * Set a cookie through the platform's own API: Express's `res.cookie()`; Fastify's
 * `reply.setCookie()` when the app registered `@fastify/cookie`, else `reply.header()`.
 */
function platformCookie(res: AnyResponse, name: string, value: string): void {
  if (!isFastifyReply(res)) {
    res.cookie(name, value);
    return;
  }
  const withPlugin = res as FastifyReply & { setCookie?: (name: string, value: string, options: { path: string }) => unknown };
  if (typeof withPlugin.setCookie === 'function') withPlugin.setCookie(name, value, { path: '/' });
  else void res.header('set-cookie', `${name}=${value}; Path=/`);
}

/** The Node response under the platform's (Fastify's reply wraps it in `reply.raw`, taken over with `hijack()`). */
function takeOverRaw(res: AnyResponse): ServerResponse {
  if (!isFastifyReply(res)) return res;
  void res.hijack();
  return res.raw;
}

@Injectable()
class LoggedInGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return getSessionFromContext<SessionHandle>(context).get('user') !== undefined;
  }
}

@Controller()
class TestController {
  constructor(@Inject(SESSION_STORE) private readonly store: SessionStore) {}

  /** Another device logs this session out while the request runs, then the request writes. */
  @Post('set-after-remote-destroy')
  @HttpCode(200)
  async setAfterRemoteDestroy(@Session() session: SessionHandle) {
    await this.store.destroy(session.id!);
    session.set('late', true);
    return { ok: true };
  }

  @Get('read')
  read(@Session() session: SessionHandle) {
    return { count: session.get('count') ?? null, id: session.id ?? null, isNew: session.isNew };
  }

  @Get('visit')
  visit(@Session() session: SessionHandle) {
    const visits = ((session.get('visits') as number | undefined) ?? 0) + 1;
    session.set('visits', visits);
    return { visits, degraded: session.isDegraded };
  }

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

  /** `session.update()` of a counter; `pause` ms between its read and write widen the window for lost updates. */
  @Post('update')
  @HttpCode(200)
  async update(@Session() session: SessionHandle, @Req() req: AnyRequest) {
    const {
      key = 'count',
      by = 1,
      pause = 0,
      timeout,
    } = bodyOf<{ key?: string; by?: number; pause?: number; timeout?: number }>(req) ?? {};
    const value = await session.update(
      key as never,
      async (current: unknown) => {
        if (pause > 0) await new Promise((done) => setTimeout(done, pause));
        return (((current as number | undefined) ?? 0) + by) as never;
      },
      timeout === undefined ? undefined : { timeout },
    );
    return { value, read: session.get(key as never) ?? null };
  }

  @Post('set')
  @HttpCode(200)
  set(@Session() session: SessionHandle, @Req() req: AnyRequest) {
    for (const [key, value] of Object.entries(bodyOf<Record<string, unknown>>(req))) session.set(key, value);
    return session.toJSON();
  }

  @Post('delete')
  @HttpCode(200)
  remove(@Session() session: SessionHandle, @Req() req: AnyRequest) {
    for (const key of bodyOf<{ keys: string[] }>(req).keys) session.delete(key);
    return session.toJSON();
  }

  @Get('all')
  all(@Session() session: SessionHandle) {
    return session.toJSON();
  }

  @Post('push')
  @HttpCode(200)
  push(@Session() session: SessionHandle, @Req() req: AnyRequest) {
    const list = (session.get('list') as string[] | undefined) ?? [];
    if (!session.has('list')) session.set('list', list);
    list.push(bodyOf<{ item: string }>(req).item); // in-place edit, no set() afterwards
    return { list };
  }

  @Post('login')
  @HttpCode(200)
  async login(@Session() session: SessionHandle) {
    const before = session.id;
    await session.regenerate();
    session.set('user', 'alice');
    return { changed: before !== session.id };
  }

  @Post('logout')
  @HttpCode(200)
  async logout(@Session() session: SessionHandle) {
    await session.destroy();
    return { ok: true };
  }

  @Post('logout-with-flash')
  @HttpCode(200)
  async logoutWithFlash(@Session() session: SessionHandle) {
    await session.destroy();
    session.setFlash('You are logged out');
    return { ok: true };
  }

  @Post('flash')
  flash(@Session() session: SessionHandle, @Req() req: AnyRequest, @Res() res: AnyResponse) {
    session.setFlash(bodyOf<{ message: unknown }>(req).message);
    redirect(res, 303, '/show-flash');
  }

  @Post('flash-keyed')
  @HttpCode(200)
  flashKeyed(@Session() session: SessionHandle) {
    session.flash('success', 'Saved');
    session.flash('success', 'Mailed');
    session.flash('error', 'Slow');
    return {};
  }

  @Get('show-flash')
  showFlash(@Flash() message?: unknown) {
    return { message: message ?? null };
  }

  @Get('show-flash/:key')
  showFlashKey(@Flash('success') success?: unknown) {
    return { success: success ?? null };
  }

  @Get('guarded')
  @UseGuards(LoggedInGuard)
  guarded(@Session('user') user: string) {
    return { user };
  }

  @Post('raw-res')
  rawRes(@Session() session: SessionHandle, @Res() res: AnyResponse) {
    session.set('via', 'raw');
    sendJson(res, 201, { ok: true });
  }

  @Post('stream')
  stream(@Session() session: SessionHandle) {
    session.set('via', 'stream');
    return new StreamableFile(Readable.from(['chunk-1 ', 'chunk-2']));
  }

  @Sse('events')
  events(@Session() session: SessionHandle) {
    session.set('via', 'sse');
    return interval(10).pipe(
      take(2),
      map((n) => ({ data: { n } })),
    );
  }

  @Post('throws')
  throws(@Session() session: SessionHandle) {
    session.set('via', 'error');
    throw new BadRequestException('nope');
  }

  @Post('own-cookie')
  @HttpCode(200)
  ownCookie(@Session() session: SessionHandle, @Res({ passthrough: true }) res: AnyResponse) {
    session.set('via', 'own-cookie');
    platformCookie(res, 'theme', 'dark');
    return {};
  }

  /** The Node response written by hand (on Fastify after `reply.hijack()`, as Fastify requires). */
  @Post('own-cookie-writehead')
  ownCookieWriteHead(@Session() session: SessionHandle, @Res() res: AnyResponse) {
    session.set('via', 'writehead');
    const raw = takeOverRaw(res);
    raw.writeHead(200, { 'Set-Cookie': 'lang=en; Path=/', 'content-type': 'text/plain' });
    raw.end('ok');
  }

  @Post('express-compat')
  @HttpCode(200)
  expressCompat(@Req() req: AnyRequest) {
    const session = (req as unknown as { session: Record<string, any> }).session;
    return new Promise((resolve, reject) => {
      session.regenerate((err?: unknown) => {
        if (err) return reject(err);
        if (!session.passport) session.passport = {};
        session.passport.user = 'bob';
        session.save((saveErr?: unknown) => (saveErr ? reject(saveErr) : resolve({ id: session.id, keys: Object.keys(session) })));
      });
    });
  }

  @Get('express-compat')
  expressCompatRead(@Req() req: AnyRequest) {
    const session = (req as unknown as { session: Record<string, any> }).session;
    return { passport: session.passport ?? null, hasCookie: session.cookie.expires instanceof Date };
  }

  @Get('assign-req-session')
  assignReqSession(@Req() req: AnyRequest, @Session() session: SessionHandle) {
    const holder = req as unknown as { session: unknown };
    const sameViewTwice = holder.session === holder.session;
    holder.session = null;
    return { sameViewTwice, afterAssign: holder.session, sessionStillThere: session.get('count') ?? null };
  }

  /** "Remember me" through express-session's API: the session's own lifetime of `days` days. */
  @Post('remember')
  @HttpCode(200)
  remember(@Req() req: AnyRequest) {
    const session = (req as unknown as { session: Record<string, any> }).session;
    session.user = 'alice';
    session.cookie.maxAge = bodyOf<{ days: number }>(req).days * 86_400_000;
    return {};
  }

  @Post('touch')
  @HttpCode(200)
  touch(@Session() session: SessionHandle) {
    session.touch();
    return {};
  }
}

/** Build a module that uses SessionModule with `options`, plus the test controller. */
export function testModule(session: DynamicModule, imports: DynamicModule[] = []) {
  @Module({ imports: [session, ...imports], controllers: [TestController], providers: [LoggedInGuard] })
  class TestAppModule {}
  return TestAppModule;
}

export interface RunningApp {
  app: INestApplication;
  /** The platform the app runs on. */
  adapter: AdapterName;
  url: string;
  client(): TestClient;
  close(): Promise<void>;
}

/** How {@link startApp} starts an app. */
export interface StartOptions {
  /** The HTTP platform. @default 'express' */
  adapter?: AdapterName;
  /** Runs before the app listens (`app.use()`, `app.register()` of a Fastify plugin, say). */
  configure?: (app: INestApplication) => void | Promise<void>;
  /** Options of the Fastify instance (`new FastifyAdapter(options)`), on Fastify. */
  fastify?: FastifyServerOptions;
}

/**
 * Start a real Nest app on a random loopback port, on Express (the default) or Fastify. The
 * second argument is either the options or, as before, a `configure` function (Express).
 */
export async function startApp(module: unknown, options?: StartOptions | ((app: INestApplication) => void)): Promise<RunningApp> {
  const start: StartOptions = typeof options === 'function' ? { configure: options } : (options ?? {});
  const { adapter = 'express', configure } = start;
  const app = await createApp(module, adapter, { fastify: start.fastify });
  await configure?.(app);
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  const url = `http://127.0.0.1:${address.port}`;
  return { app, adapter, url, client: () => new TestClient(url), close: () => app.close() };
}

/**
 * Create (not start) a Nest app on `adapter`, as `NestFactory.create()` with `options`. Fastify is
 * loaded only when asked for, so Express-only suites never load it.
 */
export async function createApp(
  module: unknown,
  adapter: AdapterName = 'express',
  { fastify, ...options }: { abortOnError?: boolean; fastify?: FastifyServerOptions } = {},
): Promise<INestApplication> {
  if (adapter === 'express') return NestFactory.create(module as never, { logger: false, ...options });
  const { FastifyAdapter } = await import('@nestjs/platform-fastify');
  return NestFactory.create(module as never, new FastifyAdapter(fastify), { logger: false, ...options });
}

/** Start the test app with `SessionModule.forRoot(options)`, on Express unless `start` says otherwise. */
export function startSessionApp(options: Partial<SessionModuleOptions> = {}, start: StartOptions = {}): Promise<RunningApp> {
  return startApp(testModule(SessionModule.forRoot({ secret: SECRET, ...options })), start);
}
