import type { LoggerService } from '@nestjs/common';
import type { AuthEventHandlers } from './auth-options.interface.js';
import type { AuthLoginEvent, AuthLogoutEvent, AuthRefreshEvent } from './auth-session.js';
import { describe } from './oidc-clients.service.js';

/** The names the module's events are emitted under (`events.login` and friends). */
export type AuthEventName = 'login' | 'logout' | 'refresh';

/**
 * The names the auth events are emitted under through `@nestjs/event-emitter`'s `EventEmitter2`,
 * beside the `events` handlers, when the app imports `EventEmitterModule`.
 *
 * @example
 * ```ts
 * @OnEvent(AUTH_EVENT_NAMES.login)
 * onLogin(event: AuthLoginEvent) { ... }
 * ```
 */
export const AUTH_EVENT_NAMES: { readonly [N in AuthEventName]: string } = Object.freeze({
  login: 'auth.login',
  logout: 'auth.logout',
  refresh: 'auth.refresh',
});

/** The event object emitted under `N`. */
export type AuthEventOf<N extends AuthEventName> = N extends 'login'
  ? AuthLoginEvent
  : N extends 'logout'
    ? AuthLogoutEvent
    : AuthRefreshEvent;

/**
 * Where the auth units send their events and warnings: `AuthManager`, which connects itself at
 * start-up so that a subclass overriding its `emit` or `logger` sees everything the units report.
 */
export interface AuthOutlet {
  emit<N extends AuthEventName>(name: N, event: AuthEventOf<N>): Promise<void>;
  readonly logger: LoggerService;
}

/**
 * Deliver an event to the app's `events` handlers. A handler's error is logged and never fails the
 * request: the login, logout or refresh it reports has already happened.
 */
export async function deliverEvent<N extends AuthEventName>(
  handlers: AuthEventHandlers,
  name: N,
  event: AuthEventOf<N>,
  logger: LoggerService,
): Promise<void> {
  const handler = handlers[name] as ((event: AuthEventOf<N>) => void | Promise<void>) | undefined;
  if (!handler) return;
  try {
    await handler(event);
  } catch (error) {
    logger.error(`The ${name} event handler failed: ${describe(error)}`);
  }
}
