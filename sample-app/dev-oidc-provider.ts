import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider, { type ClientMetadata, type Configuration } from 'oidc-provider';

/** Options of {@link startDevOidcProvider}. */
export interface DevOidcProviderOptions {
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number;
  /** Interface to listen on, also used in the issuer URL. Default '127.0.0.1'. */
  host?: string;
  /** The one client (the sample app) the provider knows. */
  clientId: string;
  clientSecret: string;
  /** The app's login callback, e.g. 'http://localhost:3000/auth/callback'. */
  redirectUri: string;
  /** Where the provider sends the browser after logging out. */
  postLogoutRedirectUri: string;
  /** When set, the provider posts back-channel logout tokens (with `sid`) here when a user logs out at it. */
  backchannelLogoutUri?: string;
}

/** A running development provider. */
export interface DevOidcProvider {
  /** The issuer URL to configure in the app, e.g. 'http://127.0.0.1:4000'. */
  issuer: string;
  close(): Promise<void>;
}

/**
 * **DEVELOPMENT ONLY. NEVER USE IN PRODUCTION.** Starts an OpenID provider (the `oidc-provider` package) for
 * trying the sample app's login without a real identity provider:
 *
 * - **anyone can log in**: any username with any password is accepted and becomes the account, with a `name`
 *   and an `email` derived from the username;
 * - **everything is in memory**: accounts, sessions, grants and tokens vanish when the process stops, and the
 *   signing key is generated anew at every start;
 * - plain http, and outgoing back-channel logout requests may go to loopback and private addresses.
 *
 * It offers the browser login and consent pages (devInteractions), PKCE (S256, required), refresh tokens on
 * every login (rotated on use), RP-initiated logout and back-channel logout. oidc-provider prints warnings
 * about the in-memory adapter and devInteractions when it starts: they are accurate, this is not a real server.
 */
export async function startDevOidcProvider(options: DevOidcProviderOptions): Promise<DevOidcProvider> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const client: ClientMetadata = {
    client_id: options.clientId,
    client_secret: options.clientSecret,
    redirect_uris: [options.redirectUri],
    post_logout_redirect_uris: [options.postLogoutRedirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  };
  if (options.backchannelLogoutUri) {
    client.backchannel_logout_uri = options.backchannelLogoutUri;
    client.backchannel_logout_session_required = true;
  }

  const configuration: Configuration = {
    clients: [client],
    jwks: { keys: [await newSigningJwk()] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    pkce: { required: () => true },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
    // Put name and email in the ID token too, so the app can show them without a userinfo call.
    conformIdTokenClaims: false,
    // By default refresh tokens need the offline_access scope, which is only granted with prompt=consent.
    issueRefreshToken: (_ctx, oidcClient) => oidcClient.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      IdToken: 600,
      RefreshToken: 24 * 3600,
      Session: 24 * 3600,
      Grant: 24 * 3600,
      Interaction: 3600,
    },
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => devClaims(sub) }),
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      backchannelLogout: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
    },
    // oidc-provider refuses outgoing requests to loopback and private addresses (SSRF protection), where a
    // development app's back-channel logout endpoint lives.
    fetch: (input, init) => {
      const { dispatcher: _ssrfGuard, ...rest } = (init ?? {}) as RequestInit & { dispatcher?: unknown };
      return globalThis.fetch(input, rest);
    },
  };

  let provider: Provider;
  try {
    provider = new Provider(issuer, configuration);
  } catch (error) {
    server.close();
    throw error;
  }
  const handle = provider.callback();
  server.on('request', (req, res) => void handle(req, res));

  let closed: Promise<void> | undefined;
  return {
    issuer,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

/** Claims for a username typed into the login form, e.g. 'jane.doe' → 'Jane Doe', 'jane.doe@example.test'. */
function devClaims(username: string): { sub: string; name: string; email: string; email_verified: boolean } {
  const name = username
    .split(/[._\s-]+/)
    .filter(Boolean)
    .map((word) => word[0].toUpperCase() + word.slice(1))
    .join(' ');
  const local = username.toLowerCase().replace(/[^a-z0-9._-]+/g, '-') || 'user';
  return { sub: username, name: name || username, email: `${local}@example.test`, email_verified: true };
}

async function newSigningJwk(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'RS256', use: 'sig' };
}
