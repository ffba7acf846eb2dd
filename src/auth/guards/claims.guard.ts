import { Injectable, type ExecutionContext } from '@nestjs/common';
import type { AnySession } from '../../session/session.js';
import { REQUIRED_CLAIMS_KEY } from '../auth.constants.js';
import type { AuthClaims } from '../auth-session.js';
import type { ClaimsRequirement } from '../claims-requirement.js';
import { AuthError } from '../errors/auth.error.js';
import { AuthMessages } from '../errors/auth.messages.js';
import { AuthenticatedGuard } from './authenticated.guard.js';

/**
 * Requires a login (as {@link AuthenticatedGuard}) whose claims meet the route's
 * `@RequireClaims()`; otherwise 403 (`AUTH_FORBIDDEN`). Any provider the session is logged in
 * with may meet it. Override {@link ClaimsGuard.meets} to change how claims are compared.
 */
@Injectable()
export class ClaimsGuard extends AuthenticatedGuard {
  protected override isAllowed(context: ExecutionContext, session: AnySession): boolean {
    const requirement = this.reflector.getAllAndOverride<ClaimsRequirement | undefined>(REQUIRED_CLAIMS_KEY, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (requirement === undefined) return true;
    for (const provider of this.auth.loggedInProviders(session)) {
      const claims = this.auth.getUser(session, provider);
      if (claims && this.meets(claims, requirement)) return true;
    }
    throw new AuthError('AUTH_FORBIDDEN', AuthMessages.forbidden());
  }

  /** Whether `claims` meet `requirement` (see `ClaimsRequirement`). */
  protected meets(claims: AuthClaims, requirement: ClaimsRequirement): boolean {
    if (typeof requirement === 'function') return requirement(claims) === true;
    return Object.entries(requirement).every(([name, wanted]) => {
      const actual = claims[name];
      const options = Array.isArray(wanted) ? wanted : [wanted];
      if (Array.isArray(actual)) return options.some((option) => actual.includes(option));
      return options.some((option) => Object.is(option, actual));
    });
  }
}
