import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SessionSigner } from './session-signer.js';

const SECRET_A = 'a-secret-that-is-long-enough-0123456789';
const SECRET_B = 'b-secret-that-is-long-enough-0123456789';
const SECRET_C = 'c-secret-that-is-long-enough-0123456789';
const ID = 'Abc_def-GHIjklMNOpqrSTUvwxYZ0123';

function hmac(secret: string, id: string): string {
  return createHmac('sha256', secret).update(id).digest('base64url');
}

/** Flip one character of `text` at `index` to a different base64url character. */
function flip(text: string, index: number): string {
  const char = text[index] === 'A' ? 'B' : 'A';
  return text.slice(0, index) + char + text.slice(index + 1);
}

describe('SessionSigner', () => {
  describe('sign', () => {
    it('writes `<id>.<HMAC-SHA256 of the id, base64url>`', () => {
      const token = new SessionSigner([SECRET_A]).sign(ID);
      expect(token).toBe(`${ID}.${hmac(SECRET_A, ID)}`);
    });

    it('produces a 43-character base64url signature without padding', () => {
      const token = new SessionSigner([SECRET_A]).sign(ID);
      const signature = token.slice(ID.length + 1);
      expect(signature).toMatch(/^[A-Za-z0-9_-]{43}$/);
    });

    it('is deterministic and depends on the id and the secret', () => {
      const signer = new SessionSigner([SECRET_A]);
      expect(signer.sign(ID)).toBe(signer.sign(ID));
      const signature = (token: string) => token.slice(token.lastIndexOf('.') + 1);
      expect(signature(signer.sign(ID))).not.toBe(signature(signer.sign(`${ID}x`)));
      expect(signature(signer.sign(ID))).not.toBe(signature(new SessionSigner([SECRET_B]).sign(ID)));
    });

    it('signs with the first secret when several are given', () => {
      const token = new SessionSigner([SECRET_B, SECRET_A]).sign(ID);
      expect(token).toBe(`${ID}.${hmac(SECRET_B, ID)}`);
      expect(token).not.toBe(`${ID}.${hmac(SECRET_A, ID)}`);
    });
  });

  describe('unsign', () => {
    it('returns the id of a token it signed', () => {
      const signer = new SessionSigner([SECRET_A]);
      expect(signer.unsign(signer.sign(ID))).toBe(ID);
    });

    it('round-trips many generated-looking ids', () => {
      const signer = new SessionSigner([SECRET_A, SECRET_B]);
      for (const id of ['x', 'a'.repeat(22), 'Z'.repeat(128), '-_-_-_-_-_-_-_-_-_-_-_', ID]) {
        expect(signer.unsign(signer.sign(id))).toBe(id);
      }
    });

    it('rejects a token whose id was changed', () => {
      const signer = new SessionSigner([SECRET_A]);
      const signature = hmac(SECRET_A, ID);
      expect(signer.unsign(`${flip(ID, 0)}.${signature}`)).toBeUndefined();
      expect(signer.unsign(`${ID}x.${signature}`)).toBeUndefined();
      expect(signer.unsign(`${ID.slice(1)}.${signature}`)).toBeUndefined();
    });

    it('rejects a token whose signature was changed', () => {
      const signer = new SessionSigner([SECRET_A]);
      const signature = hmac(SECRET_A, ID);
      expect(signer.unsign(`${ID}.${flip(signature, 0)}`)).toBeUndefined();
      expect(signer.unsign(`${ID}.${flip(signature, 42)}`)).toBeUndefined();
      expect(signer.unsign(`${ID}.${signature.slice(0, -1)}`)).toBeUndefined();
      expect(signer.unsign(`${ID}.${signature}A`)).toBeUndefined();
    });

    it('rejects the signature in padded standard base64', () => {
      const signer = new SessionSigner([SECRET_A]);
      const base64 = createHmac('sha256', SECRET_A).update(ID).digest('base64');
      expect(base64.endsWith('=')).toBe(true);
      expect(signer.unsign(`${ID}.${base64}`)).toBeUndefined();
    });

    it('rejects a signature with multi-byte characters (different byte length)', () => {
      const signer = new SessionSigner([SECRET_A]);
      const signature = hmac(SECRET_A, ID);
      expect(signer.unsign(`${ID}.é${signature.slice(1)}`)).toBeUndefined();
    });

    it('rejects the signature of another id', () => {
      const signer = new SessionSigner([SECRET_A]);
      const other = 'Zyx_def-GHIjklMNOpqrSTUvwxYZ0123';
      expect(signer.unsign(`${ID}.${hmac(SECRET_A, other)}`)).toBeUndefined();
    });

    it('rejects a token without a dot', () => {
      const signer = new SessionSigner([SECRET_A]);
      expect(signer.unsign(`${ID}${hmac(SECRET_A, ID)}`)).toBeUndefined();
      expect(signer.unsign(ID)).toBeUndefined();
    });

    it('rejects an empty token, a lone dot and empty parts', () => {
      const signer = new SessionSigner([SECRET_A]);
      expect(signer.unsign('')).toBeUndefined();
      expect(signer.unsign('.')).toBeUndefined();
      expect(signer.unsign(`${ID}.`)).toBeUndefined();
      // An empty id, even with the correct HMAC of the empty string, is refused (dot at index 0).
      expect(signer.unsign(`.${hmac(SECRET_A, '')}`)).toBeUndefined();
    });

    it('rejects a token signed with a secret it does not know', () => {
      const mine = new SessionSigner([SECRET_A]);
      const theirs = new SessionSigner([SECRET_B]);
      expect(mine.unsign(theirs.sign(ID))).toBeUndefined();
      expect(theirs.unsign(mine.sign(ID))).toBeUndefined();
    });

    it('rejects a token signed with a secret that differs only in case', () => {
      const mine = new SessionSigner([SECRET_A]);
      const theirs = new SessionSigner([SECRET_A.toUpperCase()]);
      expect(mine.unsign(theirs.sign(ID))).toBeUndefined();
    });

    it('rejects everything when it has no secrets', () => {
      const signer = new SessionSigner([]);
      expect(signer.unsign(`${ID}.${hmac(SECRET_A, ID)}`)).toBeUndefined();
    });
  });

  describe('secret rotation', () => {
    it('accepts a token signed by the old secret when the list is [new, old]', () => {
      const before = new SessionSigner([SECRET_A]);
      const after = new SessionSigner([SECRET_B, SECRET_A]);
      const oldToken = before.sign(ID);
      expect(after.unsign(oldToken)).toBe(ID);
    });

    it('re-signs with the new secret, which the old-only signer no longer accepts', () => {
      const before = new SessionSigner([SECRET_A]);
      const after = new SessionSigner([SECRET_B, SECRET_A]);
      const newToken = after.sign(ID);
      expect(newToken).toBe(`${ID}.${hmac(SECRET_B, ID)}`);
      expect(after.unsign(newToken)).toBe(ID);
      expect(before.unsign(newToken)).toBeUndefined();
    });

    it('accepts tokens of any secret in the list, at any position', () => {
      const signer = new SessionSigner([SECRET_C, SECRET_B, SECRET_A]);
      for (const secret of [SECRET_A, SECRET_B, SECRET_C]) {
        expect(signer.unsign(`${ID}.${hmac(secret, ID)}`)).toBe(ID);
      }
    });

    it('stops accepting a secret once it is dropped from the list', () => {
      const oldToken = new SessionSigner([SECRET_A]).sign(ID);
      expect(new SessionSigner([SECRET_C, SECRET_B]).unsign(oldToken)).toBeUndefined();
    });
  });

  describe('ids containing dots', () => {
    it('splits at the last dot, so an id with dots round-trips', () => {
      const signer = new SessionSigner([SECRET_A]);
      const id = 'part.one.two';
      const token = signer.sign(id);
      expect(token).toBe(`${id}.${hmac(SECRET_A, id)}`);
      expect(signer.unsign(token)).toBe(id);
    });

    it('verifies the whole id before the last dot, not just its last segment', () => {
      const signer = new SessionSigner([SECRET_A]);
      const signatureOfTail = hmac(SECRET_A, 'two');
      expect(signer.unsign(`part.one.two.${signatureOfTail}`)).toBeUndefined();
      expect(signer.unsign(`evil.${signer.sign('two')}`)).toBeUndefined();
    });

    it('does not accept a valid token with extra text appended after its signature', () => {
      const signer = new SessionSigner([SECRET_A]);
      const token = signer.sign(ID);
      expect(signer.unsign(`${token}.extra`)).toBeUndefined();
    });
  });
});
