/**
 * The shapes of one session's own cookie, shared by the engine, the express-session view and the
 * cookie transport. This file imports nothing, so any of them can use it without a cycle.
 */

/**
 * Cookie settings one session set for itself through `req.session.cookie` (express-session's
 * per-session cookie). Each one given replaces the module's for that session's cookie.
 * @example { persistent: true, sameSite: 'strict' }
 */
export interface SessionOwnCookie {
  /** `true`: a persistent cookie that expires with the session ("remember me"); `false`: a browser-session cookie. */
  persistent?: boolean;
  secure?: boolean;
  httpOnly?: boolean;
  sameSite?: 'lax' | 'strict' | 'none' | false;
  domain?: string;
  path?: string;
  partitioned?: boolean;
  priority?: 'low' | 'medium' | 'high';
}

/**
 * The session's cookie as `req.session.cookie` shows it (times in epoch ms and ms; `null` for a
 * browser-session cookie).
 * @internal
 */
export interface SessionCookieDescription {
  expires: number | null;
  maxAge: number | null;
  originalMaxAge: number | null;
  secure: boolean | 'auto';
  httpOnly: boolean;
  sameSite: 'lax' | 'strict' | 'none' | 'auto' | false;
  domain: string | undefined;
  path: string;
  partitioned: boolean;
  priority: 'low' | 'medium' | 'high' | undefined;
}
