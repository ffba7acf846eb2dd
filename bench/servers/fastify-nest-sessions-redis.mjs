// `fastify-nest-sessions-redis`: `nest-sessions-redis` on Nest-on-Fastify (the same RedisStore
// options, keys under `bench:fns:`), same handlers.
import { Module } from '@nestjs/common';
import { SessionModule } from 'nest-sessions';
import { RedisStore } from 'nest-sessions/redis';
import { SECRET } from './common.mjs';
import { serveFastify } from './fastify.mjs';
import { NestSessionsController } from './nest-sessions-controller.mjs';

const store = new RedisStore({ host: '127.0.0.1', port: 6379, keyPrefix: 'bench:fns:' });

class AppModule {
  // A store passed in as an instance is the application's to close.
  async onApplicationShutdown() {
    await store.close();
  }
}
Module({
  imports: [SessionModule.forRoot({ secret: SECRET, store, cookie: { secure: false } })],
  controllers: [NestSessionsController],
})(AppModule);

await serveFastify(AppModule);
