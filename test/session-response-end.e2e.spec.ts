import { Controller, Get, Module, Req, Res } from '@nestjs/common';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FileStore, MemoryStore, SessionManager, SessionModule, type SessionStore } from '../src/index.js';
import { RedisStore } from '../src/stores/redis/redis.store.js';
import { TestClient } from './support/http-client.js';
import { ADAPTERS, SECRET, isFastifyReply, startApp, type RunningApp } from './support/test-app.js';

type ViewRequest = IncomingMessage & { session: Record<string, unknown> };

/** What the process reported as uncaught while a test ran (a write after end surfaces there). */
const uncaught: unknown[] = [];
const onUncaught = (error: unknown) => uncaught.push(error);

/** Ends the response twice, as express-session's users (and its own suite) do: the second end must be a no-op. */
function endTwice(req: IncomingMessage, res: ServerResponse): void {
  const view = (req as ViewRequest).session;
  view.user = 'bob';
  view.visits = ((view.visits as number | undefined) ?? 0) + 1;
  res.setHeader('content-type', 'text/plain');
  res.end('Hello');
  res.end();
}

/**
 * The Node request and response of a route: Express's are Node's own; Fastify's wrap them, and a
 * route that writes the Node response itself takes the reply over with `reply.hijack()` first.
 */
function nodeObjects(req: object, res: object): { req: IncomingMessage; res: ServerResponse } {
  if (!isFastifyReply(res)) return { req: req as IncomingMessage, res: res as ServerResponse };
  res.hijack();
  return { req: (req as { raw: IncomingMessage }).raw, res: res.raw };
}

@Controller()
class EndController {
  @Get('end-twice')
  endTwice(@Req() request: object, @Res() response: object): void {
    const { req, res } = nodeObjects(request, response);
    endTwice(req, res);
  }

  @Get('end-twice-callback')
  endTwiceCallback(@Req() request: object, @Res() response: object): void {
    const { req, res } = nodeObjects(request, response);
    (req as ViewRequest).session.user = 'carol';
    res.end('Hi');
    // A callback given to the second end runs once the response finished, as Node's does.
    res.end(() => res.emit('second-end-called'));
  }
}

const stores: Array<{ name: string; create: () => Promise<{ store: SessionStore; dispose: () => Promise<void> }> }> = [
  {
    name: 'MemoryStore (writes synchronously)',
    create: () => Promise.resolve({ store: new MemoryStore(), dispose: () => Promise.resolve() }),
  },
  {
    name: 'FileStore (writes asynchronously)',
    create: async () => {
      const directory = await mkdtemp(join(tmpdir(), 'end-twice-'));
      const store = new FileStore({ directory, gcInterval: 0 });
      return { store, dispose: () => rm(directory, { recursive: true, force: true }) };
    },
  },
  {
    name: 'RedisStore (writes over the network)',
    create: () => {
      const store = new RedisStore({ host: '127.0.0.1', port: 6379, keyPrefix: `end-twice:${process.pid}:` });
      return Promise.resolve({ store, dispose: () => store.close() });
    },
  },
];

beforeEach(() => {
  uncaught.length = 0;
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
});
afterEach(() => {
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
});

describe.each(ADAPTERS.flatMap(([adapter]) => stores.map((store) => ({ ...store, adapter }))))(
  'res.end(body) then res.end() with $name, $adapter',
  ({ create, adapter }) => {
    let running: RunningApp;
    let bare: Server;
    let bareUrl: string;
    let dispose: () => Promise<void>;

    beforeAll(async () => {
      const created = await create();
      dispose = created.dispose;
      @Module({ imports: [SessionModule.forRoot({ secret: SECRET, store: created.store })], controllers: [EndController] })
      class EndModule {}
      running = await startApp(EndModule, { adapter });
      const middleware = running.app.get(SessionManager).middleware();
      // A bare Node server (no Express prototypes): the response is hooked on the response itself.
      bare = createServer((req, res) => middleware(req, res, () => endTwice(req, res)));
      await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
      bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise((resolve) => bare.close(resolve));
      await running.close();
      await dispose();
    });

    // The bare Node server does not depend on the platform: it runs once, beside Express.
    const places = adapter === 'express' ? (['the platform', 'a bare Node server'] as const) : (['the platform'] as const);
    for (const where of places) {
      it(`keeps the body of the first end, saves the session, and writes nothing after the end (${where})`, async () => {
        const client = new TestClient(where === 'the platform' ? running.url + '/end-twice' : bareUrl + '/end-twice');
        const first = await client.get('');
        expect(first.status).toBe(200);
        expect(first.text).toBe('Hello');
        expect(first.headers.get('content-length')).toBe('5');
        expect(first.cookie('sid')).toBeDefined();

        // A changed stored session (a patch, asynchronous on every store but memory) keeps its body too.
        const second = await client.get('');
        expect(second.text).toBe('Hello');
        expect(uncaught).toEqual([]);
      });
    }

    it('runs the callback of the second end once the response finished', async () => {
      const client = new TestClient(running.url);
      const finished = new Promise<void>((resolve) => {
        const server = running.app.getHttpServer() as Server;
        const listener = (_req: IncomingMessage, res: ServerResponse) => {
          server.off('request', listener);
          res.once('second-end-called', resolve);
        };
        server.prependListener('request', listener);
      });
      const response = await client.get('/end-twice-callback');
      expect(response.text).toBe('Hi');
      await finished;
      expect(uncaught).toEqual([]);
    });
  },
);
