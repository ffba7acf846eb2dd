import { Body, Controller, Get, Header, Post, Redirect, Req, UseGuards } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { Flash, Session, SessionDevices, SessionError } from 'nest-sessions';
import { AuthManager, AuthenticatedGuard, CurrentUser, type AuthClaims } from 'nest-sessions/auth';
import { renderAccount, renderHome, renderSessions, type FlashMessages, type SignedInUser } from './views.js';

/** What the sample app keeps in a session. */
export interface AppSessionData {
  visits?: number;
  messages?: string[];
}

/** Longest message accepted from the form. */
export const MAX_MESSAGE_LENGTH = 200;

/** How many of the visitor's latest messages the session keeps. */
export const KEPT_MESSAGES = 5;

/** Where "Log in" starts: AuthModule's login route, coming back to /welcome once logged in. */
export const LOGIN_PATH = '/auth/login?returnTo=/welcome';

/** A name to greet the user by: providers differ in which claims they send. */
export function displayName(user: AuthClaims): string {
  for (const claim of ['name', 'preferred_username', 'email']) {
    const value = user[claim];
    if (typeof value === 'string' && value.trim() !== '') return value;
  }
  return user.sub;
}

function signedIn(user: AuthClaims | undefined): SignedInUser | undefined {
  if (!user) return undefined;
  return { name: displayName(user), email: typeof user.email === 'string' ? user.email : undefined };
}

/** Node's request behind the platform's request object (Fastify's keeps it as `raw`; Express's is one). */
function rawRequest(req: object): IncomingMessage {
  return ((req as { raw?: IncomingMessage }).raw ?? req) as IncomingMessage;
}

/**
 * The pages of the sample app: a visit counter, a message form with flash feedback, login and logout,
 * and the user's sessions.
 */
@Controller()
export class AppController {
  constructor(
    private readonly auth: AuthManager,
    private readonly devices: SessionDevices,
  ) {}

  /** The home page; every visit counts. */
  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  home(@Session() session: Session<AppSessionData>, @Flash() flash?: FlashMessages, @CurrentUser() user?: AuthClaims): string {
    const visits = (session.get('visits') ?? 0) + 1;
    session.set('visits', visits);
    return renderHome({
      visits,
      flash,
      messages: session.get('messages') ?? [],
      maxLength: MAX_MESSAGE_LENGTH,
      user: signedIn(user),
      loginPath: LOGIN_PATH,
    });
  }

  /** Where a login returns to: greet the user once (a flash), then show the home page. */
  @Get('welcome')
  @Redirect('/', 303)
  welcome(@Session() session: Session<AppSessionData>, @CurrentUser() user?: AuthClaims): void {
    if (user) session.flash('success', `Welcome, ${displayName(user)}!`);
  }

  /** The user's claims; a login is required (browsers are sent to the login and come back here). */
  @Get('account')
  @UseGuards(AuthenticatedGuard)
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-store')
  account(@CurrentUser() user: AuthClaims): string {
    return renderAccount({ user: signedIn(user)!, claims: user });
  }

  /** Where the user is logged in (their sessions, by `principal`); a login is required, as for /account. */
  @Get('sessions')
  @UseGuards(AuthenticatedGuard)
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-store')
  async sessions(
    @Session() session: Session<AppSessionData>,
    @CurrentUser() user: AuthClaims,
    @Flash() flash?: FlashMessages,
  ): Promise<string> {
    return renderSessions({ user: signedIn(user)!, flash, sessions: await this.devices.list(session) });
  }

  /**
   * Log out one session of the user, named by the handle the sessions page gave (never a session ID),
   * then show the page again. Posts from another site are refused (403), as the module's logout does.
   */
  @Post('sessions/revoke')
  @UseGuards(AuthenticatedGuard)
  @Redirect('/sessions', 303)
  async revokeSession(
    @Session() session: Session<AppSessionData>,
    @Req() req: object,
    @Body('handle') handle: unknown,
  ): Promise<{ url: string; statusCode: number } | undefined> {
    this.auth.assertSameOrigin(rawRequest(req));
    try {
      await this.devices.revoke(session, typeof handle === 'string' ? handle : '');
    } catch (error) {
      if (!(error instanceof SessionError && error.code === 'SESSION_HANDLE_UNKNOWN')) throw error;
      session.flash('error', 'That session had ended already.');
      return undefined;
    }
    if (session.isNew) {
      // It was this browser's own session: that is a logout here (the provider's session stays).
      session.flash('info', 'You are logged out.');
      return { url: '/', statusCode: 303 };
    }
    session.flash('success', 'The session was logged out.');
    return undefined;
  }

  /** Log out every other session of the user ("log out my other devices"); this one stays. */
  @Post('sessions/revoke-others')
  @UseGuards(AuthenticatedGuard)
  @Redirect('/sessions', 303)
  async revokeOtherSessions(@Session() session: Session<AppSessionData>, @Req() req: object): Promise<void> {
    this.auth.assertSameOrigin(rawRequest(req));
    const ended = await this.devices.revokeOthers(session);
    session.flash('success', ended === 1 ? 'Logged out 1 other session.' : `Logged out ${ended} other sessions.`);
  }

  /** Accept a message from the form, then redirect so that reloading the page does not post again. */
  @Post('message')
  @Redirect('/', 303)
  message(@Session() session: Session<AppSessionData>, @Body('message') message: unknown): void {
    // The form body is visitor input: with extended urlencoded parsing it may even be an object.
    const text = typeof message === 'string' ? message.trim() : '';
    if (text === '') {
      session.flash('error', 'Please write a message before sending.');
      return;
    }
    if (text.length > MAX_MESSAGE_LENGTH) {
      session.flash('error', `Messages are limited to ${MAX_MESSAGE_LENGTH} characters.`);
      return;
    }
    session.set('messages', [text, ...(session.get('messages') ?? [])].slice(0, KEPT_MESSAGES));
    session.flash('success', `Thanks! You said: ${text}`);
  }

  /**
   * Log out: `AuthManager.logout()` ends the login and the session (a fresh one replaces it) and answers
   * where to send the browser: the provider's logout page, which comes back to `/`, or `/` itself when
   * nobody was logged in. The flash set afterwards travels in the fresh session and shows on `/`.
   */
  @Post('logout')
  @Redirect()
  async logout(@Session() session: Session<AppSessionData>): Promise<{ url: string; statusCode: number }> {
    const url = await this.auth.logout(session);
    session.flash('info', 'You are logged out.');
    return { url, statusCode: 303 };
  }
}
