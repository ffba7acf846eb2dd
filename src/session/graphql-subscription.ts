import type { IncomingMessage } from 'node:http';
import { SessionError } from '../core/errors/session.error.js';
import { SessionMessages } from '../core/errors/session.messages.js';
import { GatewayOriginPolicy, type AllowedOrigins } from './gateway-origin.policy.js';
import { bindOperationSession, toRawRequest } from './session-context.util.js';
import type { SessionManager } from './session.manager.js';
import type { AnySession } from './session.js';

/**
 * Options of {@link graphqlWsSessions} and {@link mercuriusSubscriptionSessions}.
 *
 * @example
 * ```ts
 * const options: GraphqlSubscriptionSessionOptions = { allowedOrigins: ['https://app.example.com'] };
 * ```
 */
export interface GraphqlSubscriptionSessionOptions {
  /**
   * Origins besides the request's own whose pages may open a subscription connection (the check
   * against cross-site WebSocket hijacking, as for gateways: see `SessionGatewayOptions.allowedOrigins`).
   * A connection without `Origin` (not a browser) passes; `Origin: null` does not.
   * @default [] (only the request's own origin, by its `Host` header)
   */
  allowedOrigins?: AllowedOrigins;
}

/** The socket of a connection: `ws`'s, as graphql-ws (`extra.socket`) and Mercurius hand it over. */
interface ClosableSocket {
  close(code?: number, reason?: string): void;
}

/**
 * graphql-ws's `Context` of a connection, as far as it is used here (typed here: the package imports
 * neither graphql-ws nor graphql). Its `extra` is `{ request, socket }` with graphql-ws's `ws` server,
 * which `@nestjs/graphql` uses.
 */
interface GraphqlWsConnectionContext {
  readonly extra: unknown;
}

/** graphql-ws's `extra` with its `ws` server: the upgrade request and the socket. */
interface WsExtra {
  request: IncomingMessage;
  socket: ClosableSocket;
}

/**
 * The errors an `onSubscribe` refusal hands graphql-ws: `GraphQLError`s of `graphql`, typed
 * opaquely so that this package's types need nothing of `graphql`.
 */
type SubscribeRefusal = readonly never[];

/**
 * What {@link graphqlWsSessions} returns: the `context` and `subscriptions` options of
 * `@nestjs/apollo`'s `GraphQLModule`. An app with a `context` of its own calls this one too.
 *
 * @example
 * ```ts
 * const sessions: GraphqlWsSessionConfig = graphqlWsSessions(manager);
 * const config: ApolloDriverConfig = {
 *   ...sessions,
 *   context: (arg: unknown, id?: unknown) => ({ ...sessions.context(arg, id), loaders: createLoaders() }),
 * };
 * ```
 */
export interface GraphqlWsSessionConfig {
  /**
   * The GraphQL context: for an operation over graphql-ws, `{ req }` (the upgrade request) with the
   * operation's own session; `undefined` over HTTP, which Nest's driver turns into `{ req }`.
   */
  context: (arg: unknown, id?: unknown) => Record<string, unknown> | undefined;
  subscriptions: {
    'graphql-ws': {
      /** The Origin check, then the session from the upgrade request. */
      onConnect: (ctx: GraphqlWsConnectionContext) => Promise<boolean>;
      /** A fresh session for the operation, or its refusal (`SESSION_LOST`, `SESSION_STORE_UNAVAILABLE`). */
      onSubscribe: (ctx: GraphqlWsConnectionContext, id: string) => Promise<SubscribeRefusal | undefined>;
      /** Before each event: the connection closed (4401) instead, once its session has ended. */
      onNext: (ctx: GraphqlWsConnectionContext) => Promise<{ data: null } | undefined>;
    };
  };
}

/**
 * What {@link mercuriusSubscriptionSessions} returns: the `subscription` and `hooks` options of
 * `@nestjs/mercurius`'s `GraphQLModule`. An app with hooks of its own lists both (Mercurius takes
 * an array per hook).
 *
 * @example
 * ```ts
 * const sessions: MercuriusSubscriptionSessionConfig = mercuriusSubscriptionSessions(manager);
 * const config: MercuriusDriverConfig = {
 *   ...sessions,
 *   hooks: { ...sessions.hooks, preExecution: myPreExecutionHook },
 * };
 * ```
 */
export interface MercuriusSubscriptionSessionConfig {
  subscription: {
    /** The Origin check (403), then the session from the upgrade request, before the upgrade is answered. */
    verifyClient: (info: { req: IncomingMessage }, callback: (verified: boolean, code?: number, message?: string) => void) => void;
    /** The connection's context: `{ req }`, the upgrade request. */
    context: (socket: ClosableSocket, request: object) => Record<string | symbol, unknown>;
  };
  hooks: {
    /** A fresh session for the operation, or its refusal (`SESSION_LOST`, `SESSION_STORE_UNAVAILABLE`). */
    preSubscriptionExecution: (schema: unknown, document: unknown, context: object) => Promise<void>;
    /** Before each event: the connection closed (4401) instead, once its session has ended. */
    onSubscriptionResolution: (execution: unknown, context: object) => Promise<void>;
  };
}

/** The close code of a connection whose session ended: graphql-ws's `Unauthorized`, which its client does not retry. */
const SESSION_LOST_CLOSE = 4401;
/** The close code of a connection refused for its `Origin` (graphql-ws's `Forbidden`). */
const ORIGIN_REFUSED_CLOSE = 4403;
/** A store that could not be read: `ws`'s internal error, which graphql-ws's client retries. */
const STORE_UNAVAILABLE_CLOSE = 1011;

/** The socket of a Mercurius connection, on its context, to close it when its session ended. */
const SOCKET = Symbol('nest-sessions:subscription-socket');

/**
 * The engine of one app's subscriptions: the Origin check, the session of a connection's upgrade
 * request, a fresh session per operation and the check before each event.
 */
class SubscriptionSessions {
  private readonly origins: GatewayOriginPolicy;
  /** The session ID each connection opened with (the session it is bound to), per upgrade request. */
  private readonly boundIds = new WeakMap<IncomingMessage, string>();

  constructor(
    private readonly manager: SessionManager,
    options: GraphqlSubscriptionSessionOptions,
    helper: string,
  ) {
    if (typeof (manager as Partial<SessionManager> | undefined)?.load !== 'function') {
      throw new SessionError(
        'SESSION_OPTIONS_INVALID',
        SessionMessages.invalidArgument(
          helper,
          'manager',
          'it is not a SessionManager',
          'Inject it: GraphQLModule.forRootAsync({ inject: [SessionManager], useFactory: (manager) => ... }).',
        ),
      );
    }
    this.origins = new GatewayOriginPolicy(options.allowedOrigins);
  }

  /** The Origin check of an upgrade request, before anything of its session is read. */
  checkOrigin(req: IncomingMessage): void {
    if (!this.origins.allows(req)) throw new SessionError('SESSION_ORIGIN_REFUSED', ORIGIN_REFUSED, { statusCode: 403 });
  }

  /** Load the session of an upgrade request and remember which one the connection is bound to. */
  async open(req: IncomingMessage): Promise<void> {
    const session = await this.manager.load(req);
    if (!session.isNew && !session.isDegraded && session.id !== undefined) this.boundIds.set(req, session.id);
  }

  /**
   * A fresh session for one operation, read from the store again.
   * @throws SessionError `SESSION_LOST` when the session the connection opened with has ended,
   *   `SESSION_STORE_UNAVAILABLE` when the store cannot be read.
   */
  async forOperation(req: IncomingMessage): Promise<AnySession> {
    let session: AnySession;
    try {
      session = await this.manager.load(req, { fresh: true });
    } catch (error) {
      throw storeUnavailable(error);
    }
    const bound = this.boundIds.get(req);
    if (bound === undefined) return session;
    // `onStoreUnavailable: 'anonymous'`: the store could not be read, which says nothing of the session's end.
    if (session.isDegraded) throw storeUnavailable(undefined);
    if (session.isNew || session.id !== bound) throw new SessionError('SESSION_LOST', SESSION_ENDED);
    return session;
  }

  /**
   * Before an event goes out: `undefined` when it may, else the connection is closed, 4401 when its
   * session ended, 1011 when the store cannot be read, and the reason is returned. Connections
   * without a stored session have nothing to lose, and cost no store read.
   */
  async withheld(req: IncomingMessage, socket: ClosableSocket | undefined): Promise<SessionError | undefined> {
    if (!this.boundIds.has(req)) return undefined;
    try {
      await this.forOperation(req);
      return undefined;
    } catch (error) {
      const reason = storeUnavailable(error);
      socket?.close(reason.code === 'SESSION_LOST' ? SESSION_LOST_CLOSE : STORE_UNAVAILABLE_CLOSE, reason.code);
      return reason;
    }
  }
}

/**
 * Sessions for GraphQL subscriptions over `graphql-ws` with Apollo (`@nestjs/apollo`): spread what
 * it returns into `GraphQLModule`'s options (it sets `context` and `subscriptions`). Resolvers and
 * guards read the session with `@Session()`, `@Flash()` and `getSessionFromContext()`, as over HTTP.
 *
 * - **Connection**: the `Origin` check (see {@link GraphqlSubscriptionSessionOptions.allowedOrigins})
 *   closes a foreign page's connection with 4403 `SESSION_ORIGIN_REFUSED` before anything of the
 *   session is read; then the session is loaded from the upgrade request's cookie (or header
 *   transport) and the connection is bound to it. Both happen at graphql-ws's `connection_init`.
 * - **Every subscribe** reads the session again from the store, before guards and the resolver,
 *   and gives the operation its own session object.
 * - **Writes**: `await session.save()` writes; nothing else does (there is no end of a request to
 *   write at, and no cookie can be sent), so a connection without a stored session cannot start one.
 * - **Session ended elsewhere** (destroyed, logged out, expired, regenerated by a login): a later
 *   subscribe is refused with a GraphQL error `extensions.code: 'SESSION_LOST'`; before each event
 *   of a running subscription the session is checked, and once it is gone the event is withheld and
 *   the connection closed with 4401 `SESSION_LOST`.
 *
 * The app's own `onConnect` or `context` go around these: call them first.
 *
 * @param manager the app's `SessionManager` (inject it in `GraphQLModule.forRootAsync`).
 * @example
 * ```ts
 * GraphQLModule.forRootAsync<ApolloDriverConfig>({
 *   driver: ApolloDriver,
 *   inject: [SessionManager],
 *   useFactory: (manager: SessionManager) => ({
 *     autoSchemaFile: true,
 *     ...graphqlWsSessions(manager, { allowedOrigins: ['https://app.example.com'] }),
 *   }),
 * });
 * ```
 */
export function graphqlWsSessions(manager: SessionManager, options: GraphqlSubscriptionSessionOptions = {}): GraphqlWsSessionConfig {
  const sessions = new SubscriptionSessions(manager, options, 'graphqlWsSessions');
  /** Each operation's session, from `onSubscribe` to the `context` graphql-ws builds for it next. */
  const pending = new WeakMap<object, Map<string, AnySession>>();

  return {
    context: (arg, id) => {
      const extra = extraOf(arg);
      if (extra === undefined) return undefined;
      const context: Record<string, unknown> = { req: extra.request };
      const forConnection = pending.get(arg as object);
      const session = typeof id === 'string' ? forConnection?.get(id) : undefined;
      if (session !== undefined) {
        forConnection!.delete(id as string);
        bindOperationSession(context, session);
      }
      return context;
    },
    subscriptions: {
      'graphql-ws': {
        onConnect: async (ctx) => {
          const { request, socket } = requireExtra(ctx);
          try {
            sessions.checkOrigin(request);
          } catch {
            socket.close(ORIGIN_REFUSED_CLOSE, 'SESSION_ORIGIN_REFUSED');
            return false;
          }
          try {
            await sessions.open(request);
          } catch {
            socket.close(STORE_UNAVAILABLE_CLOSE, 'SESSION_STORE_UNAVAILABLE');
            return false;
          }
          return true;
        },
        onSubscribe: async (ctx, id) => {
          try {
            const session = await sessions.forOperation(requireExtra(ctx).request);
            let forConnection = pending.get(ctx);
            if (forConnection === undefined) pending.set(ctx, (forConnection = new Map<string, AnySession>()));
            forConnection.set(id, session);
            return undefined;
          } catch (error) {
            return [await toGraphQLError(storeUnavailable(error))] as unknown as SubscribeRefusal;
          }
        },
        onNext: async (ctx) => {
          const { request, socket } = requireExtra(ctx);
          if ((await sessions.withheld(request, socket)) === undefined) return undefined;
          // The socket is closing, so graphql-ws sends nothing; should it still, nothing of the event goes.
          return { data: null };
        },
      },
    },
  };
}

/**
 * Sessions for GraphQL subscriptions with Mercurius (`@nestjs/mercurius`), which speaks the
 * graphql-ws protocol too: spread what it returns into `GraphQLModule`'s options (it sets
 * `subscription` and `hooks`). Resolvers and guards read the session with `@Session()`,
 * `@Flash()` and `getSessionFromContext()`, as over HTTP. It behaves as {@link graphqlWsSessions}
 * does, except that the `Origin` check refuses the upgrade itself, with 403, before the connection
 * opens (Fastify's middleware, the session middleware among them, has seen the upgrade request by
 * then, as it sees any GET; nothing of that reaches GraphQL).
 *
 * The app's own `subscription.context`, `verifyClient` or hooks go around these: call them too
 * (Mercurius takes an array of hooks).
 *
 * @param manager the app's `SessionManager` (inject it in `GraphQLModule.forRootAsync`).
 * @example
 * ```ts
 * GraphQLModule.forRootAsync<MercuriusDriverConfig>({
 *   driver: MercuriusDriver,
 *   inject: [SessionManager],
 *   useFactory: (manager: SessionManager) => ({
 *     autoSchemaFile: true,
 *     ...mercuriusSubscriptionSessions(manager, { allowedOrigins: ['https://app.example.com'] }),
 *   }),
 * });
 * ```
 */
export function mercuriusSubscriptionSessions(
  manager: SessionManager,
  options: GraphqlSubscriptionSessionOptions = {},
): MercuriusSubscriptionSessionConfig {
  const sessions = new SubscriptionSessions(manager, options, 'mercuriusSubscriptionSessions');
  return {
    subscription: {
      verifyClient: (info, callback) => {
        try {
          sessions.checkOrigin(info.req);
        } catch {
          callback(false, 403, 'SESSION_ORIGIN_REFUSED');
          return;
        }
        sessions.open(info.req).then(
          () => callback(true),
          () => callback(false, 503, 'SESSION_STORE_UNAVAILABLE'),
        );
      },
      context: (socket, request) => ({ req: toRawRequest(request), [SOCKET]: socket }),
    },
    hooks: {
      preSubscriptionExecution: async (_schema, _document, context) => {
        const req = requestOf(context);
        if (req !== undefined) bindOperationSession(context, await sessions.forOperation(req));
      },
      onSubscriptionResolution: async (_execution, context) => {
        const req = requestOf(context);
        const reason = req === undefined ? undefined : await sessions.withheld(req, (context as { [SOCKET]?: ClosableSocket })[SOCKET]);
        // Mercurius then ends the connection (closed already, with its code) rather than send the event.
        if (reason !== undefined) throw reason;
      },
    },
  };
}

/** The upgrade request on a Mercurius context: ours (`req`), else Mercurius's own (`request`). */
function requestOf(context: object): IncomingMessage | undefined {
  const { req, request } = context as { req?: object; request?: object };
  const found = req ?? request;
  return found === undefined ? undefined : toRawRequest(found);
}

/** The upgrade request and socket graphql-ws's `ws` server puts in a connection's `extra`. */
function extraOf(ctx: unknown): WsExtra | undefined {
  const extra = (ctx as { extra?: Partial<WsExtra> } | null | undefined)?.extra;
  if (typeof extra !== 'object' || extra === null) return undefined;
  const { request, socket } = extra;
  if (typeof request !== 'object' || request === null || typeof socket?.close !== 'function') return undefined;
  return { request: toRawRequest(request), socket };
}

/** {@link extraOf}, or the error of a graphql-ws server that is not `ws`'s. */
function requireExtra(ctx: unknown): WsExtra {
  const extra = extraOf(ctx);
  if (extra === undefined) throw new SessionError('SESSION_UNSUPPORTED_CONTEXT', SessionMessages.unsupportedContext('graphql-ws'));
  return extra;
}

function storeUnavailable(cause: unknown): SessionError {
  if (cause instanceof SessionError) return cause;
  return new SessionError('SESSION_STORE_UNAVAILABLE', SessionMessages.storeUnavailable('read the session'), { cause });
}

/**
 * `error` as the `GraphQLError` graphql-ws requires of an `onSubscribe` refusal, with the
 * `SessionError`'s `extensions` (`code`, `reason`). `graphql` is loaded only here, when a
 * subscribe is refused: every app with GraphQL subscriptions has it, and the package needs it
 * nowhere else.
 */
async function toGraphQLError(error: SessionError): Promise<object> {
  // graphql-ws checks `instanceof GraphQLError`: take the build its own `import 'graphql'` gets,
  // resolved as Node resolves an import (a test runner that inlines this file may pick another).
  const specifier = typeof import.meta.resolve === 'function' ? import.meta.resolve('graphql') : 'graphql';
  const { GraphQLError } = (await import(specifier)) as typeof import('graphql');
  return new GraphQLError(error.message, { originalError: error, extensions: error.extensions });
}

const ORIGIN_REFUSED = 'nest-sessions: the subscription connection came from an origin that is not allowed (see allowedOrigins).';
const SESSION_ENDED =
  'nest-sessions: the session this subscription connection opened with has ended (logged out, expired or replaced); reconnect to use the current session.';
