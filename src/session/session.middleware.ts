import { Inject, Injectable, Optional, type NestMiddleware } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { runHttpRequestInContext } from './session-async-context.js';
import { SESSION_ASYNC_CONTEXT } from './session.internal-constants.js';
import { SessionManager } from './session.manager.js';

/**
 * Loads the session before guards run and hooks the response so the ID and the store write go
 * out with it. Mounted on every route by `SessionModule` on adapters other than Express and
 * Fastify (on those the engine's own middleware is mounted directly, see
 * `SessionModule.configure`). A store that cannot be read fails the request with 503 through
 * Nest's exception filters. With SessionModule's `asyncContext: true` the rest of the request runs
 * in its async context, for `CurrentSession`.
 */
@Injectable()
export class SessionMiddleware implements NestMiddleware<IncomingMessage, ServerResponse> {
  constructor(
    private readonly manager: SessionManager,
    @Optional() @Inject(SESSION_ASYNC_CONTEXT) private readonly asyncContext?: boolean,
  ) {}

  async use(req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void): Promise<void> {
    // Fastify hands middleware its raw objects; Express's are the raw objects themselves.
    await this.manager.attach(req, res);
    if (this.asyncContext === true) runHttpRequestInContext(req, next);
    else next();
  }
}
