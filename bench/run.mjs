#!/usr/bin/env node
// nest-sessions benchmark: bare Nest vs nest-sessions vs express-session, in memory and (when
// Redis answers on 127.0.0.1:6379, or with --redis) on Redis, one run. With --fastify, the same on
// Nest-on-Fastify against bare Fastify and @fastify/session; with --compat, nest-sessions through
// its express-session compatible `req.session`.
//
//   npm run bench                       (builds dist/ first, then runs this file)
//   node bench/run.mjs --rounds 1 --duration 2
//
// Every server is its own Node process pinned to CPU 0 (`taskset -c 0`); every autocannon run is
// its own process pinned to CPU 1 (`taskset -c 1 node bench/load.mjs`). For each round, for each
// scenario (read, write), each server is driven for --duration seconds, in an order rotated each
// round; the report gives medians across rounds. Then the shared-session counter test fires
// exactly --writes increments at one session over --connections connections and counts survivors.
// The Redis servers take part in the first --redis-rounds rounds; for each of their runs the driver
// snapshots Redis's INFO commandstats before and after and divides by the requests the server
// received, and a short MONITOR sample shows which commands each request sends. Every `bench:*`
// key is deleted at the end. For every run the server's own CPU time (utime+stime from
// /proc/<pid>/stat) is divided by the requests it received: CPU per request, steadier than req/s.
//
// This file only wires the parts in lib/ together (bench/README.md lists what each holds).
import { config, redisFlag } from './lib/args.mjs';
import * as load from './lib/load.mjs';
import { checkEnvironment, machineFacts } from './lib/machine.mjs';
import { noiseGuard, watchServer } from './lib/measure.mjs';
import { killAll, stopOnSignals } from './lib/processes.mjs';
import { cleanupRedis, monitorSamples, REDIS_KEY_PREFIX, redisScenarios, redisState, sampleProblems } from './lib/redis.mjs';
import * as report from './lib/report.mjs';
import { isBare, serverLists, startServer, stopServer } from './lib/servers.mjs';
import { commandsPerRequest, compare, compareHeadToHead, summarise, summariseHeadToHead } from './lib/summary.mjs';

// Ctrl-C and the like: the servers stop, then the `bench:*` keys are deleted.
stopOnSignals(cleanupRedis);

async function main() {
  checkEnvironment();
  const redis = await redisScenarios(redisFlag, config);
  const options = { redisOn: redis.on, fastify: config.fastify, compat: config.compat };
  const lists = serverLists(options);
  const names = lists.all;
  const sessionServers = names.filter((name) => !isBare(name));
  const groups = load.headToHeadGroups(options);

  const machine = machineFacts();
  report.printHeader(machine, config, load.estimateSeconds(config, lists, groups.length), redis.line);

  const bench = { config, servers: {}, cookies: {}, writesSent: {}, problems: [] };
  try {
    for (const name of names) {
      // Every server counts the requests it receives (the divisor of CPU per request and of Redis commands per request).
      bench.servers[name] = await startServer(name, { BENCH_COUNT_REQUESTS: '1' });
      watchServer(bench.servers[name]);
    }
    for (const name of names) await load.prepare(bench, name);

    const guard = noiseGuard(config.noise, load.plannedRuns(config, lists));
    const { runs, discarded } = await load.sequentialRounds(bench, guard, lists);
    const h2hRuns = await load.headToHeadRounds(bench, guard, groups);

    // Which commands one request sends, watched with MONITOR (after the measured runs: it slows Redis).
    const samples = redis.on ? await monitorSamples(bench.servers, bench.cookies) : {};
    for (const name of Object.keys(samples)) for (const sample of Object.values(samples[name])) bench.writesSent[name] += sample.writes;

    const writeSession = await load.writeSessionCounts(bench, sessionServers);
    const shared = await load.counterTest(bench, sessionServers);

    const summary = summarise(runs);
    report.printRounds(summary, config, redis.on);
    report.printSessionChecks(shared, writeSession);
    report.printTargets(summary);
    const h2h = config.h2hRounds > 0 ? summariseHeadToHead(h2hRuns, groups) : {};
    if (config.h2hRounds > 0) report.printHeadToHead(h2h, groups, config);
    let fastifyPairs;
    if (config.fastify) {
      // nest-sessions against @fastify/session, paired within a round (or a head-to-head run).
      fastifyPairs = {
        rounds: {
          memory: compare(runs, 'fastify-nest-sessions', 'fastify-session'),
          redis: redis.on ? compare(runs, 'fastify-nest-sessions-redis', 'fastify-session-redis') : undefined,
        },
        h2h: {
          memory: config.h2hRounds > 0 ? compareHeadToHead(h2hRuns, 'fastify', 'fastify-nest-sessions', 'fastify-session') : undefined,
        },
      };
      report.printFastify(summary, h2h, fastifyPairs);
    }
    let compatPairs;
    if (config.compat) {
      compatPairs = {
        rounds: compare(runs, 'nest-sessions-compat', 'nest-sessions'),
        h2h: config.h2hRounds > 0 ? compareHeadToHead(h2hRuns, 'compat', 'nest-sessions-compat', 'nest-sessions') : undefined,
      };
      report.printCompat(summary, h2h, compatPairs);
    }
    let redisReport;
    if (redis.on) {
      const pair = compare(runs, 'nest-sessions-redis', 'express-session-redis');
      const commands = commandsPerRequest(runs, samples);
      // What no Redis layer could beat: the same server with the memory store, and bare, against express-session-redis.
      const bounds = {
        memory: compare(runs, 'nest-sessions', 'express-session-redis'),
        bare: compare(runs, 'bare', 'express-session-redis'),
      };
      report.printRedis(pair, commands, samples);
      report.printRedisBounds(summary, bounds);
      bench.problems.push(...sampleProblems(samples));
      redisReport = { version: redisState.version, pid: redisState.pid, rounds: config.redisRounds, pair, bounds, commands, samples };
    }
    report.printNoise(runs, discarded, guard.waitedMs, config);
    report.printWarnings(bench.problems);
    report.printJson({
      machine,
      config,
      summary,
      shared,
      writeSession,
      redis: redisReport ?? null,
      h2h,
      fastify: fastifyPairs ?? null,
      compat: compatPairs ?? null,
      runs,
      h2hRuns,
      discarded,
    });
  } finally {
    await Promise.all(Object.values(bench.servers).map(stopServer));
    killAll('SIGKILL');
    if (redisState.client) {
      try {
        console.log(`Redis clean-up: deleted ${await cleanupRedis()} ${REDIS_KEY_PREFIX}* key(s)`);
      } catch (error) {
        process.stderr.write(`bench: could not delete the ${REDIS_KEY_PREFIX}* keys: ${error.message}\n`);
      }
      redisState.client.disconnect();
    }
  }
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error.stack ?? error}\n`);
  killAll('SIGKILL');
  process.exit(1);
});
