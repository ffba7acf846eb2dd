/**
 * Thrown by the auth guards for a browser navigation that needs a login; `LoginRedirectFilter`
 * answers it with a 303 to the login route. Not an `HttpException`, so no other filter mistakes it
 * for an error page.
 */
export class LoginRedirectException extends Error {
  constructor(readonly location: string) {
    super('nest-sessions/auth: login required; redirecting to the login route.');
    this.name = 'LoginRedirectException';
  }
}
