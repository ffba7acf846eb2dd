// `fastify-session-redis`: @fastify/session with connect-redis (which @fastify/session accepts as a
// store: callback `get`/`set`/`destroy`) on a node-redis client, keys under `bench:fs:`; the same
// client and store options as `express-session-redis`. Same routes and handlers as `fastify-session`.
import { Module } from '@nestjs/common';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import { SECRET } from './common.mjs';
import { serveFastify } from './fastify.mjs';
import { FastifySessionController, registerFastifySession } from './fastify-session-controller.mjs';

const client = createClient({ url: 'redis://127.0.0.1:6379/0' });
client.on('error', (error) => process.stderr.write(`redis client error: ${error.message}\n`));
await client.connect();

class AppModule {
  async onApplicationShutdown() {
    await client.close();
  }
}
Module({ controllers: [FastifySessionController] })(AppModule);

await serveFastify(AppModule, (app) => registerFastifySession(app, new RedisStore({ client, prefix: 'bench:fs:' }), SECRET));
