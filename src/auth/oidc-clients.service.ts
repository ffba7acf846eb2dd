import type { webcrypto } from 'node:crypto';
import { types } from 'node:util';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { createRemoteJWKSet, importJWK, type JWK, type JWTVerifyGetKey } from 'jose';
import * as oidc from 'openid-client';
import { AUTH_RESOLVED_OPTIONS } from './auth.constants.js';
import type { ResolvedAuthOptions, ResolvedAuthProvider } from './auth-options.resolver.js';
import { AuthError } from './errors/auth.error.js';
import { AuthMessages } from './errors/auth.messages.js';

/** A discovered provider: its options, openid-client configuration and key set. */
export interface OidcClient {
  readonly provider: ResolvedAuthProvider;
  readonly config: oidc.Configuration;
  /** The provider's signing keys (for back-channel logout tokens), fetched on first use and cached. */
  readonly keys: JWTVerifyGetKey;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Discovers every configured provider once, at module init, retrying with a growing delay so an
 * app does not die because its provider started a little later; then holds their configurations.
 * Subclass and override {@link OidcClients.discover} to build a configuration another way (a
 * static metadata document, a custom fetch).
 */
@Injectable()
export class OidcClients implements OnModuleInit {
  private readonly logger = new Logger('AuthModule');
  private readonly clients = new Map<string, OidcClient>();

  constructor(@Inject(AUTH_RESOLVED_OPTIONS) protected readonly options: ResolvedAuthOptions) {}

  async onModuleInit(): Promise<void> {
    await Promise.all([...this.options.providers.values()].map((provider) => this.discoverWithRetry(provider)));
  }

  /** The client of provider `name`. @throws AuthError `AUTH_UNKNOWN_PROVIDER` */
  get(name: string): OidcClient {
    const client = this.clients.get(name);
    if (!client) throw new AuthError('AUTH_UNKNOWN_PROVIDER', AuthMessages.unknownProvider(name));
    return client;
  }

  /** Whether provider `name` is configured. */
  has(name: string): boolean {
    return this.clients.has(name);
  }

  /** Every discovered client. */
  all(): OidcClient[] {
    return [...this.clients.values()];
  }

  private async discoverWithRetry(provider: ResolvedAuthProvider): Promise<void> {
    const { discoveryAttempts, discoveryDelay } = this.options;
    let delay = discoveryDelay;
    let lastError: unknown;
    // A bad key is a configuration error: say so at once instead of retrying discovery.
    const auth = await this.clientAuth(provider);
    for (let attempt = 1; attempt <= discoveryAttempts; attempt++) {
      try {
        const config = await this.discover(provider, auth);
        const jwksUri = config.serverMetadata().jwks_uri;
        const keys: JWTVerifyGetKey = jwksUri
          ? createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: this.options.httpTimeout })
          : () => Promise.reject(new Error('the provider publishes no jwks_uri'));
        this.clients.set(provider.name, { provider, config, keys });
        return;
      } catch (error) {
        lastError = error;
        if (attempt < discoveryAttempts) {
          this.logger.warn(
            `Discovery of provider "${provider.name}" failed (attempt ${attempt}/${discoveryAttempts}): ${describe(error)}; retrying in ${delay} ms`,
          );
          await sleep(delay);
          delay = Math.min(delay * 2, 10_000);
        }
      }
    }
    throw new AuthError(
      'AUTH_DISCOVERY_FAILED',
      AuthMessages.discoveryFailed(provider.name, provider.issuer, discoveryAttempts, describe(lastError)),
      {
        cause: lastError,
      },
    );
  }

  /**
   * How the client authenticates at the token endpoint: `private_key_jwt`, `client_secret_basic`,
   * or none (a public client with PKCE).
   * @throws AuthError `AUTH_OPTIONS_INVALID` when the private key cannot be imported
   */
  protected async clientAuth(provider: ResolvedAuthProvider): Promise<oidc.ClientAuth> {
    if (provider.privateKeyJwt) {
      const { key, alg } = provider.privateKeyJwt;
      const kid = provider.privateKeyJwt.kid ?? (key as webcrypto.JsonWebKey & { kid?: string }).kid;
      let cryptoKey: webcrypto.CryptoKey;
      try {
        cryptoKey = isCryptoKey(key)
          ? key
          : ((await importJWK(key as JWK, alg ?? (key as JWK).alg ?? defaultAlg(key as JWK))) as webcrypto.CryptoKey);
      } catch (cause) {
        throw new AuthError(
          'AUTH_OPTIONS_INVALID',
          AuthMessages.invalidOption(
            `providers.${provider.name}.privateKeyJwt.key`,
            `the key cannot be imported (${describe(cause)})`,
            'Give a private JWK (with `alg` for EC/OKP keys if unusual) or a private CryptoKey.',
          ),
          { cause },
        );
      }
      return oidc.PrivateKeyJwt(kid === undefined ? cryptoKey : { key: cryptoKey, kid });
    }
    if (provider.clientSecret !== undefined) return oidc.ClientSecretBasic(provider.clientSecret);
    return oidc.None();
  }

  /** Fetch the discovery document of `provider` and build its openid-client configuration. */
  protected async discover(provider: ResolvedAuthProvider, auth: oidc.ClientAuth): Promise<oidc.Configuration> {
    const metadata: Partial<oidc.ClientMetadata> = {};
    const insecure = new URL(provider.issuer).protocol === 'http:';
    const config = await oidc.discovery(new URL(provider.issuer), provider.clientId, metadata, auth, {
      timeout: Math.ceil(this.options.httpTimeout / 1000),
      execute: insecure ? [oidc.allowInsecureRequests] : [],
    });
    return config;
  }
}

// `webcrypto.CryptoKey` is undefined on Node 20 (so `instanceof` it throws); util.types knows every CryptoKey.
function isCryptoKey(key: unknown): key is webcrypto.CryptoKey {
  return types.isCryptoKey(key);
}

/** The algorithm a private JWK without `alg` (as `exportJWK` makes them) signs with: the usual one of its key type. */
function defaultAlg(jwk: JWK): string {
  if (jwk.kty === 'EC') return ({ 'P-384': 'ES384', 'P-521': 'ES512' } as Record<string, string>)[jwk.crv ?? ''] ?? 'ES256';
  if (jwk.kty === 'OKP') return 'Ed25519';
  return 'RS256';
}

/** A short reason for logs and errors: never a token (openid-client errors carry none in their messages). */
export function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
