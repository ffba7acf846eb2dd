import { isPromiseLike, type MaybePromise } from '../core/maybe-promise.js';
import type { SessionStore } from '../core/session-store.interface.js';
import { SessionError } from '../core/errors/session.error.js';
import { SessionMessages } from '../core/errors/session.messages.js';
import { StoreDeadlines } from './store-deadline.js';

/**
 * Runs calls to one server-side store within `storeTimeout`, for the session engine and the
 * services beside it (`SessionLocks`, `SessionIndex`). Stores that answer from this process's
 * memory (`inProcess`) cannot hang and get no deadline.
 *
 * @internal
 */
export class StoreCalls {
  private readonly deadlines: StoreDeadlines | undefined;

  constructor(store: SessionStore, timeout: number) {
    this.deadlines = store.inProcess === true ? undefined : new StoreDeadlines(timeout);
  }

  /**
   * The outcome of `call`, or a `SessionError` coded `SESSION_STORE_UNAVAILABLE` (saying it failed
   * to `operation`, with the original error as `cause`) when it fails or does not answer in time.
   * Other `SessionError`s, such as `SESSION_INVALID_ID`, pass through unchanged.
   *
   * @example await calls.run('read a session index', () => store.get(id))
   */
  async run<R>(operation: string, call: () => MaybePromise<R>): Promise<R> {
    return this.call(operation, call);
  }

  /**
   * {@link StoreCalls.run} without a promise when the store answers synchronously: its value is
   * returned, its failure thrown. A promise gets the deadline and the failure mapping in one step.
   */
  call<R>(operation: string, call: () => MaybePromise<R>): MaybePromise<R> {
    let pending: MaybePromise<R>;
    try {
      pending = call();
    } catch (cause) {
      throw storeFailure(operation, cause);
    }
    if (!isPromiseLike(pending)) return pending;
    const failure = (cause: unknown): SessionError => storeFailure(operation, cause);
    if (this.deadlines === undefined) {
      return pending.then(undefined, (cause: unknown) => {
        throw failure(cause);
      });
    }
    return this.deadlines.race(pending, failure);
  }

  /** Stop the deadline sweeper (calls still pending settle on their own). */
  close(): void {
    this.deadlines?.close();
  }
}

/**
 * What a failed store call to `operation` is reported as: the store's own SessionErrors (such as
 * `SESSION_INVALID_ID`) as they are, anything else as `SESSION_STORE_UNAVAILABLE` with it as `cause`.
 *
 * @internal
 */
export function storeFailure(operation: string, cause: unknown): SessionError {
  if (cause instanceof SessionError && cause.code !== 'SESSION_STORE_UNAVAILABLE') return cause;
  return new SessionError('SESSION_STORE_UNAVAILABLE', SessionMessages.storeUnavailable(operation), { cause });
}
