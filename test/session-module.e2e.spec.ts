import type { MaybePromise } from '../src/core/maybe-promise.js';
import { Controller, Get, Inject, Injectable, Module, Post, HttpCode, type INestApplication } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestingModule } from '@nestjs/testing';
import { describe, expect, it } from 'vitest';
import {
  FileStore,
  MemoryStore,
  SESSION_STORE,
  Session,
  SessionError,
  SessionManager,
  SessionModule,
  type SessionHandle,
  type SessionModuleOptions,
  type SessionStore,
} from '../src/index.js';
import { ADAPTERS, SECRET, createApp, startApp, startSessionApp, testModule, type AdapterName } from './support/test-app.js';

/** `moduleRef.createNestApplication()` on `adapter`. */
async function createNestApplication(moduleRef: TestingModule, adapter: AdapterName): Promise<INestApplication> {
  if (adapter === 'express') return moduleRef.createNestApplication({ logger: false });
  const { FastifyAdapter } = await import('@nestjs/platform-fastify');
  return moduleRef.createNestApplication(new FastifyAdapter(), { logger: false });
}

describe('SessionModule without an HTTP app', () => {
  it('isGlobal makes SessionManager and SESSION_STORE injectable in modules that do not import it', async () => {
    @Injectable()
    class NeedsSessions {
      constructor(
        readonly manager: SessionManager,
        @Inject(SESSION_STORE) readonly store: SessionStore,
      ) {}
    }
    @Module({ providers: [NeedsSessions], exports: [NeedsSessions] })
    class FeatureModule {}
    const store = new MemoryStore();
    @Module({ imports: [SessionModule.forRoot({ secret: SECRET, store, isGlobal: true }), FeatureModule] })
    class AppModule {}
    const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
    try {
      expect(app.get(NeedsSessions).store).toBe(store);
      expect(app.get(NeedsSessions).manager).toBeInstanceOf(SessionManager);
    } finally {
      await app.close();
    }

    @Module({ imports: [SessionModule.forRoot({ secret: SECRET, store })] })
    class Scoped {}
    @Module({ imports: [Scoped, FeatureModule] })
    class NotGlobal {}
    await expect(NestFactory.createApplicationContext(NotGlobal, { logger: false, abortOnError: false })).rejects.toThrow(/SessionManager/);
  });
});

describe.each(ADAPTERS)('on %s', (adapter) => {
  describe('SessionModule configuration', () => {
    it('forRootAsync with useFactory reads ConfigService', async () => {
      const session = SessionModule.forRootAsync({
        imports: [ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ SESSION_SECRET: SECRET, COOKIE: 'app_sid' })] })],
        inject: [ConfigService],
        useFactory: (config: ConfigService) => ({
          secret: config.getOrThrow<string>('SESSION_SECRET'),
          cookie: { name: config.getOrThrow<string>('COOKIE') },
        }),
      });
      const running = await startApp(testModule(session), { adapter });
      try {
        const response = await running.client().post('/increment');
        expect(response.cookie('app_sid')).toBeDefined();
      } finally {
        await running.close();
      }
    });

    it('forRootAsync with useClass and with useExisting', async () => {
      @Injectable()
      class SessionConfig {
        createSessionOptions(): SessionModuleOptions {
          return { secret: SECRET, cookie: { name: 'from_class' } };
        }
      }
      const viaClass = await startApp(testModule(SessionModule.forRootAsync({ useClass: SessionConfig })), { adapter });
      try {
        expect((await viaClass.client().post('/increment')).cookie('from_class')).toBeDefined();
      } finally {
        await viaClass.close();
      }

      @Module({ providers: [SessionConfig], exports: [SessionConfig] })
      class ConfigHolder {}
      const viaExisting = await startApp(testModule(SessionModule.forRootAsync({ imports: [ConfigHolder], useExisting: SessionConfig })), {
        adapter,
      });
      try {
        expect((await viaExisting.client().post('/increment')).cookie('from_class')).toBeDefined();
      } finally {
        await viaExisting.close();
      }
    });

    it('stops the application at bootstrap with an error that names the option and the fix', async () => {
      const create = (options: Partial<SessionModuleOptions>) =>
        createApp(testModule(SessionModule.forRoot({ secret: SECRET, ...options })), adapter, { abortOnError: false });
      const error = await create({ secret: 'short' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SessionError);
      expect((error as SessionError).code).toBe('SESSION_OPTIONS_INVALID');
      expect((error as SessionError).message).toMatch(
        /^nest-sessions: invalid option `secret`: must be a string of at least 32 characters\. Generate one/,
      );
      await expect(create({ store: 'redis-ish://x' })).rejects.toThrow(/invalid option `store`: unsupported store URL scheme "redis-ish"/);
    });

    it('builds a file store from a URL, uses it, and closes it on shutdown', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'nest-sessions-module-'));
      try {
        const running = await startSessionApp({ store: `file:${dir}/sessions` }, { adapter });
        const store = running.app.get<SessionStore>(SESSION_STORE);
        expect(store).toBeInstanceOf(FileStore);
        const client = running.client();
        await client.post('/increment');
        const id = client.jar.get('sid')!.split('.')[0];
        expect(await readdir(join(dir, 'sessions'))).toEqual([`${id}.json`]);
        await running.close();
        expect((store as unknown as { timer: unknown }).timer).toBeUndefined();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('passes gcInterval to a store built from a URL', async () => {
      const running = await startSessionApp(
        { store: 'memory:?max=5', gcInterval: '50ms', idleTimeout: 100, touchInterval: 10 },
        { adapter },
      );
      try {
        const store = running.app.get<MemoryStore>(SESSION_STORE);
        const client = running.client();
        await client.post('/increment');
        expect(store.size).toBe(1);
        await new Promise((resolve) => setTimeout(resolve, 250));
        expect(store.size).toBe(0);
      } finally {
        await running.close();
      }
    });

    it('leaves a store instance it did not build open on shutdown', async () => {
      const store = new MemoryStore({ gcInterval: 0 });
      const running = await startSessionApp({ store }, { adapter });
      await running.client().post('/increment');
      await running.close();
      expect(store.size).toBe(1);
      await store.close();
    });
  });

  describe('codecs through the module', () => {
    class Money {
      constructor(
        readonly amount: bigint,
        readonly currency: string,
      ) {}
      format(): string {
        return `${this.amount} ${this.currency}`;
      }
    }

    @Controller()
    class RichController {
      @Post('rich')
      @HttpCode(200)
      write(@Session() session: SessionHandle) {
        session.set('when', new Date('2026-01-02T03:04:05.678Z'));
        session.set('tags', new Set(['a', 'b']));
        session.set('seen', new Map([[1, new Date(0)]]));
        session.set('price', new Money(12n, 'EUR'));
        return {};
      }

      @Get('rich')
      read(@Session() session: SessionHandle) {
        const when = session.get('when') as Date;
        const tags = session.get('tags') as Set<string>;
        const seen = session.get('seen') as Map<number, Date>;
        const price = session.get('price') as Money;
        return {
          when: when instanceof Date ? when.toISOString() : 'not a date',
          tags: tags instanceof Set ? [...tags] : 'not a set',
          seen: seen instanceof Map ? seen.get(1) instanceof Date : 'not a map',
          price: price instanceof Money ? price.format() : 'not money',
        };
      }
    }

    it("'rich' keeps Date, Set, Map, BigInt and registered classes across requests", async () => {
      const { RichCodec } = await import('../src/index.js');
      @Module({
        imports: [SessionModule.forRoot({ secret: SECRET, codec: new RichCodec({ classes: { Money } }) })],
        controllers: [RichController],
      })
      class RichApp {}
      const running = await startApp(RichApp, { adapter });
      try {
        const client = running.client();
        await client.post('/rich');
        expect((await client.get('/rich')).json()).toEqual({
          when: '2026-01-02T03:04:05.678Z',
          tags: ['a', 'b'],
          seen: true,
          price: '12 EUR',
        });
      } finally {
        await running.close();
      }
    });

    it("'json' refuses a BigInt with a clear error instead of storing something else", async () => {
      @Controller()
      class BigController {
        @Post('big')
        @HttpCode(200)
        write(@Session() session: SessionHandle) {
          session.set('n', 1n);
          return {};
        }
      }
      const errors: SessionError[] = [];
      @Module({ imports: [SessionModule.forRoot({ secret: SECRET, onError: (e) => errors.push(e) })], controllers: [BigController] })
      class BigApp {}
      const running = await startApp(BigApp, { adapter });
      try {
        const response = await running.client().post('/big');
        expect(response.status).toBe(500);
        expect(response.setCookies).toEqual([]);
        expect(errors[0]?.code).toBe('SESSION_CODEC_ERROR');
      } finally {
        await running.close();
      }
    });
  });

  describe('sessions by principal', () => {
    it("lists a user's sessions and logs them out everywhere, leaving other users alone", async () => {
      const running = await startSessionApp({ principal: 'user' }, { adapter });
      try {
        const manager = running.app.get(SessionManager);
        const laptop = running.client();
        const phone = running.client();
        const bob = running.client();
        await laptop.post('/login'); // sets user = 'alice' after regenerate()
        await phone.post('/login');
        await bob.post('/set', { user: 'bob' });
        const anonymous = running.client();
        await anonymous.post('/increment');

        const sessions = await manager.findByPrincipal('alice');
        const ids = [laptop, phone].map((c) => c.jar.get('sid')!.split('.')[0]);
        expect(sessions.map((s) => s.id).sort()).toEqual(ids.sort());

        expect(await manager.destroyByPrincipal('alice')).toBe(2);
        expect((await laptop.get('/all')).json()).toEqual({});
        expect((await phone.get('/all')).json()).toEqual({});
        expect((await bob.get('/all')).json()).toEqual({ user: 'bob' });
        expect((await anonymous.get('/value')).json()).toEqual({ count: 1 });

        // logging out clears the principal too
        await bob.post('/delete', { keys: ['user'] });
        expect(await manager.findByPrincipal('bob')).toEqual([]);
      } finally {
        await running.close();
      }
    });

    it('says clearly that a client-side store keeps no sessions to list', async () => {
      const running = await startSessionApp({ store: 'cookie:', principal: 'user' }, { adapter });
      try {
        const manager = running.app.get(SessionManager);
        for (const method of ['findByPrincipal', 'destroyByPrincipal'] as const) {
          const error = await manager[method]('alice').catch((e: unknown) => e);
          expect(error).toBeInstanceOf(SessionError);
          expect((error as SessionError).code).toBe('SESSION_NOT_SUPPORTED');
          expect((error as SessionError).message).toBe(
            `nest-sessions: the CookieStore store does not support ${method}(); see the store table in docs/stores.md#which-store for the stores that do.`,
          );
        }
      } finally {
        await running.close();
      }
    });
  });

  describe('the global interceptor switch', () => {
    it('registers SessionInterceptor as APP_INTERCEPTOR only with interceptor: true, and HTTP works either way', async () => {
      const { APP_INTERCEPTOR } = await import('@nestjs/core');
      const { SessionInterceptor } = await import('../src/index.js');
      const isGlobalInterceptor = (p: unknown) => (p as { provide?: unknown }).provide === APP_INTERCEPTOR;
      const withIt = SessionModule.forRoot({ secret: SECRET, interceptor: true });
      const without = SessionModule.forRootAsync({ useFactory: () => ({ secret: SECRET }) });
      expect(withIt.providers!.filter(isGlobalInterceptor)).toEqual([{ provide: APP_INTERCEPTOR, useExisting: SessionInterceptor }]);
      expect(without.providers!.filter(isGlobalInterceptor)).toEqual([]);
      const running = await startApp(testModule(withIt), { adapter });
      try {
        const client = running.client();
        await client.post('/increment');
        expect((await client.post('/increment')).json()).toEqual({ count: 2 });
        expect(running.app.get(SessionInterceptor)).toBeInstanceOf(SessionInterceptor);
      } finally {
        await running.close();
      }
    });
  });

  describe('a SessionManager subclass', () => {
    it('sees every store call of a request through its storeCall() override, for stores reached through promises', async () => {
      const { Test } = await import('@nestjs/testing');
      const { SESSION_RESOLVED_OPTIONS } = await import('../src/session/session.internal-constants.js');
      const { FaultyStore } = await import('./support/faulty-store.js');
      const calls: string[] = [];
      class AuditingSessionManager extends SessionManager {
        protected override storeCall<R>(operation: string, call: () => MaybePromise<R>): MaybePromise<R> {
          calls.push(operation);
          return super.storeCall(operation, call);
        }
      }
      // FaultyStore with no fault set: a store that is not in-process, so the engine would otherwise
      // chain its calls straight to the store.
      const moduleRef = await Test.createTestingModule({
        imports: [testModule(SessionModule.forRoot({ secret: SECRET, store: new FaultyStore(new MemoryStore()) }))],
      })
        .overrideProvider(SessionManager)
        .useFactory({ factory: (options: never) => new AuditingSessionManager(options), inject: [SESSION_RESOLVED_OPTIONS] })
        .compile();
      const app = await createNestApplication(moduleRef, adapter);
      await app.listen(0, '127.0.0.1');
      try {
        const { TestClient } = await import('./support/http-client.js');
        const client = new TestClient(`http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`);
        await client.post('/increment'); // new session: set
        await client.post('/increment'); // read, then patch
        await client.post('/touch'); // read, then touch
        expect((await client.get('/value')).json()).toEqual({ count: 2 });
        expect(calls).toEqual([
          'save the session',
          'read the session',
          'save the session',
          'read the session',
          'extend the session',
          'read the session',
        ]);
      } finally {
        await app.close();
      }
    });
  });
});
