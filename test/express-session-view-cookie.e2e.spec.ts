import { Controller, Get, HttpCode, Module, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, Session, SessionModule, type SessionHandle, type SessionModuleOptions } from '../src/index.js';
import { CountingStore } from './support/counting-store.js';
import { SECRET, startApp, type RunningApp } from './support/test-app.js';
import type { TestClient } from './support/http-client.js';

/**
 * express-session's `req.session` as its users rely on it (issue 16, "The compat view and
 * middleware"), through a real Nest app over real HTTP: a live, per-session `req.session.cookie`
 * ("remember me" that holds on later requests), `req.session.id` and `req.sessionID` readable from
 * the first moment without storing anything, `save(cb)` that always writes, `reload(cb)` that
 * reports a vanished session, `touch()`, and a `req.session` another library set first left alone.
 */

const DAY = 86_400_000;
type View = Record<string, unknown> & {
  id: string;
  cookie: Record<string, unknown> & { maxAge: unknown; expires: unknown; originalMaxAge: unknown };
  save(cb: (err?: unknown) => void): void;
  reload(cb: (err?: unknown) => void): void;
  touch(): void;
};
type ViewRequest = Omit<Request, 'session' | 'sessionID'> & { session: View; sessionID: unknown };

/** Run `change` and answer what it threw (code and message), or `null`. */
function attempt(change: () => void): { code: unknown; message: string } | null {
  try {
    change();
    return null;
  } catch (error) {
    return { code: (error as { code?: unknown }).code, message: (error as Error).message };
  }
}

/** The cookie as `req.session.cookie` shows it, with dates as epoch ms. */
function cookieOf(view: View): Record<string, unknown> {
  const { cookie } = view;
  return {
    maxAge: cookie.maxAge,
    originalMaxAge: cookie.originalMaxAge,
    expires: cookie.expires instanceof Date ? cookie.expires.getTime() : cookie.expires,
    secure: cookie.secure,
    httpOnly: cookie.httpOnly,
    sameSite: cookie.sameSite,
    path: cookie.path,
    domain: cookie.domain,
    partitioned: cookie.partitioned,
    priority: cookie.priority,
  };
}

@Controller()
class CookieController {
  @Post('login')
  @HttpCode(200)
  login(@Req() req: ViewRequest) {
    req.session.user = 'alice';
    if ((req.body as { remember?: boolean }).remember) req.session.cookie.maxAge = 30 * DAY;
    return { cookie: cookieOf(req.session), keys: Object.keys(req.session) };
  }

  @Get('cookie')
  cookie(@Req() req: ViewRequest) {
    return { cookie: cookieOf(req.session), user: req.session.user ?? null };
  }

  @Post('cookie')
  @HttpCode(200)
  setCookie(@Req() req: ViewRequest) {
    const changes = req.body as Record<string, unknown>;
    const refused: Record<string, unknown> = {};
    for (const [member, value] of Object.entries(changes)) {
      const given = member === 'expires' && typeof value === 'number' ? new Date(value) : value;
      const error = attempt(() => (req.session.cookie[member] = given));
      if (error) refused[member] = error;
    }
    return { cookie: cookieOf(req.session), refused };
  }

  @Post('touch')
  @HttpCode(200)
  touch(@Req() req: ViewRequest) {
    req.session.touch();
    return { ok: true };
  }

  @Get('id')
  id(@Req() req: ViewRequest) {
    const first = req.session.id;
    return { first, again: req.session.id, sessionID: req.sessionID, type: typeof first };
  }

  @Post('id-then-set')
  @HttpCode(200)
  idThenSet(@Req() req: ViewRequest) {
    const id = req.sessionID;
    req.session.user = 'bob';
    return { id };
  }

  @Post('bogus-id')
  @HttpCode(200)
  bogusId(@Req() req: ViewRequest) {
    req.session.user = 'mallory';
    req.sessionID = 42;
    return { ok: true };
  }

  @Post('other-id')
  @HttpCode(200)
  otherId(@Req() req: ViewRequest) {
    return { same: attempt(() => (req.sessionID = req.session.id)), other: attempt(() => (req.sessionID = 'x'.repeat(32))) };
  }

  @Post('save')
  save(@Req() req: ViewRequest, @Res() res: Response) {
    req.session.save((err) => res.json({ err: err ? String(err) : null }));
  }

  @Post('reload')
  reload(@Req() req: ViewRequest, @Res() res: Response) {
    req.session.draft = 'unsaved';
    req.session.reload((err) =>
      res.json({ code: (err as { code?: unknown } | undefined)?.code ?? null, draft: req.session.draft ?? null }),
    );
  }
}

describe('req.session.cookie, req.session.id and req.sessionID, save(), reload() and touch() (issue 16)', () => {
  let running: RunningApp;
  let store: CountingStore;
  let memory: MemoryStore;
  const options: Partial<SessionModuleOptions> = { touchInterval: 60_000 };

  beforeAll(async () => {
    memory = new MemoryStore();
    store = new CountingStore(memory);
    @Module({ imports: [SessionModule.forRoot({ secret: SECRET, store, ...options })], controllers: [CookieController] })
    class CookieModule {}
    running = await startApp(CookieModule);
  });
  afterAll(() => running.close());
  beforeEach(() => store.reset());

  const idOf = (client: TestClient) => client.jar.get('sid')!.split('.')[0];
  const recordOf = async (client: TestClient) => memory.get(idOf(client));
  const attributes = (line: string | undefined) => (line ?? '').split('; ').slice(1);

  it('"remember me": cookie.maxAge gives the session a lifetime of its own, on the cookie and in the store, on later requests too', async () => {
    const client = running.client();
    const before = Date.now();
    const login = await client.post('/login', { remember: true });
    // Listed as in express-session: cookie first, then the data keys.
    expect(login.json().keys).toEqual(['cookie', 'user']);
    expect(login.json().cookie).toMatchObject({ originalMaxAge: 30 * DAY });
    const line = login.cookie('sid');
    const maxAge = Number(
      attributes(line)
        .find((attribute) => attribute.startsWith('Max-Age='))!
        .slice(8),
    );
    expect(maxAge).toBeGreaterThan(30 * 86_400 - 5);
    expect(maxAge).toBeLessThanOrEqual(30 * 86_400);
    // The store keeps it for 30 days, past the default absoluteTimeout (7 days) and idleTimeout (1 day).
    const record = (await recordOf(client))!;
    expect(record.expiresAt - before).toBeGreaterThan(30 * DAY - 5000);

    const later = (await client.get('/cookie')).json();
    expect(later.user).toBe('alice');
    expect(later.cookie.originalMaxAge).toBe(30 * DAY);
    expect(later.cookie.maxAge).toBeGreaterThan(29 * DAY);
    // A touch on a later request slides the session by its own lifetime, not by idleTimeout.
    await client.post('/touch');
    expect((await recordOf(client))!.expiresAt - Date.now()).toBeGreaterThan(30 * DAY - 5000);
    // Kept in the record under a hidden key: not listed as data.
    expect(Object.keys(record.data).sort()).toEqual(['__cookie', 'user']);
  });

  it('without one, originalMaxAge is the lifetime the cookie was given, not the time left', async () => {
    const client = running.client();
    await client.post('/login', {});
    const { cookie } = (await client.get('/cookie')).json();
    expect(cookie.originalMaxAge).toBe(7 * DAY);
    expect(cookie.maxAge).toBeLessThan(7 * DAY);
    // Expires is the absolute deadline: 7 days after the session was created.
    expect(cookie.expires).toBeGreaterThan(Date.now() + 7 * DAY - 5000);
    expect(cookie.expires).toBeLessThanOrEqual(Date.now() + 7 * DAY);
    expect(cookie).toMatchObject({ secure: true, httpOnly: true, sameSite: 'lax', path: '/', partitioned: false });
  });

  it('expires set to a Date sends exactly that expiry; null makes a browser-session cookie', async () => {
    const client = running.client();
    await client.post('/login', {});
    const at = Math.ceil((Date.now() + 3 * DAY) / 1000) * 1000;
    const dated = await client.post('/cookie', { expires: at });
    expect(dated.json().refused).toEqual({});
    expect(attributes(dated.cookie('sid'))).toContain(`Expires=${new Date(at).toUTCString()}`);
    expect(dated.json().cookie.expires).toBe(at);

    const session = await client.post('/cookie', { expires: null });
    expect(attributes(session.cookie('sid')).some((attribute) => /^(Expires|Max-Age)=/.test(attribute))).toBe(false);
    expect(session.json().cookie).toMatchObject({ expires: null, maxAge: null, originalMaxAge: null });
    // It holds on later requests, and an unchanged request does not send the cookie again.
    const later = await client.get('/cookie');
    expect(later.json().cookie).toMatchObject({ expires: null, originalMaxAge: null });
    expect(later.cookie('sid')).toBeUndefined();
  });

  it("attributes changed in a handler take effect on that session's cookie, and are issued again only then", async () => {
    const client = running.client();
    await client.post('/login', {});
    const token = client.jar.get('sid');
    const changed = await client.post('/cookie', { httpOnly: false, sameSite: 'strict', priority: 'high', partitioned: true });
    expect(changed.json().refused).toEqual({});
    expect(client.jar.get('sid')).toBe(token);
    const sent = attributes(changed.cookie('sid'));
    expect(sent).not.toContain('HttpOnly');
    expect(sent).toEqual(expect.arrayContaining(['Secure', 'SameSite=Strict', 'Priority=High', 'Partitioned']));
    const later = await client.get('/cookie');
    expect(later.cookie('sid')).toBeUndefined();
    expect(later.json().cookie).toMatchObject({ httpOnly: false, sameSite: 'strict', priority: 'high', partitioned: true });
    // Values a member cannot take are refused with what to give instead.
    const refused = (await client.post('/cookie', { maxAge: 'soon', secure: 'auto', sameSite: 'sometimes', priority: 'urgent' })).json()
      .refused;
    expect(Object.keys(refused).sort()).toEqual(['maxAge', 'priority', 'sameSite', 'secure']);
    for (const error of Object.values(refused)) {
      expect(error).toMatchObject({ code: 'SESSION_READ_ONLY', message: expect.stringMatching(/^nest-sessions: req\.session\.cookie\./) });
    }
  });

  it('refuses attributes browsers would refuse together', async () => {
    const client = running.client();
    await client.post('/login', {});
    const refused = (await client.post('/cookie', { secure: false, sameSite: 'none' })).json().refused;
    expect(refused.sameSite).toMatchObject({ code: 'SESSION_READ_ONLY', message: expect.stringContaining("'none' needs a secure cookie") });
  });

  it('req.session.id and req.sessionID are set from the first moment, and nothing is stored for them', async () => {
    const client = running.client();
    const response = await client.get('/id');
    const { first, again, sessionID, type } = response.json();
    expect(type).toBe('string');
    expect(first).toMatch(/^[A-Za-z0-9_-]{22,128}$/);
    expect(again).toBe(first);
    expect(sessionID).toBe(first);
    expect(response.setCookies).toEqual([]);
    expect(store.calls).toEqual([]);
    expect(await memory.get(first)).toBeNull();

    // An ID read before the first write is the one the session is stored under.
    const written = await client.post('/id-then-set');
    expect(idOf(client)).toBe(written.json().id);
    expect((await memory.get(written.json().id))?.data.user).toBe('"bob"');
  });

  it('req.sessionID given a non-string keeps the request from saving, as in express-session; another ID is refused', async () => {
    const client = running.client();
    const bogus = await client.post('/bogus-id');
    expect(bogus.setCookies).toEqual([]);
    expect(store.calls).toEqual([]);
    const other = (await client.post('/other-id')).json();
    expect(other.same).toBeNull();
    expect(other.other).toMatchObject({ code: 'SESSION_READ_ONLY', message: expect.stringContaining('req.sessionID') });
  });

  it('save(cb) writes even when nothing changed: a new empty session is stored, a stored one touched', async () => {
    const client = running.client();
    const first = await client.post('/save');
    expect(first.json()).toEqual({ err: null });
    expect(first.cookie('sid')).toBeDefined();
    expect(store.calls).toEqual(['set']);
    expect(await recordOf(client)).not.toBeNull();
    store.reset();
    const second = await client.post('/save');
    expect(second.json()).toEqual({ err: null });
    // One write, by save() itself: the end of the request does not write again.
    expect(store.calls).toEqual(['get', 'touch']);
  });

  it('reload(cb) of a session the store does not have calls back with an error and keeps the data', async () => {
    const fresh = running.client();
    expect((await fresh.post('/reload')).json()).toEqual({ code: 'SESSION_LOST', draft: 'unsaved' });
    const client = running.client();
    await client.post('/login', {});
    expect((await client.post('/reload')).json()).toEqual({ code: null, draft: null });
  });

  it('reload(cb) of a session destroyed elsewhere meanwhile calls back with an error', async () => {
    @Controller()
    class VanishController {
      @Post('vanish-then-reload')
      vanish(@Req() req: ViewRequest, @Res() res: Response) {
        req.session.draft = 'unsaved';
        // Another request (a logout elsewhere) deletes the record while this one runs.
        void Promise.resolve(memory.destroy(req.session.id)).then(() =>
          req.session.reload((err) => {
            const draft = req.session.draft;
            // Dropped again, so the end of the request has nothing to write to the vanished record
            // (a change would be answered 409 SESSION_LOST, see the data-safety rules).
            delete req.session.draft;
            res.json({ code: (err as { code?: unknown } | undefined)?.code ?? null, draft });
          }),
        );
      }
    }
    @Module({ imports: [SessionModule.forRoot({ secret: SECRET, store: memory })], controllers: [CookieController, VanishController] })
    class VanishModule {}
    const app = await startApp(VanishModule);
    try {
      const client = app.client();
      await client.post('/login', {});
      expect((await client.post('/vanish-then-reload')).json()).toEqual({ code: 'SESSION_LOST', draft: 'unsaved' });
    } finally {
      await app.close();
    }
  });

  it('touch() moves the stored expiry even though nothing changed and the touch is not due', async () => {
    const client = running.client();
    await client.post('/login', {});
    const before = (await recordOf(client))!.expiresAt;
    await new Promise((resolve) => setTimeout(resolve, 20));
    store.reset();
    await client.post('/touch');
    expect(store.calls).toEqual(['get', 'touch']);
    expect((await recordOf(client))!.expiresAt).toBeGreaterThan(before);
  });
});

describe("a session's own lifetime outlives the module's", () => {
  let running: RunningApp;

  beforeAll(async () => {
    @Module({
      imports: [SessionModule.forRoot({ secret: SECRET, idleTimeout: 400, absoluteTimeout: 800, touchInterval: 0 })],
      controllers: [CookieController],
    })
    class ShortModule {}
    running = await startApp(ShortModule);
  });
  afterAll(() => running.close());

  it('past absoluteTimeout and idleTimeout, a remembered session is still served; a plain one is not', async () => {
    const remembered = running.client();
    const plain = running.client();
    await remembered.post('/login', { remember: true });
    await plain.post('/login', {});
    // Longer than idleTimeout between requests, and past absoluteTimeout in all.
    for (let i = 0; i < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect((await remembered.get('/cookie')).json().user).toBe('alice');
    }
    expect((await plain.get('/cookie')).json().user).toBeNull();
  });
});

describe('a req.session another middleware set first (another session library)', () => {
  let running: RunningApp;

  @Controller()
  class ForeignController {
    @Get('foreign')
    foreign(@Req() req: ViewRequest, @Session() session: SessionHandle) {
      session.set('ours', 1);
      return { session: req.session, sessionID: req.sessionID, ours: session.get('ours') };
    }
  }

  beforeAll(async () => {
    @Module({ imports: [SessionModule.forRoot({ secret: SECRET })], controllers: [ForeignController] })
    class ForeignModule {}
    running = await startApp(ForeignModule, (app) => {
      app.use((req: Record<string, unknown>, _res: unknown, next: () => void) => {
        req.session = { theirs: true };
        req.sessionID = 'their-id';
        next();
      });
    });
  });
  afterAll(() => running.close());

  it('stays as it was, and @Session() still has a session of ours', async () => {
    const client = running.client();
    const response = await client.get('/foreign');
    expect(response.json()).toEqual({ session: { theirs: true }, sessionID: 'their-id', ours: 1 });
    expect(response.cookie('sid')).toBeDefined();
    const again = await client.get('/foreign');
    expect(again.json().session).toEqual({ theirs: true });
  });
});

describe("a session's own cookie path and domain, when the session ends", () => {
  let running: RunningApp;

  @Controller('area')
  class AreaController {
    @Post('login')
    @HttpCode(200)
    login(@Req() req: ViewRequest) {
      req.session.user = 'alice';
      req.session.cookie.path = '/area';
      req.session.cookie.domain = 'localhost';
      return { ok: true };
    }

    @Post('logout')
    logout(@Req() req: ViewRequest, @Res() res: Response) {
      (req.session as unknown as { destroy(cb: (err?: unknown) => void): void }).destroy((err) => res.status(err ? 500 : 204).end());
    }
  }

  beforeAll(async () => {
    @Module({ imports: [SessionModule.forRoot({ secret: SECRET })], controllers: [AreaController] })
    class AreaModule {}
    running = await startApp(AreaModule);
  });
  afterAll(() => running.close());

  // A cookie is only deleted by a Set-Cookie with its own path and domain: one with the module's
  // would leave the browser holding the old one.
  it('clears the cookie with the path and domain the session gave it', async () => {
    const client = running.client();
    const login = await client.post('/area/login', {});
    expect(login.cookie('sid')).toMatch(/; Path=\/area(;|$)/);
    expect(login.cookie('sid')).toMatch(/; Domain=localhost(;|$)/);
    const logout = await client.post('/area/logout', {});
    expect(logout.status).toBe(204);
    const cleared = logout.cookie('sid');
    expect(cleared).toMatch(/^sid=;/);
    expect(cleared).toMatch(/; Path=\/area(;|$)/);
    expect(cleared).toMatch(/; Domain=localhost(;|$)/);
  });
});
