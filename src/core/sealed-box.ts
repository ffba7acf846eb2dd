import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 1;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;

/**
 * Seals short texts for the browser to carry (AES-256-GCM, base64url): readable and forgeable by
 * nobody without the secrets. Each secret gives a key through HKDF-SHA256 with `salt`, so two
 * uses of one secret never share a key; the first secret seals and every secret opens, so
 * secrets rotate as signing secrets do. `context` (a cookie name, say) is authenticated with the
 * text, so a value sealed for one context cannot be replayed in another.
 *
 * @internal
 * @example
 * ```ts
 * const box = new SealedBox(secrets, 'nest-sessions/login-state');
 * const sealed = box.seal(JSON.stringify(value), 'sid.login');
 * box.open(sealed, 'sid.login'); // the JSON again, or undefined
 * ```
 */
export class SealedBox {
  private readonly keys: Buffer[];

  constructor(secrets: readonly string[], salt: string) {
    this.keys = secrets.map((secret) => Buffer.from(hkdfSync('sha256', secret, salt, 'aes-256-gcm', 32)));
  }

  /** `text` sealed under the first secret's key, bound to `context`. */
  seal(text: string, context: string): string {
    const iv = randomBytes(IV_LENGTH);
    const cipher = createCipheriv('aes-256-gcm', this.keys[0], iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  /** The text `sealed` holds, or `undefined` when it is malformed, tampered with, sealed for another context or under an unknown secret. */
  open(sealed: string, context: string): string | undefined {
    const raw = Buffer.from(sealed, 'base64url');
    if (raw.length < 1 + IV_LENGTH + TAG_LENGTH || raw[0] !== VERSION) return undefined;
    const iv = raw.subarray(1, 1 + IV_LENGTH);
    const tag = raw.subarray(1 + IV_LENGTH, 1 + IV_LENGTH + TAG_LENGTH);
    const body = raw.subarray(1 + IV_LENGTH + TAG_LENGTH);
    for (const key of this.keys) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv);
        decipher.setAAD(Buffer.from(context));
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
      } catch {
        // Not this key (or tampered); try the next one.
      }
    }
    return undefined;
  }
}
