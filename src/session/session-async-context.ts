import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A connect-style middleware, as `SessionManager.middleware()` returns it. */
type ConnectMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/**
 * The request being handled, for `CurrentSession`. Entered only with SessionModule's
 * `asyncContext: true` (see `SessionModule.configure`): apps without it never run it.
 * The store is the raw Node request, whose session `getSessionFromRequest()` finds.
 */
const requestContext = new AsyncLocalStorage<IncomingMessage>();

/**
 * Run `work(...args)` with `req` as the current request: everything it starts, synchronously or
 * through promises, timers and Observables subscribed inside it, sees `req`. @internal
 */
export function runInRequestContext<A extends unknown[], R>(req: IncomingMessage, work: (...args: A) => R, ...args: A): R {
  return requestContext.run(req, work, ...args);
}

/**
 * {@link runInRequestContext} for an HTTP request as it passes the session middleware, except for
 * a WebSocket upgrade (Mercurius's subscriptions, `@fastify/websocket` routes): that request opens a
 * connection whose operations each get a session of their own, later, which its request's context
 * would otherwise hand them. @internal
 */
export function runHttpRequestInContext<A extends unknown[], R>(req: IncomingMessage, work: (...args: A) => R, ...args: A): R {
  return req.headers.upgrade === undefined ? requestContext.run(req, work, ...args) : work(...args);
}

/** The request whose context the caller runs in, if any (see {@link runInRequestContext}). @internal */
export function requestOfContext(): IncomingMessage | undefined {
  return requestContext.getStore();
}

/**
 * `middleware`, with the rest of the request (what its `next` runs: later middleware, guards,
 * interceptors, the handler) run in the request's context (see {@link runHttpRequestInContext}). @internal
 */
export function withRequestContext(middleware: ConnectMiddleware): ConnectMiddleware {
  return (req, res, next) => middleware(req, res, (error?: unknown) => runHttpRequestInContext(req, next, error));
}
