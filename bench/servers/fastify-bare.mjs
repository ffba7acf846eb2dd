// `fastify-bare`: the bare server's routes on Nest-on-Fastify, no sessions at all (the reference
// of the Fastify servers).
import { Module } from '@nestjs/common';
import { BareController } from './bare-controller.mjs';
import { serveFastify } from './fastify.mjs';

class AppModule {}
Module({ controllers: [BareController] })(AppModule);

await serveFastify(AppModule);
