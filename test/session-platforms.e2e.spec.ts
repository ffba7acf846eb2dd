import { Controller, Get, Head, HttpCode, Module, Post, Req, Res } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore, Session, SessionModule, type SessionHandle } from '../src/index.js';
import { FaultyStore } from './support/faulty-store.js';
import { ADAPTERS, SECRET, isFastifyReply, startApp, type RunningApp } from './support/test-app.js';

/**
 * What differs between the platforms under the session: HEAD and 304 answers, empty bodies, heads
 * written by hand (Fastify writes every head with `writeHead(status, headers)`), cookies other code
 * sets (Nest 12's `setCookie()`, `@fastify/cookie`), `reply.hijack()`, and `request.session`.
 */

/** The Node response of a route, taken over from Fastify's reply with `reply.hijack()` as Fastify requires. */
function nodeResponse(res: object): ServerResponse {
  if (!isFastifyReply(res)) return res as ServerResponse;
  res.hijack();
  return res.raw;
}

@Controller()
class PlatformController {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  @Get('visit')
  visit(@Session() session: SessionHandle) {
    const visits = ((session.get('visits') as number | undefined) ?? 0) + 1;
    session.set('visits', visits);
    return { visits };
  }

  @Get('read')
  read(@Session() session: SessionHandle) {
    return { visits: session.get('visits') ?? null };
  }

  @Head('probe')
  probe(@Session() session: SessionHandle) {
    session.set('probed', true);
  }

  @Get('not-modified')
  @HttpCode(304)
  notModified(@Session() session: SessionHandle) {
    session.set('revalidated', true);
  }

  @Post('empty')
  @HttpCode(204)
  empty(@Session() session: SessionHandle) {
    session.set('empty', true);
  }

  @Post('set-twice')
  @HttpCode(200)
  async setTwice(@Session() session: SessionHandle) {
    session.set('a', 1);
    await session.save();
    await session.regenerate();
    session.set('b', 2);
    return {};
  }

  /** Nest 12's cookie API and the session's cookie on one response. */
  @Post('nest-cookies')
  @HttpCode(200)
  nestCookies(@Session() session: SessionHandle, @Res({ passthrough: true }) res: object) {
    session.set('via', 'nest-cookies');
    this.adapterHost.httpAdapter.setCookie(res, 'theme', 'light');
    this.adapterHost.httpAdapter.setCookie(res, 'lang', 'en');
    return {};
  }

  /** The head written by hand, then the body in two writes: the head goes out before the first one. */
  @Post('head-then-write')
  headThenWrite(@Session() session: SessionHandle, @Res() res: object) {
    session.set('via', 'head-then-write');
    const raw = nodeResponse(res);
    raw.writeHead(202, { 'content-type': 'text/plain' });
    raw.write('part-1 ');
    raw.end('part-2');
  }

  /** The head and the end written by hand, as Fastify's `reply.send()` writes them. */
  @Post('head-then-end')
  headThenEnd(@Session() session: SessionHandle, @Res() res: object) {
    session.set('via', 'head-then-end');
    const raw = nodeResponse(res);
    raw.writeHead(201, { 'content-type': 'text/plain', 'x-handler': 'yes' });
    raw.end('created');
  }

  @Get('request-session')
  requestSession(@Req() req: object) {
    const { session: view, sessionID } = req as { session?: Record<string, unknown>; sessionID?: unknown };
    const raw = (req as { raw?: IncomingMessage & { session?: unknown; sessionID?: unknown } }).raw;
    return {
      visits: view?.visits ?? null,
      sameAsRaw: raw === undefined || raw.session === view,
      sessionID: typeof sessionID === 'string' && sessionID === view?.id && (raw === undefined || raw.sessionID === sessionID),
    };
  }
}

function platformModule(store: MemoryStore | FaultyStore) {
  @Module({ imports: [SessionModule.forRoot({ secret: SECRET, store, onError: () => undefined })], controllers: [PlatformController] })
  class PlatformModule {}
  return PlatformModule;
}

/** The session ID lines of a response's Set-Cookie. */
const sidLines = (setCookies: string[]) => setCookies.filter((line) => line.startsWith('sid='));

describe.each(ADAPTERS)('the session on %s', (adapter) => {
  let running: RunningApp;
  let store: FaultyStore;

  beforeAll(async () => {
    store = new FaultyStore(new MemoryStore());
    running = await startApp(platformModule(store), { adapter });
  });
  afterAll(() => running.close());
  afterEach(() => {
    store.failing.clear();
    store.writeDelay = 0;
  });

  it('answers HEAD through the GET route: the session is read, written and its cookie set, with no body', async () => {
    const client = running.client();
    const head = await client.request('/visit', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
    expect(sidLines(head.setCookies)).toHaveLength(1);
    expect((await client.get('/read')).json()).toEqual({ visits: 1 });
    const again = await client.request('/visit', { method: 'HEAD' });
    expect(again.setCookies).toEqual([]);
    expect((await client.get('/read')).json()).toEqual({ visits: 2 });
  });

  it('answers a HEAD route of its own, and sets nothing for a visitor whose session stays empty', async () => {
    const client = running.client();
    const probe = await client.request('/probe', { method: 'HEAD' });
    expect(probe.status).toBe(200);
    expect(sidLines(probe.setCookies)).toHaveLength(1);
    const anonymous = await running.client().request('/read', { method: 'HEAD' });
    expect(anonymous.setCookies).toEqual([]);
  });

  it('sets the cookie on a 304 and writes the session before it goes out', async () => {
    const client = running.client();
    store.writeDelay = 100;
    const response = await client.get('/not-modified');
    expect(response.status).toBe(304);
    expect(response.text).toBe('');
    expect(sidLines(response.setCookies)).toHaveLength(1);
    const id = client.jar.get('sid')!.split('.')[0];
    expect((await store.inner.get(id))?.data).toEqual({ revalidated: 'true' });
  });

  it('sets the cookie on an empty 204 and writes the session before it goes out', async () => {
    const client = running.client();
    store.writeDelay = 100;
    const response = await client.post('/empty');
    expect(response.status).toBe(204);
    expect(response.text).toBe('');
    expect(sidLines(response.setCookies)).toHaveLength(1);
    const id = client.jar.get('sid')!.split('.')[0];
    expect((await store.inner.get(id))?.data).toEqual({ empty: 'true' });
  });

  it('sends one session cookie after save() and regenerate() in one request', async () => {
    const client = running.client();
    await client.get('/visit');
    const response = await client.post('/set-twice');
    expect(response.status).toBe(200);
    expect(sidLines(response.setCookies)).toHaveLength(1);
    expect((await client.get('/read')).json()).toEqual({ visits: 1 });
  });

  it("keeps the cookies of Nest 12's setCookie() beside the session's, each once", async () => {
    const client = running.client();
    const response = await client.post('/nest-cookies');
    expect(response.status).toBe(200);
    expect(response.setCookies.map((line) => line.split('=')[0]).sort()).toEqual(['lang', 'sid', 'theme']);
    expect(response.cookie('theme')).toMatch(/^theme=light; Path=\//);
  });

  it('sends a head written by hand before the body written after it, with the cookie, and saves', async () => {
    const client = running.client();
    store.writeDelay = 50;
    const response = await client.post('/head-then-write');
    expect(response.status).toBe(202);
    expect(response.text).toBe('part-1 part-2');
    expect(response.headers.get('content-type')).toBe('text/plain');
    expect(sidLines(response.setCookies)).toHaveLength(1);
    store.writeDelay = 0;
    const id = client.jar.get('sid')!.split('.')[0];
    expect((await store.inner.get(id))?.data).toEqual({ via: '"head-then-write"' });
  });

  it('keeps the status and headers a handler wrote by hand when the write succeeds', async () => {
    const client = running.client();
    store.writeDelay = 50;
    const response = await client.post('/head-then-end');
    expect(response.status).toBe(201);
    expect(response.text).toBe('created');
    expect(response.headers.get('x-handler')).toBe('yes');
    expect(sidLines(response.setCookies)).toHaveLength(1);
  });

  it('answers 503, without the handler’s head, when the write behind a head written by hand fails', async () => {
    const client = running.client();
    store.failing.add('set');
    const response = await client.post('/head-then-end');
    expect(response.status).toBe(503);
    expect(response.json()).toMatchObject({ statusCode: 503, error: 'SESSION_STORE_UNAVAILABLE' });
    expect(response.headers.get('x-handler')).toBeNull();
    expect(response.setCookies).toEqual([]);
  });

  it('exposes express-session’s req.session and req.sessionID on the request a route gets', async () => {
    const client = running.client();
    await client.get('/visit');
    // On Fastify, `request.session` of Fastify's request is the view of `request.raw.session`.
    expect((await client.get('/request-session')).json()).toEqual({ visits: 1, sameAsRaw: true, sessionID: true });
  });
});

describe('Fastify plugins beside the session', () => {
  it('works with @fastify/cookie registered: reply.setCookie() and the session cookie go out once each', async () => {
    const { default: fastifyCookie } = await import('@fastify/cookie');
    @Controller()
    class CookieController {
      @Post('plugin-cookie')
      @HttpCode(200)
      pluginCookie(
        @Session() session: SessionHandle,
        @Req() req: { cookies: Record<string, string> },
        @Res({ passthrough: true }) reply: object,
      ) {
        session.set('count', ((session.get('count') as number | undefined) ?? 0) + 1);
        (reply as { setCookie(name: string, value: string, options: object): void }).setCookie('theme', 'dark', { path: '/' });
        return { count: session.get('count'), cookies: Object.keys(req.cookies).sort() };
      }
    }
    @Module({ imports: [SessionModule.forRoot({ secret: SECRET })], controllers: [CookieController] })
    class CookieApp {}
    const running = await startApp(CookieApp, {
      adapter: 'fastify',
      configure: async (app) => {
        await (app as NestFastifyApplication).register(fastifyCookie);
      },
    });
    try {
      const client = running.client();
      const first = await client.post('/plugin-cookie');
      expect(first.json()).toEqual({ count: 1, cookies: [] });
      expect(first.setCookies.map((line) => line.split('=')[0]).sort()).toEqual(['sid', 'theme']);
      expect(first.cookie('theme')).toMatch(/^theme=dark; Path=\/(;|$)/);
      const second = await client.post('/plugin-cookie');
      // The plugin parses the session cookie like any other; the session reads it on its own.
      expect(second.json()).toEqual({ count: 2, cookies: ['sid', 'theme'] });
      expect(second.setCookies.map((line) => line.split('=')[0])).toEqual(['theme']);
    } finally {
      await running.close();
    }
  });

  it("gives the app's own Fastify routes the session too, and keeps an async route's reply.send() whole", async () => {
    const store = new FaultyStore(new MemoryStore());
    store.writeDelay = 50;
    const running = await startApp(platformModule(store), {
      adapter: 'fastify',
      configure: (app) => {
        const fastify = (app as NestFastifyApplication).getHttpAdapter().getInstance();
        // An async route that sends without returning the reply: Fastify sends again when the
        // promise resolves while the reply does not look sent yet, which the held head must survive.
        fastify.post('/plain', async (request, reply) => {
          const view = (request as unknown as { session: Record<string, unknown> }).session;
          view.plain = ((view.plain as number | undefined) ?? 0) + 1;
          void reply.code(201).send({ plain: view.plain });
        });
      },
    });
    try {
      const client = running.client();
      const first = await client.post('/plain');
      expect(first.status).toBe(201);
      expect(first.json()).toEqual({ plain: 1 });
      expect(first.headers.get('content-length')).toBe(String(first.text.length));
      expect(sidLines(first.setCookies)).toHaveLength(1);
      const second = await client.post('/plain');
      expect(second.json()).toEqual({ plain: 2 });
      expect(second.headers.get('content-length')).toBe(String(second.text.length));
    } finally {
      await running.close();
    }
  });

  it('leaves request.session to a plugin that decorated it first, and @Session() still works', async () => {
    @Controller()
    class OwnedController {
      @Get('owned')
      owned(@Session() session: SessionHandle, @Req() req: { session?: unknown; raw: { session?: unknown } }) {
        session.set('n', 1);
        return { own: req.session, rawHasView: typeof req.raw.session === 'object' };
      }
    }
    @Module({ imports: [SessionModule.forRoot({ secret: SECRET })], controllers: [OwnedController] })
    class OwnedApp {}
    const running = await startApp(OwnedApp, {
      adapter: 'fastify',
      configure: (app) => {
        // A plugin that owns the name, as @fastify/session does, registered (not awaited) before
        // the app starts: Fastify loads it after SessionModule has configured itself.
        const owner = Object.assign(
          (fastify: { decorateRequest(name: string, value: null): void }, _options: unknown, done: () => void) => {
            fastify.decorateRequest('session', null);
            done();
          },
          { [Symbol.for('skip-override')]: true },
        );
        void (app as NestFastifyApplication).getHttpAdapter().getInstance().register(owner);
      },
    });
    try {
      const response = await running.client().get('/owned');
      expect(response.status).toBe(200);
      expect(response.json()).toEqual({ own: null, rawHasView: true });
      expect(sidLines(response.setCookies)).toHaveLength(1);
    } finally {
      await running.close();
    }
  });
});
