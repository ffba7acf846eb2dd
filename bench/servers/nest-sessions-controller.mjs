// The routes of the nest-sessions servers (`nest-sessions`, `nest-sessions-redis`), shared so that
// both run exactly the same handlers (the express-session servers have the same routes, in
// express-session-controller.mjs):
//   GET /seed   starts a session holding count = 0
//   GET /read   returns { count } (reads the session, changes nothing)
//   POST /write increments count and returns it
import { Controller, Get, HttpCode, Post } from '@nestjs/common';
import { Session } from 'nest-sessions';
import { decorateMethod, param } from './common.mjs';

/** nest-sessions: the session through its `@Session()` parameter decorator. */
export class NestSessionsController {
  seed(session) {
    session.set('count', 0);
    return { count: 0 };
  }
  read(session) {
    return { count: session.get('count') ?? null };
  }
  write(session) {
    const count = (session.get('count') ?? 0) + 1;
    session.set('count', count);
    return { count };
  }
}
decorateMethod(NestSessionsController, 'seed', Get('seed'), param(0, Session()));
decorateMethod(NestSessionsController, 'read', Get('read'), param(0, Session()));
decorateMethod(NestSessionsController, 'write', Post('write'), HttpCode(200), param(0, Session()));
Controller()(NestSessionsController);
