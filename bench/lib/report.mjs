// What run.mjs prints on stdout: the machine facts, the table, the session checks, the targets (met
// or MISSED), the head-to-head and Redis lines, the noise line and the BENCH_JSON line.
import { MONITOR_SAMPLE } from './redis.mjs';
import { ALL_SERVERS, isBare, isRedisServer, LOAD_CPU, REDIS_SERVERS, SCENARIOS, SERVER_CPU } from './servers.mjs';
import { median } from './summary.mjs';

export const fmt = (value, digits) => (Number.isFinite(value) ? value.toFixed(digits) : '-');
const pad = (value, width) => String(value).padEnd(width);
const padLeft = (value, width) => String(value).padStart(width);
/** A min-max range: `0.81-1.02`. */
const span = ([min, max]) => `${fmt(min, 2)}-${fmt(max, 2)}`;

/** nest-sessions' targets against bare, req/s and CPU per request alike: at least this ratio. */
const BARE_TARGETS = { read: 0.9, write: 0.85 };
/** nest-sessions-redis' target against express-session-redis, req/s and CPU per request alike. */
const REDIS_TARGET = 1.3;
const verdict = (ok) => (ok ? 'met' : 'MISSED');
/** `0.93 met`, `1.17x MISSED`: `value` (2 decimals, then `unit`) against at least `target`. */
const meets = (value, target, unit = '') => `${fmt(value, 2)}${unit} ${verdict(value >= target)}`;
const vsBare = (scenario) => `${scenario} >= ${BARE_TARGETS[scenario].toFixed(2)}x bare`;
const scenarios = Object.keys(SCENARIOS);

export function printHeader(machine, config, estimate, redisLine) {
  console.log(`node ${machine.node} (V8 ${machine.v8}) on ${machine.platform}`);
  console.log(
    `CPU: ${machine.cpuModel}, ${machine.cores} cores (available parallelism ${machine.availableParallelism}), ${machine.memoryGiB} GiB RAM, load average ${machine.loadavg.join(' ')}`,
  );
  console.log(
    `versions: ${Object.entries(machine.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(
        ', ',
      )}; nest-sessions commit ${machine.commit ?? 'n/a'}${machine.dirtyFiles ? ` (+${machine.dirtyFiles} uncommitted files)` : ''}`,
  );
  console.log(
    `servers pinned to CPU ${SERVER_CPU}, autocannon to CPU ${LOAD_CPU}; ${config.rounds} round(s) x ${config.duration} s, then ${config.h2hRounds} head-to-head round(s), ` +
      `${config.connections} connections, warm-up ${config.warmup} s; about ${Math.round(estimate)} s in all`,
  );
  console.log(`${redisLine}\n`);
}

/** The sequential rounds: the table (medians, ratios to bare) and the line saying what it shows. */
export function printRounds(summary, config, redisOn) {
  console.log('');
  const header =
    `${pad('scenario', 10)}${pad('server', 29)}${padLeft('req/s', 9)}${padLeft('x bare', 9)}${padLeft('p99 ms', 9)}${padLeft('x bare', 9)}` +
    `${padLeft('cpu µs/req', 12)}${padLeft('x bare', 9)}   x bare min-max of rounds: req/s, cpu`;
  console.log(header);
  console.log('-'.repeat(header.length));
  for (const scenario of scenarios) {
    for (const server of ALL_SERVERS) {
      const s = summary[scenario][server];
      if (!s) continue;
      const bare = isBare(server);
      console.log(
        `${pad(scenario, 10)}${pad(server, 29)}${padLeft(fmt(s.rps, 0), 9)}${padLeft(bare ? '' : fmt(s.rpsRatio, 2), 9)}${padLeft(fmt(s.p99, 2), 9)}${padLeft(bare ? '' : fmt(s.p99Ratio, 2), 9)}` +
          `${padLeft(fmt(s.cpuUs, 1), 12)}${padLeft(bare ? '' : fmt(s.cpuRatio, 2), 9)}   ` +
          `${bare ? '' : `${span(s.rpsRatioRange)}, ${span(s.cpuRatioRange)}`}${isRedisServer(server) ? `  (${s.rounds} round(s); Redis used ${fmt(s.redisCpu * 100, 0)}% of a CPU)` : ''}`,
      );
    }
  }
  console.log(
    `(medians of ${config.rounds} round(s)${redisOn ? `, ${config.redisRounds} for the Redis servers` : ''}; "x bare" = median of the per-round ratios to bare${config.fastify ? ' (for the fastify-* servers: to fastify-bare)' : ''}, for cpu bare's µs/req over the server's (above 1 = cheaper than bare); ` +
      `p99 from exact response times; cpu = the server process's utime+stime / requests it received${redisOn ? ", Redis's own CPU not included" : ''})`,
  );
}

/** The shared-session counter and the write-scenario session: how many writes each session kept. */
export function printSessionChecks(shared, writeSession) {
  console.log(
    `shared-session counter: ${Object.entries(shared)
      .map(
        ([name, s]) =>
          `${name} ${s.final}/${s.fired} survived (${fmt(s.survived * 100, 1)}%)${s.ok !== s.fired ? ` [only ${s.ok} answered 2xx]` : ''}`,
      )
      .join(', ')}`,
  );
  console.log(
    `write-scenario session after all rounds: ${Object.entries(writeSession)
      .map(([name, w]) => `${name} count ${w.count} of <= ${w.sent} writes sent (${fmt((w.count / w.sent) * 100, 1)}%)`)
      .join(', ')}`,
  );
}

/** nest-sessions' targets in the sequential rounds: against bare, and ahead of express-session. */
export function printTargets(summary) {
  const ns = (scenario) => summary[scenario]['nest-sessions'];
  const es = (scenario) => summary[scenario]['express-session'];
  const vsBareOn = (figure) => scenarios.map((sc) => `${vsBare(sc)}: ${meets(ns(sc)[figure], BARE_TARGETS[sc])}`).join('; ');
  console.log(
    `targets (req/s): ${vsBareOn('rpsRatio')}; ` +
      `ahead of express-session: ${scenarios.map((sc) => `${sc} ${fmt(ns(sc).rps, 0)} vs ${fmt(es(sc).rps, 0)} ${verdict(ns(sc).rps > es(sc).rps)}`).join(', ')}; ` +
      `(cpu/req): ${vsBareOn('cpuRatio')}`,
  );
}

/** The head-to-head rounds: per group and scenario, each server against the group's reference, then the targets again. */
export function printHeadToHead(h2h, groups, config) {
  console.log(
    `head-to-head (${config.h2hRounds} round(s) x ${config.duration} s per scenario: the servers of a group under load at the same time, on CPU ${SERVER_CPU}; ` +
      `x = median of the per-run ratios to the group's reference, req/s and cpu/req (reference's µs/req over the server's), min-max in brackets; share = of CPU ${SERVER_CPU}):`,
  );
  for (const group of groups) {
    for (const scenario of scenarios) {
      const entries = group.servers
        .filter((name) => name !== group.reference)
        .map((name) => {
          const x = h2h[group.name][scenario][name];
          return `${name} ${fmt(x.rpsRatio, 2)}x [${span(x.rpsRatioRange)}] req/s, ${fmt(x.cpuRatio, 2)}x [${span(x.cpuRatioRange)}] cpu/req, share ${fmt(x.cpuShare * 100, 0)}%`;
        });
      const ref = h2h[group.name][scenario][group.reference];
      console.log(
        `  ${pad(scenario, 6)} vs ${group.reference}${group.name === 'compat' ? ' (compat group)' : ''} (${fmt(ref.rps, 0)} req/s, ${fmt(ref.cpuUs, 1)} µs/req, share ${fmt(ref.cpuShare * 100, 0)}%): ${entries.join('; ')}`,
      );
    }
  }
  const ns = (scenario) => h2h.memory[scenario]['nest-sessions'];
  const nsRedis = (scenario) => h2h.redis[scenario]['nest-sessions-redis'];
  console.log(
    `targets, head-to-head: ${scenarios.map((sc) => `${vsBare(sc)}: req/s ${meets(ns(sc).rpsRatio, BARE_TARGETS[sc])}, cpu/req ${meets(ns(sc).cpuRatio, BARE_TARGETS[sc])}`).join('; ')}` +
      (h2h.redis
        ? `; nest-sessions-redis >= ${REDIS_TARGET}x express-session-redis: ` +
          scenarios
            .map(
              (sc) =>
                `${sc} req/s ${meets(nsRedis(sc).rpsRatio, REDIS_TARGET, 'x')}, cpu/req ${meets(nsRedis(sc).cpuRatio, REDIS_TARGET, 'x')}`,
            )
            .join('; ')
        : ''),
  );
}

/** nest-sessions on Fastify (issue 11): against bare Fastify with the memory store, and against @fastify/session on every path. */
const FASTIFY_BARE_TARGETS = { read: 0.75, write: 0.7 };
const FASTIFY_PEER_TARGET = 1.5;
/** `0.81 [0.78-0.84]`: a ratio's median and its min-max. */
const withRange = (x, unit = '') => `${fmt(x.ratio, 2)}${unit} [${span(x.range)}]`;
/** req/s and cpu/req of `x` (a `compare` or summary entry) against at least `target`. */
const bothMeet = (x, target, unit = '') =>
  `req/s ${meets(x.rpsRatio, target, unit)} [${span(x.rpsRatioRange)}], cpu/req ${meets(x.cpuRatio, target, unit)} [${span(x.cpuRatioRange)}]`;

/**
 * The Fastify servers' targets (reported, not asserted), in the sequential rounds and head-to-head:
 * fastify-nest-sessions against fastify-bare, and each nest-sessions server against its
 * @fastify/session peer. `pairs`: `{ rounds: { memory, redis }, h2h: { memory, redis } }`, each a
 * `compare` result (undefined when not run).
 */
export function printFastify(summary, h2h, pairs) {
  const ns = (sc) => summary[sc]['fastify-nest-sessions'];
  const vsBareF = (sc) => `${sc} >= ${FASTIFY_BARE_TARGETS[sc].toFixed(2)}x fastify-bare`;
  const peer = (pair, label) =>
    pair
      ? `; ${label} >= ${FASTIFY_PEER_TARGET}x ${label.includes('redis') ? 'fastify-session-redis' : 'fastify-session'}: ${scenarios.map((sc) => `${sc} ${bothMeet(pair[sc], FASTIFY_PEER_TARGET, 'x')}`).join('; ')}`
      : '';
  console.log(
    `Fastify targets (rounds): ${scenarios.map((sc) => `${vsBareF(sc)}: ${bothMeet(ns(sc), FASTIFY_BARE_TARGETS[sc])}`).join('; ')}` +
      peer(pairs.rounds.memory, 'fastify-nest-sessions') +
      peer(pairs.rounds.redis, 'fastify-nest-sessions-redis'),
  );
  if (!h2h.fastify) return;
  const nsH = (sc) => h2h.fastify[sc]['fastify-nest-sessions'];
  const redisH =
    h2h['fastify-redis'] && Object.fromEntries(scenarios.map((sc) => [sc, h2h['fastify-redis'][sc]['fastify-nest-sessions-redis']]));
  console.log(
    `Fastify targets, head-to-head: ${scenarios.map((sc) => `${vsBareF(sc)}: ${bothMeet(nsH(sc), FASTIFY_BARE_TARGETS[sc])}`).join('; ')}` +
      peer(pairs.h2h.memory, 'fastify-nest-sessions') +
      peer(redisH, 'fastify-nest-sessions-redis'),
  );
}

/**
 * nest-sessions-compat (issue 16, no target): `req.session` through the express-session view,
 * against bare and against nest-sessions' `@Session()` route, in the rounds and head-to-head.
 */
export function printCompat(summary, h2h, pairs) {
  const line = (vsBareOf, pair) =>
    scenarios
      .map(
        (sc) =>
          `${sc}: x bare req/s ${withRange({ ratio: vsBareOf(sc).rpsRatio, range: vsBareOf(sc).rpsRatioRange })}, cpu/req ${withRange({ ratio: vsBareOf(sc).cpuRatio, range: vsBareOf(sc).cpuRatioRange })}; ` +
          `x nest-sessions req/s ${withRange({ ratio: pair[sc].rpsRatio, range: pair[sc].rpsRatioRange })}, cpu/req ${withRange({ ratio: pair[sc].cpuRatio, range: pair[sc].cpuRatioRange })}`,
      )
      .join('; ');
  console.log(
    `compat view (nest-sessions-compat: req.session instead of @Session(), memory, Express), rounds: ${line((sc) => summary[sc]['nest-sessions-compat'], pairs.rounds)}`,
  );
  if (pairs.h2h)
    console.log(
      `compat view, head-to-head (its own group: bare, nest-sessions, nest-sessions-compat): ${line((sc) => h2h.compat[sc]['nest-sessions-compat'], pairs.h2h)}`,
    );
}

/** `<0.01` for a rate that is not zero but rounds to it. */
const rate = (value) => (value > 0 && value < 0.005 ? '<0.01' : fmt(value, 2));

/** `hgetall 1.00, evalsha 1.00; run by Lua: hmget 1.00, ...` */
function breakdown(c) {
  const entries = Object.entries(c.perRequest);
  const list = (items) => items.map(([name, v]) => `${name} ${rate(v)}`).join(', ');
  const sent = entries.filter(([name]) => !c.luaOnly.includes(name));
  const lua = entries.filter(([name]) => c.luaOnly.includes(name));
  return `${list(sent) || 'none'}${lua.length ? `; run by Lua: ${list(lua)}` : ''}`;
}

/** The Redis servers: nest-sessions-redis against express-session-redis, the commands and round trips per request, the MONITOR sample, the targets. */
export function printRedis(pair, commands, samples) {
  const perServer = (figure, separator = ', ') =>
    REDIS_SERVERS.map((name) => `${name} ${scenarios.map((sc) => figure(name, sc)).join(separator)}`);
  console.log(
    `nest-sessions-redis / express-session-redis (median of per-round ratios, ${pair.read.rounds} round(s)): ` +
      scenarios
        .map(
          (sc) =>
            `${sc} req/s ${fmt(pair[sc].rpsRatio, 2)}x (rounds ${span(pair[sc].rpsRatioRange)}), cpu/req ${fmt(pair[sc].cpuRatio, 2)}x (rounds ${span(pair[sc].cpuRatioRange)}), p99 ${fmt(pair[sc].p99Ratio, 2)}x`,
        )
        .join('; ') +
      " (cpu/req: express-session-redis's over nest-sessions-redis', so higher is better, like req/s; p99: lower is better)",
  );
  console.log(
    `commands/request (INFO commandstats delta over the measured runs / requests the server received; Redis also counts the commands a Lua script runs): ` +
      perServer((name, sc) => `${sc} ${fmt(commands[name][sc].total, 2)} (${breakdown(commands[name][sc])})`).join('; '),
  );
  console.log(
    `round trips/request (commands the server sent, i.e. less those run by Lua): ` +
      perServer((name, sc) => `${sc} ${fmt(commands[name][sc].sent, 2)}`).join('; ') +
      `; Redis socket reads/request (below round trips when a client pipelines): ` +
      perServer((name, sc) => `${sc} ${fmt(commands[name][sc].readsPerRequest, 2)}`).join('; '),
  );
  console.log(
    `MONITOR sample (${MONITOR_SAMPLE} sequential requests each, commands in order, Lua's in braces): ` +
      perServer(
        (name, sc) => `${sc}: ${samples[name][sc].patterns.map((p) => `${p.times}x [${p.pattern}]`).join(' ') || 'nothing seen'}`,
        '; ',
      ).join(' | '),
  );
  const ns = commands['nest-sessions-redis'];
  const round2 = (v) => Math.round(v * 100) / 100;
  const vsRedis = (figure) => scenarios.map((sc) => `${sc} ${meets(pair[sc][figure], REDIS_TARGET, 'x')}`).join(', ');
  console.log(
    `Redis targets: nest-sessions-redis read = 1 round trip: ${fmt(ns.read.sent, 2)} ${verdict(round2(ns.read.sent) <= 1)}; ` +
      `write <= 2 round trips: ${fmt(ns.write.sent, 2)} ${verdict(round2(ns.write.sent) <= 2)}; ` +
      `req/s >= ${REDIS_TARGET}x express-session-redis: ${vsRedis('rpsRatio')}; (cpu/req) >= ${REDIS_TARGET}x: ${vsRedis('cpuRatio')}`,
  );
}

/**
 * How far the Redis pair's ratios could go: each server's Redis layer (CPU per request over the same
 * server with the memory store: `nest-sessions-redis` - `nest-sessions`, `express-session-redis` -
 * `express-session`), and the ratios to express-session-redis of `nest-sessions` (a Redis layer that
 * cost nothing) and of `bare` (no session at all), paired within the Redis rounds like the pair itself.
 */
export function printRedisBounds(summary, bounds) {
  const layer = (sc, server, memory) => summary[sc][server].cpuUs - summary[sc][memory].cpuUs;
  const ratios = (b) => scenarios.map((sc) => `${sc} ${fmt(b[sc].rpsRatio, 2)}x / ${fmt(b[sc].cpuRatio, 2)}x`).join(', ');
  console.log(
    `Redis layer (cpu µs/req over the same library with the memory store, medians): ` +
      scenarios
        .map(
          (sc) =>
            `${sc} nest-sessions ${fmt(layer(sc, 'nest-sessions-redis', 'nest-sessions'), 1)}, express-session ${fmt(layer(sc, 'express-session-redis', 'express-session'), 1)}`,
        )
        .join('; ') +
      `. Ceilings against express-session-redis (req/s / cpu/req, same rounds): a Redis layer that cost nothing (nest-sessions with the memory store) ${ratios(bounds.memory)}; no session at all (bare) ${ratios(bounds.bare)}`,
  );
}

/** Foreign load during the kept runs, the runs repeated and the time spent waiting for quiet. */
export function printNoise(runs, discarded, waitedMs, config) {
  const foreign = runs.map((r) => r.foreign * 100);
  console.log(
    `machine noise: other processes used median ${fmt(median(foreign), 0)}% (max ${fmt(Math.max(...foreign), 0)}%) of one CPU during the kept runs; ` +
      `${discarded.length} run(s) repeated, ${fmt(waitedMs / 1000, 1)} s spent waiting for quiet (threshold ${config.noise}%)`,
  );
}

export function printWarnings(problems) {
  if (problems.length) console.log(`WARNING:\n  ${problems.join('\n  ')}`);
}

/** Every figure and raw run, on one line to paste into notes. */
export function printJson(data) {
  console.log(`BENCH_JSON ${JSON.stringify({ date: new Date().toISOString(), ...data })}`);
}
