// `nest-sessions-redis`: nest-sessions with its ioredis store (`nest-sessions/redis`, the built
// package) on the local Redis, keys under `bench:ns:`. Same routes and handlers as `nest-sessions`.
import { Module } from '@nestjs/common';
import { SessionModule } from 'nest-sessions';
import { RedisStore } from 'nest-sessions/redis';
import { SECRET, serve } from './common.mjs';
import { NestSessionsController } from './nest-sessions-controller.mjs';

const store = new RedisStore({ host: '127.0.0.1', port: 6379, keyPrefix: 'bench:ns:' });

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

await serve(AppModule);
