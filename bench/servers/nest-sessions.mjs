// `nest-sessions`: the built package, imported by its name (self-reference through `exports`).
import { Module } from '@nestjs/common';
import { SessionModule } from 'nest-sessions';
import { SECRET, serve } from './common.mjs';
import { NestSessionsController } from './nest-sessions-controller.mjs';

class AppModule {}
Module({
  imports: [SessionModule.forRoot({ secret: SECRET, store: 'memory:', cookie: { secure: false } })],
  controllers: [NestSessionsController],
})(AppModule);

await serve(AppModule);
