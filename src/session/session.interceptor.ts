import { Inject, Injectable, Optional, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { Observable, concat, concatMap, defer, from, ignoreElements } from 'rxjs';
import { runInRequestContext } from './session-async-context.js';
import { getRequestFromContext, messageSessionOf } from './session-context.util.js';
import { SESSION_ASYNC_CONTEXT } from './session.internal-constants.js';
import { SessionManager } from './session.manager.js';

/**
 * The global interceptor registered by `SessionModule`.
 *
 * HTTP requests got their session from the middleware (before guards), so for them it does
 * nothing. For other contexts that carry an HTTP request the middleware never saw (a WebSocket
 * gateway, whose client keeps its handshake request; GraphQL subscriptions), it loads the session
 * afresh for every message before the handler and saves the handler's changes after it. No cookie
 * can be written there, so such a context can change an existing session but not start one.
 *
 * Interceptors run after guards: for gateways, prefer the session adapter (`withSessions()`), which
 * loads the session before guards; this interceptor then steps aside.
 *
 * With SessionModule's `asyncContext: true` a gateway message's handler (and the interceptors
 * after this one) run in the async context of the socket's handshake request, for `CurrentSession`.
 */
@Injectable()
export class SessionInterceptor implements NestInterceptor {
  constructor(
    private readonly manager: SessionManager,
    @Optional() @Inject(SESSION_ASYNC_CONTEXT) private readonly asyncContext?: boolean,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() === 'http') return next.handle();
    const req = getRequestFromContext(context);
    // A gateway served by the session adapter (`withSessions()`) loaded this message's session already, before guards.
    if (!req || messageSessionOf(req) !== undefined) return next.handle();
    // GraphQL over HTTP: the middleware loaded the session and its response writes it. Loading it
    // again would hand the resolver a session no response writes (a new one was lost, on Fastify the
    // response hung).
    if (this.manager.answersFor(req)) return next.handle();
    // Gateways only: GraphQL over HTTP has the context from the middleware, and a subscription's
    // operations have sessions of their own, which the shared upgrade request does not tell apart.
    const handle = this.asyncContext === true && context.getType() === 'ws' ? () => handledInContext(req, next) : () => next.handle();
    return from(this.manager.load(req, { fresh: true })).pipe(
      concatMap((session) => concat(handle(), defer(() => this.manager.save(session)).pipe(ignoreElements()))),
    );
  }
}

/**
 * `next.handle()`, called and subscribed in `req`'s async context: Nest binds what `handle()`
 * runs to the context it is called in, so calling it inside is what puts the handler there.
 */
function handledInContext(req: IncomingMessage, next: CallHandler): Observable<unknown> {
  return new Observable<unknown>((subscriber) => runInRequestContext(req, () => next.handle().subscribe(subscriber)));
}
