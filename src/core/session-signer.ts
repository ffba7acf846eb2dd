import { createHmac, timingSafeEqual } from 'node:crypto';

/** How many verified tokens {@link SessionSigner} remembers. */
const VERIFIED_CACHE_SIZE = 10_000;

/**
 * Signs session IDs with HMAC-SHA256 and checks signatures in constant time. The first secret
 * signs; every secret verifies, so secrets rotate without logging anyone out.
 *
 * Tokens that verified are remembered (a bounded map, oldest out first), so a returning visitor's
 * cookie is checked with one lookup instead of an HMAC per secret; a token that failed is never
 * remembered, so forging one costs the full check every time.
 */
export class SessionSigner {
  private readonly verified = new Map<string, string>();

  constructor(private readonly secrets: readonly string[]) {}

  /** `<id>.<signature>` */
  sign(id: string): string {
    const token = `${id}.${this.mac(this.secrets[0], id)}`;
    this.remember(token, id);
    return token;
  }

  /**
   * The ID inside a signed token, or `undefined` when the token is malformed or its signature
   * matches none of the secrets.
   */
  unsign(token: string): string | undefined {
    const known = this.verified.get(token);
    if (known !== undefined) return known;
    const dot = token.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const id = token.slice(0, dot);
    const given = Buffer.from(token.slice(dot + 1));
    let valid = false;
    // Every secret is checked even after a match, so timing does not reveal which one matched.
    for (const secret of this.secrets) {
      const expected = Buffer.from(this.mac(secret, id));
      if (expected.length === given.length && timingSafeEqual(expected, given)) valid = true;
    }
    if (!valid) return undefined;
    this.remember(token, id);
    return id;
  }

  private remember(token: string, id: string): void {
    if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, id);
  }

  private mac(secret: string, id: string): string {
    return createHmac('sha256', secret).update(id).digest('base64url');
  }
}
