import 'reflect-metadata';
import {
  Controller,
  Get,
  Module,
  Post,
  Req,
  UseGuards,
  type DynamicModule,
  type INestApplication,
  type Provider,
  type Type,
} from '@nestjs/common';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import {
  AuthManager,
  AuthModule,
  AuthenticatedGuard,
  CurrentUser,
  Public,
  RequireClaims,
  type AuthClaims,
  type AuthEventHandlers,
  type AuthModuleOptions,
  type AuthModuleExtras,
  type AuthLoginEvent,
  type AuthLogoutEvent,
  type AuthRefreshEvent,
} from '../../src/auth/index.js';
import { Session, SessionModule, type SessionHandle, type SessionModuleOptions } from '../../src/index.js';
import { SECRET, createApp, type AdapterName } from './test-app.js';

/** A short fingerprint of a token, so test routes can compare tokens without sending them. */
export const fingerprint = (token: string): string => createHash('sha256').update(token).digest('hex').slice(0, 16);

/** Events the app received, in order. */
export interface RecordedEvents {
  login: AuthLoginEvent[];
  logout: AuthLogoutEvent[];
  refresh: AuthRefreshEvent[];
}

@Controller()
class AuthTestController {
  constructor(private readonly auth: AuthManager) {}

  @UseGuards(AuthenticatedGuard)
  @Get('me')
  me(@CurrentUser() user: AuthClaims, @CurrentUser('email') email: string) {
    return { user, email };
  }

  @Get('whoami')
  whoami(
    @CurrentUser() user: AuthClaims | undefined,
    @CurrentUser({ provider: 'second' }) second: AuthClaims | undefined,
    @Session() session: SessionHandle,
  ) {
    return { sub: user?.sub ?? null, second: second?.sub ?? null, providers: this.auth.loggedInProviders(session) };
  }

  @RequireClaims({ groups: 'admin' })
  @Get('admin')
  admin() {
    return { admin: true };
  }

  @UseGuards(AuthenticatedGuard)
  @Get('token')
  async token(@Session() session: SessionHandle) {
    const login = await this.auth.getTokens(session);
    return { at: fingerprint(login.accessToken), rt: login.refreshToken ? fingerprint(login.refreshToken) : null };
  }

  @UseGuards(AuthenticatedGuard)
  @Post('call-api')
  async callApi(@Session() session: SessionHandle) {
    const api = this.auth.fetch(session);
    const response = await api(String(process.env.AUTH_TEST_RESOURCE_URL));
    return { status: response.status, body: await response.text() };
  }

  /** Stores something, so the visitor has a session before a login. */
  @Get('visit')
  visit(@Session() session: SessionHandle) {
    session.set('visited', true);
    return { visited: true };
  }

  /** What the app does on a privilege change: a new session ID, same data. */
  @Post('regenerate')
  async regenerate(@Session() session: SessionHandle) {
    await session.regenerate();
    return { regenerated: true };
  }

  /** What an app that returns the whole session (or `req.session`) sends. */
  @Get('session-json')
  sessionJson(@Session() session: SessionHandle, @Req() req: { session: unknown }) {
    return { session, view: JSON.parse(JSON.stringify(req.session)), viewKeys: Object.keys(req.session as object) };
  }

  @Get('flash-and-session')
  everything(@Session() session: SessionHandle) {
    return { keys: session.keys() };
  }
}

@Public()
@Controller('open')
class OpenController {
  @Get()
  open() {
    return { open: true };
  }
}

@Controller('closed')
class ClosedController {
  @Get()
  closed() {
    return { closed: true };
  }
}

export interface AuthAppOptions {
  port: number;
  /** `AuthModule.forRoot()` options (their `events` are replaced by the recorders of {@link RunningAuthApp.events}). */
  auth?: AuthModuleOptions & AuthModuleExtras;
  /**
   * Instead of `auth`: the AuthModule to import, e.g. an `AuthModule.forRootAsync(...)`; pass `events` on in its
   * options to record them.
   */
  authModule?: (events: AuthEventHandlers) => DynamicModule;
  session?: Partial<SessionModuleOptions>;
  /** More controllers for the app. */
  controllers?: Type<unknown>[];
  /** More modules (`EventEmitterModule.forRoot()`, say) and providers for the app. */
  imports?: DynamicModule[];
  providers?: Provider[];
  /** The HTTP platform. @default 'express' */
  adapter?: AdapterName;
  /** `bodyParser: false` creates the app without Nest's body parsers (`NestFactory.create(module, { bodyParser: false })`). */
  bodyParser?: false;
  /** Runs before the app listens (`app.register()` of a Fastify plugin, say). */
  configure?: (app: INestApplication) => void | Promise<void>;
}

export interface RunningAuthApp {
  app: INestApplication;
  /** The platform the app runs on. */
  adapter: AdapterName;
  url: string;
  events: RecordedEvents;
  close(): Promise<void>;
}

/** Start a Nest app with SessionModule + AuthModule on `port` (the port the provider's redirect URIs name). */
export async function startAuthApp(options: AuthAppOptions): Promise<RunningAuthApp> {
  const events: RecordedEvents = { login: [], logout: [], refresh: [] };
  const handlers: AuthEventHandlers = {
    login: (event) => void events.login.push(event),
    logout: (event) => void events.logout.push(event),
    refresh: (event) => void events.refresh.push(event),
  };
  let authModule: DynamicModule;
  if (options.authModule) authModule = options.authModule(handlers);
  else if (options.auth) authModule = AuthModule.forRoot({ ...options.auth, events: handlers });
  else throw new Error('startAuthApp: give auth or authModule');
  @Module({
    imports: [
      ...(options.imports ?? []),
      SessionModule.forRoot({ secret: SECRET, cookie: { secure: false }, ...options.session }),
      authModule,
    ],
    controllers: [AuthTestController, OpenController, ClosedController, ...(options.controllers ?? [])],
    providers: options.providers ?? [],
  })
  class AuthAppModule {}
  const adapter = options.adapter ?? 'express';
  // createApp() passes its options on to NestFactory.create(); its type names only those other suites use.
  const nestOptions = (options.bodyParser === false ? { bodyParser: false } : {}) as Parameters<typeof createApp>[2];
  const app = await createApp(AuthAppModule, adapter, nestOptions);
  await options.configure?.(app);
  await app.listen(options.port, '127.0.0.1');
  return { app, adapter, url: `http://127.0.0.1:${options.port}`, events, close: () => app.close() };
}

/** A resource server that records the Authorization headers it gets and can refuse the next N with 401. */
export interface ResourceServer {
  url: string;
  authorizations: string[];
  refuseNext(count: number): void;
  close(): Promise<void>;
}

export async function startResourceServer(): Promise<ResourceServer> {
  const authorizations: string[] = [];
  let refuse = 0;
  const server: Server = createServer((req, res) => {
    authorizations.push(String(req.headers.authorization ?? ''));
    if (refuse > 0) {
      refuse -= 1;
      res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('resource');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/resource`,
    authorizations,
    refuseNext: (count) => void (refuse = count),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
