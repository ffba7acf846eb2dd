// `fastify-nest-sessions`: `nest-sessions` (memory store) on Nest-on-Fastify: the same module
// configuration and handlers as `nest-sessions`, only the adapter differs.
import { Module } from '@nestjs/common';
import { SessionModule } from 'nest-sessions';
import { SECRET } from './common.mjs';
import { serveFastify } from './fastify.mjs';
import { NestSessionsController } from './nest-sessions-controller.mjs';

class AppModule {}
Module({
  imports: [SessionModule.forRoot({ secret: SECRET, store: 'memory:', cookie: { secure: false } })],
  controllers: [NestSessionsController],
})(AppModule);

await serveFastify(AppModule);
