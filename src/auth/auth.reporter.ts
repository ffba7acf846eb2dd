import { Inject, Injectable, Logger } from '@nestjs/common';
import { AUTH_RESOLVED_OPTIONS } from './auth.constants.js';
import { deliverEvent, type AuthEventName, type AuthEventOf, type AuthOutlet } from './auth-events.js';
import type { ResolvedAuthOptions } from './auth-options.resolver.js';

/**
 * The event sink of the auth units (login, refresh, logout): they report here instead of calling
 * the app's handlers, so every event passes through `AuthManager.emit`, the documented override
 * point, and every warning through its `logger`. Until an outlet is connected, events go straight
 * to the `events` handlers.
 * @internal
 */
@Injectable()
export class AuthReporter {
  private outlet?: AuthOutlet;
  private readonly fallbackLogger = new Logger('AuthModule');

  constructor(@Inject(AUTH_RESOLVED_OPTIONS) private readonly options: ResolvedAuthOptions) {}

  /** Send everything reported from now on to `outlet` (the `AuthManager`). */
  connect(outlet: AuthOutlet): void {
    this.outlet = outlet;
  }

  /** Report an event; resolves once its handler has run. Never rejects for a handler's error. */
  emit<N extends AuthEventName>(name: N, event: AuthEventOf<N>): Promise<void> {
    if (this.outlet) return this.outlet.emit(name, event);
    return deliverEvent(this.options.events, name, event, this.fallbackLogger);
  }

  /** Log a warning: something failed that the request can live with. */
  warn(message: string): void {
    (this.outlet?.logger ?? this.fallbackLogger).warn(message);
  }
}
