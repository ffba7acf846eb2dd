/**
 * Deadlines for store calls without a timer per call: pending calls sit in a set that one
 * `unref()`ed interval sweeps, rejecting those past their deadline. A call can therefore run up to
 * one sweep period past `timeout` before it is failed; the period is a quarter of `timeout`, at
 * most 250 ms.
 *
 * @internal
 */
export class StoreDeadlines {
  private readonly pending = new Set<Pending>();
  private timer: NodeJS.Timeout | undefined;
  private readonly period: number;

  constructor(private readonly timeout: number) {
    this.period = Math.max(5, Math.min(250, Math.floor(timeout / 4)));
  }

  /**
   * `promise`, or a rejection with `Error('no answer from the store within … ms')` if it is late;
   * `mapError` turns either rejection into what the caller reports (one promise, not two).
   */
  race<R>(promise: Promise<R>, mapError?: (error: unknown) => unknown): Promise<R> {
    return new Promise<R>((resolve, rejectWith) => {
      const reject = mapError === undefined ? rejectWith : (error: unknown) => rejectWith(mapError(error));
      const entry: Pending = { deadline: Date.now() + this.timeout, reject };
      this.pending.add(entry);
      this.timer ??= this.startSweeping();
      promise.then(
        (value) => {
          this.pending.delete(entry);
          resolve(value);
        },
        (error: unknown) => {
          this.pending.delete(entry);
          reject(error);
        },
      );
    });
  }

  /** Stop sweeping (pending calls are left to settle on their own). */
  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private startSweeping(): NodeJS.Timeout {
    const timer = setInterval(() => {
      if (this.pending.size === 0) {
        this.close();
        return;
      }
      const now = Date.now();
      for (const entry of this.pending) {
        if (entry.deadline <= now) {
          this.pending.delete(entry);
          entry.reject(new Error(`no answer from the store within ${this.timeout} ms`));
        }
      }
    }, this.period);
    timer.unref();
    return timer;
  }
}

interface Pending {
  deadline: number;
  reject: (error: Error) => void;
}
