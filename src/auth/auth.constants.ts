/** Injection token of the options given to `AuthModule` (before validation). */
export { MODULE_OPTIONS_TOKEN as AUTH_MODULE_OPTIONS } from './auth.module-definition.js';

/** Injection token of the validated options. @internal */
export const AUTH_RESOLVED_OPTIONS = Symbol('nest-sessions:auth-resolved-options');

/** Metadata key set by `@Public()`. */
export const IS_PUBLIC_KEY = 'nest-sessions:auth:public';

/** Metadata key set by `@RequireClaims()`. */
export const REQUIRED_CLAIMS_KEY = 'nest-sessions:auth:required-claims';

/** Injection token of the routes' path prefix (`false` when the routes are off). @internal */
export const AUTH_ROUTES_PREFIX = Symbol('nest-sessions:auth-routes-prefix');
