import { Logger, Module } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { SessionModule, type SessionModuleOptions } from 'nest-sessions';
import { AppController } from './app.controller.js';

const logger = new Logger('SampleApp');

/** The store URL the app uses: `SESSION_STORE`, or the in-process memory store. */
export function sessionStoreUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env.SESSION_STORE || 'memory:';
}

/**
 * Session options from the environment:
 * - `SESSION_STORE`: store URL (`memory:`, `file:./.sessions`); defaults to `memory:`.
 * - `SESSION_SECRET`: signing secret, at least 32 characters. Without it a random secret is made
 *   for this process only, so sessions end whenever the app restarts.
 * - `TRUST_PROXY=1`: believe `X-Forwarded-Proto` from a reverse proxy when marking the cookie secure.
 */
export function sessionOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): SessionModuleOptions {
  let secret = env.SESSION_SECRET;
  if (!secret) {
    secret = randomBytes(32).toString('base64url');
    logger.warn('SESSION_SECRET is not set: using a random secret for this process, so sessions will not survive a restart.');
  }
  return {
    store: sessionStoreUrl(env),
    secret,
    // 'auto' marks the cookie Secure only on HTTPS requests, so plain http://localhost works too.
    cookie: { secure: 'auto' },
    trustProxy: env.TRUST_PROXY === '1',
  };
}

/** The sample application: sessions configured from the environment, and the pages. */
@Module({
  imports: [SessionModule.forRootAsync({ useFactory: () => sessionOptionsFromEnv() })],
  controllers: [AppController],
})
export class AppModule {}
