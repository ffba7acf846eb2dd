// `bare`: the same routes as the session servers, no sessions at all (Nest on Express).
import { Module } from '@nestjs/common';
import { BareController } from './bare-controller.mjs';
import { serve } from './common.mjs';

class AppModule {}
Module({ controllers: [BareController] })(AppModule);

await serve(AppModule);
