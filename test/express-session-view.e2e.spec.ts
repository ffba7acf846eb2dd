import { Controller, HttpCode, Module, Param, Post, Req, Res } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Request, Response } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, SessionError, SessionModule, type ExpressCompatibleSession, type SessionStore } from '../src/index.js';
import { FaultyStore } from './support/faulty-store.js';
import { TestClient } from './support/http-client.js';
import { SECRET } from './support/test-app.js';

/**
 * The express-session compatible `req.session` (issue 16, bugs 2 and 3), through a real Nest app
 * over real HTTP: what a callback given to its methods throws is reported and answered, never left
 * to kill the process; what it refuses to assign or delete is refused with a SessionError that says
 * what to do instead. This file is an ES module, so every handler below runs in strict mode, where a
 * Proxy trap returning false would throw a bare TypeError.
 */

/** `req.session` as application code sees it: the view, with any data key. */
type View = ExpressCompatibleSession & Record<string | symbol, unknown>;

const viewOf = (req: Request): View => (req as unknown as { session: View }).session;

const CALLBACK_METHODS = ['save', 'regenerate', 'destroy', 'reload'] as const;
type CallbackMethod = (typeof CALLBACK_METHODS)[number];

/** Names of the view that are not data: its methods, `id` and `cookie`. */
const RESERVED = ['id', 'cookie', 'regenerate', 'save', 'destroy', 'reload', 'touch', 'resetMaxAge'] as const;

/** What reached the `onError` option. */
const reported: Array<{ error: SessionError; req?: IncomingMessage; res?: ServerResponse }> = [];
/** What the handlers' callbacks threw or were given, in order, so a test can check identities. */
const thrown: unknown[] = [];
const givenToCallback: unknown[] = [];
/** What the process saw that would have killed it without the listeners below. */
const processErrors: Array<{ kind: string; error: unknown }> = [];

/** Text of an error that must never reach the client. */
const SECRET_DETAIL = 'internal detail the client must not see (db password hunter2)';

function refusal(run: () => void): { threw: false } | { threw: true; name: string; code: unknown; message: string; isTypeError: boolean } {
  try {
    run();
    return { threw: false };
  } catch (error) {
    const { name, message, code } = error as SessionError;
    return { threw: true, name, code, message, isTypeError: error instanceof TypeError };
  }
}

@Controller()
class ViewController {
  @Post('login')
  @HttpCode(200)
  login(@Req() req: Request, @Res() res: Response) {
    viewOf(req).user = 'alice';
    res.json({ ok: true });
  }

  /** The callback throws before answering: nothing else would ever answer this request. */
  @Post('throws/:method')
  throws(@Param('method') method: CallbackMethod, @Req() req: Request, @Res() _res: Response) {
    const view = viewOf(req);
    view.visited = true;
    view[method]((err?: unknown) => {
      givenToCallback.push(err);
      const error = new Error(SECRET_DETAIL);
      thrown.push(error);
      throw error;
    });
  }

  /** The callback throws a value that is not an Error at all. */
  @Post('throws-string')
  throwsString(@Req() req: Request, @Res() _res: Response) {
    viewOf(req).save(() => {
      thrown.push(SECRET_DETAIL);
      // eslint-disable-next-line @typescript-eslint/only-throw-error
      throw SECRET_DETAIL;
    });
  }

  /** The callback rethrows the error it was given (the store failed). */
  @Post('rethrows')
  rethrows(@Req() req: Request, @Res() res: Response) {
    const view = viewOf(req);
    view.visited = true;
    view.save((err?: unknown) => {
      givenToCallback.push(err);
      if (err) throw err as SessionError;
      res.json({ saved: true });
    });
  }

  /** The callback starts the response, then throws. */
  @Post('throws-after-headers')
  throwsAfterHeaders(@Req() req: Request, @Res() res: Response) {
    viewOf(req).save(() => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
      const error = new Error(SECRET_DETAIL);
      thrown.push(error);
      throw error;
    });
  }

  /** The callback answers, then throws. */
  @Post('throws-after-end')
  @HttpCode(200)
  throwsAfterEnd(@Req() req: Request, @Res() res: Response) {
    const view = viewOf(req);
    view.visited = true;
    view.save(() => {
      // A change after the save: the end of the response waits for its write (on a store that answers later).
      view.answered = true;
      res.end('done');
      const error = new Error(SECRET_DETAIL);
      thrown.push(error);
      throw error;
    });
  }

  /** Every assignment and deletion the view refuses, each tried in strict-mode code. */
  @Post('refused')
  @HttpCode(200)
  refused(@Req() req: Request, @Res() res: Response) {
    const view = viewOf(req);
    const before = { id: view.id, keys: Object.keys(view), user: view.user };
    // Untyped, as JavaScript code (passport, a CSRF library) sees it.
    const data = view as Record<string | symbol, unknown>;
    const marker = Symbol('marker');
    const attempts: Record<string, () => void> = {
      'assign id': () => void (data.id = 'forged-id'),
      'assign cookie': () => void (data.cookie = { maxAge: 1000 }),
      'assign regenerate': () => void (data.regenerate = () => view),
      'assign save': () => void (data.save = () => view),
      'assign destroy': () => void (data.destroy = () => view),
      'assign reload': () => void (data.reload = () => view),
      'assign touch': () => void (data.touch = () => view),
      'assign resetMaxAge': () => void (data.resetMaxAge = () => view),
      'delete id': () => void delete data.id,
      'delete cookie': () => void delete data.cookie,
      'delete regenerate': () => void delete data.regenerate,
      'delete save': () => void delete data.save,
      'delete destroy': () => void delete data.destroy,
      'delete reload': () => void delete data.reload,
      'delete touch': () => void delete data.touch,
      'delete resetMaxAge': () => void delete data.resetMaxAge,
      'assign symbol': () => void (data[marker] = true),
      'delete symbol': () => void delete data[marker],
    };
    const results = Object.fromEntries(Object.entries(attempts).map(([kind, attempt]) => [kind, refusal(attempt)]));
    const after = {
      id: view.id,
      keys: Object.keys(view),
      user: view.user,
      methods: RESERVED.filter((name) => name !== 'id' && name !== 'cookie').every((name) => typeof view[name] === 'function'),
      cookieHasExpires: 'expires' in view.cookie,
    };
    res.json({ results, before, after });
  }
}

interface RunningApp {
  url: string;
  close(): Promise<void>;
}

async function startViewApp(store: SessionStore): Promise<RunningApp> {
  @Module({
    imports: [
      SessionModule.forRoot({
        secret: SECRET,
        store,
        onError: (error, context) => void reported.push({ error, ...context }),
      }),
    ],
    controllers: [ViewController],
  })
  class ViewApp {}
  const app = await NestFactory.create(ViewApp, { logger: false });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

/** A request that fails the test rather than hanging it when nothing answers. */
const timeout = (): RequestInit => ({ signal: AbortSignal.timeout(3000) });

/** Let an unhandled rejection or uncaught exception surface before checking there was none. */
const settled = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 30));

const onUnhandledRejection = (error: unknown) => void processErrors.push({ kind: 'unhandledRejection', error });
const onUncaughtException = (error: unknown) => void processErrors.push({ kind: 'uncaughtException', error });

beforeAll(() => {
  process.on('unhandledRejection', onUnhandledRejection);
  process.on('uncaughtException', onUncaughtException);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandledRejection);
  process.off('uncaughtException', onUncaughtException);
});
beforeEach(() => {
  reported.length = 0;
  thrown.length = 0;
  givenToCallback.length = 0;
  processErrors.length = 0;
});

/** The client's answer carries no trace of the callback's error: no message, no stack. */
function expectCleanBody(text: string): void {
  expect(text).not.toContain('hunter2');
  expect(text).not.toMatch(/\bat .*\(|\.ts:\d+|\.js:\d+|stack/i);
}

for (const kind of ['memory', 'async'] as const) {
  describe(`a callback given to req.session throws (${kind === 'memory' ? 'MemoryStore, writes in the same tick' : 'a store that answers later'})`, () => {
    let running: RunningApp;
    const store = kind === 'memory' ? new MemoryStore({ gcInterval: 0 }) : new FaultyStore(new MemoryStore({ gcInterval: 0 }));

    beforeAll(async () => {
      running = await startViewApp(store);
    });
    afterAll(() => running.close());
    afterEach(() => {
      if (store instanceof FaultyStore) {
        store.failing.clear();
        store.writeDelay = 0;
      }
    });

    for (const method of CALLBACK_METHODS) {
      it(`${method}(cb): reported to onError as SESSION_CALLBACK_FAILED with the error as cause, answered with a clean 500, the process unharmed`, async () => {
        const client = new TestClient(running.url);
        await client.post('/login');
        const oldToken = client.jar.get('sid');
        expect(oldToken).toBeDefined();
        reported.length = 0;

        const response = await client.post(`/throws/${method}`, undefined, timeout());
        await settled();

        expect(processErrors).toEqual([]);
        expect(response.status).toBe(500);
        expect(response.headers.get('content-type')).toMatch(/^application\/json/);
        expect(response.json()).toMatchObject({ statusCode: 500, error: 'SESSION_CALLBACK_FAILED' });
        expectCleanBody(response.text);

        expect(givenToCallback).toEqual([undefined]);
        expect(reported).toHaveLength(1);
        const [{ error, req, res }] = reported;
        expect(error).toBeInstanceOf(SessionError);
        expect(error).toMatchObject({ code: 'SESSION_CALLBACK_FAILED', statusCode: 500, expose: false });
        expect(error.cause).toBe(thrown[0]);
        expect(error.message).toContain(`req.session.${method}()`);
        expect(req?.url).toBe(`/throws/${method}`);
        expect(res).toBeDefined();

        // What the method did to the session stands, and the cookie says so.
        if (method === 'regenerate') expect(client.jar.get('sid')).not.toBe(oldToken);
        if (method === 'destroy') expect(response.cookie('sid')).toMatch(/^sid=;.*Max-Age=0/i);
        if (method === 'save' || method === 'reload') expect(client.jar.get('sid')).toBe(oldToken);
      });
    }

    it('a thrown value that is not an Error is wrapped the same way', async () => {
      const client = new TestClient(running.url);
      const response = await client.post('/throws-string', undefined, timeout());
      await settled();
      expect(processErrors).toEqual([]);
      expect(response.status).toBe(500);
      expect(response.json()).toMatchObject({ error: 'SESSION_CALLBACK_FAILED' });
      expectCleanBody(response.text);
      expect(reported.map(({ error }) => [error.code, error.cause])).toEqual([['SESSION_CALLBACK_FAILED', SECRET_DETAIL]]);
    });

    it('a callback that answered and then threw: the client keeps its answer, the error is reported', async () => {
      if (store instanceof FaultyStore) store.writeDelay = 30; // the answer waits for the store when the callback throws
      const client = new TestClient(running.url);
      const response = await client.post('/throws-after-end', undefined, timeout());
      await new Promise((resolve) => setTimeout(resolve, 60));
      expect(processErrors).toEqual([]);
      expect(response.status).toBe(200);
      expect(response.text).toBe('done');
      expect(reported.map(({ error }) => [error.code, error.cause])).toEqual([['SESSION_CALLBACK_FAILED', thrown[0]]]);
    });

    it('a callback that threw after the headers went out: the response is cut short, not passed off as complete', async () => {
      // Cut short before or after the client read the status line: never a complete response.
      const outcome = await fetch(`${running.url}/throws-after-headers`, { method: 'POST', ...timeout() }).then(
        (response) =>
          response.text().then(
            () => 'complete',
            (error: Error) => error.name,
          ),
        (error: Error) => error.name,
      );
      expect(outcome).not.toBe('complete');
      expect(outcome).not.toBe('TimeoutError');
      await settled();
      expect(processErrors).toEqual([]);
      expect(reported.map(({ error }) => [error.code, error.cause])).toEqual([['SESSION_CALLBACK_FAILED', thrown[0]]]);
    });

    if (kind === 'async') {
      it("a callback that rethrows the store's error: that SessionError is reported as is, and answered with 503", async () => {
        const client = new TestClient(running.url);
        await client.post('/login');
        reported.length = 0;
        (store as FaultyStore).failing.add('patch').add('set');

        const response = await client.post('/rethrows', undefined, timeout());
        await settled();

        expect(processErrors).toEqual([]);
        expect(response.status).toBe(503);
        expect(response.json()).toMatchObject({ statusCode: 503, error: 'SESSION_STORE_UNAVAILABLE' });
        expectCleanBody(response.text);
        const [given] = givenToCallback;
        expect(given).toBeInstanceOf(SessionError);
        expect((given as SessionError).code).toBe('SESSION_STORE_UNAVAILABLE');
        // The callback's own error first; the engine may then report the end-of-response write failing too.
        expect(reported[0].error).toBe(given);
        expect(reported.every(({ error }) => error.code === 'SESSION_STORE_UNAVAILABLE')).toBe(true);
      });
    }
  });
}

describe('assignments and deletions req.session refuses', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startViewApp(new MemoryStore({ gcInterval: 0 }));
  });
  afterAll(() => running.close());

  it('each throws a SessionError coded SESSION_READ_ONLY that says what to do instead, and changes nothing', async () => {
    const client = new TestClient(running.url);
    await client.post('/login');
    const response = await client.post('/refused', undefined, timeout());
    expect(response.status).toBe(200);
    const { results, before, after } = response.json();

    const kinds = [...RESERVED.flatMap((name) => [`assign ${name}`, `delete ${name}`]), 'assign symbol'];
    for (const kind of kinds) {
      expect(results[kind], kind).toMatchObject({ threw: true, name: 'SessionError', code: 'SESSION_READ_ONLY', isTypeError: false });
    }
    // A symbol key never exists on the view, so deleting one succeeds, as on a plain object.
    expect(results['delete symbol']).toEqual({ threw: false });

    // The messages name the property and the way to do what was meant.
    expect(results['assign cookie'].message).toContain('req.session.cookie');
    expect(results['assign cookie'].message).toMatch(/`cookie`.*`idleTimeout`.*`absoluteTimeout`/);
    expect(results['delete cookie'].message).toContain('deleted');
    expect(results['assign id'].message).toContain('req.session.id');
    expect(results['assign id'].message).toContain('regenerate()');
    for (const method of RESERVED.slice(2)) {
      expect(results[`assign ${method}`].message).toContain(`req.session.${method}`);
      expect(results[`assign ${method}`].message).toContain('another key');
    }
    expect(results['assign symbol'].message).toContain('string key');

    expect(after).toEqual({ ...before, methods: true, cookieHasExpires: true });
    expect(before).toMatchObject({ user: 'alice', keys: ['cookie', 'user'] });
  });
});
