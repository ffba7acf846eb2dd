/** Token of the validated, defaulted options. Not exported from the package root. */
export const SESSION_RESOLVED_OPTIONS = Symbol('nest-sessions:resolved-options');

/**
 * Token of SessionModule's `asyncContext` flag (`true` or `false`), provided by `forRoot()` and
 * `forRootAsync()`. Not exported from the package root.
 */
export const SESSION_ASYNC_CONTEXT = Symbol('nest-sessions:async-context');
