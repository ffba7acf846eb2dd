// The routes of the express-session servers (`express-session`, `express-session-redis`), shared so
// that both run exactly the same handlers; the same routes as nest-sessions-controller.mjs:
//   GET /seed   starts a session holding count = 0
//   GET /read   returns { count } (reads the session, changes nothing)
//   POST /write increments count and returns it
import { Controller, Get, HttpCode, Post, Req } from '@nestjs/common';
import { decorateMethod, param } from './common.mjs';

/** express-session: `req.session`, as the middleware sets it. */
export class ExpressSessionController {
  seed(req) {
    req.session.count = 0;
    return { count: 0 };
  }
  read(req) {
    return { count: req.session.count ?? null };
  }
  write(req) {
    const count = (req.session.count ?? 0) + 1;
    req.session.count = count;
    return { count };
  }
}
decorateMethod(ExpressSessionController, 'seed', Get('seed'), param(0, Req()));
decorateMethod(ExpressSessionController, 'read', Get('read'), param(0, Req()));
decorateMethod(ExpressSessionController, 'write', Post('write'), HttpCode(200), param(0, Req()));
Controller()(ExpressSessionController);
