import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { SessionManager } from '../session/session.manager.js';
import { generateSessionId } from '../core/session-id.js';
import { isClientSideStore } from '../core/client-side-store.interface.js';

/**
 * A `@nestjs/terminus` health indicator for the session store: one real round trip (a read of a
 * random, certainly unknown session ID) within the module's `storeTimeout`.
 *
 * @example
 * ```ts
 * @Controller('health')
 * class HealthController {
 *   constructor(private readonly health: HealthCheckService, private readonly sessions: SessionStoreHealthIndicator) {}
 *   @Get() @HealthCheck() check() { return this.health.check([() => this.sessions.isHealthy('sessions')]); }
 * }
 * // providers: [SessionStoreHealthIndicator], imports: [TerminusModule, SessionModule.forRoot(...)]
 * ```
 */
@Injectable()
export class SessionStoreHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly manager: SessionManager,
  ) {}

  /** `up` with the store's class name and round-trip time, or `down` with the reason. */
  async isHealthy<const Key extends string = 'sessions'>(key: Key = 'sessions' as Key): Promise<HealthIndicatorResult<Key>> {
    const indicator = this.indicators.check(key);
    const store = this.manager.store;
    const name = store.constructor.name;
    // A client-side store keeps nothing on a server: there is nothing that can be down.
    if (isClientSideStore(store)) return indicator.up({ store: name });
    const started = Date.now();
    try {
      await this.manager.probe(generateSessionId());
      return indicator.up({ store: name, responseTimeMs: Date.now() - started });
    } catch (error) {
      return indicator.down({ store: name, message: error instanceof Error ? error.message : String(error) });
    }
  }
}
