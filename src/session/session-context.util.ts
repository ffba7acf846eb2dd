import type { ExecutionContext } from '@nestjs/common';
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
  if (type === 'ws') {
    const client = context.getArgByIndex<{ request?: object; upgradeReq?: object } | undefined>(0);
    const req = client?.request ?? client?.upgradeReq;
    return req ? toRawRequest(req) : undefined;
  }
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
  const session = getSessionFromRequest<T>(req);
  if (!session) throw new SessionError('SESSION_NOT_FOUND', SessionMessages.noSession());
  return session;
}
