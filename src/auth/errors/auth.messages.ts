/** Message factories of the auth module. None of them ever includes a token, a secret or a session ID. */
export const AuthMessages = {
  invalidOption: (option: string, rule: string, fix: string): string => `nest-sessions/auth: invalid option \`${option}\`: ${rule}. ${fix}`,
  discoveryFailed: (provider: string, issuer: string, attempts: number, reason: string): string =>
    `nest-sessions/auth: could not discover provider "${provider}" at ${issuer} after ${attempts} attempt(s): ${reason}. ` +
    'Check `issuer` (it must serve /.well-known/openid-configuration), that the provider is up, or raise `discovery.attempts`.',
  unknownProvider: (name: string): string => `nest-sessions/auth: unknown provider "${name}".`,
  callbackInvalid: (reason: string): string => `nest-sessions/auth: the login callback was rejected: ${reason}.`,
  loginFailed: (error: string): string => `nest-sessions/auth: the provider refused the login (${error}).`,
  loginRequired: (): string => 'nest-sessions/auth: this request needs a login.',
  loginEnded: (provider: string): string =>
    `nest-sessions/auth: the login with "${provider}" has ended (the provider refused to refresh it); log in again.`,
  forbidden: (): string => 'nest-sessions/auth: the logged-in user lacks the claims this route requires.',
  providerUnavailable: (provider: string, operation: string): string =>
    `nest-sessions/auth: provider "${provider}" could not ${operation}; try again later.`,
  logoutTokenInvalid: (reason: string): string => `nest-sessions/auth: invalid logout token: ${reason}.`,
  crossOrigin: (): string =>
    'nest-sessions/auth: this request came from another site, so it was refused. ' +
    "Post the logout form from a page of this app, or list the page's origin in AuthModule `trustedOrigins`.",
  cookieStore: (): string =>
    'nest-sessions/auth: AuthModule keeps access, refresh and ID tokens in the session, and the session store is a ' +
    'client-side store (CookieStore): the tokens would live in the browser, a copied cookie would stay logged in after ' +
    'logout, and back-channel logout could not end it. Use a server-side store, or set `allowCookieStore: true` to accept that.',
} as const;
