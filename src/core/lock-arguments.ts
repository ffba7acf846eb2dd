import { SessionError } from './errors/session.error.js';
import { SessionMessages } from './errors/session.messages.js';
import { isValidSessionId } from './session-id.js';

/** Longest lock owner a store accepts. */
export const MAX_LOCK_OWNER_LENGTH = 64;
/** Longest lock a store takes: 400 days, the longest a session can live. */
export const MAX_LOCK_TTL = 400 * 86_400_000;

/** Printable ASCII without space: the same bytes in every backend's encoding, safe in any protocol. */
const OWNER_PATTERN = /^[\x21-\x7e]{1,64}$/;

/**
 * Whether `owner` can name the holder of a lock (see `SessionStore.tryLock`): 1 to
 * {@link MAX_LOCK_OWNER_LENGTH} printable ASCII characters without spaces.
 *
 * @example isValidLockOwner(randomBytes(24).toString('base64url')) // true
 */
export function isValidLockOwner(owner: unknown): owner is string {
  return typeof owner === 'string' && OWNER_PATTERN.test(owner);
}

/**
 * Whether `ttlMs` is a lock lifetime a store accepts: a number of milliseconds above 0 and at
 * most {@link MAX_LOCK_TTL}.
 *
 * @example isValidLockTtl(30_000) // true
 */
export function isValidLockTtl(ttlMs: unknown): ttlMs is number {
  return typeof ttlMs === 'number' && Number.isFinite(ttlMs) && ttlMs > 0 && ttlMs <= MAX_LOCK_TTL;
}

/**
 * Check the arguments of `SessionStore.tryLock` before they reach a backend: `key` must have
 * the shape of a session ID (`isValidSessionId`), `owner` and `ttlMs` see {@link isValidLockOwner}
 * and {@link isValidLockTtl}.
 *
 * @throws {SessionError} `SESSION_INVALID_ID` when one of them is malformed.
 * @example
 * ```ts
 * async tryLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
 *   checkLockArguments(key, owner, ttlMs);
 *   ...
 * }
 * ```
 */
export function checkLockArguments(key: unknown, owner: unknown, ttlMs: unknown): void {
  if (!isValidSessionId(key) || !isValidLockOwner(owner) || !isValidLockTtl(ttlMs)) {
    throw new SessionError('SESSION_INVALID_ID', SessionMessages.invalidLock());
  }
}
