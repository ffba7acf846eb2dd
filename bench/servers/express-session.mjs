// `express-session`: Nest with express-session mounted as Express middleware, `req.session` in handlers.
import { Module } from '@nestjs/common';
import session from 'express-session';
import { SECRET, serve } from './common.mjs';
import { ExpressSessionController } from './express-session-controller.mjs';

class AppModule {}
Module({ controllers: [ExpressSessionController] })(AppModule);

await serve(AppModule, (app) => {
  app.use(
    session({
      secret: SECRET,
      resave: false,
      saveUninitialized: false,
      store: new session.MemoryStore(),
      cookie: { secure: false },
    }),
  );
});
