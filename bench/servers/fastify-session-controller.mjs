// The routes of the @fastify/session servers (`fastify-session`, `fastify-session-redis`): the same
// routes as the other session servers, through @fastify/session's `request.session.get/set`.
import { Controller, Get, HttpCode, Post, Req } from '@nestjs/common';
import { decorateMethod, param } from './common.mjs';

/** @fastify/session: `request.session` (Fastify's request, which `@Req()` gives on Nest-on-Fastify). */
export class FastifySessionController {
  seed(req) {
    req.session.set('count', 0);
    return { count: 0 };
  }
  read(req) {
    return { count: req.session.get('count') ?? null };
  }
  write(req) {
    const count = (req.session.get('count') ?? 0) + 1;
    req.session.set('count', count);
    return { count };
  }
}
decorateMethod(FastifySessionController, 'seed', Get('seed'), param(0, Req()));
decorateMethod(FastifySessionController, 'read', Get('read'), param(0, Req()));
decorateMethod(FastifySessionController, 'write', Post('write'), HttpCode(200), param(0, Req()));
Controller()(FastifySessionController);

/**
 * The plugins on `app` (a NestFastifyApplication): @fastify/cookie, then @fastify/session with
 * `store` (its own MemoryStore when undefined). Options as close to express-session's in
 * `express-session.mjs` as @fastify/session has them: no session stored until it has data
 * (`saveUninitialized: false`), and `rolling: false` (its default, `true`, saves the session and sets
 * the cookie on every response; express-session's `resave: false` has no counterpart: an unchanged
 * session is not saved either way).
 */
export async function registerFastifySession(app, store, SECRET) {
  const [{ default: fastifyCookie }, { default: fastifySession }] = await Promise.all([
    import('@fastify/cookie'),
    import('@fastify/session'),
  ]);
  await app.register(fastifyCookie);
  await app.register(fastifySession, {
    secret: SECRET,
    saveUninitialized: false,
    rolling: false,
    cookie: { secure: false },
    ...(store ? { store } : {}),
  });
}
