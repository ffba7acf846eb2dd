import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { getSessionFromContext } from '../../session/session-context.util.js';
import type { AnySession } from '../../session/session.js';
import { authManagerOf } from '../auth.manager.js';
import { loginKey, type StoredLogin } from '../auth-session.js';

/** Options of `@CurrentUser()`: a provider other than the default, and/or one claim. */
export interface CurrentUserOptions {
  /** @default the default provider, else the first provider logged in */
  provider?: string;
  /** Give this claim's value instead of the whole claims object. */
  claim?: string;
}

/**
 * Inject the logged-in user's claims (ID token merged with UserInfo), one claim with
 * `@CurrentUser('email')`, or another provider's with `@CurrentUser({ provider: 'github' })`.
 * `undefined` when the request is not logged in (guard the route with `AuthenticatedGuard` to
 * require a login). Works over HTTP, GraphQL and WebSocket like `@Session()`.
 *
 * @example
 * ```ts
 * @UseGuards(AuthenticatedGuard)
 * @Get('me') me(@CurrentUser() user: AuthClaims, @CurrentUser('email') email: string) { ... }
 * ```
 */
export const CurrentUser: (options?: string | CurrentUserOptions) => ParameterDecorator = createParamDecorator(
  (options: string | CurrentUserOptions | undefined, context: ExecutionContext) => {
    const { provider, claim } = typeof options === 'string' ? { provider: undefined, claim: options } : (options ?? {});
    const session = getSessionFromContext<AnySession>(context);
    const manager = authManagerOf(session);
    const claims = manager
      ? manager.getUser(session, provider)
      : ((session.get(loginKey(provider ?? '')) as StoredLogin | undefined)?.claims ?? undefined);
    return claim === undefined ? claims : claims?.[claim];
  },
);
