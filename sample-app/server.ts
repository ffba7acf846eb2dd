import 'reflect-metadata';
import { Logger, type INestApplication, type LogLevel, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { randomBytes } from 'node:crypto';
import { SESSION_STORE, type SessionStore } from 'nest-sessions';
import type { AuthModuleOptions } from 'nest-sessions/auth';
import { AppModule, sessionStoreUrl } from './app.module.js';
import { DEV_HOST, appEndpoints, appPort, appUrl, devProviderOptions, devProviderPort, realProviderOptions } from './auth-config.js';
import { startDevOidcProvider, type DevOidcProvider } from './dev-oidc-provider.js';

/** The Nest HTTP platforms the sample app runs on. */
export type SamplePlatform = 'express' | 'fastify';

/** The platform: `SAMPLE_PLATFORM`, `express` (the default) or `fastify`. */
export function samplePlatform(env: NodeJS.ProcessEnv = process.env): SamplePlatform {
  const value = (env.SAMPLE_PLATFORM ?? '').trim().toLowerCase();
  if (value === '' || value === 'express') return 'express';
  if (value === 'fastify') return 'fastify';
  throw new Error(`SAMPLE_PLATFORM must be express or fastify, not ${JSON.stringify(env.SAMPLE_PLATFORM)}.`);
}

/**
 * Create the Nest app on `platform`: the same module, unchanged, on either. Fastify's adapter is
 * loaded only when asked for. Nest parses HTML form bodies by default on both.
 */
async function createOn(
  platform: SamplePlatform,
  module: unknown,
  options: { logger?: LoggerService | LogLevel[] | false },
): Promise<INestApplication> {
  if (platform === 'express') return NestFactory.create(module as never, options);
  const { FastifyAdapter } = await import('@nestjs/platform-fastify');
  return NestFactory.create(module as never, new FastifyAdapter(), options);
}

/** Options of {@link startSampleApp}. */
export interface StartSampleAppOptions {
  /** Where the configuration is read from. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Interface to listen on. @default every interface */
  host?: string;
  /** Nest's logger option (`false` for silence in tests). @default Nest's console logger */
  logger?: LoggerService | LogLevel[] | false;
}

/** The running sample app. */
export interface SampleApp {
  app: INestApplication;
  /** The platform it runs on (`SAMPLE_PLATFORM`). */
  platform: SamplePlatform;
  /** The app's base URL (`APP_URL`), e.g. 'http://127.0.0.1:3000'. */
  url: string;
  /** The development provider, when `OIDC_ISSUER` was not set. */
  devProvider?: DevOidcProvider;
  /** Stops the app and then the development provider. */
  close(): Promise<void>;
}

/**
 * Start the sample app on `PORT` (default 3000). With `OIDC_ISSUER` it logs users in at that provider;
 * without, it first starts the development provider of `dev-oidc-provider.ts` on 127.0.0.1:`OIDC_DEV_PORT`
 * (default `PORT + 1`), where anyone can log in with any name. On Express by default, on Fastify with
 * `SAMPLE_PLATFORM=fastify`.
 */
export async function startSampleApp(options: StartSampleAppOptions = {}): Promise<SampleApp> {
  const env = options.env ?? process.env;
  const port = appPort(env);
  const url = appUrl(env);
  const platform = samplePlatform(env);

  let auth: AuthModuleOptions | undefined = realProviderOptions(env);
  let devProvider: DevOidcProvider | undefined;
  if (auth === undefined) {
    const client = { clientId: 'nest-sessions-sample', clientSecret: randomBytes(24).toString('base64url') };
    devProvider = await startDevOidcProvider({ host: DEV_HOST, port: devProviderPort(env), ...client, ...appEndpoints(url) });
    auth = devProviderOptions(devProvider.issuer, url, client);
  }

  let app: INestApplication;
  try {
    app = await createOn(platform, AppModule.forRoot({ auth, env, devProvider }), {
      ...(options.logger !== undefined ? { logger: options.logger } : {}),
    });
    if (options.host !== undefined) await app.listen(port, options.host);
    // Fastify listens on localhost only unless told otherwise; Express on every interface.
    else if (platform === 'fastify') await app.listen(port, '0.0.0.0');
    else await app.listen(port);
  } catch (error) {
    await devProvider?.close();
    throw error;
  }

  const logger = new Logger('SampleApp');
  if (devProvider) {
    const rule = '='.repeat(100);
    for (const line of [
      rule,
      `DEVELOPMENT OIDC PROVIDER at ${devProvider.issuer}: NOT FOR PRODUCTION.`,
      'Anyone can log in with ANY username and password; accounts, sessions and keys live in memory only.',
      'Set OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET (and APP_URL) to log in with a real provider instead.',
      rule,
    ]) {
      logger.warn(line);
    }
  } else {
    logger.log(`Logging in with ${env.OIDC_ISSUER}`);
  }
  const store = app.get<SessionStore>(SESSION_STORE);
  logger.log(`Sessions are kept in ${store.constructor.name} (${sessionStoreUrl(env)})`);
  logger.log(`Listening on port ${port} (${platform === 'fastify' ? 'Fastify' : 'Express'}): open ${url}/`);

  let closing: Promise<void> | undefined;
  return {
    app,
    platform,
    url,
    devProvider,
    // app.close() runs the shutdown hooks, which close the development provider too.
    close: () => (closing ??= app.close()),
  };
}
