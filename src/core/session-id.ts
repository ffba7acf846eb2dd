import { randomBytes } from 'node:crypto';

/** Smallest accepted `idLength`: 22 base64url characters carry 132 bits, above the 128-bit floor. */
export const MIN_ID_LENGTH = 22;
/** Largest accepted `idLength`. */
export const MAX_ID_LENGTH = 128;
/** Default `idLength`: 32 base64url characters, 192 bits of entropy. */
export const DEFAULT_ID_LENGTH = 32;

const ID_PATTERN = /^[A-Za-z0-9_-]+$/;

/**
 * Whether `id` has the shape of a session ID this package issues: base64url characters only,
 * between {@link MIN_ID_LENGTH} and {@link MAX_ID_LENGTH} long. Stores call it before an ID is
 * used as a key, a file name or a query parameter.
 */
export function isValidSessionId(id: unknown): id is string {
  return typeof id === 'string' && id.length >= MIN_ID_LENGTH && id.length <= MAX_ID_LENGTH && ID_PATTERN.test(id);
}

/** A new random session ID of `length` base64url characters (6 bits of entropy each). */
export function generateSessionId(length: number = DEFAULT_ID_LENGTH): string {
  return randomBytes(Math.ceil((length * 3) / 4))
    .toString('base64url')
    .slice(0, length);
}
