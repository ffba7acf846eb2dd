export * from './session/codecs/index.js';
export * from './session/decorators/index.js';
export * from './core/errors/index.js';
export { parseDuration, type Duration } from './core/duration.util.js';
export { SessionSigner } from './core/session-signer.js';
export { CookieTransport, type ResolvedCookieOptions } from './session/transports/cookie.transport.js';
export { HeaderTransport } from './session/transports/header.transport.js';
export type { ExpressCompatibleSession } from './session/express-session.view.js';
export { getRequestFromContext, getSessionFromContext, getSessionFromRequest } from './session/session-context.util.js';
export { generateSessionId, isValidSessionId, MIN_ID_LENGTH, MAX_ID_LENGTH } from './core/session-id.js';
export type * from './session/session-options.interface.js';
export type { ResolvedSessionOptions } from './session/session-options.resolver.js';
export { SESSION_MODULE_OPTIONS, SESSION_STORE } from './session/session.constants.js';
export { SessionInterceptor } from './session/session.interceptor.js';
export { SessionManager, type LoadedSession } from './session/session.manager.js';
export { ClientSessionManager } from './session/client-session.manager.js';
export { SessionMiddleware } from './session/session.middleware.js';
export { SessionModule } from './session/session.module.js';
export { SessionLocks, type SessionLock } from './session/session-locks.service.js';
export { SessionIndex } from './session/session-index.service.js';
export { CurrentSession } from './session/current-session.service.js';
export { FLASH_KEY, type SessionData, type SessionUpdateOptions } from './session/session.js';
export { SessionDevices, type SessionDevice } from './session/session-devices.service.js';
export {
  SESSION_EVENT_NAMES,
  type SessionCreatedEvent,
  type SessionDestroyedEvent,
  type SessionDestroyReason,
  type SessionEventBase,
  type SessionEventListeners,
  type SessionEventMap,
  type SessionEventName,
  type SessionPrincipalSetEvent,
  type SessionRegeneratedEvent,
} from './session/session-events.js';
export type { Session as SessionHandle } from './session/session.js';
export * from './stores/cookie/cookie.store.js';
export { isClientSideStore, type ClientSideSessionStore, type ClientSideStoreContext } from './core/client-side-store.interface.js';
export * from './stores/file.store.js';
export * from './stores/memory.store.js';
export * from './stores/connect/connect.store.js';
export type * from './core/session-store.interface.js';
export { createStoreFromUrl, type StoreUrlOptions } from './stores/store-url.js';
export * from './session/express-session-options.js';
export { withSessions, type SessionGatewayOptions, type GatewaySessionRefusal } from './session/gateway-session.adapter.js';
export { toGatewayException } from './session/gateway-exception.js';
export {
  graphqlWsSessions,
  mercuriusSubscriptionSessions,
  type GraphqlSubscriptionSessionOptions,
  type GraphqlWsSessionConfig,
  type MercuriusSubscriptionSessionConfig,
} from './session/graphql-subscription.js';
export type { AllowedOrigins } from './session/gateway-origin.policy.js';
export { getSessionFromSocket } from './session/session-context.util.js';
