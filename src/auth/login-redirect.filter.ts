import { Catch, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { LoginRedirectException } from './login-redirect.exception.js';

/**
 * Answers {@link LoginRedirectException} with `303 See Other` to the login route, through the
 * HTTP adapter (Express or Fastify). Registered globally by `AuthModule`; it catches nothing else.
 */
@Catch(LoginRedirectException)
export class LoginRedirectFilter implements ExceptionFilter<LoginRedirectException> {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: LoginRedirectException, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<unknown>();
    this.adapterHost.httpAdapter.redirect(response, 303, exception.location);
  }
}
