// What a run costs, read from /proc: the server's own CPU time per request it received, and the CPU
// time of every other process (foreign load), with the noise guard built on it.
//
// Foreign load. The machine may be shared (other test runs, editors), and two cores leave no
// spare one. Foreign load is the CPU time of every process other than this driver (whose reaped
// children include the autocannon processes) and the servers, summed over /proc/<pid>/stat
// (utime+stime plus cutime+cstime, so short-lived processes count through their parents). It is
// reported per run as a share of one CPU; before a run the driver waits (bounded) for the machine
// to calm down, and a run that was noisy anyway is repeated once (bounded) and the quieter kept.
// The Redis server (when it runs on this machine and its process is visible) is counted apart:
// during a run of a Redis server its CPU time is part of the measurement, reported as `redisCpu`,
// not foreign load; at any other time it counts as foreign like every other process.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { redisState } from './redis.mjs';

export const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
/** Processes whose CPU time is not foreign load: this driver and the servers (watchServer). */
const ownPids = new Set([process.pid]);

/** The fields of /proc/<pid>/stat from field 3 (state) on, so f[11] is field 14; undefined when the process is gone. */
function statFields(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** utime+stime+cutime+cstime of `pid`, in clock ticks (0 when it is gone). */
function processTicks(pid) {
  const f = statFields(pid);
  return f ? Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) : 0;
}

/** utime+stime (fields 14 and 15 of /proc/<pid>/stat) of `pid` itself, in clock ticks (NaN when it is gone). */
export function cpuTicks(pid) {
  const f = statFields(pid);
  return f ? Number(f[11]) + Number(f[12]) : NaN;
}

/** CPU µs per request: `ticks` of CPU time (CLOCK_TICKS per second) over `handled` requests. */
const cpuPerRequest = (ticks, handled) => +(((ticks / CLOCK_TICKS) * 1e6) / handled).toFixed(2);

/**
 * A started server's CPU time is measured, not foreign load. It is read from the pid spawned:
 * `taskset` execs node, so that pid is the server's own; warns when it is not.
 */
export function watchServer(server) {
  ownPids.add(server.pid);
  const comm = readFileSync(`/proc/${server.pid}/comm`, 'utf8').trim();
  if (comm !== 'node' || server.reportedPid !== server.pid) {
    process.stderr.write(
      `warning: ${server.name}: pid ${server.pid} is \`${comm}\`${server.reportedPid !== server.pid ? ` and the server reports pid ${server.reportedPid}` : ''}; its cpu/req figures may not be the server's\n`,
    );
  }
}

/**
 * The server's request count once it has stopped moving (the requests still in flight when
 * autocannon stopped are answered), polled like redisDelta does for the Redis servers.
 */
async function settledCount(server) {
  let previous = (await server.stats()).handled;
  for (let poll = 0; poll < 20; poll++) {
    await sleep(100);
    const { handled } = await server.stats();
    if (handled === previous) break;
    previous = handled;
  }
  return previous;
}

/** Before a run: the server's request count (`handled`, when the caller has just asked for it) and CPU ticks. */
export async function usageBefore(server, handled) {
  return { handled: handled ?? (await server.stats()).handled, ticks: cpuTicks(server.pid) };
}

/**
 * After a run: the requests the server received since `before` (`handled`, when redisDelta has
 * counted them already; else once its count has settled) and its CPU time per request over them.
 * Both are read once it has answered its last in-flight requests, so both cover the same requests.
 */
export async function usageSince(server, before, handled) {
  handled ??= (await settledCount(server)) - before.handled;
  const ticks = cpuTicks(server.pid) - before.ticks;
  return { handled, cpuTicks: ticks, cpuUs: cpuPerRequest(ticks, handled) };
}

function foreignTicks() {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (entry.charCodeAt(0) <= 57 && /^\d+$/.test(entry) && !ownPids.has(Number(entry))) ticks += processTicks(entry);
  }
  return ticks;
}

export function foreignProbe() {
  const ticks = foreignTicks();
  return { ticks, redisTicks: redisState.pid === undefined ? 0 : processTicks(redisState.pid), at: performance.now() };
}

/**
 * CPU used by other processes since `before`, as a share of one CPU (0.5 = half a core);
 * without the Redis server's when `exceptRedis`.
 */
export function foreignShare(before, after = foreignProbe(), exceptRedis = false) {
  const seconds = (after.at - before.at) / 1000;
  const redis = exceptRedis ? Math.max(0, after.redisTicks - before.redisTicks) : 0;
  return seconds > 0 ? Math.max(0, after.ticks - before.ticks - redis) / CLOCK_TICKS / seconds : 0;
}

/** CPU used by the Redis server since `before`, as a share of one CPU (NaN when it is not visible). */
export function redisShare(before, after) {
  const seconds = (after.at - before.at) / 1000;
  return redisState.pid === undefined || seconds <= 0 ? NaN : Math.max(0, after.redisTicks - before.redisTicks) / CLOCK_TICKS / seconds;
}

/** Wait until other processes use at most `limit` of a CPU over 0.5 s, for at most `maxMs`; returns the time waited. */
async function waitForQuiet(limit, maxMs) {
  const start = performance.now();
  for (;;) {
    const before = foreignProbe();
    await sleep(500);
    if (foreignShare(before) <= limit || performance.now() - start >= maxMs) return performance.now() - start;
  }
}

const QUIET_BUDGET_MS = 15_000;

/**
 * The noise guard over `runsInAll` runs, `noise` being the % of one CPU other processes may use
 * (0 = no waiting or repeating): `pause()` before each run, `repeat(foreign)` after it, and the
 * time spent waiting for quiet (`waitedMs`).
 */
export function noiseGuard(noise, runsInAll) {
  let retriesLeft = Math.floor(runsInAll * 0.1);
  let quietBudgetMs = QUIET_BUDGET_MS;
  return {
    // A pause between runs; with --noise it is the first 0.5 s window of the wait for quiet.
    async pause() {
      if (noise > 0) quietBudgetMs -= Math.max(0, (await waitForQuiet(noise / 100, Math.min(5000, quietBudgetMs + 500))) - 500);
      else await sleep(250);
    },
    /** Whether a run during which other processes used `foreign` of a CPU is to be repeated (using up one repeat). */
    repeat(foreign) {
      if (noise === 0 || foreign * 100 <= noise || retriesLeft === 0) return false;
      retriesLeft--;
      return true;
    },
    get waitedMs() {
      return QUIET_BUDGET_MS - quietBudgetMs;
    },
  };
}
