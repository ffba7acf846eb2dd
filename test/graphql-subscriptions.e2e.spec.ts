/**
 * GraphQL subscriptions over `graphql-ws` with sessions, for real: a Nest app on loopback with
 * `@nestjs/graphql` (code first), Apollo Server 5 (`@nestjs/apollo`) on Express and on Fastify and
 * Mercurius (`@nestjs/mercurius`) on Fastify, each given the session pieces of
 * src/session/graphql-subscription.ts. The session is obtained over HTTP (a login mutation and its
 * cookie) and subscriptions run through graphql-ws's own client over `ws`, with the `Cookie` and
 * `Origin` headers a browser would send on the upgrade.
 */
import 'reflect-metadata';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import {
  type CanActivate,
  type DynamicModule,
  type ExecutionContext,
  Injectable,
  Module,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import { Args, Field, GraphQLModule, Int, Mutation, ObjectType, Query, Resolver, Subscription } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import { createClient, type Client } from 'graphql-ws';
import { EventEmitter, on } from 'node:events';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { MemoryStore, Session, SessionManager, SessionModule, getSessionFromContext, type SessionHandle } from '../src/index.js';
import { graphqlWsSessions, mercuriusSubscriptionSessions } from '../src/session/graphql-subscription.js';
import { CountingStore } from './support/counting-store.js';
import { TestClient } from './support/http-client.js';
import { SECRET, startApp, type AdapterName, type RunningApp } from './support/test-app.js';

/** An origin other than the app's own that the app allows (its pages on another host). */
const ALLOWED_ORIGIN = 'https://app.example.com';

@Injectable()
class LoggedInGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (getSessionFromContext<SessionHandle>(context).get('user') === undefined) throw new UnauthorizedException('login required');
    return true;
  }
}

/** Lets an operation wait (its `delay` argument, in ms) between its subscribe and its resolver reading the session. */
@Injectable()
class DelayGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const { delay } = context.getArgByIndex<{ delay?: number }>(1);
    await new Promise((resolve) => setTimeout(resolve, delay ?? 0));
    return true;
  }
}

@ObjectType()
class Note {
  @Field(() => String)
  text!: string;

  @Field(() => String, { nullable: true })
  user!: string | null;

  @Field(() => Int, { nullable: true })
  count!: number | null;
}

/** What the resolvers saw: every session object a subscribe got, and the events to publish. */
@Injectable()
class Notes {
  readonly events = new EventEmitter();
  readonly sessions: SessionHandle[] = [];

  /** How many subscriptions listen now. */
  get listeners(): number {
    return this.events.listenerCount('note');
  }

  publish(text: string): void {
    this.events.emit('note', text);
  }

  /** The published texts as an async iterator whose `return()` ends it at once (graphql-js calls it on unsubscribe). */
  listen<T>(map: (text: string) => T): AsyncIterableIterator<T> {
    const source = on(this.events, 'note') as AsyncIterableIterator<[string]>;
    const iterator: AsyncIterableIterator<T> = {
      next: async () => {
        const result = await source.next();
        return result.done ? { done: true, value: undefined } : { done: false, value: map(result.value[0]) };
      },
      return: async () => {
        await source.return?.();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }
}

@Resolver()
class SubscriptionResolver {
  constructor(private readonly notes: Notes) {}

  @Query(() => String, { nullable: true })
  me(@Session('user') user?: string): string | null {
    return user ?? null;
  }

  @Query(() => String, { nullable: true })
  marker(@Session('marker') marker?: string): string | null {
    return marker ?? null;
  }

  @Mutation(() => Boolean)
  async login(@Session() session: SessionHandle): Promise<boolean> {
    await session.regenerate();
    session.set('user', 'alice');
    return true;
  }

  @Mutation(() => Int)
  increment(@Session() session: SessionHandle): number {
    const count = ((session.get('count') as number | undefined) ?? 0) + 1;
    session.set('count', count);
    return count;
  }

  @Mutation(() => Boolean)
  async logout(@Session() session: SessionHandle): Promise<boolean> {
    await session.destroy();
    return true;
  }

  /** Each event carries what the session held when the subscription started. */
  @Subscription(() => Note, { resolve: (note: Note) => note })
  notesFeed(@Session() session: SessionHandle): AsyncIterableIterator<Note> {
    this.notes.sessions.push(session);
    const user = (session.get('user') as string | undefined) ?? null;
    const count = (session.get('count') as number | undefined) ?? null;
    return this.notes.listen((text) => ({ text, user, count }));
  }

  @Subscription(() => String, { resolve: (text: string) => text })
  @UseGuards(LoggedInGuard)
  secretFeed(@Session('user') user: string): AsyncIterableIterator<string> {
    return this.notes.listen((text) => `${text} for ${user}`);
  }

  @Subscription(() => Note, { resolve: (note: Note) => note })
  @UseGuards(DelayGuard)
  delayedFeed(@Session() session: SessionHandle, @Args('delay', { type: () => Int }) _delay: number): AsyncIterableIterator<Note> {
    return this.notesFeed(session);
  }

  /** Writes to the session: kept only when the resolver saves it. */
  @Subscription(() => String, { resolve: (text: string) => text })
  async markedFeed(
    @Session() session: SessionHandle,
    @Args('save', { type: () => Boolean }) save: boolean,
  ): Promise<AsyncIterableIterator<string>> {
    session.set('marker', save ? 'saved' : 'unsaved');
    if (save) await session.save();
    return this.notes.listen((text) => text);
  }
}

/** The GraphQL servers the suite runs on, with their HTTP platform. */
type GraphqlServer = 'apollo' | 'mercurius';
const SERVERS: Array<[GraphqlServer, AdapterName]> = [
  ['apollo', 'express'],
  ['apollo', 'fastify'],
  ['mercurius', 'fastify'],
];

function graphqlDriver(server: GraphqlServer): DynamicModule {
  if (server === 'mercurius') {
    return GraphQLModule.forRootAsync<MercuriusDriverConfig>({
      driver: MercuriusDriver,
      inject: [SessionManager],
      useFactory: (manager: SessionManager) => ({
        autoSchemaFile: true,
        graphiql: false,
        ...mercuriusSubscriptionSessions(manager, { allowedOrigins: [ALLOWED_ORIGIN] }),
      }),
    });
  }
  return GraphQLModule.forRootAsync<ApolloDriverConfig>({
    driver: ApolloDriver,
    inject: [SessionManager],
    useFactory: (manager: SessionManager) => ({
      autoSchemaFile: true,
      graphiql: false,
      ...graphqlWsSessions(manager, { allowedOrigins: [ALLOWED_ORIGIN] }),
    }),
  });
}

function subscriptionsModule(store: CountingStore, server: GraphqlServer) {
  @Module({
    imports: [SessionModule.forRoot({ secret: SECRET, store, isGlobal: true }), graphqlDriver(server)],
    providers: [SubscriptionResolver, Notes, LoggedInGuard, DelayGuard],
  })
  class SubscriptionsAppModule {}
  return SubscriptionsAppModule;
}

interface GraphqlResult {
  data?: Record<string, any> | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

async function gql(client: TestClient, query: string): Promise<GraphqlResult> {
  return (await client.post('/graphql', { query })).json<GraphqlResult>();
}

/** The `Cookie` header of an HTTP client's jar, as a browser would send it with the upgrade. */
function cookieOf(client: TestClient): string {
  return [...client.jar].map(([name, value]) => `${name}=${value}`).join('; ');
}

/** How a subscription went: its results as they came, then its end. */
class Feed {
  readonly results: GraphqlResult[] = [];
  error: unknown = undefined;
  completed = false;
  readonly dispose: () => void;

  constructor(client: Client, query: string) {
    this.dispose = client.subscribe<Record<string, unknown>>(
      { query },
      {
        next: (result) => void this.results.push(result as GraphqlResult),
        error: (error) => void (this.error = error),
        complete: () => void (this.completed = true),
      },
    );
  }

  /** Wait for the `n`th result. */
  async result(n: number): Promise<GraphqlResult> {
    await vi.waitFor(() => expect(this.results.length).toBeGreaterThanOrEqual(n));
    return this.results[n - 1];
  }

  /** Wait until the subscription failed; its errors (a GraphQL error list, or the socket's close event). */
  async failure(): Promise<any> {
    await vi.waitFor(() => expect(this.error).toBeDefined());
    return this.error;
  }

  /** Wait until the subscription ended, by an error or completed. */
  async ended(): Promise<void> {
    await vi.waitFor(() => expect(this.error !== undefined || this.completed).toBe(true));
  }
}

/** A graphql-ws connection to the app, opened over `ws` with the headers a browser sends on the upgrade. */
class Connection {
  readonly client: Client;
  readonly closes: Array<{ code: number; reason: string }> = [];
  acknowledged = false;

  constructor(baseUrl: string, headers: Record<string, string | undefined>) {
    const sent: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) if (value !== undefined) sent[name] = value;
    class BrowserLikeSocket extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { headers: sent });
      }
    }
    this.client = createClient({
      url: baseUrl.replace(/^http/, 'ws') + '/graphql',
      webSocketImpl: BrowserLikeSocket,
      retryAttempts: 0,
      lazy: false,
      // Connection failures are checked through `closes` and each subscription's error.
      onNonLazyError: () => undefined,
      on: {
        connected: () => void (this.acknowledged = true),
        closed: (event) => {
          const { code, reason } = event as { code: number; reason: string | Buffer };
          this.closes.push({ code, reason: String(reason) });
        },
      },
    });
  }

  subscribe(query: string): Feed {
    return new Feed(this.client, query);
  }

  dispose(): Promise<void> {
    return this.client.dispose() as Promise<void>;
  }
}

describe.each(SERVERS)('GraphQL subscriptions over %s on %s', (server, adapter) => {
  let running: RunningApp;
  let notes: Notes;
  const store = new CountingStore(new MemoryStore());
  const connections: Connection[] = [];

  beforeAll(async () => {
    running = await startApp(subscriptionsModule(store, server), { adapter });
    notes = running.app.get(Notes);
  });
  afterAll(() => running.close());
  beforeEach(() => {
    notes.sessions.length = 0;
  });
  // Each test starts with no connection and no subscription left by another, failed or not.
  afterEach(async () => {
    await Promise.all(connections.splice(0).map((connection) => connection.dispose()));
    await vi.waitFor(() => expect(notes.listeners).toBe(0));
  });

  function connect(headers: Record<string, string | undefined>): Connection {
    const connection = new Connection(running.url, headers);
    connections.push(connection);
    return connection;
  }

  /** A browser logged in over HTTP: its HTTP client, and the Cookie header its upgrade carries. */
  async function loggedIn(): Promise<{ http: TestClient; cookie: string }> {
    const http = running.client();
    expect(await gql(http, 'mutation { login }')).toEqual({ data: { login: true } });
    return { http, cookie: cookieOf(http) };
  }

  /** Publish once every expected subscription listens (`listeners` of them). */
  async function publishWhenListening(listeners: number, text: string): Promise<void> {
    await vi.waitFor(() => expect(notes.listeners).toBe(listeners));
    notes.publish(text);
  }

  it('a subscription sees the session of the cookie its connection was opened with', async () => {
    const { http, cookie } = await loggedIn();
    await gql(http, 'mutation { increment }');
    const connection = connect({ cookie });
    const feed = connection.subscribe('subscription { notesFeed { text user count } }');
    await publishWhenListening(1, 'hello');
    expect(await feed.result(1)).toEqual({ data: { notesFeed: { text: 'hello', user: 'alice', count: 1 } } });
    const secret = connection.subscribe('subscription { secretFeed }');
    await publishWhenListening(2, 'psst');
    expect(await secret.result(1)).toEqual({ data: { secretFeed: 'psst for alice' } });
    feed.dispose();
    secret.dispose();
    await vi.waitFor(() => expect(notes.listeners).toBe(0));
  });

  it('every subscribe reads the session again: a change made over HTTP after the connection opened is seen', async () => {
    const { http, cookie } = await loggedIn();
    const connection = connect({ cookie });
    const first = connection.subscribe('subscription { notesFeed { count } }');
    await vi.waitFor(() => expect(notes.listeners).toBe(1));
    expect(await gql(http, 'mutation { increment }')).toEqual({ data: { increment: 1 } });
    const second = connection.subscribe('subscription { notesFeed { count } }');
    await publishWhenListening(2, 'tick');
    expect(await first.result(1)).toEqual({ data: { notesFeed: { count: null } } });
    expect(await second.result(1)).toEqual({ data: { notesFeed: { count: 1 } } });
    first.dispose();
    second.dispose();
    await vi.waitFor(() => expect(notes.listeners).toBe(0));
  });

  it('without a cookie the connection opens anonymous: guarded subscriptions are refused, others see no user', async () => {
    const connection = connect({});
    const secret = connection.subscribe('subscription { secretFeed }');
    await secret.ended();
    // Apollo's graphql-ws server sends the guard's refusal as the operation's result, Mercurius as its error.
    const refusal = secret.results[0]?.errors?.[0] ?? (secret.error as GraphqlResult['errors'])?.[0];
    expect(refusal).toMatchObject({ message: 'login required' });
    expect(secret.results.every((result) => result.data == null)).toBe(true);
    const feed = connection.subscribe('subscription { notesFeed { user } }');
    await publishWhenListening(1, 'hi');
    expect(await feed.result(1)).toEqual({ data: { notesFeed: { user: null } } });
    expect(notes.sessions[0].isNew).toBe(true);
    feed.dispose();
    await vi.waitFor(() => expect(notes.listeners).toBe(0));
  });

  it('a foreign Origin is refused before anything of the session is read; the own and allowed origins pass', async () => {
    const { cookie } = await loggedIn();
    const reads = store.count('get');
    const foreign = connect({ cookie, origin: 'https://evil.example' });
    const refused = foreign.subscribe('subscription { notesFeed { user } }');
    await refused.failure();
    expect(foreign.acknowledged).toBe(false);
    expect(notes.sessions).toHaveLength(0);
    if (server === 'apollo') {
      // Refused at graphql-ws's connection_init, before the session was loaded: no store read.
      expect(foreign.closes).toEqual([{ code: 4403, reason: 'SESSION_ORIGIN_REFUSED' }]);
      expect(store.count('get')).toBe(reads);
    } else {
      // Mercurius refuses the upgrade itself (verifyClient), so the connection never opens. Fastify
      // runs its middleware for the upgrade request first, the session middleware among them (one
      // read, as for any GET); nothing of that session reached GraphQL.
      expect((refused.error as Error).message).toBe('Unexpected server response: 403');
      expect(foreign.closes).toEqual([{ code: 1006, reason: '' }]);
      expect(store.count('get')).toBeLessThanOrEqual(reads + 1);
    }
    for (const origin of [ALLOWED_ORIGIN, running.url]) {
      const allowed = connect({ cookie, origin });
      const feed = allowed.subscribe('subscription { notesFeed { user } }');
      await publishWhenListening(1, origin);
      expect(await feed.result(1)).toEqual({ data: { notesFeed: { user: 'alice' } } });
      feed.dispose();
      await vi.waitFor(() => expect(notes.listeners).toBe(0));
    }
  });

  it('a subscription writes its session only with session.save(); a change it does not save is not written', async () => {
    const { http, cookie } = await loggedIn();
    const connection = connect({ cookie });
    const unsaved = connection.subscribe('subscription { markedFeed(save: false) }');
    await vi.waitFor(() => expect(notes.listeners).toBe(1));
    expect(await gql(http, '{ marker }')).toEqual({ data: { marker: null } });
    const saved = connection.subscribe('subscription { markedFeed(save: true) }');
    await vi.waitFor(() => expect(notes.listeners).toBe(2));
    expect(await gql(http, '{ marker }')).toEqual({ data: { marker: 'saved' } });
    // The write went to the session's own record: the cookie is unchanged and the user still logged in.
    expect(cookieOf(http)).toBe(cookie);
    expect(await gql(http, '{ me }')).toEqual({ data: { me: 'alice' } });
    unsaved.dispose();
    saved.dispose();
    await vi.waitFor(() => expect(notes.listeners).toBe(0));
  });

  it('a session destroyed elsewhere: the next subscribe is refused with SESSION_LOST, before its resolver runs', async () => {
    const { http, cookie } = await loggedIn();
    const connection = connect({ cookie });
    const before = connection.subscribe('subscription { notesFeed { user } }');
    await publishWhenListening(1, 'before');
    expect(await before.result(1)).toEqual({ data: { notesFeed: { user: 'alice' } } });
    before.dispose();
    await vi.waitFor(() => expect(notes.listeners).toBe(0));

    expect(await gql(http, 'mutation { logout }')).toEqual({ data: { logout: true } });
    const after = connection.subscribe('subscription { notesFeed { user } }');
    const errors = await after.failure();
    expect(errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'SESSION_LOST' }) })]);
    expect(errors[0].message).toMatch(/reconnect/);
    expect(notes.sessions).toHaveLength(1);
    // The connection stays open (the refusal is the operation's); the client reconnects with its new cookie.
    expect(connection.closes).toEqual([]);
  });

  it('a session ended elsewhere: a running subscription gets no further event and its connection is closed with 4401', async () => {
    const { http, cookie } = await loggedIn();
    const connection = connect({ cookie });
    const feed = connection.subscribe('subscription { notesFeed { text user } }');
    await publishWhenListening(1, 'first');
    expect(await feed.result(1)).toEqual({ data: { notesFeed: { text: 'first', user: 'alice' } } });

    // A login over HTTP moves the session to a new ID: the one the connection opened with is gone.
    expect(await gql(http, 'mutation { login }')).toEqual({ data: { login: true } });
    notes.publish('after logout');
    const failure = await feed.failure();
    expect(failure).toMatchObject({ code: 4401, reason: 'SESSION_LOST' });
    expect(connection.closes).toEqual([{ code: 4401, reason: 'SESSION_LOST' }]);
    expect(feed.results).toHaveLength(1);
    await vi.waitFor(() => expect(notes.listeners).toBe(0));
  });

  it('each connection, and each subscribe on it, gets a session object of its own', async () => {
    const { cookie } = await loggedIn();
    const one = connect({ cookie });
    const two = connect({ cookie });
    const feeds = [one.subscribe('subscription { notesFeed { user } }'), two.subscribe('subscription { notesFeed { user } }')];
    await vi.waitFor(() => expect(notes.listeners).toBe(2));
    feeds.push(one.subscribe('subscription { notesFeed { user } }'));
    await publishWhenListening(3, 'all');
    for (const feed of feeds) expect(await feed.result(1)).toEqual({ data: { notesFeed: { user: 'alice' } } });
    expect(notes.sessions).toHaveLength(3);
    expect(new Set(notes.sessions).size).toBe(3);
    expect(new Set(notes.sessions.map((session) => session.id)).size).toBe(1);
    for (const feed of feeds) feed.dispose();
    await vi.waitFor(() => expect(notes.listeners).toBe(0));
  });

  it('subscribes running at the same time on one connection each keep their own session', async () => {
    const { cookie } = await loggedIn();
    const connection = connect({ cookie });
    // The first waits in its guard while the second is read and resolved: it must still get its own session.
    const slow = connection.subscribe('subscription { delayedFeed(delay: 150) { user } }');
    const fast = connection.subscribe('subscription { delayedFeed(delay: 0) { user } }');
    await publishWhenListening(2, 'both');
    expect(await slow.result(1)).toEqual({ data: { delayedFeed: { user: 'alice' } } });
    expect(await fast.result(1)).toEqual({ data: { delayedFeed: { user: 'alice' } } });
    expect(notes.sessions).toHaveLength(2);
    expect(notes.sessions[0]).not.toBe(notes.sessions[1]);
    slow.dispose();
    fast.dispose();
    await vi.waitFor(() => expect(notes.listeners).toBe(0));
  });
});
