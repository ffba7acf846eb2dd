/** Token of the validated, defaulted options. Not exported from the package root. */
export const SESSION_RESOLVED_OPTIONS = Symbol('nest-sessions:resolved-options');
