import { MODULE_OPTIONS_TOKEN } from './session.module-definition.js';

/**
 * Injection token of the options given to `SessionModule.forRoot()` / `forRootAsync()`, as given
 * (before validation).
 */
export const SESSION_MODULE_OPTIONS = MODULE_OPTIONS_TOKEN;

/**
 * Injection token of the session store in use.
 * @example constructor(@Inject(SESSION_STORE) private readonly store: SessionStore) {}
 */
export const SESSION_STORE = Symbol('nest-sessions:store');
