import type { AuthModuleOptions } from 'nest-sessions/auth';

/**
 * The host the sample app's default URL and its development provider both use. Cookies belong to a
 * host name, so the browser must reach the app under the same name that the provider redirects
 * back to: open `http://127.0.0.1:3000/`, not `http://localhost:3000/` (or set `APP_URL`).
 */
export const DEV_HOST = '127.0.0.1';

/** The name of the one provider the sample app configures (`?provider=main`, session key `auth:main`). */
export const PROVIDER_NAME = 'main';

/** The port the app listens on: `PORT`, default 3000. */
export function appPort(env: NodeJS.ProcessEnv = process.env): number {
  return portFrom(env, 'PORT', 3000);
}

/** The app's public base URL without a trailing slash: `APP_URL`, default `http://127.0.0.1:<PORT>`. */
export function appUrl(env: NodeJS.ProcessEnv = process.env): string {
  const url = env.APP_URL || `http://${DEV_HOST}:${appPort(env)}`;
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
    throw new Error(`APP_URL must be an absolute http(s) URL such as https://app.example.com, not ${JSON.stringify(url)}.`);
  }
  return url.replace(/\/+$/, '');
}

/** The port of the development provider: `OIDC_DEV_PORT`, default `PORT + 1`. */
export function devProviderPort(env: NodeJS.ProcessEnv = process.env): number {
  return portFrom(env, 'OIDC_DEV_PORT', appPort(env) + 1);
}

/** The URLs of the app that a provider must know, all under `base` (see {@link appUrl}). */
export function appEndpoints(base: string): { redirectUri: string; postLogoutRedirectUri: string; backchannelLogoutUri: string } {
  return {
    redirectUri: `${base}/auth/callback`,
    // Straight back to the home page, which shows the "You are logged out." flash.
    postLogoutRedirectUri: `${base}/`,
    backchannelLogoutUri: `${base}/auth/backchannel-logout`,
  };
}

/**
 * AuthModule options for a real provider, from the environment, or `undefined` when `OIDC_ISSUER` is
 * not set (the sample app then starts its development provider):
 * - `OIDC_ISSUER`: the provider's issuer URL (https).
 * - `OIDC_CLIENT_ID`: the client registered there; required with `OIDC_ISSUER`.
 * - `OIDC_CLIENT_SECRET`: its secret; leave it out for a public client (PKCE only).
 * - `OIDC_SCOPE`: scopes to request, default `openid profile email`.
 * - `APP_URL`: the app's public base URL, default `http://127.0.0.1:<PORT>`. Register
 *   `<APP_URL>/auth/callback` as redirect URI and `<APP_URL>/` as post-logout redirect URI.
 */
export function realProviderOptions(env: NodeJS.ProcessEnv = process.env): AuthModuleOptions | undefined {
  const issuer = env.OIDC_ISSUER;
  if (!issuer) return undefined;
  if (!env.OIDC_CLIENT_ID) throw new Error('OIDC_CLIENT_ID is required with OIDC_ISSUER: give the client ID registered at the provider.');
  const base = appUrl(env);
  if (!base.startsWith('https:')) {
    // AuthModule accepts an http: redirect URI only with allowInsecureIssuers, which this sample sets for its
    // development provider alone.
    throw new Error(
      `APP_URL must be an https URL when OIDC_ISSUER is set (it is ${base}): the provider redirects back to <APP_URL>/auth/callback.`,
    );
  }
  const { redirectUri, postLogoutRedirectUri } = appEndpoints(base);
  return {
    providers: {
      [PROVIDER_NAME]: {
        issuer,
        clientId: env.OIDC_CLIENT_ID,
        ...(env.OIDC_CLIENT_SECRET ? { clientSecret: env.OIDC_CLIENT_SECRET } : {}),
        ...(env.OIDC_SCOPE ? { scope: env.OIDC_SCOPE } : {}),
        redirectUri,
        postLogoutRedirectUri,
      },
    },
  };
}

/** AuthModule options for the development provider running at `issuer` (plain http on this machine). */
export function devProviderOptions(issuer: string, base: string, client: { clientId: string; clientSecret: string }): AuthModuleOptions {
  const { redirectUri, postLogoutRedirectUri } = appEndpoints(base);
  return {
    providers: { [PROVIDER_NAME]: { issuer, ...client, redirectUri, postLogoutRedirectUri } },
    // Only for the development provider: it speaks plain http on 127.0.0.1.
    allowInsecureIssuers: true,
  };
}

function portFrom(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`${name} must be a port number, not ${JSON.stringify(raw)}.`);
  return port;
}
