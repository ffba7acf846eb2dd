import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SESSION_STORE, type SessionStore } from 'nest-sessions';
import { AppModule, sessionStoreUrl } from './app.module.js';

/** Start the sample app on `PORT` (default 3000). Nest's Express adapter parses HTML form bodies by default. */
async function bootstrap(): Promise<void> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule);
  app.enableShutdownHooks();
  const port = Number(process.env.PORT ?? 3000);
  await app.listen(port);

  const store = app.get<SessionStore>(SESSION_STORE);
  const logger = new Logger('SampleApp');
  logger.log(`Sessions are kept in ${store.constructor.name} (${sessionStoreUrl()})`);
  logger.log(`Listening on http://localhost:${port}/`);
}

await bootstrap();
