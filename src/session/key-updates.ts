import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { deriveStoreKey } from '../core/derived-store-key.js';
import { SessionError } from '../core/errors/session.error.js';
import { SessionMessages } from '../core/errors/session.messages.js';
import type { MaybePromise } from '../core/maybe-promise.js';
import type { SessionPatch, SessionStore } from '../core/session-store.interface.js';
import type { ResolvedSessionOptions } from './session-options.resolver.js';
import type { SessionUpdateOptions } from './session.js';
import { decodeValue, encodeValue } from './codecs/codec-calls.js';

/** Namespace of the locks `update()` takes, apart from `SessionLocks`' and the indexes'. */
const UPDATE_PURPOSE = 'nest-sessions:update:';
const DEFAULT_TIMEOUT = 5000;
/**
 * How long a lock outlives a holder that died with it. Longer than any update should take (a read,
 * `fn`, a write), short enough that a crashed instance blocks a key only briefly.
 */
const LOCK_TTL = 10_000;
/** Pause between two tries for a taken lock: random in [MIN, MIN + SPREAD) ms, so waiters do not retry in step. */
const MIN_PAUSE = 3;
const PAUSE_SPREAD = 12;

/**
 * `Session.update()` on a stored session: take the store's lock on (session, key), read the key as
 * the store holds it, apply `fn`, write that one key, release. Every server-side store with
 * `tryLock` and `unlock` serialises the updates of one key across requests and instances this way.
 * @internal
 */
export class KeyUpdates {
  constructor(
    private readonly options: ResolvedSessionOptions,
    private readonly storeCall: <R>(operation: string, call: () => MaybePromise<R>) => MaybePromise<R>,
  ) {}

  /**
   * Update `key` of the stored session `id`, writing it with expiry `expiresAt`. `lost` runs
   * before `SESSION_LOST` is thrown (the session is gone from the store).
   */
  async run(
    id: string,
    key: string,
    expiresAt: number,
    fn: (current: unknown) => unknown,
    options: SessionUpdateOptions | undefined,
    lost: () => void,
  ): Promise<{ value: unknown; encoded: string | undefined }> {
    const timeout = options?.timeout ?? DEFAULT_TIMEOUT;
    if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 0) {
      throw new SessionError(
        'SESSION_OPTIONS_INVALID',
        SessionMessages.invalidArgument(
          'Session.update',
          'options.timeout',
          'it must be a number of milliseconds, 0 or more',
          'Leave it out for 5000.',
        ),
      );
    }
    const store = this.options.store as SessionStore;
    if (typeof store.tryLock !== 'function' || typeof store.unlock !== 'function') {
      throw new SessionError('SESSION_NOT_SUPPORTED', SessionMessages.notSupported(store.constructor.name, 'update'));
    }
    const lock = deriveStoreKey(this.options.secrets[0], UPDATE_PURPOSE, `${id}:${key}`);
    const owner = randomBytes(12).toString('base64url');
    await this.acquire(store, lock, owner, key, timeout);
    try {
      const record = await this.storeCall('read the session', () => store.get(id));
      if (record === null) {
        lost();
        throw new SessionError('SESSION_LOST', SessionMessages.lost());
      }
      const raw = Object.hasOwn(record.data, key) ? record.data[key] : undefined;
      const { codec } = this.options;
      const value = await fn(raw === undefined ? undefined : decodeValue(codec, key, raw));
      const encoded = value === undefined ? undefined : encodeValue(codec, key, value);
      const patch: SessionPatch = { set: {}, unset: [] };
      if (encoded === undefined) patch.unset.push(key);
      else Object.defineProperty(patch.set, key, { value: encoded, enumerable: true, writable: true, configurable: true });
      const saved = await this.storeCall('save the session', () => store.patch(id, patch, expiresAt));
      if (!saved) {
        lost();
        throw new SessionError('SESSION_LOST', SessionMessages.lost());
      }
      return { value, encoded };
    } finally {
      // A lock left behind only delays the next update of this key until it expires.
      // storeCall rejects with SessionErrors only.
      await Promise.resolve(this.storeCall('release a lock', () => store.unlock!(lock, owner))).catch((error: SessionError) =>
        this.options.onError(error, {}),
      );
    }
  }

  private async acquire(store: SessionStore, lock: string, owner: string, key: string, timeout: number): Promise<void> {
    const deadline = Date.now() + timeout;
    for (let attempts = 1; ; attempts++) {
      if (await this.storeCall('take a lock', () => store.tryLock!(lock, owner, LOCK_TTL))) return;
      if (Date.now() >= deadline) throw new SessionError('SESSION_UPDATE_CONFLICT', SessionMessages.updateConflict(key, timeout));
      await sleep(MIN_PAUSE + Math.random() * PAUSE_SPREAD);
    }
  }
}
