import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionBridge } from '../src/auth/session.bridge.js';
import { AuthModule } from '../src/auth/index.js';
import { CookieStore, SessionIndex, SessionLocks, SessionManager, SessionModule } from '../src/index.js';
import { probe, ProbeController } from './support/auth-probe.js';
import { startAuthApp, type RunningAuthApp } from './support/auth-app.js';
import { OidcTestBrowser } from './support/oidc-browser.js';
import { startTestIdp, type TestIdp } from './support/oidc-provider.js';
import { freePort } from './support/ports.js';
import { SECRET } from './support/test-app.js';

/** SessionBridge on its own, taken from running apps with a real oidc-provider. */

describe('SessionBridge', () => {
  let idp: TestIdp;
  let running: RunningAuthApp;
  let app: string;
  let bridge: SessionBridge;

  const provider = () => ({ issuer: idp.issuer, clientId: 'app', clientSecret: 'app-secret', redirectUri: `${app}/auth/callback` });

  beforeAll(async () => {
    const port = await freePort();
    app = `http://127.0.0.1:${port}`;
    idp = await startTestIdp({ clients: [{ clientId: 'app', clientSecret: 'app-secret', redirectUris: [`${app}/auth/callback`] }] });
    running = await startAuthApp({
      port,
      controllers: [ProbeController],
      session: { cookie: { name: 'app.sid', secure: false }, storeTimeout: '3s' },
      auth: { allowInsecureIssuers: true, providers: { main: provider() } },
    });
    bridge = running.app.get(SessionBridge);
  });
  afterAll(async () => {
    await running?.close();
    await idp?.close();
  });

  it('hands out the app’s own session engine, index, locks and options', () => {
    expect(bridge.sessions).toBe(running.app.get(SessionManager));
    expect(bridge.index).toBe(running.app.get(SessionIndex));
    expect(bridge.locks).toBe(running.app.get(SessionLocks));
    expect(bridge.sessionOptions).toMatchObject({ cookie: { name: 'app.sid' }, storeTimeout: 3000 });
  });

  it('reserves the module’s keys: a login is hidden from keys() and toJSON(), yet reachable', async () => {
    const browser = new OidcTestBrowser();
    await browser.login(`${app}/auth/login?returnTo=%2Fwhoami`, { login: 'alice' });
    let seen: { keys: string[]; json: string; all: string[]; login: unknown } | undefined;
    probe.work = async (session) => {
      seen = { keys: session.keys(), json: JSON.stringify(session), all: session.allKeys(), login: session.get('auth:main') };
    };
    expect((await browser.request(`${app}/probe`, { method: 'POST' })).status).toBe(201);
    expect(seen!.all).toContain('auth:main');
    expect(seen!.login).toMatchObject({ provider: 'main' });
    expect(seen!.keys).not.toContain('auth:main');
    expect(seen!.json).not.toContain('auth:');
  });

  it('over a client-side store it attaches only with allowCookieStore, and then offers neither index nor locks', async () => {
    const build = (allowCookieStore: boolean) => {
      @Module({
        imports: [
          SessionModule.forRoot({ secret: SECRET, store: new CookieStore() }),
          AuthModule.forRoot({ allowInsecureIssuers: true, allowCookieStore, providers: { main: provider() } }),
        ],
      })
      class CookieStoreModule {}
      return NestFactory.create(CookieStoreModule, { logger: false, abortOnError: false });
    };
    const refused = await build(false);
    await expect(refused.init()).rejects.toMatchObject({
      code: 'AUTH_OPTIONS_INVALID',
      message: expect.stringMatching(/allowCookieStore/),
    });
    await refused.close().catch(() => undefined);

    const allowed = await build(true);
    try {
      await allowed.init();
      const cookieBridge = allowed.get(SessionBridge);
      expect(cookieBridge.index.supported).toBe(false);
      expect(cookieBridge.locks.supported).toBe(false);
    } finally {
      await allowed.close();
    }
  });
});
