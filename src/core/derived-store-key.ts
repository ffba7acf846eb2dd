import { createHmac } from 'node:crypto';

/** Length of a derived key: all of an HMAC-SHA256 in base64url (256 bits in 43 characters). */
export const DERIVED_KEY_LENGTH = 43;

/**
 * A store key for `name` in the namespace `purpose`: base64url(HMAC-SHA256(secret, purpose + name))
 * cut to {@link DERIVED_KEY_LENGTH} characters. It has the shape of a session ID, so every store
 * accepts it where it accepts an ID, and it cannot be guessed, or its name learnt, without the
 * secret. Session IDs are signed with an HMAC of the bare ID, which never starts with a purpose
 * such as `nest-sessions:index:` (IDs contain no `:`), so no signature ever equals a derived key.
 *
 * @internal
 * @example deriveStoreKey(secrets[0], 'nest-sessions:lock:', 'refresh:alice')
 */
export function deriveStoreKey(secret: string, purpose: string, name: string): string {
  return createHmac('sha256', secret)
    .update(purpose + name)
    .digest('base64url')
    .slice(0, DERIVED_KEY_LENGTH);
}
