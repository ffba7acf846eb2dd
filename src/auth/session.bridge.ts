import { Inject, Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { isClientSideStore } from '../core/client-side-store.interface.js';
import { SESSION_RESOLVED_OPTIONS } from '../session/session.internal-constants.js';
import type { ResolvedSessionOptions } from '../session/session-options.resolver.js';
import { SessionIndex } from '../session/session-index.service.js';
import { SessionLocks } from '../session/session-locks.service.js';
import { SessionManager } from '../session/session.manager.js';
import { AUTH_RESOLVED_OPTIONS } from './auth.constants.js';
import type { ResolvedAuthOptions } from './auth-options.resolver.js';
import { AUTH_KEY_PREFIX } from './auth-session.js';
import { AuthError } from './errors/auth.error.js';
import { AuthMessages } from './errors/auth.messages.js';

/** The parts of `SessionModule` the auth units work with. */
interface SessionParts {
  sessions: SessionManager;
  index: SessionIndex;
  locks: SessionLocks;
  options: ResolvedSessionOptions;
}

/**
 * The auth units' way to the session engine: `SessionManager`, `SessionIndex`, `SessionLocks` and
 * the session options, looked up once. `AuthModule` does not import `SessionModule` (the app does,
 * once, with its own options), so they are found in the app rather than injected.
 * @internal
 */
@Injectable()
export class SessionBridge {
  private parts?: SessionParts;

  constructor(
    @Inject(AUTH_RESOLVED_OPTIONS) private readonly options: ResolvedAuthOptions,
    private readonly moduleRef: ModuleRef,
  ) {}

  /**
   * Find the session engine and check that the module can work with it; reserves the module's
   * session keys, so tokens never show in `keys()`, `toJSON()` or `req.session`. Runs once; later
   * calls do nothing. `AuthManager` calls it at start-up, so a wrong set-up stops the app there.
   * @throws AuthError `AUTH_OPTIONS_INVALID` without `SessionModule` in the app, or over a
   *   client-side store without `allowCookieStore`
   */
  attach(): void {
    this.parts ??= this.lookUp();
  }

  /** The session engine. @throws AuthError `AUTH_OPTIONS_INVALID` (see {@link SessionBridge.attach}) */
  get sessions(): SessionManager {
    return this.attached().sessions;
  }

  /** The index of sessions by key (logins by `sub` and `sid`). @throws AuthError as {@link SessionBridge.sessions} */
  get index(): SessionIndex {
    return this.attached().index;
  }

  /** Store locks shared by every instance on the store. @throws AuthError as {@link SessionBridge.sessions} */
  get locks(): SessionLocks {
    return this.attached().locks;
  }

  /** The session module's resolved options (cookie, secrets, store timeout). @throws AuthError as {@link SessionBridge.sessions} */
  get sessionOptions(): ResolvedSessionOptions {
    return this.attached().options;
  }

  private attached(): SessionParts {
    this.attach();
    return this.parts!;
  }

  private lookUp(): SessionParts {
    let sessions: SessionManager;
    try {
      sessions = this.moduleRef.get(SessionManager, { strict: false });
    } catch (cause) {
      throw new AuthError(
        'AUTH_OPTIONS_INVALID',
        AuthMessages.invalidOption(
          'imports',
          'AuthModule needs SessionModule in the same app',
          'Import SessionModule.forRoot({ ... }) in your app module.',
        ),
        { cause },
      );
    }
    const options = this.moduleRef.get<ResolvedSessionOptions>(SESSION_RESOLVED_OPTIONS, { strict: false });
    if (isClientSideStore(options.store) && !this.options.allowCookieStore) {
      throw new AuthError('AUTH_OPTIONS_INVALID', AuthMessages.cookieStore());
    }
    const index = this.moduleRef.get(SessionIndex, { strict: false });
    const locks = this.moduleRef.get(SessionLocks, { strict: false });
    // Tokens are the module's own records: left out of keys(), toJSON() and req.session's keys.
    sessions.reserveKeys(AUTH_KEY_PREFIX);
    return { sessions, index, locks, options };
  }
}
