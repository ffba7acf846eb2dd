/**
 * `nest-sessions/auth`: OpenID Connect login (openid-client v6) with the tokens held in the session.
 * Needs the optional peers `openid-client` and `jose`.
 */
export { AuthModule } from './auth.module.js';
export { AUTH_MODULE_OPTIONS } from './auth.constants.js';
export type { AuthModuleExtras } from './auth.module-definition.js';
export type { AuthModuleOptions, AuthProviderOptions, AuthEventHandlers } from './auth-options.interface.js';
export { AuthManager, type AuthFetch } from './auth.manager.js';
export { OidcClients, type OidcClient } from './oidc-clients.service.js';
export { AuthenticatedGuard } from './guards/authenticated.guard.js';
export { ClaimsGuard } from './guards/claims.guard.js';
export { CurrentUser, type CurrentUserOptions } from './decorators/current-user.decorator.js';
export { Public } from './decorators/public.decorator.js';
export { RequireClaims, type ClaimsRequirement } from './decorators/require-claims.decorator.js';
export { LoginRedirectException } from './login-redirect.exception.js';
export { LoginRedirectFilter } from './login-redirect.filter.js';
export { AuthError, type AuthErrorCode } from './errors/auth.error.js';
export { safeReturnTo } from './auth-options.resolver.js';
export type { AuthClaims, StoredLogin, AuthLoginEvent, AuthLogoutEvent, AuthRefreshEvent } from './auth-session.js';
export { AUTH_EVENT_NAMES, type AuthEventName } from './auth-events.js';
