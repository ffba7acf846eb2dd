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

  @Post('set')
  @HttpCode(200)
  set(@Session() session: SessionHandle, @Req() req: Request) {
    for (const [key, value] of Object.entries(req.body as Record<string, unknown>)) session.set(key, value);
    return session.toJSON();
  }

  @Post('delete')
  @HttpCode(200)
  remove(@Session() session: SessionHandle, @Req() req: Request) {
    for (const key of (req.body as { keys: string[] }).keys) session.delete(key);
    return session.toJSON();
  }

  @Get('all')
  all(@Session() session: SessionHandle) {
    return session.toJSON();
  }

  @Post('push')
  @HttpCode(200)
  push(@Session() session: SessionHandle, @Req() req: Request) {
    const list = (session.get('list') as string[] | undefined) ?? [];
    if (!session.has('list')) session.set('list', list);
    list.push((req.body as { item: string }).item); // in-place edit, no set() afterwards
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
  flash(@Session() session: SessionHandle, @Req() req: Request, @Res() res: Response) {
    session.setFlash((req.body as { message: unknown }).message);
    res.redirect(303, '/show-flash');
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
  rawRes(@Session() session: SessionHandle, @Res() res: Response) {
    session.set('via', 'raw');
    res.status(201).json({ ok: true });
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
  ownCookie(@Session() session: SessionHandle, @Res({ passthrough: true }) res: Response) {
    session.set('via', 'own-cookie');
    res.cookie('theme', 'dark');
    return {};
  }

  @Post('own-cookie-writehead')
  ownCookieWriteHead(@Session() session: SessionHandle, @Res() res: Response) {
    session.set('via', 'writehead');
    res.writeHead(200, { 'Set-Cookie': 'lang=en; Path=/', 'content-type': 'text/plain' });
    res.end('ok');
  }

  @Post('express-compat')
  @HttpCode(200)
  expressCompat(@Req() req: Request) {
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
  expressCompatRead(@Req() req: Request) {
    const session = (req as unknown as { session: Record<string, any> }).session;
    return { passport: session.passport ?? null, hasCookie: session.cookie.expires instanceof Date };
  }

  @Get('assign-req-session')
  assignReqSession(@Req() req: Request, @Session() session: SessionHandle) {
    const holder = req as unknown as { session: unknown };
    const sameViewTwice = holder.session === holder.session;
    holder.session = null;
    return { sameViewTwice, afterAssign: holder.session, sessionStillThere: session.get('count') ?? null };
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
  url: string;
  client(): TestClient;
  close(): Promise<void>;
}

/** Start a real Nest app on a random loopback port; `configure` runs before it listens (`app.use()`, say). */
export async function startApp(module: unknown, configure?: (app: INestApplication) => void): Promise<RunningApp> {
  const app = await NestFactory.create(module as never, { logger: false });
  configure?.(app);
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  const url = `http://127.0.0.1:${address.port}`;
  return { app, url, client: () => new TestClient(url), close: () => app.close() };
}

/** Start the test app with `SessionModule.forRoot(options)`. */
export function startSessionApp(options: Partial<SessionModuleOptions> = {}): Promise<RunningApp> {
  return startApp(testModule(SessionModule.forRoot({ secret: SECRET, ...options })));
}
