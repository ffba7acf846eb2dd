import { Controller, Get, HttpCode, Module, Next, Post, Req, Res, UnauthorizedException } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NextFunction, Request, Response } from 'express';
import passport from 'passport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore, SessionManager, SessionModule } from '../src/index.js';
import { TestClient } from './support/http-client.js';
import { SECRET } from './support/test-app.js';

/**
 * passport 0.7 with its own session support (`passport.session()`, `req.login`, `req.logout`),
 * running unchanged on top of nest-sessions' express-session-compatible `req.session`. The session
 * is mounted with `app.use()` ahead of passport, as the README shows.
 */
class HeaderStrategy extends passport.Strategy {
  override name = 'header';
  override authenticate(req: Request): void {
    const user = req.headers['x-user'];
    if (user === 'alice') this.success({ id: 'u-alice', name: 'Alice' });
    else this.fail(401);
  }
}

const authenticator = new passport.Passport();
authenticator.use(new HeaderStrategy());
authenticator.serializeUser((user: Express.User, done) => done(null, (user as { id: string }).id));
authenticator.deserializeUser((id: string, done) => done(null, id === 'u-alice' ? { id, name: 'Alice' } : false));

@Controller()
class PassportController {
  @Post('login')
  login(@Req() req: Request, @Res() res: Response, @Next() next: NextFunction) {
    authenticator.authenticate('header', (err: unknown, user: Express.User | false) => {
      if (err) return next(err);
      if (!user) return res.status(401).json({ ok: false });
      req.logIn(user, (loginErr) => (loginErr ? res.status(500).json({ error: String(loginErr) }) : res.json({ ok: true })));
    })(req, res, next);
  }

  @Get('me')
  me(@Req() req: Request) {
    if (!req.user) throw new UnauthorizedException();
    return req.user;
  }

  @Post('logout')
  @HttpCode(200)
  logout(@Req() req: Request) {
    return new Promise((resolve, reject) => req.logout((err) => (err ? reject(err) : resolve({ ok: true }))));
  }
}

describe('passport on req.session', () => {
  let app: Awaited<ReturnType<typeof NestFactory.create>>;
  let url: string;
  const store = new MemoryStore();

  beforeAll(async () => {
    @Module({ imports: [SessionModule.forRoot({ secret: SECRET, store })], controllers: [PassportController] })
    class PassportApp {}
    app = await NestFactory.create(PassportApp, { logger: false });
    app.use(app.get(SessionManager).middleware());
    app.use(authenticator.initialize());
    app.use(authenticator.session());
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  });
  afterAll(() => app.close());

  it('logs in with a new session ID, keeps the user across requests, and logs out', async () => {
    const client = new TestClient(url);
    expect((await client.post('/login', undefined, { headers: { 'x-user': 'mallory' } })).status).toBe(401);
    expect((await client.get('/me')).status).toBe(401);

    const login = await client.post('/login', undefined, { headers: { 'x-user': 'alice' } });
    expect(login.json()).toEqual({ ok: true });
    const token = client.jar.get('sid')!;
    expect(token).toBeDefined();
    const id = token.split('.')[0];
    expect((await store.get(id))?.data.passport).toBe(JSON.stringify({ user: 'u-alice' }));

    expect((await client.get('/me')).json()).toEqual({ id: 'u-alice', name: 'Alice' });

    const logout = await client.post('/logout');
    expect(logout.json()).toEqual({ ok: true });
    // passport regenerates the session on logout; the old ID must be dead
    expect(client.jar.get('sid')).not.toBe(token);
    expect(await store.get(id)).toBeNull();
    expect((await client.get('/me')).status).toBe(401);
  });

  it('an existing anonymous session gets a new ID at login (fixation defence)', async () => {
    const client = new TestClient(url);
    // An attacker obtains a valid session (here: by logging in) and plants its cookie on the victim.
    const seeded = new TestClient(url);
    await seeded.post('/login', undefined, { headers: { 'x-user': 'alice' } });
    const planted = seeded.jar.get('sid')!;
    client.jar.set('sid', planted);
    await client.post('/login', undefined, { headers: { 'x-user': 'alice' } });
    expect(client.jar.get('sid')).not.toBe(planted);
    expect(await store.get(planted.split('.')[0])).toBeNull();
  });
});
