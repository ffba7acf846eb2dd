import { SetMetadata } from '@nestjs/common';
import { IS_PUBLIC_KEY } from '../auth.constants.js';

/**
 * Mark a route or controller as open to everyone when `AuthenticatedGuard` guards the whole app
 * (`AuthModule.forRoot({ globalGuard: true, ... })`). The module's own login routes are public.
 *
 * @example
 * ```ts
 * @Public() @Get('health') health() { return 'ok'; }
 * ```
 */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC_KEY, true);
