import { Controller, Get, Module, Req, Res } from '@nestjs/common';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, SessionManager, SessionModule } from '../src/index.js';
import { FaultyStore } from './support/faulty-store.js';
import { ADAPTERS, SECRET, isFastifyReply, startApp, type RunningApp } from './support/test-app.js';

/**
 * While the end of a response waits for an asynchronous store write, the handler's code after
 * `res.end()` runs against a response whose headers are not out yet. It must meet an ended
 * response, as it does over a store that answers at once: `setHeader()` and friends throw Node's
 * `ERR_HTTP_HEADERS_SENT`, `write()` reports `ERR_STREAM_WRITE_AFTER_END`, and the waiting answer is
 * not changed (a `Content-Length` set after the end left the client waiting for a body that never
 * came). The headers are still not sent early, so a write that fails still answers 503.
 */

type ViewRequest = IncomingMessage & { session: Record<string, unknown> };

/** What the handler's calls after `end()` gave: `'ok'`, or the code of what they threw or reported. */
type Seen = Record<string, unknown>;
const seen: Seen[] = [];
/** The refused methods the response held as own properties right after `end()`, per request. */
const ownAfterEnd: string[][] = [];
const REFUSED_METHODS = ['setHeader', 'appendHeader', 'removeHeader', 'write', 'flushHeaders'];
/** What the process reported as uncaught while a test ran. */
const uncaught: unknown[] = [];
const onUncaught = (error: unknown) => uncaught.push(error);

function attempt(record: Seen, name: string, call: () => unknown): void {
  try {
    call();
    record[name] = 'ok';
  } catch (error) {
    record[name] = (error as { code?: unknown }).code ?? String(error);
  }
}

/** Change the session, end the response, then try to change it in every way Node refuses after the end. */
function endThenChange(req: IncomingMessage, res: ServerResponse): void {
  (req as ViewRequest).session.user = 'bob';
  res.setHeader('content-type', 'text/plain');
  res.end('Hello');
  ownAfterEnd.push(REFUSED_METHODS.filter((name) => Object.hasOwn(res, name)));
  const record: Seen = {};
  seen.push(record);
  attempt(record, 'setHeader', () => res.setHeader('content-length', '3'));
  attempt(record, 'appendHeader', () => res.appendHeader('x-late', '1'));
  attempt(record, 'removeHeader', () => res.removeHeader('content-type'));
  attempt(record, 'setHeaders', () => res.setHeaders(new Map([['x-late', '1']])));
  attempt(record, 'writeHead', () => res.writeHead(500));
  attempt(record, 'flushHeaders', () => res.flushHeaders());
  res.on('error', (error: { code?: unknown }) => (record.errorEvent = error.code));
  record.write = res.write('more', (error) => (record.writeCallback = (error as { code?: unknown } | null | undefined)?.code));
}

/** What Node's own response gives for those calls once it ended (the store answered at once). */
const AS_NODE = {
  setHeader: 'ERR_HTTP_HEADERS_SENT',
  appendHeader: 'ERR_HTTP_HEADERS_SENT',
  removeHeader: 'ERR_HTTP_HEADERS_SENT',
  setHeaders: 'ERR_HTTP_HEADERS_SENT',
  writeHead: 'ERR_HTTP_HEADERS_SENT',
  flushHeaders: 'ok',
  write: false,
  writeCallback: 'ERR_STREAM_WRITE_AFTER_END',
  errorEvent: 'ERR_STREAM_WRITE_AFTER_END',
};

function nodeObjects(req: object, res: object): { req: IncomingMessage; res: ServerResponse } {
  if (!isFastifyReply(res)) return { req: req as IncomingMessage, res: res as ServerResponse };
  res.hijack();
  return { req: (req as { raw: IncomingMessage }).raw, res: res.raw };
}

@Controller()
class HeldController {
  @Get('end-then-change')
  endThenChange(@Req() request: object, @Res() response: object): void {
    const { req, res } = nodeObjects(request, response);
    endThenChange(req, res);
  }
}

/** A GET that gives up rather than hang, so a response that never completes fails the test. */
async function get(url: string, cookie?: string): Promise<{ status: number; text: string; headers: Headers }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(3000), headers: cookie ? { cookie } : {} });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

/** What the next event-loop turns bring (the write error is reported on the next tick). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

beforeEach(() => {
  seen.length = 0;
  ownAfterEnd.length = 0;
  uncaught.length = 0;
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
});
afterEach(() => {
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
});

describe.each(ADAPTERS)('changes to a response after its end, on %s', (adapter) => {
  let running: RunningApp;
  let store: FaultyStore;
  let bare: Server;
  let bareUrl: string;

  beforeAll(async () => {
    store = new FaultyStore(new MemoryStore());
    @Module({ imports: [SessionModule.forRoot({ secret: SECRET, store })], controllers: [HeldController] })
    class HeldModule {}
    running = await startApp(HeldModule, { adapter });
    const middleware = running.app.get(SessionManager).middleware();
    // A bare Node server: the response is hooked on the response itself, not on a prototype.
    bare = createServer((req, res) => middleware(req, res, () => endThenChange(req, res)));
    await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
    bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => bare.close(resolve));
    await running.close();
  });
  beforeEach(() => {
    store.writeDelay = 0;
    store.failing.clear();
  });

  const places = adapter === 'express' ? (['the platform', 'a bare Node server'] as const) : (['the platform'] as const);
  const urlOf = (where: (typeof places)[number]) => (where === 'the platform' ? running.url : bareUrl) + '/end-then-change';

  for (const where of places) {
    it(`refuses them as an ended response does while a slow write holds the end, and the answer stays whole (${where})`, async () => {
      store.writeDelay = 40;
      const response = await get(urlOf(where));
      expect(response.status).toBe(200);
      expect(response.text).toBe('Hello');
      expect(response.headers.get('content-length')).toBe('5');
      expect(response.headers.get('content-type')).toBe('text/plain');
      expect(response.headers.get('x-late')).toBeNull();
      expect(response.headers.get('set-cookie')).toMatch(/^sid=/);
      await settle();
      expect(seen).toEqual([AS_NODE]);
      expect(uncaught).toEqual([]);
    });

    // An Express app's response prototype refuses them itself: a property added to a response after
    // Express set its prototype takes V8's slow path (bench/README.md), so nothing is added there.
    // A response hooked on itself (a bare Node server, Fastify's raw response) gets them as its own.
    const ownWhileHeld = adapter === 'express' && where === 'the platform' ? [] : REFUSED_METHODS;
    it(`refuses them with ${ownWhileHeld.length ? 'own methods on the response' : "the app's response prototype, adding nothing to the response"} (${where})`, async () => {
      store.writeDelay = 40;
      expect((await get(urlOf(where))).text).toBe('Hello');
      await settle();
      expect(seen).toEqual([AS_NODE]);
      expect(ownAfterEnd).toEqual([ownWhileHeld]);
    });

    it(`gives the same answers over a store that writes at once, where Node itself refuses them (${where})`, async () => {
      const response = await get(urlOf(where));
      expect(response.text).toBe('Hello');
      await settle();
      expect(seen).toEqual([AS_NODE]);
    });

    it(`still answers 503 when the held write fails, without the handler's late changes (${where})`, async () => {
      store.writeDelay = 40;
      store.failing.add('set');
      const response = await get(urlOf(where));
      expect(response.status).toBe(503);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(Number(response.headers.get('content-length'))).toBe(Buffer.byteLength(response.text));
      expect(response.headers.get('set-cookie')).toBeNull();
      expect(JSON.parse(response.text)).toMatchObject({ statusCode: 503, error: 'SESSION_STORE_UNAVAILABLE' });
      await settle();
      expect(seen).toEqual([AS_NODE]);
      expect(uncaught).toEqual([]);
    });
  }
});
