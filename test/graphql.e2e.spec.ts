/**
 * GraphQL resolvers with sessions, for real: a Nest app on loopback with `@nestjs/graphql` (code
 * first) and Apollo Server 5 (`@nestjs/apollo`) on Express and on Fastify, and Mercurius
 * (`@nestjs/mercurius`) on Fastify, driven over HTTP with the cookie a browser would keep. The session comes from the same middleware as every HTTP route, so
 * resolvers, field resolvers and guards read it synchronously, and a mutation's changes go out
 * with the GraphQL response.
 */
import 'reflect-metadata';
import { type CanActivate, type ExecutionContext, Injectable, Module, UnauthorizedException, UseGuards } from '@nestjs/common';
import { Args, Field, Int, Mutation, ObjectType, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthError } from '../src/auth/index.js';
import type { MaybePromise } from '../src/core/maybe-promise.js';
import {
  Flash,
  MemoryStore,
  Session,
  SessionModule,
  getSessionFromContext,
  type SessionHandle,
  type SessionPatch,
  type SessionRecord,
  type SessionStore,
} from '../src/index.js';
import { FaultyStore } from './support/faulty-store.js';
import { TestClient, type TestResponse } from './support/http-client.js';
import { SECRET, startApp, type RunningApp } from './support/test-app.js';
import { graphqlDriver, SERVERS, type GraphqlServer } from './support/graphql-servers.js';

/** Not logged in: 401, which Nest's Apollo driver turns into `UNAUTHENTICATED`. */
@Injectable()
class LoggedInGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (getSessionFromContext<SessionHandle>(context).get('user') === undefined) throw new UnauthorizedException('login required');
    return true;
  }
}

/** Logged in but not an admin: `false`, which Nest answers with 403 (`FORBIDDEN`). */
@Injectable()
class AdminGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return getSessionFromContext<SessionHandle>(context).get('role') === 'admin';
  }
}

/** What `AuthenticatedGuard` throws for a GraphQL context without a login. */
@Injectable()
class AuthErrorGuard implements CanActivate {
  canActivate(): boolean {
    throw new AuthError('AUTH_LOGIN_REQUIRED', 'login required');
  }
}

@ObjectType()
class Me {
  @Field(() => String, { nullable: true })
  user!: string | null;
}

@Resolver(() => Me)
class SessionResolver {
  @Query(() => Me)
  me(@Session() session: SessionHandle): Me {
    return { user: (session.get('user') as string | undefined) ?? null };
  }

  /** A field resolver reads the session of the same request. */
  @ResolveField(() => Int, { nullable: true })
  count(@Session('count') count?: number): number | null {
    return count ?? null;
  }

  /** A guarded field resolver (`fieldResolverEnhancers: ['guards']`). */
  @ResolveField(() => String)
  @UseGuards(LoggedInGuard)
  secret(@Session('user') user: string): string {
    return `secret of ${user}`;
  }

  @Query(() => String)
  @UseGuards(LoggedInGuard)
  profile(@Session('user') user: string): string {
    return user;
  }

  @Query(() => String)
  @UseGuards(LoggedInGuard, AdminGuard)
  admin(): string {
    return 'admin area';
  }

  /** Refused the way `AuthenticatedGuard` refuses a non-HTTP context: a 401 `AuthError`. */
  @Query(() => String)
  @UseGuards(AuthErrorGuard)
  account(): string {
    return 'account';
  }

  @Query(() => String, { nullable: true })
  flash(@Flash() message?: string): string | null {
    return message ?? null;
  }

  @Mutation(() => Boolean)
  async login(@Session() session: SessionHandle, @Args('role', { type: () => String, nullable: true }) role?: string): Promise<boolean> {
    await session.regenerate();
    session.set('user', 'alice');
    if (role) session.set('role', role);
    return true;
  }

  @Mutation(() => Int)
  increment(@Session() session: SessionHandle): number {
    const count = ((session.get('count') as number | undefined) ?? 0) + 1;
    session.set('count', count);
    return count;
  }

  @Mutation(() => Boolean)
  setFlash(@Session() session: SessionHandle, @Args('message', { type: () => String }) message: string): boolean {
    session.setFlash(message);
    return true;
  }

  @Mutation(() => Boolean)
  async logout(@Session() session: SessionHandle): Promise<boolean> {
    await session.destroy();
    return true;
  }
}

/** A real memory store whose writes take `delay` ms; `finished` counts the writes done. */
class SlowStore implements SessionStore {
  finished = 0;
  readonly inner = new MemoryStore();
  constructor(private readonly delay: number) {}
  get(id: string): MaybePromise<SessionRecord | null> {
    return this.inner.get(id);
  }
  async set(id: string, record: SessionRecord): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, this.delay));
    await this.inner.set(id, record);
    this.finished++;
  }
  async patch(id: string, patch: SessionPatch, expiresAt: number): Promise<boolean> {
    await new Promise((resolve) => setTimeout(resolve, this.delay));
    const done = await this.inner.patch(id, patch, expiresAt);
    this.finished++;
    return done;
  }
  touch(id: string, expiresAt: number): MaybePromise<boolean> {
    return this.inner.touch(id, expiresAt);
  }
  destroy(id: string): MaybePromise<void> {
    return this.inner.destroy(id);
  }
}

function graphqlModule(store: SessionStore, server: GraphqlServer, interceptor = false) {
  @Module({
    imports: [SessionModule.forRoot({ secret: SECRET, store, interceptor }), graphqlDriver(server)],
    providers: [SessionResolver, LoggedInGuard, AdminGuard, AuthErrorGuard],
  })
  class GraphqlAppModule {}
  return GraphqlAppModule;
}

interface GraphqlResult {
  data?: Record<string, any> | null;
  errors?: Array<{ message: string; path?: string[]; extensions?: { code?: string; originalError?: { statusCode?: number } } }>;
}

async function gql(
  client: TestClient,
  query: string,
  variables?: Record<string, unknown>,
): Promise<{ res: TestResponse; body: GraphqlResult }> {
  const res = await client.post('/graphql', { query, variables });
  return { res, body: res.json<GraphqlResult>() };
}

/**
 * With the global interceptor (`interceptor: true`, which apps turn on for gateways and
 * subscriptions), queries and mutations over HTTP keep the session the middleware loaded: the
 * interceptor once loaded it again, so a new session's writes were lost (Express) or the response
 * hung (Fastify).
 */
describe.each(SERVERS)('GraphQL over %s on %s with the global interceptor (interceptor: true)', (server, adapter) => {
  let running: RunningApp;
  const store = new SlowStore(5);

  beforeAll(async () => {
    running = await startApp(graphqlModule(store, server, true), { adapter });
  });
  afterAll(() => running.close());

  it("a new visitor's mutations start the session, set its cookie, and are read back", async () => {
    const client = running.client();
    const first = await gql(client, 'mutation { increment }');
    expect(first.body).toEqual({ data: { increment: 1 } });
    expect(first.res.cookie('sid')).toMatch(/^sid=/);
    expect((await gql(client, 'mutation { increment }')).body).toEqual({ data: { increment: 2 } });
    expect((await gql(client, '{ me { user count } }')).body).toEqual({ data: { me: { user: null, count: 2 } } });
  });

  it('a login (regenerate) and the guarded queries after it work as without the interceptor', async () => {
    const client = running.client();
    expect((await gql(client, 'mutation { login }')).body).toEqual({ data: { login: true } });
    expect((await gql(client, '{ profile }')).body).toEqual({ data: { profile: 'alice' } });
  });
});

describe.each(SERVERS)('GraphQL over %s on %s', (server, adapter) => {
  let running: RunningApp;
  const store = new SlowStore(30);

  beforeAll(async () => {
    running = await startApp(graphqlModule(store, server), { adapter });
  });
  afterAll(() => running.close());

  it('a mutation that changes the session sends the cookie on the GraphQL response, written before it', async () => {
    const client = running.client();
    const before = store.finished;
    const { res, body } = await gql(client, 'mutation { login }');
    expect(res.status).toBe(200);
    expect(body).toEqual({ data: { login: true } });
    expect(res.cookie('sid')).toMatch(/^sid=[^;]+;.*HttpOnly/i);
    // The store write (30 ms) was finished when the response arrived.
    expect(store.finished).toBe(before + 1);
    const id = client.jar.get('sid')!.split('.')[0];
    expect(await store.inner.get(id)).not.toBeNull();
  });

  it('queries and field resolvers read the session of the request', async () => {
    const client = running.client();
    await gql(client, 'mutation { login }');
    await gql(client, 'mutation { increment }');
    const { body } = await gql(client, '{ me { user count secret } }');
    expect(body).toEqual({ data: { me: { user: 'alice', count: 1, secret: 'secret of alice' } } });
  });

  it('a mutation on a stored session writes its changes before the response, and sends no new cookie', async () => {
    const client = running.client();
    await gql(client, 'mutation { login }');
    const before = store.finished;
    const { res, body } = await gql(client, 'mutation { increment }');
    expect(body).toEqual({ data: { increment: 1 } });
    expect(store.finished).toBe(before + 1);
    expect(res.cookie('sid')).toBeUndefined();
    expect((await gql(client, 'mutation { increment }')).body).toEqual({ data: { increment: 2 } });
  });

  it('a query that changes nothing writes nothing and sends no cookie', async () => {
    const client = running.client();
    const { res, body } = await gql(client, '{ me { user count } }');
    expect(body).toEqual({ data: { me: { user: null, count: null } } });
    expect(res.setCookies).toEqual([]);
  });

  it('@Flash() shows a flash once', async () => {
    const client = running.client();
    await gql(client, 'mutation($m: String!) { setFlash(message: $m) }', { m: 'Saved!' });
    expect((await gql(client, '{ flash }')).body).toEqual({ data: { flash: 'Saved!' } });
    expect((await gql(client, '{ flash }')).body).toEqual({ data: { flash: null } });
  });

  it('a guard refusal without login is an UNAUTHENTICATED GraphQL error, never a redirect', async () => {
    const client = running.client();
    const { res, body } = await gql(client, '{ profile }');
    // GraphQL over HTTP (application/json): the response is a GraphQL result, errors in its body.
    expect(res.status).toBe(200);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('content-type')).toMatch(/application\/(graphql-response\+)?json/);
    expect(body.data).toBeNull();
    expect(body.errors).toHaveLength(1);
    expect(body.errors![0]).toMatchObject({ message: 'login required', path: ['profile'], extensions: { code: 'UNAUTHENTICATED' } });
    expect(body.errors![0].extensions?.originalError?.statusCode).toBe(401);
  });

  it('a guard refusal for a logged-in user without the role is FORBIDDEN', async () => {
    const client = running.client();
    await gql(client, 'mutation { login }');
    const { res, body } = await gql(client, '{ admin }');
    expect(res.status).toBe(200);
    expect(res.headers.get('location')).toBeNull();
    expect(body.errors![0]).toMatchObject({ path: ['admin'], extensions: { code: 'FORBIDDEN' } });
    expect(body.errors![0].extensions?.originalError?.statusCode).toBe(403);
    await gql(client, 'mutation { login(role: "admin") }');
    expect((await gql(client, '{ admin }')).body).toEqual({ data: { admin: 'admin area' } });
  });

  // Regression: SessionError and AuthError are no HttpException; they carry GraphQL `extensions`
  // so the servers report UNAUTHENTICATED rather than INTERNAL_SERVER_ERROR (Apollo) or no code.
  it('an AuthError 401 from a guard (as AuthenticatedGuard throws) is UNAUTHENTICATED', async () => {
    const { res, body } = await gql(running.client(), '{ account }');
    expect(res.status).toBe(200);
    expect(body.errors![0].message).toBe('login required');
    expect(body.errors![0].extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('a guarded field resolver refuses its field only', async () => {
    const client = running.client();
    const { body } = await gql(client, '{ me { user secret } }');
    expect(body.data).toBeNull(); // `secret` is non-null, so the error reaches `me`, itself non-null
    expect(body.errors![0]).toMatchObject({ path: ['me', 'secret'], extensions: { code: 'UNAUTHENTICATED' } });
  });

  it('a logout mutation destroys the session and clears the cookie on the GraphQL response', async () => {
    const client = running.client();
    await gql(client, 'mutation { login }');
    const { res, body } = await gql(client, 'mutation { logout }');
    expect(body).toEqual({ data: { logout: true } });
    expect(res.cookie('sid')).toMatch(/^sid=;.*(Max-Age=0|Expires=Thu, 01 Jan 1970)/i);
    expect((await gql(client, '{ me { user } }')).body).toEqual({ data: { me: { user: null } } });
  });
});

describe.each(SERVERS)('GraphQL over %s on %s with a store outage', (server, adapter) => {
  let running: RunningApp;
  const store = new FaultyStore(new MemoryStore());

  beforeAll(async () => {
    running = await startApp(graphqlModule(store, server), { adapter });
  });
  afterAll(() => running.close());

  it('a mutation whose write fails answers 503, not a GraphQL success', async () => {
    const client = running.client();
    await gql(client, 'mutation { login }');
    store.failing.add('patch');
    try {
      const res = await client.post('/graphql', { query: 'mutation { increment }' });
      expect(res.status).toBe(503);
      expect(res.json()).toMatchObject({ statusCode: 503, error: 'SESSION_STORE_UNAVAILABLE' });
    } finally {
      store.failing.clear();
    }
    expect((await gql(client, '{ me { count } }')).body).toEqual({ data: { me: { count: null } } });
  });
});
