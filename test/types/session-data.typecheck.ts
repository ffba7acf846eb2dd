/**
 * Compile-time checks, run by `npm run typecheck` (part of `npm test`): SessionData declaration
 * merging types session.get() and session.set(). A wrong type here fails the build.
 */
import type { SessionHandle } from '../../src/index.js';

declare module '../../src/index.js' {
  interface SessionData {
    userId: number;
    roles: string[];
  }
}

export function typedAccess(session: SessionHandle): void {
  const userId: number | undefined = session.get('userId');
  const roles: string[] | undefined = session.get('roles');
  session.set('userId', 42);
  session.set('roles', ['admin']);
  // @ts-expect-error userId is a number
  session.set('userId', 'not a number');
  // @ts-expect-error roles is string[]
  const wrong: number | undefined = session.get('roles');
  // Keys that were not declared stay open (SessionData keeps an index signature).
  const other: unknown = session.get('anything');
  void [userId, roles, wrong, other];
}

interface StrictData {
  cart: string[];
}

export function strictAccess(session: SessionHandle<StrictData>): void {
  const cart: string[] | undefined = session.get('cart');
  // @ts-expect-error an explicit data type closes the key set
  session.get('missing');
  void cart;
}

import { Session } from '../../src/index.js';

export class TypedController {
  // The decorator and the type share one name.
  handler(@Session() session: Session, @Session('userId') userId?: number): number | undefined {
    return session.get('userId') ?? userId;
  }
}
