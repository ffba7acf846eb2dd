// Child processes (servers, autocannon runs): every one is tracked and killed on the way out,
// whatever the way out is; and the driver's own way out on bad input (`fail`).
import { setTimeout as sleep } from 'node:timers/promises';

const children = new Set();

export function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function killAll(signal) {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill(signal);
      } catch {
        /* already gone */
      }
    }
  }
}

process.on('exit', () => killAll('SIGKILL'));

/**
 * On SIGINT, SIGTERM or SIGHUP: SIGTERM every child; once they are gone (or after 1 s), `cleanup()`
 * (given at most 2 s more), then exit with 130.
 */
export function stopOnSignals(cleanup) {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      process.stderr.write(`\n${signal}: stopping servers\n`);
      killAll('SIGTERM');
      const exit = async () => {
        clearInterval(poll);
        await Promise.race([cleanup().catch(() => undefined), sleep(2000)]);
        process.exit(130);
      };
      const timer = setTimeout(exit, 1000);
      timer.unref();
      const poll = setInterval(() => {
        if (children.size === 0) {
          clearTimeout(timer);
          exit();
        }
      }, 50);
      poll.unref();
    });
  }
}

export function fail(message) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(1);
}
