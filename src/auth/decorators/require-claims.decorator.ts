import { applyDecorators, SetMetadata, UseGuards } from '@nestjs/common';
import { REQUIRED_CLAIMS_KEY } from '../auth.constants.js';
import type { ClaimsRequirement } from '../claims-requirement.js';

export type { ClaimsRequirement } from '../claims-requirement.js';
import { ClaimsGuard } from '../guards/claims.guard.js';

/**
 * Require a login whose claims meet `requirement` (403 otherwise; not logged in: the login
 * redirect or 401, as `AuthenticatedGuard`). Applies `ClaimsGuard` by itself.
 *
 * @example
 * ```ts
 * @RequireClaims({ groups: 'admin' }) @Get('admin') admin() { ... }
 * @RequireClaims({ email_verified: true, groups: ['staff', 'admin'] }) @Get('staff') staff() { ... }
 * @RequireClaims((claims) => String(claims.email).endsWith('@example.com')) @Get('internal') internal() { ... }
 * ```
 */
export const RequireClaims = (requirement: ClaimsRequirement): MethodDecorator & ClassDecorator =>
  applyDecorators(SetMetadata(REQUIRED_CLAIMS_KEY, requirement), UseGuards(ClaimsGuard));
