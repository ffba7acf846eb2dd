import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { type Observable, concat, concatMap, defer, from, ignoreElements } from 'rxjs';
import { getRequestFromContext, messageSessionOf } from './session-context.util.js';
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
 */
@Injectable()
export class SessionInterceptor implements NestInterceptor {
  constructor(private readonly manager: SessionManager) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() === 'http') return next.handle();
    const req = getRequestFromContext(context);
    // A gateway served by the session adapter (`withSessions()`) loaded this message's session already, before guards.
    if (!req || messageSessionOf(req) !== undefined) return next.handle();
    return from(this.manager.load(req, { fresh: true })).pipe(
      concatMap((session) => concat(next.handle(), defer(() => this.manager.save(session)).pipe(ignoreElements()))),
    );
  }
}
