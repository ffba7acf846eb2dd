import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { getSessionFromContext } from '../session-context.util.js';
import type { Session } from '../session.js';

/**
 * Inject the flash message the previous request left with `session.setFlash()` (or one keyed
 * part of it with `@Flash('success')`). It is shown exactly once: reading it removes it.
 * `undefined` when there is none.
 *
 * @example
 * ```ts
 * @Get() page(@Flash() notice?: string) { return render('page', { notice }); }
 * @Get('form') form(@Flash('error') errors: string[] = []) { ... }
 * ```
 */
export const Flash: (key?: string) => ParameterDecorator = createParamDecorator((key: string | undefined, context: ExecutionContext) =>
  getSessionFromContext<Session>(context).consumeFlash(key),
);
