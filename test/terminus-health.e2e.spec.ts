import { Controller, Get, Module } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { describe, expect, it } from 'vitest';
import { MemoryStore, SessionModule } from '../src/index.js';
import { SessionStoreHealthIndicator } from '../src/terminus/index.js';
import { FaultyStore } from './support/faulty-store.js';
import { SECRET, startApp } from './support/test-app.js';

@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly sessions: SessionStoreHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.sessions.isHealthy('sessions')]);
  }
}

describe('SessionStoreHealthIndicator (@nestjs/terminus)', () => {
  it('reports the store up, then down while it fails (FaultyStore fault injection), then up again', async () => {
    const store = new FaultyStore(new MemoryStore());
    @Module({
      imports: [
        TerminusModule.forRoot({ logger: false }),
        SessionModule.forRoot({ secret: SECRET, store, storeTimeout: 300, onError: () => undefined }),
      ],
      controllers: [HealthController],
      providers: [SessionStoreHealthIndicator],
    })
    class HealthApp {}
    const running = await startApp(HealthApp);
    try {
      const client = running.client();
      const up = await client.get('/health');
      expect(up.status).toBe(200);
      expect(up.json().info.sessions).toMatchObject({ status: 'up', store: 'FaultyStore' });

      store.stalling.add('get');
      const down = await client.get('/health');
      expect(down.status).toBe(503);
      expect(down.json().error.sessions).toEqual({
        status: 'down',
        store: 'FaultyStore',
        message: 'nest-sessions: the session store failed to answer a health check; the request was not completed.',
      });

      store.stalling.clear();
      expect((await client.get('/health')).status).toBe(200);
    } finally {
      await running.close();
    }
  });

  it('reports a cookie store up without any round trip', async () => {
    @Module({
      imports: [TerminusModule.forRoot({ logger: false }), SessionModule.forRoot({ secret: SECRET, store: 'cookie:' })],
      controllers: [HealthController],
      providers: [SessionStoreHealthIndicator],
    })
    class CookieHealthApp {}
    const running = await startApp(CookieHealthApp);
    try {
      const response = await running.client().get('/health');
      expect(response.json().info.sessions).toEqual({ status: 'up', store: 'CookieStore' });
    } finally {
      await running.close();
    }
  });
});
