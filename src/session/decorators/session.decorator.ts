import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { getSessionFromContext } from '../session-context.util.js';
import type { SessionData, Session as SessionHandle } from '../session.js';

/**
 * The session type, under the same name as the decorator: `@Session() session: Session`.
 * @typeParam T the session data; defaults to {@link SessionData} (extend it by declaration merging).
 */
export type Session<T extends object = SessionData> = SessionHandle<T>;

/**
 * Inject the session of the current request, or one value of it with `@Session('key')`.
 * Works in controllers over HTTP, GraphQL resolvers and WebSocket gateways.
 *
 * Note: `@nestjs/common` also exports a `Session` decorator (express-session's `req.session`);
 * import this one from `nest-sessions`.
 *
 * @example
 * ```ts
 * @Get() visit(@Session() session: Session<{ visits: number }>) { session.set('visits', (session.get('visits') ?? 0) + 1); }
 * @Get('me') me(@Session('userId') userId?: number) { ... }
 * ```
 */
export const Session: (key?: string) => ParameterDecorator = createParamDecorator((key: string | undefined, context: ExecutionContext) => {
  const session = getSessionFromContext<SessionHandle<Record<string, unknown>>>(context);
  return key === undefined ? session : session.get(key);
});
