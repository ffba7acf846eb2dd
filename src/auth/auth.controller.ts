import { Controller, Get, Header, HttpCode, Post, Query, Redirect, Req, type Type } from '@nestjs/common';
import { Session } from '../session/decorators/session.decorator.js';
import { toRawRequest } from '../session/session-context.util.js';
import type { AnySession } from '../session/session.js';
import { AuthManager } from './auth.manager.js';
import { Public } from './decorators/public.decorator.js';
import { readLogoutToken } from './logout-form.js';

/** A redirect answer for `@Redirect()` routes. */
interface RedirectTo {
  url: string;
  statusCode: number;
}

const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * The module's routes under `prefix`, as a class of its own per prefix (Nest reads the path from
 * the class's metadata, so one shared class could not serve two prefixes):
 * - `GET  <prefix>/login?provider=&returnTo=`: start a login (302 to the provider).
 * - `GET  <prefix>/callback`: finish it (303 to `returnTo`).
 * - `GET  <prefix>/logout`: a small page with a confirm button; `POST <prefix>/logout[?provider=]` logs out (303),
 *   refused (403) when the browser says the post came from another origin.
 * - `GET  <prefix>/logout/continue`: the next provider of a chained logout.
 * - `POST <prefix>/backchannel-logout`: the provider's logout token (200, or 400 when invalid).
 *
 * The same class serves Express and Fastify: requests are read through Node's request (Fastify's
 * `request.raw`), answers are `@Redirect()` and returned values, cookies go through the session
 * engine, and the back-channel form is read by `readLogoutToken()` whoever parsed it.
 * @internal
 */
export function createAuthController(prefix: string): Type<unknown> {
  @Public()
  @Controller(prefix)
  class AuthController {
    constructor(readonly auth: AuthManager) {}

    @Get('login')
    @Redirect()
    async login(
      @Session() session: AnySession,
      @Query('provider') provider?: string,
      @Query('returnTo') returnTo?: string,
    ): Promise<RedirectTo> {
      const url = await this.auth.beginLogin(session, { provider: typeof provider === 'string' ? provider : undefined, returnTo });
      return { url, statusCode: 302 };
    }

    @Get('callback')
    @Redirect()
    async callback(@Session() session: AnySession, @Req() req: object): Promise<RedirectTo> {
      const query = new URL(toRawRequest(req).url ?? '/', 'http://callback.invalid').searchParams;
      const { returnTo } = await this.auth.completeLogin(session, query);
      return { url: returnTo, statusCode: 303 };
    }

    @Get('logout')
    @Header('content-type', 'text/html; charset=utf-8')
    @Header('cache-control', 'no-store')
    confirmLogout(@Query('provider') provider?: string): string {
      const query = typeof provider === 'string' && provider ? `?provider=${encodeURIComponent(provider)}` : '';
      return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Log out</title></head><body>
<form method="post" action="${escapeHtml(`/${prefix}/logout${query}`.replace(/\/{2,}/g, '/'))}"><p>Log out?</p><button type="submit">Log out</button></form>
</body></html>`;
    }

    @Post('logout')
    @Redirect()
    async logout(@Session() session: AnySession, @Req() req: object, @Query('provider') provider?: string): Promise<RedirectTo> {
      // Cookies alone do not prove the user meant it: SameSite=None, or a sibling subdomain, posts them too.
      this.auth.assertSameOrigin(toRawRequest(req));
      const url = await this.auth.logout(session, { provider: typeof provider === 'string' && provider ? provider : undefined });
      return { url, statusCode: 303 };
    }

    @Get('logout/continue')
    @Redirect()
    async continueLogout(@Session() session: AnySession): Promise<RedirectTo> {
      return { url: await this.auth.continueLogout(session), statusCode: 303 };
    }

    @Post('backchannel-logout')
    @HttpCode(200)
    @Header('cache-control', 'no-store')
    async backchannelLogout(@Req() req: object): Promise<string> {
      await this.auth.backchannelLogout(await readLogoutToken(req));
      return '';
    }
  }
  return AuthController;
}
