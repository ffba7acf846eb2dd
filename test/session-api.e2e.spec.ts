import { Controller, Get, HttpCode, InternalServerErrorException, Module, Post, Req } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore, Session, SessionModule } from '../src/index.js';
import { ADAPTERS, SECRET, startApp, type RunningApp } from './support/test-app.js';

@Controller()
class ApiController {
  @Post('seed')
  @HttpCode(200)
  seed(@Session() session: Session) {
    session.set('a', 1).set('b', { nested: true });
    return {};
  }

  @Get('inspect')
  inspect(@Session() session: Session) {
    const before = session.hasChanged;
    const nested = session.get('b') as { nested: boolean } | undefined;
    const afterRead = session.hasChanged;
    if (nested) nested.nested = false; // an in-place edit is a change
    const afterEdit = session.hasChanged;
    if (nested) nested.nested = true; // and editing it back is none
    return {
      before,
      afterRead,
      afterEdit,
      afterRevert: session.hasChanged,
      has: [session.has('a'), session.has('zz')],
      keys: session.keys().sort(),
    };
  }

  @Post('clear')
  @HttpCode(200)
  clear(@Session() session: Session) {
    session.clear();
    return { keys: session.keys(), hasChanged: session.hasChanged };
  }

  @Post('reload')
  @HttpCode(200)
  async reload(@Session() session: Session) {
    session.set('a', 999);
    session.delete('b');
    await session.reload();
    return { a: session.get('a'), b: session.get('b'), hasChanged: session.hasChanged };
  }

  @Post('save-then-fail')
  async saveThenFail(@Session() session: Session) {
    session.set('saved', 'yes');
    await session.save();
    session.set('unsaved', 'no');
    throw new InternalServerErrorException('boom');
  }

  @Get('all')
  all(@Session() session: Session) {
    return session.toJSON();
  }

  @Post('logged')
  @HttpCode(200)
  logged(@Req() req: IncomingMessage, @Session() session: Session) {
    session.set('token', 'value-that-must-not-be-logged');
    const same = session.get('b') === session.get('b');
    return { id: session.id, request: inspect(req, { depth: 8 }), session: inspect(session), same };
  }
}

describe.each(ADAPTERS)('on %s', (adapter) => {
  describe('the Session API', () => {
    let running: RunningApp;
    const store = new MemoryStore({ gcInterval: 0 });

    beforeAll(async () => {
      @Module({ imports: [SessionModule.forRoot({ secret: SECRET, store })], controllers: [ApiController] })
      class ApiApp {}
      running = await startApp(ApiApp, { adapter });
    });
    afterAll(async () => {
      await running.close();
      await store.close();
    });

    it('hasChanged, has() and keys() report what a request did', async () => {
      const client = running.client();
      await client.post('/seed');
      expect((await client.get('/inspect')).json()).toEqual({
        before: false,
        afterRead: false,
        afterEdit: true,
        afterRevert: false,
        has: [true, false],
        keys: ['a', 'b'],
      });
    });

    it('clear() removes every key and the removal is stored', async () => {
      const client = running.client();
      await client.post('/seed');
      expect((await client.post('/clear')).json()).toEqual({ keys: [], hasChanged: true });
      expect((await client.get('/all')).json()).toEqual({});
    });

    it('reload() drops unsaved changes and reads the store again', async () => {
      const client = running.client();
      await client.post('/seed');
      expect((await client.post('/reload')).json()).toEqual({ a: 1, b: { nested: true }, hasChanged: false });
      expect((await client.get('/all')).json()).toEqual({ a: 1, b: { nested: true } });
    });

    it('save() writes immediately; later changes still follow the response', async () => {
      const client = running.client();
      await client.post('/seed');
      const response = await client.post('/save-then-fail');
      expect(response.status).toBe(500);
      expect((await client.get('/all')).json()).toEqual({ a: 1, b: { nested: true }, saved: 'yes', unsaved: 'no' });
    });

    it('logging the request or the session shows neither the session ID nor any value', async () => {
      const client = running.client();
      await client.post('/seed');
      const { id, request, session, same } = (await client.post('/logged')).json() as {
        id: string;
        request: string;
        session: string;
        same: boolean;
      };
      expect(id).toMatch(/^[\w-]{32}$/);
      expect(session).toBe(`Session { id: [redacted], isNew: false, keys: [ 'a', 'b', 'token' ] }`);
      // The request carries its session, which prints as above, however deep the request is logged;
      // the ID is there only inside the Cookie header the client sent.
      expect(request).toContain(session);
      for (const printed of [request.replaceAll(/sid=[\w-]+\.[\w-]+/g, 'sid=(cookie)'), session]) {
        expect(printed).not.toContain(id);
        expect(printed).not.toContain('value-that-must-not-be-logged');
      }
      // An object read twice is the same object (so an edit in place is saved).
      expect(same).toBe(true);
    });
  });
});
