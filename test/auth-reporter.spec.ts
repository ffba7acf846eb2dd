import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AUTH_RESOLVED_OPTIONS } from '../src/auth/auth.constants.js';
import type { ResolvedAuthOptions } from '../src/auth/auth-options.resolver.js';
import { AuthReporter } from '../src/auth/auth.reporter.js';
import { AuthManager, AuthModule } from '../src/auth/index.js';
import { startAuthApp, type RunningAuthApp } from './support/auth-app.js';
import { startTestIdp, type TestIdp } from './support/oidc-provider.js';
import { freePort } from './support/ports.js';

/**
 * AuthReporter on its own, taken from a running app (real oidc-provider behind it): the sink every
 * unit reports to, connected to the app's AuthManager.
 */

/** The protected members of AuthManager the reporter hands events and warnings to. */
interface ManagerInternals {
  emit(name: string, event: unknown): Promise<void>;
  logger: { warn(message: string): void; error(message: string): void };
}

describe('AuthReporter', () => {
  let idp: TestIdp;
  let running: RunningAuthApp;
  let reporter: AuthReporter;
  let manager: ManagerInternals;

  beforeAll(async () => {
    const port = await freePort();
    const app = `http://127.0.0.1:${port}`;
    idp = await startTestIdp({ clients: [{ clientId: 'app', clientSecret: 'app-secret', redirectUris: [`${app}/auth/callback`] }] });
    running = await startAuthApp({
      port,
      authModule: (events) =>
        AuthModule.forRoot({
          allowInsecureIssuers: true,
          providers: { main: { issuer: idp.issuer, clientId: 'app', clientSecret: 'app-secret', redirectUri: `${app}/auth/callback` } },
          events: {
            ...events,
            refresh: () => {
              throw new Error('the audit log is down');
            },
          },
        }),
    });
    reporter = running.app.get(AuthReporter);
    manager = running.app.get(AuthManager) as unknown as ManagerInternals;
  });
  afterAll(async () => {
    await running?.close();
    await idp?.close();
  });

  it('hands every event to AuthManager.emit, which delivers it to the app’s handler', async () => {
    const emit = vi.spyOn(manager, 'emit');
    try {
      const event = { provider: 'main', sub: 'alice', reason: 'user' as const };
      await reporter.emit('logout', event);
      expect(emit).toHaveBeenCalledExactlyOnceWith('logout', event);
      expect(running.events.logout).toEqual([event]);
    } finally {
      emit.mockRestore();
    }
  });

  it('a handler that throws is logged by AuthManager’s logger, never rethrown', async () => {
    const error = vi.spyOn(manager.logger, 'error').mockImplementation(() => undefined);
    try {
      await expect(reporter.emit('refresh', { provider: 'main', sub: 'alice' })).resolves.toBeUndefined();
      expect(error).toHaveBeenCalledExactlyOnceWith(expect.stringMatching(/refresh event handler failed: .*audit log is down/));
    } finally {
      error.mockRestore();
    }
  });

  it('warnings go to AuthManager’s logger', () => {
    const warn = vi.spyOn(manager.logger, 'warn').mockImplementation(() => undefined);
    try {
      reporter.warn('Could not remove a logout from the session index: store down');
      expect(warn).toHaveBeenCalledExactlyOnceWith('Could not remove a logout from the session index: store down');
    } finally {
      warn.mockRestore();
    }
  });

  it('until an AuthManager connects, events go straight to the app’s handlers', async () => {
    const unconnected = new AuthReporter(running.app.get<string, ResolvedAuthOptions>(AUTH_RESOLVED_OPTIONS));
    const emit = vi.spyOn(manager, 'emit');
    try {
      const event = { provider: 'main', claims: { sub: 'bob' }, returnTo: '/' };
      await unconnected.emit('login', event);
      expect(running.events.login).toEqual([event]);
      expect(emit).not.toHaveBeenCalled();
      await expect(unconnected.emit('refresh', { provider: 'main', sub: 'bob' })).resolves.toBeUndefined();
    } finally {
      emit.mockRestore();
    }
  });
});
