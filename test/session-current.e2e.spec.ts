/**
 * `CurrentSession` (SessionModule's `asyncContext: true`), for real: Nest apps on loopback, on
 * Express and on Fastify, driven over HTTP with the cookie a browser would keep; GraphQL over
 * Apollo (Express, Fastify) and Mercurius (Fastify); WebSocket gateways through `withSessions()`
 * and through `SessionInterceptor`. Services reach the session of the request that called them
 * without it being passed down, and only the guards, interceptors, middleware and handlers of
 * that request see it.
 */
import 'reflect-metadata';
import {
  Body,
  type CallHandler,
  type DynamicModule,
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Headers,
  HttpCode,
  Injectable,
  type INestApplication,
  type MiddlewareConsumer,
  Module,
  type NestInterceptor,
  type NestMiddleware,
  type NestModule,
  Param,
  type Provider,
  Post,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Args, GraphQLModule, Mutation, Query, Resolver, Subscription } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { WsAdapter } from '@nestjs/platform-ws';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { createClient } from 'graphql-ws';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { concatMap, type Observable } from 'rxjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  CurrentSession,
  Session,
  SessionError,
  SessionManager,
  SessionMiddleware,
  SessionModule,
  graphqlWsSessions,
  mercuriusSubscriptionSessions,
  withSessions,
  type SessionHandle,
  type SessionModuleOptions,
} from '../src/index.js';
import { graphqlDriver, SERVERS } from './support/graphql-servers.js';
import { TestClient, type TestResponse } from './support/http-client.js';
import { ADAPTERS, SECRET, startApp, type AdapterName, type RunningApp } from './support/test-app.js';
import { WsTestClient, type WsPlatform } from './support/ws-test-client.js';

interface CartData {
  cart: string[];
  user: string;
  name: string;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** What a failed call gave: its code and message. */
function failure(error: unknown): { code: string; message: string } {
  if (!(error instanceof SessionError)) throw error;
  return { code: error.code, message: error.message };
}

/** A service no handler hands the session to: it finds it through `CurrentSession`, after awaits. */
@Injectable()
class CartService {
  constructor(private readonly current: CurrentSession) {}

  session(): SessionHandle {
    return this.current.get();
  }

  async items(): Promise<string[]> {
    await delay(2);
    return this.current.get<CartData>().get('cart') ?? [];
  }

  async add(item: string): Promise<string[]> {
    await delay(5);
    const session = this.current.get<CartData>();
    const cart = [...(session.get('cart') ?? []), item];
    session.set('cart', cart);
    return cart;
  }

  async login(name?: string): Promise<void> {
    await delay(1);
    const session = this.current.get<CartData>();
    session.set('user', 'alice');
    if (name !== undefined) session.set('name', name);
  }

  async user(): Promise<string | null> {
    await delay(1);
    return this.current.get<CartData>().get('user') ?? null;
  }

  async nameAfter(ms: number): Promise<string | null> {
    await delay(ms);
    return this.current.get<CartData>().get('name') ?? null;
  }

  /** `find()`: no throw without a request or a session. */
  peek(): string | null {
    return this.current.find<CartData>()?.get('user') ?? null;
  }
}

/** A guard that asks a service, which reads the session through `CurrentSession`. */
@Injectable()
class ServiceGuard implements CanActivate {
  constructor(private readonly cart: CartService) {}

  async canActivate(): Promise<boolean> {
    return (await this.cart.user()) === 'alice';
  }
}

/** An interceptor that asks the service before the handler and after it, behind an await. */
@Injectable()
class ServiceInterceptor implements NestInterceptor {
  constructor(private readonly cart: CartService) {}

  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const before = this.cart.peek();
    return next.handle().pipe(concatMap(async (body: unknown) => ({ body, before, after: await this.cart.user() })));
  }
}

/** Module middleware, mounted after the session's: leaves what it found for the route. */
@Injectable()
class SeenByMiddleware implements NestMiddleware<IncomingMessage, ServerResponse> {
  constructor(private readonly current: CurrentSession) {}

  use(req: IncomingMessage, _res: ServerResponse, next: () => void): void {
    req.headers['x-seen-by-middleware'] = this.current.find<CartData>()?.get('user') ?? 'nobody';
    next();
  }
}

@Controller()
class CurrentController {
  constructor(
    private readonly cart: CartService,
    private readonly current: CurrentSession,
  ) {}

  @Post('cart')
  @HttpCode(200)
  add(@Body('item') item: string) {
    return this.cart.add(item);
  }

  @Get('cart')
  read(@Session() session: SessionHandle) {
    return { cart: session.get('cart') ?? null };
  }

  @Post('login')
  @HttpCode(200)
  async login(@Body('name') name?: string) {
    await this.cart.login(name);
    return {};
  }

  @Get('same')
  async same(@Session() session: SessionHandle) {
    const first = this.cart.session() === session;
    await delay(5);
    return { first, afterAwait: this.cart.session() === session };
  }

  @Get('name-after/:ms')
  async nameAfter(@Param('ms') ms: string) {
    return { name: await this.cart.nameAfter(Number(ms)) };
  }

  @Get('guarded')
  @UseGuards(ServiceGuard)
  guarded() {
    return { ok: true };
  }

  @Get('intercepted')
  @UseInterceptors(ServiceInterceptor)
  intercepted() {
    return 'handler';
  }

  @Get('middleware')
  middleware(@Headers('x-seen-by-middleware') seen: string) {
    return { seen };
  }

  @Get('find')
  find() {
    try {
      return { user: this.cart.peek() };
    } catch (error) {
      return failure(error);
    }
  }

  @Get('get')
  get() {
    try {
      return { user: this.current.get<CartData>().get('user') ?? null };
    } catch (error) {
      return failure(error);
    }
  }
}

function currentModule(options: Partial<SessionModuleOptions> & { asyncContext?: boolean; interceptor?: boolean }, extra: Provider[] = []) {
  @Module({
    imports: [SessionModule.forRoot({ secret: SECRET, ...options })],
    controllers: [CurrentController],
    providers: [CartService, ServiceGuard, ServiceInterceptor, SeenByMiddleware, ...extra],
  })
  class CurrentAppModule implements NestModule {
    configure(consumer: MiddlewareConsumer): void {
      consumer.apply(SeenByMiddleware).forRoutes('middleware');
    }
  }
  return CurrentAppModule;
}

describe.each(ADAPTERS)('CurrentSession over HTTP on %s', (adapter) => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp(currentModule({ asyncContext: true }), { adapter });
  });
  afterAll(() => running.close());

  /** A browser logged in as alice, through the service, with the given name. */
  async function loggedIn(name = 'alice'): Promise<TestClient> {
    const client = running.client();
    expect((await client.post('/login', { name })).status).toBe(200);
    return client;
  }

  it('a service reads and writes the session of the request (a POST with a body); the write is saved with the response', async () => {
    const client = running.client();
    const first = await client.post('/cart', { item: 'apple' });
    expect(first.status).toBe(200);
    expect(first.json()).toEqual(['apple']);
    // The service's write started the session: the cookie went out with the response.
    expect(first.cookie('sid')).toBeDefined();
    expect((await client.get('/cart')).json()).toEqual({ cart: ['apple'] });
    expect((await client.post('/cart', { item: 'pear' })).json()).toEqual(['apple', 'pear']);
    expect((await client.get('/cart')).json()).toEqual({ cart: ['apple', 'pear'] });
    // Another browser has a cart of its own.
    expect((await running.client().get('/cart')).json()).toEqual({ cart: null });
  });

  it('a POST whose body arrives in parts, after the session middleware ran, still reaches the session (Fastify reads bodies after its middleware)', async () => {
    const client = await loggedIn();
    const parts = ['{"item":', '"late"}'];
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent === parts.length) return controller.close();
        if (sent > 0) await delay(50);
        controller.enqueue(new TextEncoder().encode(parts[sent++]));
      },
    });
    const init = { method: 'POST', body, duplex: 'half', headers: { 'content-type': 'application/json' } };
    const res = await client.request('/cart', init as RequestInit);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual(['late']);
    expect((await client.get('/cart')).json()).toEqual({ cart: ['late'] });
  });

  it('gives the very object @Session() gives, before and after an await', async () => {
    const client = await loggedIn();
    expect((await client.get('/same')).json()).toEqual({ first: true, afterAwait: true });
    // A new session (nothing stored yet) too.
    expect((await running.client().get('/same')).json()).toEqual({ first: true, afterAwait: true });
  });

  it('requests in flight together each see their own session, whichever finishes first', async () => {
    const names = ['ann', 'bob', 'cem', 'dan'];
    const clients = await Promise.all(names.map((name) => loggedIn(name)));
    const finished: string[] = [];
    // The first request waits longest, so every later one starts and ends while it waits.
    const answers = await Promise.all(
      clients.map(async (client, i) => {
        const res = await client.get(`/name-after/${150 - i * 40}`);
        finished.push(names[i]);
        return res.json<{ name: string }>().name;
      }),
    );
    expect(answers).toEqual(names);
    expect(finished[0]).toBe('dan');
    expect(finished.at(-1)).toBe('ann');
  });

  it('a guard that calls a service sees the session', async () => {
    expect((await running.client().get('/guarded')).status).toBe(403);
    const res = await (await loggedIn()).get('/guarded');
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ ok: true });
  });

  it('an interceptor that calls a service sees the session before and after the handler', async () => {
    expect((await (await loggedIn()).get('/intercepted')).json()).toEqual({ body: 'handler', before: 'alice', after: 'alice' });
    expect((await running.client().get('/intercepted')).json()).toEqual({ body: 'handler', before: null, after: null });
  });

  it('module middleware after the session middleware sees the session', async () => {
    expect((await (await loggedIn()).get('/middleware')).json()).toEqual({ seen: 'alice' });
    expect((await running.client().get('/middleware')).json()).toEqual({ seen: 'nobody' });
  });

  it('outside any request get() throws SESSION_NOT_FOUND saying so, and find() gives undefined', async () => {
    const current = running.app.get(CurrentSession);
    // After requests have run, and from a timer of no request (as a scheduled job runs).
    await (await loggedIn()).get('/same');
    for (const when of ['now', 'in a timer']) {
      if (when === 'in a timer') await delay(1);
      let thrown: unknown;
      try {
        current.get();
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(SessionError);
      expect(failure(thrown)).toEqual({ code: 'SESSION_NOT_FOUND', message: expect.stringContaining('outside any request') });
      expect(current.find()).toBeUndefined();
    }
  });

  it('SessionMiddleware (the module middleware of other adapters) runs the rest of the request in its context too', async () => {
    const client = await loggedIn();
    const middleware = running.app.get(SessionMiddleware);
    const current = running.app.get(CurrentSession);
    const server: Server = createServer((req, res) => {
      void middleware.use(req, res, () => {
        void delay(5).then(() => {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ user: current.find<CartData>()?.get('user') ?? null }));
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const plain = new TestClient(`http://127.0.0.1:${port}`, client.jar);
      expect((await plain.get('/')).json()).toEqual({ user: 'alice' });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe.each(ADAPTERS)('CurrentSession without a current session, on %s', (adapter) => {
  const apps: RunningApp[] = [];
  afterAll(() => Promise.all(apps.map((app) => app.close())));

  async function start(options: Parameters<typeof currentModule>[0]): Promise<RunningApp> {
    const running = await startApp(currentModule(options), { adapter });
    apps.push(running);
    return running;
  }

  it('without asyncContext, get() and find() throw SESSION_NOT_FOUND naming the option, in a request too', async () => {
    const running = await start({});
    const client = running.client();
    expect((await client.post('/cart', { item: 'x' })).status).toBe(500);
    const expected = { code: 'SESSION_NOT_FOUND', message: expect.stringMatching(/`asyncContext`.*Set `asyncContext: true`/) };
    expect((await client.get('/get')).json()).toEqual(expected);
    expect((await client.get('/find')).json()).toEqual(expected);
    const current = running.app.get(CurrentSession);
    expect(() => current.get()).toThrow(expect.objectContaining(expected));
    expect(() => current.find()).toThrow(expect.objectContaining(expected));
    // @Session() is not affected.
    expect((await client.get('/cart')).json()).toEqual({ cart: null });
  });

  it('a request that has no session (outside cookie.matchPath): get() throws SESSION_NOT_FOUND, find() gives undefined', async () => {
    const running = await start({ asyncContext: true, cookie: { path: '/cart', matchPath: true } });
    const client = running.client();
    expect((await client.get('/find')).json()).toEqual({ user: null });
    const answer = (await client.get('/get')).json<{ code: string; message: string }>();
    expect(answer.code).toBe('SESSION_NOT_FOUND');
    expect(answer.message).toContain('no session on this request');
    // Inside the path, the same service works.
    expect((await client.post('/cart', { item: 'kiwi' })).json()).toEqual(['kiwi']);
  });
});

@Resolver()
class CartResolver {
  constructor(private readonly carts: CartService) {}

  @Query(() => [String])
  cart(): Promise<string[]> {
    return this.carts.items();
  }

  @Query(() => Boolean)
  async same(@Session() session: SessionHandle): Promise<boolean> {
    await delay(2);
    return this.carts.session() === session;
  }

  @Query(() => String)
  @UseGuards(ServiceGuard)
  guarded(): string {
    return 'ok';
  }

  @Mutation(() => [String])
  addToCart(@Args('item', { type: () => String }) item: string): Promise<string[]> {
    return this.carts.add(item);
  }

  @Mutation(() => Boolean)
  async login(): Promise<boolean> {
    await this.carts.login();
    return true;
  }
}

interface GraphqlResult {
  data?: Record<string, unknown> | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

async function gql(
  client: TestClient,
  query: string,
  variables?: Record<string, unknown>,
): Promise<{ res: TestResponse; body: GraphqlResult }> {
  const res = await client.post('/graphql', { query, variables });
  return { res, body: res.json<GraphqlResult>() };
}

describe.each(SERVERS)('CurrentSession in GraphQL over %s on %s', (server, adapter) => {
  let running: RunningApp;

  beforeAll(async () => {
    @Module({
      imports: [SessionModule.forRoot({ secret: SECRET, asyncContext: true }), graphqlDriver(server)],
      providers: [CartResolver, CartService, ServiceGuard],
    })
    class GraphqlCurrentModule {}
    running = await startApp(GraphqlCurrentModule, { adapter });
  });
  afterAll(() => running.close());

  it('a mutation writes through a service, saved with the response; a query reads it through the service', async () => {
    const client = running.client();
    const { res, body } = await gql(client, 'mutation($item: String!) { addToCart(item: $item) }', { item: 'plum' });
    expect(body).toEqual({ data: { addToCart: ['plum'] } });
    expect(res.cookie('sid')).toBeDefined();
    expect((await gql(client, 'mutation { addToCart(item: "fig") }')).body).toEqual({ data: { addToCart: ['plum', 'fig'] } });
    expect((await gql(client, '{ cart }')).body).toEqual({ data: { cart: ['plum', 'fig'] } });
    expect((await gql(running.client(), '{ cart }')).body).toEqual({ data: { cart: [] } });
  });

  it('the service gets the object @Session() gives the resolver', async () => {
    expect((await gql(running.client(), '{ same }')).body).toEqual({ data: { same: true } });
  });

  it('a guard that calls a service sees the session', async () => {
    const client = running.client();
    expect((await gql(client, '{ guarded }')).body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    await gql(client, 'mutation { login }');
    expect((await gql(client, '{ guarded }')).body).toEqual({ data: { guarded: 'ok' } });
  });
});

@WebSocketGateway()
class CartGateway {
  constructor(private readonly cart: CartService) {}

  @SubscribeMessage('cart')
  async items(@Session() session: SessionHandle) {
    const items = await this.cart.items();
    return { event: 'cart', data: { items, same: this.cart.session() === session } };
  }

  @SubscribeMessage('add')
  async add(@MessageBody() body: { item: string }) {
    return { event: 'add', data: await this.cart.add(body.item) };
  }
}

/** How a gateway gets its session: `withSessions()` (before guards), or `SessionInterceptor` alone (`interceptor: true`). */
const GATEWAY_SETUPS: Array<[string, WsPlatform]> = [
  ['withSessions(WsAdapter)', 'ws'],
  ['withSessions(IoAdapter)', 'socket.io'],
  ['SessionInterceptor with IoAdapter', 'socket.io'],
];

describe.each(ADAPTERS)('CurrentSession in WebSocket gateways on %s', (adapter: AdapterName) => {
  describe.each(GATEWAY_SETUPS)('through %s', (setup, platform) => {
    let running: RunningApp;
    const sockets: WsTestClient[] = [];

    beforeAll(async () => {
      const viaInterceptor = setup.startsWith('SessionInterceptor');
      running = await startApp(currentModule({ asyncContext: true, interceptor: viaInterceptor }, [CartGateway]), {
        adapter,
        configure: (app: INestApplication) => {
          const Base = platform === 'ws' ? WsAdapter : IoAdapter;
          app.useWebSocketAdapter(viaInterceptor ? new IoAdapter(app) : new (withSessions(Base))(app));
        },
      });
    });
    afterEach(() => {
      for (const socket of sockets.splice(0)) socket.close();
    });
    afterAll(() => running.close());

    it("a message's handler reaches the session through a service; its write is saved", async () => {
      const http = running.client();
      await http.post('/login', { name: 'alice' });
      const socket = await WsTestClient.open(platform, running.url, { cookie: `sid=${http.jar.get('sid')}` });
      sockets.push(socket);
      expect(await socket.request('cart')).toEqual({ event: 'cart', data: { items: [], same: true } });
      expect(await socket.request('add', { item: 'lime' })).toEqual({ event: 'add', data: ['lime'] });
      expect((await http.get('/cart')).json()).toEqual({ cart: ['lime'] });
      expect((await socket.request('cart')).data).toEqual({ items: ['lime'], same: true });
    });
  });
});

@Resolver()
class FeedResolver {
  constructor(
    private readonly cart: CartService,
    private readonly current: CurrentSession,
  ) {}

  @Query(() => Boolean)
  ping(): boolean {
    return true;
  }

  @Mutation(() => Boolean)
  async login(): Promise<boolean> {
    await this.cart.login();
    return true;
  }

  /** One event: the user of `@Session()`, and the one `CurrentSession.find()` saw (`none` when it saw no session). */
  @Subscription(() => String, { resolve: (text: string) => text })
  seen(@Session('user') user?: string): AsyncIterableIterator<string> {
    const current = this.current.find<CartData>()?.get('user') ?? 'none';
    return (async function* () {
      yield `${user ?? 'none'}/${current}`;
    })();
  }
}

function subscriptionDriver(server: 'apollo' | 'mercurius'): DynamicModule {
  if (server === 'mercurius') {
    return GraphQLModule.forRootAsync<MercuriusDriverConfig>({
      driver: MercuriusDriver,
      inject: [SessionManager],
      useFactory: (manager: SessionManager) => ({ autoSchemaFile: true, graphiql: false, ...mercuriusSubscriptionSessions(manager) }),
    });
  }
  return GraphQLModule.forRootAsync<ApolloDriverConfig>({
    driver: ApolloDriver,
    inject: [SessionManager],
    useFactory: (manager: SessionManager) => ({ autoSchemaFile: true, graphiql: false, ...graphqlWsSessions(manager) }),
  });
}

describe.each(SERVERS)('CurrentSession in GraphQL subscriptions over %s on %s (not supported)', (server, adapter) => {
  let running: RunningApp;

  beforeAll(async () => {
    @Module({
      imports: [SessionModule.forRoot({ secret: SECRET, asyncContext: true, isGlobal: true }), subscriptionDriver(server)],
      providers: [FeedResolver, CartService],
    })
    class SubscriptionCurrentModule {}
    running = await startApp(SubscriptionCurrentModule, { adapter });
  });
  afterAll(() => running.close());

  it('a subscription resolver finds no current session (never the connection’s or another operation’s): it uses @Session()', async () => {
    const http = running.client();
    expect((await gql(http, 'mutation { login }')).body).toEqual({ data: { login: true } });
    const headers = { cookie: `sid=${http.jar.get('sid')}` };
    class CookieSocket extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { headers });
      }
    }
    const client = createClient({ url: running.url.replace(/^http/, 'ws') + '/graphql', webSocketImpl: CookieSocket, retryAttempts: 0 });
    try {
      const results: unknown[] = [];
      for await (const result of client.iterate({ query: 'subscription { seen }' })) results.push(result);
      expect(results).toEqual([{ data: { seen: 'alice/none' } }]);
    } finally {
      await client.dispose();
    }
  });
});
