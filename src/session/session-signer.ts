import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signs session IDs with HMAC-SHA256 and checks signatures in constant time. The first secret
 * signs; every secret verifies, so secrets rotate without logging anyone out.
 */
export class SessionSigner {
  constructor(private readonly secrets: readonly string[]) {}

  /** `<id>.<signature>` */
  sign(id: string): string {
    return `${id}.${this.mac(this.secrets[0]!, id)}`;
  }

  /**
   * The ID inside a signed token, or `undefined` when the token is malformed or its signature
   * matches none of the secrets.
   */
  unsign(token: string): string | undefined {
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
    return valid ? id : undefined;
  }

  private mac(secret: string, id: string): string {
    return createHmac('sha256', secret).update(id).digest('base64url');
  }
}
