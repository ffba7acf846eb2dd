// From runs to figures: medians across rounds, and ratios paired within a round (same minutes,
// same machine state) before their median is taken.
import { ALL_SERVERS, bareOf, isRedisServer, REDIS_SERVERS, SCENARIOS } from './servers.mjs';

export function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const medianOf = (runs, figure) => median(runs.map((r) => r[figure]));
const range = (values) => [Math.min(...values), Math.max(...values)];

/**
 * For each run of `server` and `scenario`, its ratios to the run of `reference` in the same round
 * (runs without one are left out): req/s and p99 over the reference's, and CPU per request the
 * other way round, the reference's µs/req over the server's, so that like req/s above 1 means
 * `server` is ahead (cheaper).
 */
function pairedRatios(runs, scenario, server, reference) {
  const rps = [];
  const p99 = [];
  const cpu = [];
  for (const run of runs.filter((r) => r.scenario === scenario && r.server === server)) {
    const ref = runs.find((r) => r.scenario === scenario && r.server === reference && r.round === run.round);
    if (!ref) continue;
    rps.push(run.rps / ref.rps);
    p99.push(run.p99 / ref.p99);
    cpu.push(ref.cpuUs / run.cpuUs);
  }
  return { rps, p99, cpu };
}

/**
 * The sequential rounds, per scenario and server: medians across rounds, and the medians (and
 * ranges) of the per-round ratios to the server's bare app (`bare`, or `fastify-bare` for a Fastify server).
 */
export function summarise(runs) {
  const summary = {};
  for (const scenario of Object.keys(SCENARIOS)) {
    summary[scenario] = {};
    for (const server of ALL_SERVERS) {
      const mine = runs.filter((r) => r.scenario === scenario && r.server === server);
      if (mine.length === 0) continue;
      const ratios = pairedRatios(runs, scenario, server, bareOf(server));
      summary[scenario][server] = {
        rounds: mine.length,
        rps: medianOf(mine, 'rps'),
        p99: medianOf(mine, 'p99'),
        p50: medianOf(mine, 'p50'),
        rpsRatio: median(ratios.rps),
        p99Ratio: median(ratios.p99),
        rpsRatioRange: range(ratios.rps),
        cpuUs: medianOf(mine, 'cpuUs'),
        cpuRatio: median(ratios.cpu),
        cpuRatioRange: range(ratios.cpu),
        ...(isRedisServer(server) ? { redisCpu: medianOf(mine, 'redisCpu') } : {}),
      };
    }
  }
  return summary;
}

/**
 * The head-to-head runs, per group (`{ [group]: { [scenario]: { [server]: figures } } }`): medians
 * of req/s, CPU per request and CPU share, and the median (and range) of the per-run ratios to the
 * group's reference.
 */
export function summariseHeadToHead(h2hRuns, groups) {
  const result = {};
  for (const group of groups) {
    const runs = h2hRuns.filter((r) => r.group === group.name);
    result[group.name] = {};
    for (const scenario of Object.keys(SCENARIOS)) {
      result[group.name][scenario] = {};
      for (const server of group.servers) {
        const mine = runs.filter((r) => r.scenario === scenario && r.server === server);
        const ratios = pairedRatios(runs, scenario, server, group.reference);
        result[group.name][scenario][server] = {
          rounds: mine.length,
          rps: medianOf(mine, 'rps'),
          cpuUs: medianOf(mine, 'cpuUs'),
          cpuShare: medianOf(mine, 'cpuShare'),
          p99: medianOf(mine, 'p99'),
          rpsRatio: median(ratios.rps),
          rpsRatioRange: range(ratios.rps),
          cpuRatio: median(ratios.cpu),
          cpuRatioRange: range(ratios.cpu),
        };
      }
    }
  }
  return result;
}

/** `a` against `b` per scenario: the medians (and ranges) of the per-round ratios, paired within a round. */
export function compare(runs, a, b) {
  const result = {};
  for (const scenario of Object.keys(SCENARIOS)) {
    const ratios = pairedRatios(runs, scenario, a, b);
    result[scenario] = {
      rpsRatio: median(ratios.rps),
      p99Ratio: median(ratios.p99),
      rpsRatioRange: range(ratios.rps),
      cpuRatio: median(ratios.cpu),
      cpuRatioRange: range(ratios.cpu),
      rounds: ratios.rps.length,
    };
  }
  return result;
}

/** `a` against `b` in the head-to-head runs of group `group` (both must be in it), like `compare`. */
export const compareHeadToHead = (h2hRuns, group, a, b) =>
  compare(
    h2hRuns.filter((r) => r.group === group),
    a,
    b,
  );

/**
 * Commands per request for each Redis server and scenario: the commandstats deltas of all its kept
 * runs, summed, over the requests the server received in them. `luaOnly` (from its MONITOR samples)
 * names the commands seen only inside Lua scripts; the rest were sent by the server (round trips).
 */
export function commandsPerRequest(runs, samples) {
  const result = {};
  for (const server of REDIS_SERVERS) {
    result[server] = {};
    for (const scenario of Object.keys(SCENARIOS)) {
      const mine = runs.filter((r) => r.scenario === scenario && r.server === server && r.redis);
      const handled = mine.reduce((n, r) => n + r.redis.handled, 0);
      const ok = mine.reduce((n, r) => n + r.ok, 0);
      const calls = {};
      for (const run of mine) for (const [name, n] of Object.entries(run.redis.commands)) calls[name] = (calls[name] ?? 0) + n;
      const luaOnly = luaOnlyCommands(samples[server]);
      const reads = mine.reduce((n, r) => n + r.redis.reads, 0);
      const perRequest = Object.fromEntries(
        Object.entries(calls)
          .sort((x, y) => y[1] - x[1])
          .map(([name, n]) => [name, n / handled]),
      );
      const sum = (filter) => Object.entries(perRequest).reduce((n, [name, v]) => (filter(name) ? n + v : n), 0);
      result[server][scenario] = {
        requests: handled,
        ok,
        perRequest,
        total: sum(() => true),
        sent: sum((name) => !luaOnly.has(name)),
        inLua: sum((name) => luaOnly.has(name)),
        luaOnly: [...luaOnly],
        failed: mine.reduce((n, r) => n + r.redis.failed, 0),
        readsPerRequest: reads / handled,
      };
    }
  }
  return result;
}

/** Commands a server's MONITOR samples (both paths) saw only inside Lua scripts, never sent by it. */
function luaOnlyCommands(serverSamples = {}) {
  const lua = new Set();
  const top = new Set();
  for (const sample of Object.values(serverSamples)) {
    sample.luaCommands.forEach((c) => lua.add(c));
    sample.topCommands.forEach((c) => top.add(c));
  }
  return new Set([...lua].filter((c) => !top.has(c)));
}
