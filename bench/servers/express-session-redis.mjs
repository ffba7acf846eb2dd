// `express-session-redis`: express-session with connect-redis on a node-redis client, on the local
// Redis, keys under `bench:es:`. Same routes and handlers as `express-session`.
import { Module } from '@nestjs/common';
import { RedisStore } from 'connect-redis';
import session from 'express-session';
import { createClient } from 'redis';
import { SECRET, serve } from './common.mjs';
import { ExpressSessionController } from './express-session-controller.mjs';

const client = createClient({ url: 'redis://127.0.0.1:6379/0' });
client.on('error', (error) => process.stderr.write(`redis client error: ${error.message}\n`));
await client.connect();

class AppModule {
  async onApplicationShutdown() {
    await client.close();
  }
}
Module({ controllers: [ExpressSessionController] })(AppModule);

await serve(AppModule, (app) => {
  app.use(
    session({
      secret: SECRET,
      resave: false,
      saveUninitialized: false,
      store: new RedisStore({ client, prefix: 'bench:es:' }),
      cookie: { secure: false },
    }),
  );
});
