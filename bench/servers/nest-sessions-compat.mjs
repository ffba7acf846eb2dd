// `nest-sessions-compat`: `nest-sessions` (memory store, on Express) read and written through its
// express-session compatible view: the express-session servers' handlers (`req.session.count`)
// instead of `@Session()`. Its rows against `nest-sessions` show what the view costs.
import { Module } from '@nestjs/common';
import { SessionModule } from 'nest-sessions';
import { SECRET, serve } from './common.mjs';
import { ExpressSessionController } from './express-session-controller.mjs';

class AppModule {}
Module({
  imports: [SessionModule.forRoot({ secret: SECRET, store: 'memory:', cookie: { secure: false } })],
  controllers: [ExpressSessionController],
})(AppModule);

await serve(AppModule);
