import { deriveStoreKey } from './derived-store-key.js';

const HANDLE_PURPOSE = 'nest-sessions:handle:';
/** Marks a handle; `.` never occurs in a session ID, so no handle is ever taken for one. */
const HANDLE_PREFIX = 'h.';

/**
 * The handle of the session `id`: `h.` + base64url(HMAC-SHA256(secret, 'nest-sessions:handle:' + id)).
 * Stable for the session's ID under one secret, unguessable, and not a bearer value: it is not a
 * session ID (the `.` is outside the ID alphabet), nor signed, so no transport accepts it, and the
 * ID cannot be computed back from it. Events and device lists name sessions by it.
 *
 * @internal
 * @example sessionHandle(secrets[0], id) // 'h.Xr4…'
 */
export function sessionHandle(secret: string, id: string): string {
  return HANDLE_PREFIX + deriveStoreKey(secret, HANDLE_PURPOSE, id);
}
