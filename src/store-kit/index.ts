/**
 * `nest-sessions/store-kit`: what a store author needs, and nothing an app needs. The store
 * contract, the ID and lock argument checks every store applies, error redaction for store
 * errors, and the conformance suite (run with Vitest) that every built-in store passes.
 *
 * @example
 * ```ts
 * import { describeStoreConformance, type SessionStore } from 'nest-sessions/store-kit';
 * describeStoreConformance('MyStore', () => new MyStore());
 * ```
 */
export type * from '../core/session-store.interface.js';
export { isClientSideStore, type ClientSideSessionStore, type ClientSideStoreContext } from '../core/client-side-store.interface.js';
export { SessionError, type SessionErrorCode } from '../core/errors/session.error.js';
export { generateSessionId, isValidSessionId, MIN_ID_LENGTH, MAX_ID_LENGTH } from '../core/session-id.js';
export { checkLockArguments, isValidLockOwner, isValidLockTtl, MAX_LOCK_OWNER_LENGTH, MAX_LOCK_TTL } from '../core/lock-arguments.js';
export { redactError } from '../core/redact-error.js';
export { describeStoreConformance, type StoreConformanceOptions } from './store-conformance.js';
