import { Body, Controller, Get, Header, Post, Redirect } from '@nestjs/common';
import { Flash, Session } from 'nest-sessions';
import { renderHome, type FlashMessages } from './views.js';

/** What the sample app keeps in a session. */
export interface AppSessionData {
  visits?: number;
  messages?: string[];
}

/** Longest message accepted from the form. */
export const MAX_MESSAGE_LENGTH = 200;

/** How many of the visitor's latest messages the session keeps. */
export const KEPT_MESSAGES = 5;

/** The pages of the sample app: a visit counter, a message form with flash feedback, and logout. */
@Controller()
export class AppController {
  /** The home page; every visit counts. */
  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  home(@Session() session: Session<AppSessionData>, @Flash() flash?: FlashMessages): string {
    const visits = (session.get('visits') ?? 0) + 1;
    session.set('visits', visits);
    return renderHome({ visits, flash, messages: session.get('messages') ?? [], maxLength: MAX_MESSAGE_LENGTH });
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

  /** End the session; the flash set afterwards travels in a brand-new one. */
  @Post('logout')
  @Redirect('/', 303)
  async logout(@Session() session: Session<AppSessionData>): Promise<void> {
    await session.destroy();
    session.flash('info', 'You are logged out.');
  }
}
