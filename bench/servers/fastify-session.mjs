// `fastify-session`: @fastify/session (with @fastify/cookie) and its own MemoryStore on
// Nest-on-Fastify, `request.session` in handlers: the Fastify peer of `fastify-nest-sessions`.
import { Module } from '@nestjs/common';
import { SECRET } from './common.mjs';
import { serveFastify } from './fastify.mjs';
import { FastifySessionController, registerFastifySession } from './fastify-session-controller.mjs';

class AppModule {}
Module({ controllers: [FastifySessionController] })(AppModule);

await serveFastify(AppModule, (app) => registerFastifySession(app, undefined, SECRET));
