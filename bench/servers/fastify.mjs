// Shared by the Fastify servers (`fastify-*`): Nest on `@nestjs/platform-fastify` (Fastify 5) with
// the adapter's defaults, and the bare server's handlers on it.
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { serve } from './common.mjs';

/** `serve(AppModule, configure)` on a fresh `FastifyAdapter` (Fastify's defaults, no logger). */
export const serveFastify = (AppModule, configure) => serve(AppModule, configure, new FastifyAdapter());
