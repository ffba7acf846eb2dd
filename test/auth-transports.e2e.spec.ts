/**
 * `nest-sessions/auth` beyond controllers, for real: a real OpenID provider (oidc-provider on
 * loopback), a real login over HTTP (OidcTestBrowser), then the logged-in session cookie used on
 * - GraphQL: Apollo Server on Express and on Fastify, Mercurius on Fastify (as in graphql.e2e.spec.ts),
 *   with `@CurrentUser()` in queries and field resolvers, `AuthenticatedGuard` and `@RequireClaims()`
 *   on queries and mutations, and their refusals as GraphQL errors, never a redirect;
 * - WebSocket gateways: socket.io (WebSocket and long-polling) and `ws` through `withSessions()`,
 *   on Express and on Fastify, with `@CurrentUser()` and the auth guards on `@SubscribeMessage`
 *   handlers and the login seen in `handleConnection`.
 * A logout over HTTP (`POST /auth/logout`) ends what the cookie gave on both.
 */
import 'reflect-metadata';
import { Controller, Get, Module, UseGuards, type DynamicModule, type INestApplication } from '@nestjs/common';
import { Args, Field, Mutation, ObjectType, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { WsAdapter } from '@nestjs/platform-ws';
import { type OnGatewayConnection, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AuthManager, AuthModule, AuthenticatedGuard, CurrentUser, RequireClaims, type AuthClaims } from '../src/auth/index.js';
import {
  Flash,
  SESSION_STORE,
  Session,
  SessionModule,
  getSessionFromSocket,
  withSessions,
  type SessionHandle,
  type SessionStore,
} from '../src/index.js';
import { OidcTestBrowser } from './support/oidc-browser.js';
import { startTestIdp, type TestIdp } from './support/oidc-provider.js';
import { freePort } from './support/ports.js';
import { ADAPTERS, SECRET, createApp, type AdapterName } from './support/test-app.js';
import { graphqlDriver, SERVERS } from './support/graphql-servers.js';
import { WS_PLATFORMS, WsTestClient, type WsPlatform } from './support/ws-test-client.js';

const CLIENT_SECRET = 'transports-client-secret';

/** Where the login returns to: a page that shows who is logged in. */
@Controller()
class HomeController {
  @Get('home')
  home(@CurrentUser('sub') sub?: string) {
    return { sub: sub ?? null };
  }
}

/** A logged-in app and its provider; `login()` logs a new browser in over real HTTP. */
interface AuthTransportApp {
  idp: TestIdp;
  app: INestApplication;
  url: string;
  store: SessionStore;
  close(): Promise<void>;
}

/**
 * Start the provider, then a Nest app on `adapter` with SessionModule, AuthModule (one provider,
 * `main`, scope with `groups`), the home page and `imports`/`providers`; `configure` runs before it listens.
 */
async function startAuthTransportApp(
  adapter: AdapterName,
  imports: DynamicModule[],
  providers: Array<new (...args: never[]) => unknown>,
  configure?: (app: INestApplication) => void,
): Promise<AuthTransportApp> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const idp = await startTestIdp({
    clients: [
      {
        clientId: 'app',
        clientSecret: CLIENT_SECRET,
        redirectUris: [`${url}/auth/callback`],
        postLogoutRedirectUris: [`${url}/auth/logout/continue`],
      },
    ],
  });
  @Module({
    imports: [
      SessionModule.forRoot({ secret: SECRET, cookie: { secure: false } }),
      AuthModule.forRoot({
        allowInsecureIssuers: true,
        providers: {
          main: {
            issuer: idp.issuer,
            clientId: 'app',
            clientSecret: CLIENT_SECRET,
            redirectUri: `${url}/auth/callback`,
            postLogoutRedirectUri: `${url}/auth/logout/continue`,
            scope: 'openid profile email groups',
          },
        },
      }),
      ...imports,
    ],
    controllers: [HomeController],
    providers,
  })
  class AuthTransportModule {}
  const app = await createApp(AuthTransportModule, adapter);
  configure?.(app);
  try {
    await app.listen(port, '127.0.0.1');
  } catch (error) {
    await idp.close();
    throw error;
  }
  return {
    idp,
    app,
    url,
    store: app.get<SessionStore>(SESSION_STORE),
    close: async () => {
      await app.close();
      await idp.close();
    },
  };
}

/** A browser logged in as `login` through the provider's real login and consent pages. */
async function logIn(running: AuthTransportApp, login = 'alice'): Promise<OidcTestBrowser> {
  const browser = new OidcTestBrowser();
  const result = await browser.login(`${running.url}/auth/login?returnTo=%2Fhome`, { login });
  expect(result.response.url).toBe(`${running.url}/home`);
  expect(JSON.parse(result.response.text)).toEqual({ sub: login });
  return browser;
}

/** The `Cookie` header the browser sends to the app (the session cookie). */
function cookieOf(running: AuthTransportApp, browser: OidcTestBrowser): string {
  const sid = browser.cookies(running.url).find((cookie) => cookie.name === 'sid');
  expect(sid).toBeDefined();
  return `sid=${sid!.value}`;
}

/** The session ID inside the signed cookie value. */
function sessionIdOf(cookie: string): string {
  return decodeURIComponent(cookie.slice('sid='.length)).split('.')[0]!;
}

/** Log out the way a user does: the module's logout form, posted from the app's own page. */
async function logOut(running: AuthTransportApp, browser: OidcTestBrowser): Promise<void> {
  const response = await browser.postForm(`${running.url}/auth/logout`, {});
  expect(response.status).toBe(303);
  expect(new URL(response.location!).origin).toBe(running.idp.issuer); // RP-initiated logout at the provider
}

// ---------------------------------------------------------------------------------------------
// GraphQL

@ObjectType()
class Viewer {
  @Field(() => String)
  sub!: string;

  @Field(() => String, { nullable: true })
  email!: string | null;

  @Field(() => [String])
  groups!: string[];
}

const viewerOf = (user: AuthClaims): Viewer => ({
  sub: String(user.sub),
  email: typeof user.email === 'string' ? user.email : null,
  groups: Array.isArray(user.groups) ? user.groups.map(String) : [],
});

@Resolver(() => Viewer)
class AuthResolver {
  /** Guarded: the logged-in user's claims. */
  @Query(() => Viewer)
  @UseGuards(AuthenticatedGuard)
  me(@CurrentUser() user: AuthClaims): Viewer {
    return viewerOf(user);
  }

  /** Not guarded: `null` without a login. */
  @Query(() => Viewer, { nullable: true })
  viewer(@CurrentUser() user?: AuthClaims): Viewer | null {
    return user ? viewerOf(user) : null;
  }

  /** A field resolver reads the login of the same request. */
  @ResolveField(() => String)
  greeting(@CurrentUser('name') name: string, @CurrentUser({ provider: 'main', claim: 'email' }) email: string): string {
    return `Hello ${name} <${email}>`;
  }

  /** A field resolver reads the session the mutation wrote. */
  @ResolveField(() => String, { nullable: true })
  note(@Session('note') note?: string): string | null {
    return note ?? null;
  }

  /** A guarded mutation that writes the session (and a flash). */
  @Mutation(() => String)
  @UseGuards(AuthenticatedGuard)
  saveNote(@Session() session: SessionHandle, @CurrentUser('sub') sub: string, @Args('text', { type: () => String }) text: string): string {
    const note = `${sub}: ${text}`;
    session.set('note', note);
    session.setFlash('Note saved');
    return note;
  }

  @Query(() => String, { nullable: true })
  flash(@Flash() message?: string): string | null {
    return message ?? null;
  }

  @Query(() => String)
  @RequireClaims({ groups: 'staff' })
  staffArea(@CurrentUser('sub') sub: string): string {
    return `staff area of ${sub}`;
  }

  @Query(() => String)
  @RequireClaims({ groups: 'admin' })
  adminArea(): string {
    return 'admin area';
  }
}

interface GraphqlResult {
  data?: Record<string, any> | null;
  errors?: Array<{ message: string; path?: string[]; extensions?: { code?: string; reason?: string } }>;
}

interface GraphqlResponse {
  status: number;
  location: string | undefined;
  contentType: string | null;
  body: GraphqlResult;
}

describe.each(SERVERS)('AuthModule in GraphQL resolvers over %s on %s', (server, adapter) => {
  let running: AuthTransportApp;

  beforeAll(async () => {
    running = await startAuthTransportApp(adapter, [graphqlDriver(server)], [AuthResolver]);
  });
  afterAll(() => running?.close());

  /** POST a GraphQL operation as the browser (its cookies), or with an explicit `Cookie` header. */
  async function gql(
    browser: OidcTestBrowser,
    query: string,
    variables?: Record<string, unknown>,
    headers: Record<string, string> = {},
  ): Promise<GraphqlResponse> {
    const response = await browser.request(`${running.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query, variables }),
    });
    return {
      status: response.status,
      location: response.location,
      contentType: response.headers.get('content-type'),
      body: JSON.parse(response.text) as GraphqlResult,
    };
  }

  /** What a refusal looks like: a GraphQL result with one error of `code` at `path`, HTTP 200, no redirect. */
  function expectRefused(response: GraphqlResponse, path: string, code: 'UNAUTHENTICATED' | 'FORBIDDEN'): void {
    expect(response.status).toBe(200);
    expect(response.location).toBeUndefined();
    expect(response.contentType).toMatch(/application\/(graphql-response\+)?json/);
    expect(response.body.data ?? null).toBeNull();
    expect(response.body.errors).toHaveLength(1);
    expect(response.body.errors![0]).toMatchObject({
      path: [path],
      extensions: { code, reason: code === 'UNAUTHENTICATED' ? 'AUTH_LOGIN_REQUIRED' : 'AUTH_FORBIDDEN' },
    });
  }

  it('a guarded query returns the @CurrentUser() claims of the login made over HTTP', async () => {
    const browser = await logIn(running);
    const { status, body } = await gql(browser, '{ me { sub email groups } }');
    expect(status).toBe(200);
    expect(body).toEqual({ data: { me: { sub: 'alice', email: 'alice@example.test', groups: ['staff'] } } });
  });

  it('a field resolver reads @CurrentUser() (whole claims, one claim, a named provider)', async () => {
    const browser = await logIn(running, 'bob');
    const { body } = await gql(browser, '{ viewer { sub greeting } me { greeting } }');
    const greeting = 'Hello Bob <bob@example.test>';
    expect(body).toEqual({ data: { viewer: { sub: 'bob', greeting }, me: { greeting } } });
    // Without a login the unguarded query runs and @CurrentUser() is undefined.
    expect((await gql(new OidcTestBrowser(), '{ viewer { sub } }')).body).toEqual({ data: { viewer: null } });
  });

  it('a mutation guarded by AuthenticatedGuard writes the session; the next request sees it', async () => {
    const browser = await logIn(running);
    const saved = await gql(browser, 'mutation($t: String!) { saveNote(text: $t) }', { t: 'buy milk' });
    expect(saved.body).toEqual({ data: { saveNote: 'alice: buy milk' } });
    expect((await gql(browser, '{ me { note } }')).body).toEqual({ data: { me: { note: 'alice: buy milk' } } });
    expect((await gql(browser, '{ flash }')).body).toEqual({ data: { flash: 'Note saved' } });
    expect((await gql(browser, '{ flash }')).body).toEqual({ data: { flash: null } });
  });

  it('@RequireClaims() answers when the claims are met and is FORBIDDEN when they are not', async () => {
    const alice = await logIn(running); // groups: ['staff']
    expect((await gql(alice, '{ staffArea }')).body).toEqual({ data: { staffArea: 'staff area of alice' } });
    expectRefused(await gql(alice, '{ adminArea }'), 'adminArea', 'FORBIDDEN');
    const bob = await logIn(running, 'bob'); // groups: ['admin', 'staff']
    expect((await gql(bob, '{ adminArea }')).body).toEqual({ data: { adminArea: 'admin area' } });
  });

  it('without a login the guards refuse with UNAUTHENTICATED, never a redirect', async () => {
    const anonymous = new OidcTestBrowser();
    expectRefused(await gql(anonymous, '{ me { sub } }'), 'me', 'UNAUTHENTICATED');
    expectRefused(await gql(anonymous, '{ adminArea }'), 'adminArea', 'UNAUTHENTICATED');
    // A mutation is refused before it runs: nothing is written, no session is started.
    expectRefused(await gql(anonymous, 'mutation { saveNote(text: "x") }'), 'saveNote', 'UNAUTHENTICATED');
    expect(anonymous.cookies(running.url)).toEqual([]);
  });

  it('a GET query that looks like a browser navigation (no JSON Accept) is refused, not redirected to the login', async () => {
    // AuthenticatedGuard redirects an HTTP GET that is no API request; a GraphQL context must not be taken for one.
    const response = await new OidcTestBrowser().get(`${running.url}/graphql?query=${encodeURIComponent('{ me { sub } }')}`, {
      headers: { accept: '*/*', 'apollo-require-preflight': 'true' },
    });
    expect(response.status).toBe(200);
    expect(response.location).toBeUndefined();
    const body = JSON.parse(response.text) as GraphqlResult;
    expect(body.errors![0]).toMatchObject({ path: ['me'], extensions: { code: 'UNAUTHENTICATED' } });
  });

  it('after a logout over HTTP (POST /auth/logout) the same query is UNAUTHENTICATED, also with the old cookie', async () => {
    const browser = await logIn(running);
    const cookie = cookieOf(running, browser);
    expect((await gql(browser, '{ me { sub } }')).body).toEqual({ data: { me: { sub: 'alice' } } });
    await logOut(running, browser);
    expectRefused(await gql(browser, '{ me { sub } }'), 'me', 'UNAUTHENTICATED');
    // The session is gone server-side, not only forgotten by the browser: the old cookie replayed is anonymous too.
    expectRefused(await gql(new OidcTestBrowser(), '{ me { sub } }', undefined, { cookie }), 'me', 'UNAUTHENTICATED');
    expect((await gql(new OidcTestBrowser(), '{ viewer { sub } }', undefined, { cookie })).body).toEqual({ data: { viewer: null } });
  });

  it('a session destroyed in the store (another device, an admin) is UNAUTHENTICATED on the next query', async () => {
    const browser = await logIn(running);
    expect((await gql(browser, '{ me { sub } }')).body).toEqual({ data: { me: { sub: 'alice' } } });
    await running.store.destroy(sessionIdOf(cookieOf(running, browser)));
    expectRefused(await gql(browser, '{ me { sub } }'), 'me', 'UNAUTHENTICATED');
  });
});

// ---------------------------------------------------------------------------------------------
// WebSocket gateways

@WebSocketGateway()
class AuthGateway implements OnGatewayConnection {
  /** What `handleConnection` saw of each socket's login. */
  readonly connections: Array<{ sub: string | null; email: string | null }> = [];
  /** How many times a handler body ran. */
  handled = 0;

  constructor(private readonly auth: AuthManager) {}

  /**
   * Nest passes no parameter decorators to `handleConnection`, so `@CurrentUser()` cannot be used
   * here: the documented way is `getSessionFromSocket(client)` and `AuthManager.getUser(session)`.
   */
  handleConnection(client: object): void {
    const session = getSessionFromSocket<SessionHandle>(client);
    const user = session === undefined ? undefined : this.auth.getUser(session);
    this.connections.push({ sub: user?.sub ?? null, email: typeof user?.email === 'string' ? user.email : null });
  }

  /** Not guarded: who is logged in, if anyone. */
  @SubscribeMessage('whoami')
  whoami(@CurrentUser('sub') sub?: string) {
    this.handled++;
    return { event: 'whoami', data: { sub: sub ?? null } };
  }

  @UseGuards(AuthenticatedGuard)
  @SubscribeMessage('me')
  me(@CurrentUser() user: AuthClaims, @CurrentUser('email') email: string, @Session() session: SessionHandle) {
    this.handled++;
    const visits = ((session.get('visits') as number | undefined) ?? 0) + 1;
    session.set('visits', visits);
    return { event: 'me', data: { sub: user.sub, email, visits } };
  }

  @RequireClaims({ groups: 'admin' })
  @SubscribeMessage('admin')
  admin(@CurrentUser('sub') sub: string) {
    this.handled++;
    return { event: 'admin', data: { sub } };
  }
}

describe.each(ADAPTERS)('AuthModule in WebSocket gateways on %s', (adapter) => {
  describe.each(WS_PLATFORMS)('over %s', (platform: WsPlatform) => {
    let running: AuthTransportApp;
    let gateway: AuthGateway;
    const sockets: WsTestClient[] = [];
    const open = async (cookie?: string) => {
      const socket = await WsTestClient.open(platform, running.url, { cookie });
      sockets.push(socket);
      return socket;
    };

    beforeAll(async () => {
      running = await startAuthTransportApp(adapter, [], [AuthGateway], (app) => {
        const Adapter = withSessions(platform === 'ws' ? WsAdapter : IoAdapter);
        app.useWebSocketAdapter(new Adapter(app));
      });
      gateway = running.app.get(AuthGateway);
    });
    afterEach(() => {
      for (const socket of sockets.splice(0)) socket.close();
    });
    afterAll(() => running?.close());

    it("handleConnection sees the login of the handshake's session (getSessionFromSocket + AuthManager.getUser)", async () => {
      const browser = await logIn(running);
      await open(cookieOf(running, browser));
      expect(gateway.connections.at(-1)).toEqual({ sub: 'alice', email: 'alice@example.test' });
      await open();
      expect(gateway.connections.at(-1)).toEqual({ sub: null, email: null });
    });

    it('a handler guarded by AuthenticatedGuard answers the logged-in socket with @CurrentUser(), and writes the session', async () => {
      const browser = await logIn(running);
      const socket = await open(cookieOf(running, browser));
      expect(await socket.request('me')).toEqual({ event: 'me', data: { sub: 'alice', email: 'alice@example.test', visits: 1 } });
      expect((await socket.request('me')).data.visits).toBe(2);
      expect(await socket.request('whoami')).toEqual({ event: 'whoami', data: { sub: 'alice' } });
    });

    /**
     * The guards' `AuthError` (401 `AUTH_LOGIN_REQUIRED`, 403 `AUTH_FORBIDDEN`) reaches the client
     * as the `exception` event the session adapter's own refusals use, through
     * `toGatewayException`: without it Nest's gateway filter sends only "Internal server error".
     */
    const refusal = (code: string) => ({ event: 'exception', data: { status: 'error', code, message: expect.any(String) } });

    it('AuthenticatedGuard refuses an anonymous socket with AUTH_LOGIN_REQUIRED; the handler does not run', async () => {
      const socket = await open();
      expect(await socket.request('whoami')).toEqual({ event: 'whoami', data: { sub: null } });
      const before = gateway.handled;
      expect(await socket.request('me')).toEqual(refusal('AUTH_LOGIN_REQUIRED'));
      expect(await socket.request('admin')).toEqual(refusal('AUTH_LOGIN_REQUIRED'));
      expect(gateway.handled).toBe(before);
      // The socket stays usable.
      expect(await socket.request('whoami')).toEqual({ event: 'whoami', data: { sub: null } });
    });

    it('@RequireClaims() answers when the claims are met and refuses with AUTH_FORBIDDEN when not', async () => {
      const alice = await open(cookieOf(running, await logIn(running))); // groups: ['staff']
      const before = gateway.handled;
      expect(await alice.request('admin')).toEqual(refusal('AUTH_FORBIDDEN'));
      expect(gateway.handled).toBe(before);
      expect((await alice.request('me')).data.sub).toBe('alice');
      const bob = await open(cookieOf(running, await logIn(running, 'bob'))); // groups: ['admin', 'staff']
      expect(await bob.request('admin')).toEqual({ event: 'admin', data: { sub: 'bob' } });
    });

    it('after a logout over HTTP the next message on the still-open socket is refused, before guards and handler', async () => {
      const browser = await logIn(running);
      const socket = await open(cookieOf(running, browser));
      expect((await socket.request('me')).data.sub).toBe('alice');
      await logOut(running, browser);
      const before = gateway.handled;
      for (const event of ['me', 'whoami', 'admin']) {
        expect(await socket.request(event)).toEqual({
          event: 'exception',
          data: { status: 'error', code: 'SESSION_LOST', message: expect.any(String) },
        });
      }
      expect(gateway.handled).toBe(before);
    });
  });
});
