import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { toGatewayException } from '../../session/gateway-exception.js';
import { getRequestFromContext, getSessionFromContext } from '../../session/session-context.util.js';
import type { AnySession } from '../../session/session.js';
import { IS_PUBLIC_KEY } from '../auth.constants.js';
import { AuthManager } from '../auth.manager.js';
import { AuthError } from '../errors/auth.error.js';
import { AuthMessages } from '../errors/auth.messages.js';
import { LoginRedirectException } from '../login-redirect.exception.js';

/**
 * Requires a login with any configured provider. A browser navigation without one is redirected
 * (303) to the login route with `returnTo` set to the page it asked for; an API request (JSON,
 * XHR, not a GET) and non-HTTP contexts get 401 (`AUTH_LOGIN_REQUIRED`); on a WebSocket gateway the
 * client gets an `exception` event `{ status: 'error', code, message }` (see `toGatewayException`). Routes marked `@Public()`
 * pass, so it can guard a whole app (`globalGuard: true`).
 *
 * Extend it and override {@link AuthenticatedGuard.isAllowed} for further checks, or
 * {@link AuthenticatedGuard.denyLogin} to answer differently.
 *
 * @example
 * ```ts
 * @UseGuards(AuthenticatedGuard)
 * @Get('account') account(@CurrentUser() user: AuthClaims) { ... }
 * ```
 */
@Injectable()
export class AuthenticatedGuard implements CanActivate {
  constructor(
    protected readonly reflector: Reflector,
    protected readonly auth: AuthManager,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.isPublic(context)) return true;
    try {
      const session = getSessionFromContext<AnySession>(context);
      if (!this.auth.isAuthenticated(session)) this.denyLogin(context);
      return await this.isAllowed(context, session);
    } catch (error) {
      // A gateway's client would otherwise get "Internal server error" instead of the refusal's code.
      throw context.getType() === 'ws' ? await toGatewayException(error) : error;
    }
  }

  /** Whether the route or its controller is marked `@Public()`. */
  protected isPublic(context: ExecutionContext): boolean {
    return this.reflector.getAllAndOverride<boolean | undefined>(IS_PUBLIC_KEY, [context.getHandler(), context.getClass()]) === true;
  }

  /** Further checks on a logged-in session (override point). */
  protected isAllowed(_context: ExecutionContext, _session: AnySession): boolean | Promise<boolean> {
    return true;
  }

  /** Answer a request that is not logged in: the login redirect for browsers, 401 otherwise. */
  protected denyLogin(context: ExecutionContext): never {
    const req = getRequestFromContext(context);
    if (context.getType() === 'http' && req && !this.auth.isApiRequest(req)) {
      const location = this.auth.loginPath(req.method === 'GET' ? ((req as { originalUrl?: string }).originalUrl ?? req.url) : undefined);
      if (location !== undefined) throw new LoginRedirectException(location);
    }
    throw new AuthError('AUTH_LOGIN_REQUIRED', AuthMessages.loginRequired());
  }
}
