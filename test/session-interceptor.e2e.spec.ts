import type { CallHandler, ExecutionContext } from '@nestjs/common';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { defer, lastValueFrom, of } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionInterceptor, SessionManager, getSessionFromContext, type SessionHandle } from '../src/index.js';
import { ADAPTERS, startSessionApp, type RunningApp } from './support/test-app.js';

/**
 * The interceptor's job is the contexts the middleware never sees. A WebSocket gateway's client
 * keeps its handshake request (a real IncomingMessage); here that request and the `ws` execution
 * context are built by hand, the rest (manager, store, HTTP app) is the real thing.
 */
function wsContext(handshake: IncomingMessage): ExecutionContext {
  const client = { request: handshake };
  return {
    getType: () => 'ws',
    switchToWs: () => ({ getClient: () => client, getData: () => ({}), getPattern: () => 'message' }),
    getArgByIndex: (index: number) => [client, {}][index],
    getArgs: () => [client, {}],
    getClass: () => Object,
    getHandler: () => () => undefined,
    switchToHttp: () => {
      throw new Error('not http');
    },
    switchToRpc: () => {
      throw new Error('not rpc');
    },
  } as unknown as ExecutionContext;
}

function handshakeWith(cookie: string): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.headers.cookie = cookie;
  return req;
}

describe.each(ADAPTERS)('on %s', (adapter) => {
  describe('SessionInterceptor in non-HTTP contexts', () => {
    let running: RunningApp;
    let interceptor: SessionInterceptor;

    beforeAll(async () => {
      running = await startSessionApp({}, { adapter });
      interceptor = new SessionInterceptor(running.app.get(SessionManager));
    });
    afterAll(() => running.close());

    it('loads the session of the handshake for each message and saves what the handler changed', async () => {
      const client = running.client();
      await client.post('/increment');
      const handshake = handshakeWith(`sid=${client.jar.get('sid')}`);

      for (const n of [1, 2]) {
        // A change made over HTTP between two messages is seen by the next message: each loads afresh.
        await client.post('/set', { count: n * 10 });
        const context = wsContext(handshake);
        const handler: CallHandler = {
          handle: () =>
            defer(() => {
              const session = getSessionFromContext<SessionHandle>(context);
              session.set('wsMessages', n);
              return of({ count: session.get('count') });
            }),
        };
        expect(await lastValueFrom(interceptor.intercept(context, handler))).toEqual({ count: n * 10 });
      }
      expect((await client.get('/all')).json()).toEqual({ count: 20, wsMessages: 2 });
    });

    it('cannot start a session where no cookie can be written', async () => {
      const context = wsContext(handshakeWith(''));
      const handler: CallHandler = {
        handle: () =>
          defer(() => {
            getSessionFromContext<SessionHandle>(context).set('x', 1);
            return of('ok');
          }),
      };
      expect(await lastValueFrom(interceptor.intercept(context, handler))).toBe('ok');
      const session = getSessionFromContext<SessionHandle>(context);
      expect(session.isNew).toBe(true);
      expect(session.id).toBeUndefined();
    });

    it('passes HTTP requests through untouched', async () => {
      const context = { getType: () => 'http' } as unknown as ExecutionContext;
      const result = interceptor.intercept(context, { handle: () => of('plain') });
      expect(await lastValueFrom(result)).toBe('plain');
    });
  });
});
