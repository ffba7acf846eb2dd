// Driving autocannon: every run is its own process pinned to LOAD_CPU (bench/load.mjs). The
// warm-up, the sequential rounds, the head-to-head rounds, and the session checks built on the
// write scenario (the shared-session counter test, the write-scenario session).
//
// The functions share `bench`: `{ config, servers, cookies, writesSent, problems }`, the started
// servers by name, each one's seeded sessions (`{ read, write }` cookies), the writes sent to each
// one's write-scenario session so far, and the lines for the final WARNING.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { CLOCK_TICKS, foreignProbe, foreignShare, redisShare, usageBefore, usageSince } from './measure.mjs';
import { track } from './processes.mjs';
import { redisDelta, redisSnapshot, totalOf } from './redis.mjs';
import { fmt } from './report.mjs';
import {
  bareOf,
  BASE_SERVERS,
  benchDir,
  call,
  COMPAT_SERVERS,
  FASTIFY_REDIS_SERVERS,
  FASTIFY_SERVERS,
  isRedisServer,
  LOAD_CPU,
  preflight,
  REDIS_SERVERS,
  root,
  SCENARIOS,
  seed,
} from './servers.mjs';

/** One autocannon run (bench/load.mjs) with `options`; resolves with the JSON line it prints. */
export function runLoad(options) {
  return new Promise((resolve, reject) => {
    const child = track(
      spawn('taskset', ['-c', LOAD_CPU, process.execPath, path.join(benchDir, 'load.mjs'), JSON.stringify(options)], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (err += chunk));
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = out.trim().split('\n').pop();
      if (code !== 0 || !line) return reject(new Error(`load process failed (code ${code}): ${err.trim() || out.trim()}`));
      try {
        resolve(JSON.parse(line));
      } catch (error) {
        reject(new Error(`load process printed non-JSON output: ${line}`, { cause: error }));
      }
    });
  });
}

/** runLoad's options for `scenario` on `server` with `cookie`, over `connections` connections, plus `extra` (`duration` or `amount`). */
export function loadOptions(server, scenario, cookie, connections, extra) {
  const { method, path: route } = SCENARIOS[scenario];
  return { url: `${server.url}${route}`, method, headers: { cookie }, connections, ...extra };
}

const drive = (bench, name, scenario, cookie, extra) =>
  runLoad(loadOptions(bench.servers[name], scenario, cookie, bench.config.connections, extra));

/** `list` rotated left by `by`: a server order that changes each round. */
const rotate = (list, by) => list.map((_, i) => list[(i + by) % list.length]);

/** Adds a line to the final WARNING when a request of `run` failed. */
function checkRun(bench, label, run) {
  if (run.non2xx || run.errors || run.timeouts || !run.ok) {
    bench.problems.push(`${label}: ${run.ok} ok, ${run.non2xx} non-2xx, ${run.errors} errors, ${run.timeouts} timeouts`);
  }
}

/** The runs of the sequential rounds (the noise guard may repeat a tenth of them); `lists` from servers.mjs's serverLists. */
export const plannedRuns = (config, lists) =>
  Object.keys(SCENARIOS).length * (lists.memory.length * config.rounds + lists.redis.length * config.redisRounds);

/** About how long the whole benchmark takes, in seconds, with the servers of `lists` and `groupCount` head-to-head groups. */
export function estimateSeconds(config, lists, groupCount) {
  const scenarioCount = Object.keys(SCENARIOS).length;
  const redisCount = lists.redis.length;
  // Each run also spends time starting autocannon and pausing (the `+ 1`; `+ 1.5` for a Redis
  // server, with its counter snapshots); the noise guard's waiting and repeats are not included.
  return (
    scenarioCount * lists.memory.length * (config.rounds * (config.duration + 1) + config.warmup + 0.7) +
    scenarioCount * redisCount * (config.redisRounds * (config.duration + 1.5) + config.warmup + 0.7 + 1) +
    10 +
    3 * redisCount +
    config.h2hRounds * scenarioCount * groupCount * (config.duration + 1.5)
  );
}

/** One session per scenario for server `name`, checked to round-trip, then warmed up (--warmup s per scenario, not measured). */
export async function prepare(bench, name) {
  const server = bench.servers[name];
  bench.cookies[name] = { read: await seed(server), write: await seed(server) };
  await preflight(server, bench.cookies[name]);
  bench.writesSent[name] = 1;
  if (bench.config.warmup > 0) {
    for (const scenario of Object.keys(SCENARIOS)) {
      process.stderr.write(`warm-up  ${scenario.padEnd(6)} ${name}\n`);
      const run = await drive(bench, name, scenario, bench.cookies[name][scenario], { duration: bench.config.warmup });
      if (scenario === 'write') bench.writesSent[name] += run.sent;
    }
  }
}

/**
 * The sequential rounds: for each round, for each scenario, each server alone for --duration s, in
 * an order rotated each round; the Redis servers (`lists.redis`) only in the first --redis-rounds.
 * `guard` (measure.mjs's noiseGuard) pauses before each run and may have a noisy one repeated.
 * Resolves `{ runs, discarded }`: the runs kept, and the attempts dropped for a quieter one.
 */
export async function sequentialRounds(bench, guard, lists) {
  const { config } = bench;
  const runs = [];
  const discarded = [];
  for (let round = 0; round < config.rounds; round++) {
    const order = rotate(round < config.redisRounds ? lists.all : lists.memory, round);
    for (const scenario of Object.keys(SCENARIOS)) {
      for (const name of order) {
        let run;
        for (let attempt = 1; ; attempt++) {
          await guard.pause();
          const { run: attemptRun, foreign } = await soloRun(bench, name, scenario, attempt);
          if (run) {
            // Second attempt: keep the quieter of the two (chosen by foreign load, never by speed).
            let dropped = attemptRun;
            if (attemptRun.foreign < run.foreign) [run, dropped] = [attemptRun, run];
            discarded.push({ round: round + 1, scenario, server: name, ...dropped });
            break;
          }
          run = attemptRun;
          if (!guard.repeat(foreign)) break;
          process.stderr.write(`  (other processes used ${fmt(foreign * 100, 0)}% of a CPU during the run: repeating it)\n`);
        }
        runs.push({ round: round + 1, scenario, server: name, ...run });
        checkRun(bench, `round ${round + 1} ${scenario} ${name}`, run);
        if (run.redis?.failed) bench.problems.push(`round ${round + 1} ${scenario} ${name}: ${run.redis.failed} Redis command(s) failed`);
        process.stderr.write(
          `round ${round + 1}/${config.rounds}  ${scenario.padEnd(6)} ${name.padEnd(22)} ${fmt(run.rps, 0).padStart(7)} req/s  p99 ${fmt(run.p99, 2).padStart(7)} ms  cpu ${fmt(run.cpuUs, 1).padStart(6)} µs/req   others used ${fmt(run.foreign * 100, 0).padStart(3)}% of a CPU` +
            `${isRedisServer(name) ? `, Redis ${fmt(run.redisCpu * 100, 0)}%; ${fmt(totalOf(run.redis.commands) / run.redis.handled, 2)} Redis commands and ${fmt(run.redis.reads / run.redis.handled, 2)} socket reads/request over ${run.redis.handled} requests` : ''}\n`,
        );
      }
    }
  }
  return { runs, discarded };
}

/**
 * One run of server `name` alone: autocannon's figures, the foreign load (`foreign`, also in the
 * run rounded), the server's CPU per request, and for a Redis server Redis's CPU share and the
 * commands it ran.
 */
async function soloRun(bench, name, scenario, attempt) {
  const server = bench.servers[name];
  const onRedis = isRedisServer(name);
  const redisBefore = onRedis ? await redisSnapshot(server) : undefined;
  const usage = await usageBefore(server, redisBefore?.handled);
  const before = foreignProbe();
  const result = await drive(bench, name, scenario, bench.cookies[name][scenario], { duration: bench.config.duration });
  const after = foreignProbe();
  // During a Redis server's run, Redis's own CPU time is part of what is measured.
  const foreign = foreignShare(before, after, onRedis);
  if (scenario === 'write') bench.writesSent[name] += result.sent;
  const run = { ...result, foreign: +foreign.toFixed(3), attempt };
  if (onRedis) {
    run.redisCpu = +redisShare(before, after).toFixed(3);
    run.redis = await redisDelta(server, redisBefore);
  }
  // The server's own CPU time per request it received, both read once it has answered its last
  // in-flight requests (redisDelta waits for that too).
  Object.assign(run, await usageSince(server, usage, run.redis?.handled));
  return { run, foreign };
}

// Head-to-head: the servers of a group under load at once, on the same core, so whatever the
// machine does during the run (a neighbour, the hypervisor, a slow second) happens to all of
// them alike. Each gets its own autocannon process (all on the load CPU) with --connections.

/**
 * The head-to-head groups, each with the server its ratios are to: Express against bare; Redis
 * against express-session-redis; with --compat, bare, nest-sessions and nest-sessions-compat (a group
 * of its own, so the Express group's figures are the same with or without it); with --fastify, the
 * Fastify servers against fastify-bare and, with Redis, against fastify-session-redis.
 */
export function headToHeadGroups({ redisOn, fastify, compat }) {
  const groups = [{ name: 'memory', servers: BASE_SERVERS, reference: 'bare' }];
  if (redisOn) groups.push({ name: 'redis', servers: REDIS_SERVERS, reference: 'express-session-redis' });
  if (compat) groups.push({ name: 'compat', servers: ['bare', 'nest-sessions', ...COMPAT_SERVERS], reference: 'bare' });
  if (fastify) groups.push({ name: 'fastify', servers: FASTIFY_SERVERS, reference: bareOf(FASTIFY_SERVERS[0]) });
  if (fastify && redisOn) groups.push({ name: 'fastify-redis', servers: FASTIFY_REDIS_SERVERS, reference: 'fastify-session-redis' });
  return groups;
}

/** The head-to-head rounds (--h2h-rounds, --duration s per scenario and group); resolves the runs. */
export async function headToHeadRounds(bench, guard, groups) {
  const { config, servers, cookies } = bench;
  const h2hRuns = [];
  for (let round = 0; round < config.h2hRounds; round++) {
    for (const scenario of Object.keys(SCENARIOS)) {
      for (const group of groups) {
        // Rotated each round, so no server's autocannon always starts first.
        const names = rotate(group.servers, round);
        await guard.pause();
        const before = [];
        for (const name of names) before.push(await usageBefore(servers[name]));
        const foreignBefore = foreignProbe();
        const results = await Promise.all(
          names.map((name) => drive(bench, name, scenario, cookies[name][scenario], { duration: config.duration })),
        );
        const foreign = foreignShare(foreignBefore, foreignProbe(), group.servers.some(isRedisServer));
        const line = [];
        for (const [i, name] of names.entries()) {
          const result = results[i];
          if (scenario === 'write') bench.writesSent[name] += result.sent;
          const usage = await usageSince(servers[name], before[i]);
          const run = {
            round: round + 1,
            scenario,
            group: group.name,
            server: name,
            ...result,
            ...usage,
            // The server's share of one CPU over the run: how the core was split between them.
            cpuShare: +(usage.cpuTicks / CLOCK_TICKS / result.duration).toFixed(3),
            foreign: +foreign.toFixed(3),
          };
          h2hRuns.push(run);
          checkRun(bench, `head-to-head round ${round + 1} ${scenario} ${name}`, run);
          line.push(`${name} ${fmt(run.rps, 0)} req/s, ${fmt(run.cpuUs, 1)} µs/req, ${fmt(run.cpuShare * 100, 0)}% CPU`);
        }
        process.stderr.write(
          `h2h ${round + 1}/${config.h2hRounds}  ${scenario.padEnd(6)} ${line.join(' | ')}; others used ${fmt(foreign * 100, 0)}% of a CPU\n`,
        );
      }
    }
  }
  return h2hRuns;
}

/**
 * Did each write-scenario session keep every write? (Same question as the counter test, under
 * --duration load.) `sent` counts requests written to the socket, including the last in-flight
 * ones autocannon stops waiting for, so it is an upper bound on the writes the server handled.
 */
export async function writeSessionCounts(bench, names) {
  const writeSession = {};
  for (const name of names) {
    const { body } = await call(bench.servers[name], 'read', bench.cookies[name].write);
    writeSession[name] = { count: body.count, sent: bench.writesSent[name] };
  }
  return writeSession;
}

/** Shared-session counter: exactly --writes increments of one key of one fresh session, over --connections connections. */
export async function counterTest(bench, names) {
  const { config, servers } = bench;
  const shared = {};
  for (const name of names) {
    const cookie = await seed(servers[name]);
    const run = await drive(bench, name, 'write', cookie, { amount: config.writes });
    const { body } = await call(servers[name], 'read', cookie);
    shared[name] = {
      fired: config.writes,
      ok: run.ok,
      non2xx: run.non2xx,
      errors: run.errors,
      final: body.count,
      survived: body.count / config.writes,
    };
  }
  return shared;
}
