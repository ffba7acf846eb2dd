/**
 * A value now, or a promise of it later. Store calls return one: a store that answers from this
 * process's memory returns the value itself, so the engine finishes a request in the same tick
 * instead of waiting for the next turn of the microtask queue.
 */
export type MaybePromise<T> = T | Promise<T>;

/** Whether `value` is a promise (any thenable) rather than the value itself. */
export function isPromiseLike<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/**
 * `ok(result of run())`, synchronously when `run` answers synchronously, else as a promise; an
 * error of `run` (thrown or rejected) goes to `fail` when given, else it is thrown or rejected
 * again. Errors of `ok` and `fail` themselves are not caught.
 *
 * @internal
 * @example chain(() => store.get(id), (record) => record !== null, () => false)
 */
export function chain<T, R>(
  run: () => MaybePromise<T>,
  ok: (value: T) => MaybePromise<R>,
  fail?: (error: unknown) => MaybePromise<R>,
): MaybePromise<R> {
  let value: MaybePromise<T>;
  try {
    value = run();
  } catch (error) {
    if (fail === undefined) throw error;
    return fail(error);
  }
  if (isPromiseLike(value)) return value.then(ok, fail);
  return ok(value);
}
