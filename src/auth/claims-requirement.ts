import type { AuthClaims } from './auth-session.js';

/**
 * What a route requires of the user's claims: each listed claim must equal the value, or, for an
 * array value, match one of them; a claim that is itself an array (such as `groups`) matches when it
 * contains one of them. Or a predicate over the claims.
 */
export type ClaimsRequirement = Record<string, unknown> | ((claims: AuthClaims) => boolean);
