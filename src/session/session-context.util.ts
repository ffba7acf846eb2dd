import type { ExecutionContext } from '@nestjs/common';
import { AsyncLocalStorage } from 'node:async_hooks';
import { IncomingMessage } from 'node:http';
import { SessionError } from '../core/errors/session.error.js';
import { SessionMessages } from '../core/errors/session.messages.js';
import type { AnySession, Session } from './session.js';

/**
 * The property of a raw request that holds its session: a symbol, so it never clashes with other
 * middleware (`Session` prints without its ID when a request is logged). Not a WeakMap keyed by the
 * request, whose values V8's young-generation collector keeps alive (figures in bench/README.md).
 */
const SESSION = Symbol('nest-sessions:session');

type WithSession = IncomingMessage & { [SESSION]?: AnySession };

/**
 * The raw Node request behind an adapter's request object: Fastify wraps it in `request.raw`,
 * Express uses it directly.
 */
export function toRawRequest(req: object): IncomingMessage {
  if (req instanceof IncomingMessage) return req;
  return ((req as { raw?: IncomingMessage }).raw ?? req) as IncomingMessage;
}

/** Marks an HTTP server whose requests get the session slot (see {@link reserveSessionSlot}). */
const SLOT_RESERVED = Symbol('nest-sessions:slot-reserved');

/**
 * Give every request of `server` its session property as the request is created, before any
 * framework code runs: Express replaces each request's prototype, after which V8 adds a property
 * through a slow path (figures in bench/README.md). Idempotent per server. @internal
 */
export function reserveSessionSlot(server: unknown): void {
  const target = server as {
    prependListener?: (event: 'request', listener: (req: WithSession) => void) => unknown;
    [SLOT_RESERVED]?: true;
  } | null;
  if (typeof target?.prependListener !== 'function' || target[SLOT_RESERVED]) return;
  target[SLOT_RESERVED] = true;
  target.prependListener('request', (req) => {
    req[SESSION] = undefined;
  });
}

/** Attach `session` to a request. @internal */
export function bindSession(req: object, session: AnySession): void {
  (toRawRequest(req) as WithSession)[SESSION] = session;
}

/** The session attached to a request (Express, Fastify or raw Node), if any. */
export function getSessionFromRequest<T extends object = Session>(req: object): T | undefined {
  return (toRawRequest(req) as WithSession)[SESSION] as T | undefined;
}

/** The session one WebSocket message was given, beside the handshake request it was loaded for. */
interface MessageScope {
  req: IncomingMessage;
  session: AnySession;
}

/**
 * The session of the WebSocket message being handled. A socket's messages share one handshake
 * request, and messages of one socket may run at the same time, so each message's own session
 * lives in its async context rather than on the request (where a later message would replace it).
 */
const messageScope = new AsyncLocalStorage<MessageScope>();

/** Run `work` (a gateway message's handler, guards included) with `session` as the session of `req`. @internal */
export function runWithMessageSession<R>(req: IncomingMessage, session: AnySession, work: () => R): R {
  return messageScope.run({ req, session }, work);
}

/** The session the gateway adapter loaded for the message being handled over `req`, if any. @internal */
export function messageSessionOf(req: IncomingMessage): AnySession | undefined {
  const scope = messageScope.getStore();
  return scope !== undefined && scope.req === req ? scope.session : undefined;
}

/** The session of the gateway message whose handler the caller runs in (see {@link runWithMessageSession}), if any. @internal */
export function currentMessageSession(): AnySession | undefined {
  return messageScope.getStore()?.session;
}

/**
 * The property of a GraphQL context that holds the session of that one operation: a GraphQL
 * subscription over WebSocket gets its own session per operation (see graphql-subscription.ts),
 * while all operations of a connection share one upgrade request.
 */
const OPERATION_SESSION = Symbol('nest-sessions:operation-session');

type WithOperationSession = { [OPERATION_SESSION]?: AnySession };

/** Give the GraphQL context of one operation its own session, which comes before its request's. @internal */
export function bindOperationSession(gqlContext: object, session: AnySession): void {
  (gqlContext as WithOperationSession)[OPERATION_SESSION] = session;
}

/** The session bound to a GraphQL context with {@link bindOperationSession}, if any. @internal */
export function operationSessionOf(gqlContext: unknown): AnySession | undefined {
  return typeof gqlContext === 'object' && gqlContext !== null ? (gqlContext as WithOperationSession)[OPERATION_SESSION] : undefined;
}

/** The handshake request of a WebSocket client: socket.io's `client.request`, or the upgrade request `ws` clients get from the session adapter. */
export function getRequestFromSocket(client: object | undefined): IncomingMessage | undefined {
  const socket = client as { request?: object; upgradeReq?: object } | undefined;
  const req = socket?.request ?? socket?.upgradeReq;
  return req ? toRawRequest(req) : undefined;
}

/**
 * The session of a WebSocket client (socket.io's socket or a `ws` client): in a message handler
 * the one loaded for that message, in `handleConnection` the one loaded from the handshake. Nest
 * passes no parameter decorators to `handleConnection`, so `@Session()` cannot reach it there: use
 * this. `undefined` when the client has no handshake request or no session was loaded for it.
 *
 * @example
 * ```ts
 * handleConnection(client: Socket) {
 *   if (getSessionFromSocket(client)?.get('userId') === undefined) client.disconnect(true);
 * }
 * ```
 */
export function getSessionFromSocket<T extends object = Session>(client: object): T | undefined {
  const req = getRequestFromSocket(client);
  if (req === undefined) return undefined;
  return (messageSessionOf(req) ?? getSessionFromRequest<AnySession>(req)) as T | undefined;
}

/**
 * The HTTP request behind any execution context: `http`, GraphQL (`graphql` context's `req`,
 * found without importing `@nestjs/graphql`) and WebSocket gateways (the handshake request of
 * `ws` or socket.io clients). `undefined` when the context carries none.
 */
export function getRequestFromContext(context: ExecutionContext): IncomingMessage | undefined {
  const type = context.getType<string>();
  // getArgByIndex rather than switchToHttp()/switchToWs(), which build a new object of closures on
  // every call: the request (http) and the client (ws) are the first handler argument either way.
  if (type === 'http') return toRawRequest(context.getArgByIndex<object>(0));
  if (type === 'graphql') {
    const gqlContext = context.getArgByIndex<{ req?: object; request?: object } | undefined>(2);
    const req = gqlContext?.req ?? gqlContext?.request;
    return req ? toRawRequest(req) : undefined;
  }
  if (type === 'ws') return getRequestFromSocket(context.getArgByIndex<object | undefined>(0));
  return undefined;
}

/**
 * The session of the request behind an execution context. Every decorator and guard goes through
 * here, so http, GraphQL and WebSocket contexts behave alike.
 * @throws SessionError `SESSION_UNSUPPORTED_CONTEXT` when the context has no request,
 *   `SESSION_NOT_FOUND` when the request has no session.
 */
export function getSessionFromContext<T extends object = Session>(context: ExecutionContext): T {
  const req = getRequestFromContext(context);
  if (!req) {
    throw new SessionError('SESSION_UNSUPPORTED_CONTEXT', SessionMessages.unsupportedContext(context.getType()));
  }
  // A gateway message's own session (see messageScope), and a GraphQL subscription operation's own
  // (see bindOperationSession), come before the one on the shared handshake request.
  const type = context.getType<string>();
  const own =
    type === 'ws' ? messageSessionOf(req) : type === 'graphql' ? operationSessionOf(context.getArgByIndex<unknown>(2)) : undefined;
  const session = own ?? getSessionFromRequest<AnySession>(req);
  if (!session) throw new SessionError('SESSION_NOT_FOUND', SessionMessages.noSession());
  return session as T;
}
