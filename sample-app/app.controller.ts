import { Body, Controller, Get, Header, Post, Redirect, UseGuards } from '@nestjs/common';
import { Flash, Session } from 'nest-sessions';
import { AuthManager, AuthenticatedGuard, CurrentUser, type AuthClaims } from 'nest-sessions/auth';
import { renderAccount, renderHome, type FlashMessages, type SignedInUser } from './views.js';

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

/** The pages of the sample app: a visit counter, a message form with flash feedback, login and logout. */
@Controller()
export class AppController {
  constructor(private readonly auth: AuthManager) {}

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
