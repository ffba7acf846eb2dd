import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  calculateJwkThumbprint,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTHeaderParameters,
  type JWTPayload,
} from 'jose';
import type Provider from 'oidc-provider';
import type { ClientMetadata, Configuration } from 'oidc-provider';

/** One client (relying party) registered at the test provider. */
export interface TestIdpClient {
  clientId: string;
  /** The secret of a `client_secret_basic` client; not needed with {@link TestIdpClient.jwks}. */
  clientSecret?: string;
  /**
   * Public keys of the client: when given, the client authenticates with `private_key_jwt` (a JWT signed with
   * one of the matching private keys) instead of a secret.
   */
  jwks?: { keys: JWK[] };
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  /** When set, the provider posts logout tokens here and puts `sid` in ID and logout tokens. */
  backchannelLogoutUri?: string;
}

/** Token and artefact lifetimes in seconds. */
export interface TestIdpTtl {
  /** Default 60. */
  accessToken?: number;
  /** Default 60. */
  idToken?: number;
  /** Default 3600. */
  refreshToken?: number;
  /**
   * The provider's login session. Default 3600. Refresh tokens of logins without a granted `offline_access`
   * scope are bound to it: they stop working when it expires or the user logs out at the provider.
   */
  session?: number;
  /** Default: the longer of `refreshToken` and `session`, so a grant never dies before its tokens. */
  grant?: number;
  /** A login/consent interaction in progress. Default 600. */
  interaction?: number;
  /** Default 60. */
  authorizationCode?: number;
}

/** Options of {@link startTestIdp}; every one has a default. */
export interface TestIdpOptions {
  /** Port on 127.0.0.1. Default: a free one. */
  port?: number;
  /** Default: one client `test-client` / `test-secret` with redirect URI `http://127.0.0.1/callback`. */
  clients?: TestIdpClient[];
  /**
   * Claims per account id (without `sub`). Defaults to {@link DEFAULT_TEST_ACCOUNTS}. Logins with any other
   * name are accepted too (devInteractions takes any login) and get claims derived from the name.
   */
  accounts?: Record<string, Record<string, unknown>>;
  ttl?: TestIdpTtl;
  /** Every refresh returns a new refresh token and consumes the old one. Default true. */
  rotateRefreshToken?: boolean;
  /**
   * oidc-provider's own default (true) puts only `sub` and protocol claims in the ID token when an access token
   * for userinfo is issued too; profile, email and groups then come from userinfo only. Default false here: the
   * ID token carries the scope's claims, as most production providers do.
   */
  conformIdTokenClaims?: boolean;
}

/** A failed token request as the provider reported it. */
export interface TestIdpGrantFailure {
  /** The `grant_type` of the request, if the provider got that far. */
  grantType: string | undefined;
  /** The OAuth error code, e.g. `invalid_grant`. */
  error: string;
  description: string | undefined;
  /** The provider's internal reason, never sent to the client, e.g. 'refresh token already used'. */
  detail: string | undefined;
}

/** How a client authenticated at the token endpoint. */
export interface TestIdpClientAuth {
  clientId: string;
  /** e.g. `client_secret_basic`, `private_key_jwt`. */
  method: string;
  /** The protected header of the client assertion (`private_key_jwt`, `client_secret_jwt`). */
  assertionHeader: JWTHeaderParameters | undefined;
}

/** A back-channel logout the provider could not deliver. */
export interface TestIdpBackchannelFailure {
  clientId: string;
  message: string;
}

/** Live counters of what happened at the provider; {@link TestIdp.resetCounts} zeroes them. */
export interface TestIdpCounts {
  /** Successful token requests per grant type. */
  grants: { authorization_code: number; refresh_token: number };
  /** Failed token requests, in order. */
  grantErrors: TestIdpGrantFailure[];
  /** Back-channel logout deliveries: `success` counts 200/204 answers. */
  backchannel: { success: number; errors: TestIdpBackchannelFailure[] };
}

/** Options of {@link TestIdp.signJwt}. */
export interface SignJwtOptions {
  /** `provider` signs with the provider's own published key; `foreign` with an RS256 key nobody published. */
  key: 'provider' | 'foreign';
  /**
   * Merged over the default header `{ alg: 'RS256', kid: <provider key id> }`. The foreign key uses the
   * provider's `kid` too by default, so only the signature gives a forgery away.
   */
  header?: Partial<JWTHeaderParameters>;
}

/** A running test provider, see {@link startTestIdp}. */
export interface TestIdp {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly issuer: string;
  readonly provider: Provider;
  /** Account claims by account id; change them to make the next token or userinfo response differ. */
  readonly accounts: Map<string, Record<string, unknown>>;
  readonly counts: TestIdpCounts;
  /** How the client of each successful token request authenticated, in order; {@link TestIdp.resetCounts} empties it. */
  readonly clientAuth: TestIdpClientAuth[];
  /** The id (`kid`) of the provider's signing key. */
  readonly kid: string;
  resetCounts(): void;
  /** A compact JWS over `payload`, signed with the provider's key or a foreign one. */
  signJwt(payload: JWTPayload, options: SignJwtOptions): Promise<string>;
  /**
   * Test-only fault injection, a fault a real provider cannot be made to produce: the `id_token` of the NEXT
   * successful token endpoint response (authorization_code or refresh_token) is replaced by one with the claims
   * `mutate` returns, re-signed with the provider's own key. Calls queue up, one per response.
   */
  tamperNextIdToken(mutate: (claims: JWTPayload) => JWTPayload): void;
  /**
   * Really revokes grants at the provider (their access, refresh tokens and codes, then the grant itself), so a
   * refresh with a token from before fails with `invalid_grant`. Only grants of `accountId` when given.
   * @returns how many grants were revoked
   */
  revokeGrants(accountId?: string): Promise<number>;
  /** Stops the server; calling it again does nothing. */
  close(): Promise<void>;
}

/** The accounts a test provider knows by default. */
export const DEFAULT_TEST_ACCOUNTS: Readonly<Record<string, Record<string, unknown>>> = {
  alice: { name: 'Alice Example', email: 'alice@example.test', email_verified: true, groups: ['staff'] },
  bob: { name: 'Bob', email: 'bob@example.test', email_verified: true, groups: ['admin', 'staff'] },
};

const DEFAULT_CLIENT: TestIdpClient = {
  clientId: 'test-client',
  clientSecret: 'test-secret',
  redirectUris: ['http://127.0.0.1/callback'],
};

/**
 * Starts the real `oidc-provider` in-process on `http://127.0.0.1:<free port>` (plain http; relying parties need
 * openid-client's `allowInsecureRequests`). It has the devInteractions login and consent forms, PKCE (S256)
 * required, refresh tokens for every authorization code grant, RP-initiated and back-channel logout, revocation
 * and userinfo; storage is the provider's in-memory adapter, one per provider.
 *
 * oidc-provider grants `offline_access` only when the request also says `prompt=consent`. Without it the refresh
 * token is still issued here, but bound to the provider session (see {@link TestIdpTtl.session}). Reusing a
 * rotated refresh token fails with `invalid_grant` and revokes the whole grant, the newest refresh token included.
 */
export async function startTestIdp(options: TestIdpOptions = {}): Promise<TestIdp> {
  const server = createServer();
  // Until the provider is built (keys, configuration), answer 503 like a starting server, instead of holding requests.
  const starting = (_req: unknown, res: import('node:http').ServerResponse) => void res.writeHead(503, { 'retry-after': '1' }).end();
  server.on('request', starting);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  try {
    return await createIdp(server, issuer, options);
  } catch (error) {
    server.close();
    throw error;
  }
}

async function createIdp(server: Server, issuer: string, options: TestIdpOptions): Promise<TestIdp> {
  const providerKey = await newSigningKey();
  let foreignKey: Promise<SigningKey> | undefined;
  // A deep copy: tests may edit `idp.accounts` without touching the defaults other providers start from.
  const accounts = new Map(Object.entries(structuredClone(options.accounts ?? DEFAULT_TEST_ACCOUNTS)));
  const ttl = options.ttl ?? {};
  const refreshTtl = ttl.refreshToken ?? 3600;
  const sessionTtl = ttl.session ?? 3600;

  const configuration: Configuration = {
    clients: (options.clients ?? [DEFAULT_CLIENT]).map(toClientMetadata),
    jwks: { keys: [providerKey.privateJwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    pkce: { required: () => true },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    conformIdTokenClaims: options.conformIdTokenClaims ?? false,
    // The default issues refresh tokens only for a granted offline_access scope; tests want one on every login.
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: options.rotateRefreshToken ?? true,
    ttl: {
      AccessToken: ttl.accessToken ?? 60,
      AuthorizationCode: ttl.authorizationCode ?? 60,
      IdToken: ttl.idToken ?? 60,
      RefreshToken: refreshTtl,
      Session: sessionTtl,
      Grant: ttl.grant ?? Math.max(refreshTtl, sessionTtl),
      Interaction: ttl.interaction ?? 600,
    },
    findAccount: (_ctx, sub) => ({
      accountId: sub,
      claims: () => ({ ...(accounts.get(sub) ?? claimsForUnknownAccount(sub)), sub }),
    }),
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      backchannelLogout: { enabled: true },
      revocation: { enabled: true, allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId },
      userinfo: { enabled: true },
    },
    // The provider's fetch refuses loopback addresses (SSRF protection); back-channel logout targets loopback here.
    fetch: (input, init) => {
      const { dispatcher: _ssrfGuard, ...rest } = (init ?? {}) as RequestInit & { dispatcher?: unknown };
      return globalThis.fetch(input, rest);
    },
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.body = `<!DOCTYPE html><title>error</title><pre>${escapeHtml(JSON.stringify(out))}</pre>`;
    },
  };

  const provider = await withoutProviderNotices(async () => {
    const { default: ProviderClass } = await import('oidc-provider');
    return new ProviderClass(issuer, configuration);
  });

  const counts = emptyCounts();
  const clientAuth: TestIdpClientAuth[] = [];
  const grantOwners = new Map<string, string>();
  const idTokenMutations: Array<(claims: JWTPayload) => JWTPayload> = [];

  provider.on('grant.success', (ctx) => {
    const grantType = ctx.oidc.params?.grant_type;
    if (grantType === 'authorization_code' || grantType === 'refresh_token') counts.grants[grantType] += 1;
  });
  provider.on('grant.error', (ctx, err) => {
    const grantType = ctx.oidc?.params?.grant_type;
    counts.grantErrors.push({
      grantType: typeof grantType === 'string' ? grantType : undefined,
      error: err.error ?? err.name,
      description: err.error_description,
      detail: err.error_detail,
    });
  });
  provider.on('grant.success', (ctx) => {
    const client = ctx.oidc.client;
    if (!client) return;
    const assertion = ctx.oidc.params?.client_assertion;
    clientAuth.push({
      clientId: client.clientId,
      method: String(client.clientAuthMethod),
      assertionHeader: typeof assertion === 'string' ? (decodeProtectedHeader(assertion) as JWTHeaderParameters) : undefined,
    });
  });
  provider.on('backchannel.success', () => {
    counts.backchannel.success += 1;
  });
  provider.on('backchannel.error', (_ctx, err, client) => {
    counts.backchannel.errors.push({ clientId: client.clientId, message: err.message });
  });
  provider.on('grant.saved', (grant) => {
    if (grant.jti && grant.accountId) grantOwners.set(grant.jti, grant.accountId);
  });
  provider.on('grant.destroyed', (grant) => {
    if (grant.jti) grantOwners.delete(grant.jti);
  });

  provider.use(async (ctx, next) => {
    await next();
    if (ctx.method !== 'POST' || ctx.path !== '/token' || ctx.status !== 200) return;
    const body: unknown = ctx.body;
    if (!isRecord(body) || typeof body.id_token !== 'string') return;
    const mutate = idTokenMutations.shift();
    if (!mutate) return;
    const { alg, kid, typ } = decodeProtectedHeader(body.id_token);
    const claims = mutate({ ...decodeJwt(body.id_token) });
    const header: JWTHeaderParameters = { alg: alg ?? 'RS256', kid: kid ?? providerKey.kid };
    if (typ) header.typ = typ;
    ctx.body = { ...body, id_token: await new SignJWT(claims).setProtectedHeader(header).sign(providerKey.privateKey) };
  });

  server.removeAllListeners('request');
  const handle = provider.callback();
  server.on('request', (req, res) => void handle(req, res));

  let closed: Promise<void> | undefined;
  return {
    issuer,
    provider,
    accounts,
    counts,
    clientAuth,
    kid: providerKey.kid,
    resetCounts() {
      // In place, so references a test holds to `counts.grants` etc. stay live.
      counts.grants.authorization_code = 0;
      counts.grants.refresh_token = 0;
      counts.grantErrors.length = 0;
      clientAuth.length = 0;
      counts.backchannel.success = 0;
      counts.backchannel.errors.length = 0;
    },
    async signJwt(payload, { key, header }) {
      const signer = key === 'provider' ? providerKey : await (foreignKey ??= newSigningKey());
      return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: providerKey.kid, ...header }).sign(signer.privateKey);
    },
    tamperNextIdToken(mutate) {
      idTokenMutations.push(mutate);
    },
    async revokeGrants(accountId) {
      const ids = [...grantOwners].filter(([, owner]) => accountId === undefined || owner === accountId);
      for (const [grantId] of ids) {
        await Promise.all([
          provider.AccessToken.revokeByGrantId(grantId),
          provider.RefreshToken.revokeByGrantId(grantId),
          provider.AuthorizationCode.revokeByGrantId(grantId),
        ]);
        const grant = await provider.Grant.find(grantId);
        await grant?.destroy();
        grantOwners.delete(grantId);
      }
      return ids.length;
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  privateJwk: JWK;
}

async function newSigningKey(): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, privateKey, privateJwk: { ...jwk, kid, alg: 'RS256', use: 'sig' } };
}

function toClientMetadata(client: TestIdpClient): ClientMetadata {
  const metadata: ClientMetadata = {
    client_id: client.clientId,
    redirect_uris: client.redirectUris,
    post_logout_redirect_uris: client.postLogoutRedirectUris ?? [],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  };
  if (client.jwks) {
    metadata.token_endpoint_auth_method = 'private_key_jwt';
    metadata.jwks = client.jwks;
  } else if (client.clientSecret !== undefined) {
    metadata.token_endpoint_auth_method = 'client_secret_basic';
    metadata.client_secret = client.clientSecret;
  } else {
    throw new Error(`test client ${client.clientId}: give clientSecret or jwks`);
  }
  if (client.backchannelLogoutUri) {
    metadata.backchannel_logout_uri = client.backchannelLogoutUri;
    metadata.backchannel_logout_session_required = true;
  }
  return metadata;
}

function claimsForUnknownAccount(accountId: string): Record<string, unknown> {
  return { name: accountId, email: `${accountId}@example.test`, email_verified: false, groups: [] };
}

function emptyCounts(): TestIdpCounts {
  return {
    grants: { authorization_code: 0, refresh_token: 0 },
    grantErrors: [],
    backchannel: { success: 0, errors: [] },
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

type RpInitiatedLogout = NonNullable<NonNullable<Configuration['features']>['rpInitiatedLogout']>;

// Our own pages instead of the defaults, whose first use prints a "you SHOULD change it" notice.
const logoutSource: NonNullable<RpInitiatedLogout['logoutSource']> = (ctx, form) => {
  ctx.type = 'html';
  ctx.body = `<!DOCTYPE html><title>Logout Request</title>${form}
<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`;
};

const postLogoutSuccessSource: NonNullable<RpInitiatedLogout['postLogoutSuccessSource']> = (ctx) => {
  ctx.type = 'html';
  ctx.body = '<!DOCTYPE html><title>Sign-out Success</title><p>Signed out.</p>';
};

/**
 * Runs `fn` with oidc-provider's console notices filtered out: on import it warns that Node 20 is unsupported,
 * and every construction warns about the in-memory adapter and devInteractions, all expected in tests.
 */
async function withoutProviderNotices<T>(fn: () => Promise<T>): Promise<T> {
  const { warn, info } = console;
  const filtered =
    (original: (...args: unknown[]) => void) =>
    (...args: unknown[]): void => {
      if (typeof args[0] === 'string' && args[0].includes('oidc-provider ')) return;
      original.apply(console, args);
    };
  console.warn = filtered(warn);
  console.info = filtered(info);
  try {
    return await fn();
  } finally {
    console.warn = warn;
    console.info = info;
  }
}
