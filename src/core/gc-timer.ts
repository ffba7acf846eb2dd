import { SessionError } from './errors/session.error.js';
import { SessionMessages } from './errors/session.messages.js';

/**
 * The `gcInterval` option of a store: `fallback` when absent, else a non-negative number of ms.
 * @throws SessionError `SESSION_OPTIONS_INVALID` naming the option.
 */
export function gcIntervalOption(value: number | undefined, fallback: number): number {
  const interval = value ?? fallback;
  if (!Number.isFinite(interval) || interval < 0) {
    throw new SessionError(
      'SESSION_OPTIONS_INVALID',
      SessionMessages.invalidOption('gcInterval', 'it must be a non-negative number of milliseconds', 'Pass 0 to disable the timer.'),
    );
  }
  return interval;
}

/**
 * Run `gc` every `interval` ms on an `unref()`ed timer that never keeps the process alive. Sweeps
 * never overlap, and a failed one waits for the next tick (there is nobody to report to on a timer).
 * Resolves `undefined` for an interval of 0. Stop it with `clearInterval`.
 */
export function startGcTimer(gc: () => Promise<unknown>, interval: number): NodeJS.Timeout | undefined {
  if (interval <= 0) return undefined;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    gc()
      .catch(() => undefined)
      .finally(() => {
        running = false;
      });
  }, interval);
  timer.unref();
  return timer;
}
