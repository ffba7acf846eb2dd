// Redis: the driver's own connection (named `bench-driver`), separate from the servers'. It only
// sends INFO between runs, ECHO markers during the MONITOR sample, and SCAN/DEL at the end.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fail } from './processes.mjs';
import { call, FASTIFY_REDIS_SERVERS, REDIS_SERVERS, SCENARIOS } from './servers.mjs';

const REDIS_HOST = '127.0.0.1';
const REDIS_PORT = 6379;
/** Every key the Redis servers write starts with this (`bench:ns:`, `bench:es:`); deleted at the end. */
export const REDIS_KEY_PREFIX = 'bench:';
/** Sequential requests per Redis server and scenario watched with MONITOR. */
export const MONITOR_SAMPLE = 20;

/**
 * The driver's ioredis client, its address as Redis sees it, and facts about the server: its
 * version, and its pid when its process is visible in /proc (measure.mjs counts its CPU time apart).
 */
export const redisState = { client: undefined, addr: undefined, version: undefined, pid: undefined };

/**
 * Whether the Redis servers take part, and the line saying so under the machine facts: with
 * `flag` false (--no-redis) they do not; with true (--redis) they do, and the run fails when Redis
 * does not answer PING; otherwise they do when it answers.
 */
export async function redisScenarios(flag, config) {
  if (flag === false) return { on: false, line: 'Redis scenarios: off (--no-redis)' };
  const probe = await connectRedis();
  if (!probe.ok) {
    if (flag === true) fail(`--redis: Redis at ${REDIS_HOST}:${REDIS_PORT} did not answer PING (${probe.reason})`);
    return {
      on: false,
      line: `Redis scenarios: SKIPPED, Redis at ${REDIS_HOST}:${REDIS_PORT} did not answer PING (${probe.reason}); start it to include them (or pass --no-redis)`,
    };
  }
  const others = await otherClients();
  return {
    on: true,
    line:
      `Redis scenarios: on (Redis ${redisState.version} at ${REDIS_HOST}:${REDIS_PORT}, ` +
      `${redisState.pid === undefined ? 'its process not visible here' : `pid ${redisState.pid}, not pinned: it shares the CPUs with the server and autocannon`}); ` +
      `${[...REDIS_SERVERS, ...(config.fastify ? FASTIFY_REDIS_SERVERS : [])].join(', ')} in rounds 1-${config.redisRounds} of ${config.rounds}` +
      (others
        ? `\nnote: ${others} other client(s) connected to Redis; commands they send during a run would be counted in commands/request`
        : ''),
  };
}

/**
 * Connect to Redis and PING it. Resolves `{ ok: true }` (keeping the connection for the
 * measurements) or `{ ok: false, reason }`.
 */
async function connectRedis() {
  let Redis;
  try {
    ({ Redis } = await import('ioredis'));
  } catch (error) {
    return { ok: false, reason: `ioredis could not be loaded (${error.message})` };
  }
  const client = new Redis({
    host: REDIS_HOST,
    port: REDIS_PORT,
    connectionName: 'bench-driver',
    lazyConnect: true,
    connectTimeout: 1000,
    commandTimeout: 5000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  let lastError;
  client.on('error', (error) => (lastError = error));
  try {
    await client.connect();
    const pong = await client.ping();
    if (pong !== 'PONG') throw new Error(`PING answered ${JSON.stringify(pong)}`);
  } catch (error) {
    client.disconnect();
    return { ok: false, reason: (lastError ?? error).message || String(lastError ?? error) };
  }
  redisState.client = client;
  redisState.addr = /(?:^| )addr=(\S+)/.exec(await client.client('INFO'))?.[1];
  const server = parseInfo(await client.info('server'));
  redisState.version = server.redis_version;
  const pid = Number(server.process_id);
  try {
    // Only when the pid seen from here is really redis-server (not another PID namespace's pid).
    if (pid > 0 && readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('redis')) redisState.pid = pid;
  } catch {
    /* not visible from here */
  }
  return { ok: true };
}

function parseInfo(text) {
  const fields = {};
  for (const line of String(text).split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}

/**
 * One `INFO stats commandstats`: `{ command: calls }` (Redis counts commands run by Lua scripts
 * too), failed calls, and the read events Redis processed on client sockets (`total_reads_processed`:
 * commands a client pipelines arrive in one read).
 */
async function commandstats() {
  const fields = parseInfo(await redisState.client.info('stats', 'commandstats'));
  const calls = {};
  let failed = 0;
  for (const [key, value] of Object.entries(fields)) {
    if (!key.startsWith('cmdstat_')) continue;
    const stat = Object.fromEntries(value.split(',').map((kv) => kv.split('=')));
    calls[key.slice('cmdstat_'.length)] = Number(stat.calls);
    failed += Number(stat.failed_calls ?? 0) + Number(stat.rejected_calls ?? 0);
  }
  return { calls, failed, reads: Number(fields.total_reads_processed) };
}

/** The sum of a `{ command: calls }` object. */
export const totalOf = (commands) => Object.values(commands).reduce((a, b) => a + b, 0);

/** The server's request count and Redis's command counts, taken together between runs. */
export async function redisSnapshot(server) {
  const { handled } = await server.stats();
  return { handled, ...(await commandstats()) };
}

/**
 * After a run: wait until the server has finished the requests still in flight when autocannon
 * stopped (its request count and Redis's command counts stop moving), then the commands Redis ran
 * since `before`, less the driver's own INFO calls, and the requests the server received.
 */
export async function redisDelta(server, before) {
  let ownInfo = 1; // INFO calls sent from `before`'s own (counted in every later snapshot) on
  let previous;
  let after;
  for (let poll = 0; ; poll++) {
    await sleep(poll === 0 ? 150 : 100);
    after = await redisSnapshot(server);
    // Stable: the server received nothing more, and Redis ran nothing but the previous INFO.
    if (previous && after.handled === previous.handled && totalOf(after.calls) - totalOf(previous.calls) === 1) break;
    if (poll >= 20) {
      process.stderr.write(`  note: ${server.name}: Redis did not go quiet within 2 s after the run; counting up to now\n`);
      break;
    }
    previous = after;
    ownInfo++;
  }
  const commands = {};
  for (const [name, calls] of Object.entries(after.calls)) {
    const delta = calls - (before.calls[name] ?? 0) - (name === 'info' ? ownInfo : 0);
    if (delta !== 0) commands[name] = delta;
  }
  // Each INFO of the driver's was one read event too.
  const reads = after.reads - before.reads - ownInfo;
  return { handled: after.handled - before.handled, commands, failed: after.failed - before.failed, reads };
}

/**
 * MONITOR samples of every Redis server and scenario, `MONITOR_SAMPLE` requests each with the
 * scenario's cookie: `{ [server]: { [scenario]: sample } }`.
 */
export async function monitorSamples(servers, cookies) {
  const samples = {};
  for (const name of REDIS_SERVERS) {
    samples[name] = {};
    for (const scenario of Object.keys(SCENARIOS))
      samples[name][scenario] = await monitorSample(servers[name], scenario, cookies[name][scenario], MONITOR_SAMPLE);
  }
  return samples;
}

/**
 * Which commands one request sends, watched with MONITOR: `count` sequential requests, each after
 * an ECHO marker from the driver's connection, so every command between two markers belongs to
 * one request. Commands a Lua script ran arrive with the source `lua`, right after the script's
 * EVALSHA. Not part of the measured runs (MONITOR slows Redis down).
 */
async function monitorSample(server, scenario, cookie, count) {
  const monitor = await redisState.client.monitor();
  const events = [];
  monitor.on('monitor', (_time, args, source) =>
    events.push({ command: String(args[0]).toLowerCase(), arg: String(args[1] ?? ''), source }),
  );
  const marker = `bench-marker-${process.pid}`;
  try {
    for (let i = 0; i < count; i++) {
      await redisState.client.echo(marker);
      await call(server, scenario, cookie);
    }
    await sleep(200); // anything the last request still sends after its response
    await redisState.client.echo(marker);
    const deadline = performance.now() + 2000;
    while (events.filter((e) => e.command === 'echo' && e.arg === marker).length < count + 1 && performance.now() < deadline)
      await sleep(20);
  } finally {
    monitor.disconnect();
  }
  const requests = [];
  const sources = new Set();
  let current;
  for (const event of events) {
    if (event.source === redisState.addr) {
      if (event.command === 'echo' && event.arg === marker) requests.push((current = []));
      continue; // the driver's own commands
    }
    if (!current) continue;
    if (event.source === 'lua') {
      const parent = current.at(-1);
      if (parent) parent.lua.push(event.command);
      else current.push({ command: '?', lua: [event.command] });
    } else {
      sources.add(event.source);
      current.push({ command: event.command, lua: [] });
    }
  }
  requests.length = Math.min(requests.length, count); // the last marker only closes the last request
  const patterns = new Map();
  const luaCommands = new Set();
  const topCommands = new Set();
  for (const request of requests) {
    for (const c of request) {
      topCommands.add(c.command);
      for (const l of c.lua) luaCommands.add(l);
    }
    const text =
      request.length === 0
        ? '(none)'
        : request.map((c) => (c.lua.length ? `${c.command} {${compactList(c.lua)}}` : c.command)).join(' -> ');
    patterns.set(text, (patterns.get(text) ?? 0) + 1);
  }
  return {
    requests: requests.length,
    sent: requests.reduce((n, r) => n + r.length, 0) / (requests.length || NaN),
    inLua: requests.reduce((n, r) => n + r.reduce((m, c) => m + c.lua.length, 0), 0) / (requests.length || NaN),
    patterns: [...patterns].map(([pattern, times]) => ({ pattern, times })).sort((a, b) => b.times - a.times),
    // Commands seen inside scripts and sent by the server: the commandstats figures count them apart.
    luaCommands: [...luaCommands],
    topCommands: [...topCommands],
    sources: sources.size,
    writes: scenario === 'write' ? count : 0,
  };
}

/** `['hset', 'hset', 'hdel']` -> `hset x2, hdel`. */
function compactList(names) {
  const counts = new Map();
  for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
  return [...counts].map(([name, n]) => (n > 1 ? `${name} x${n}` : name)).join(', ');
}

/** How many other clients are connected to Redis. */
async function otherClients() {
  const list = await redisState.client.client('LIST');
  return list.split('\n').filter((line) => line.trim() && !line.includes(`addr=${redisState.addr} `)).length;
}

/** Lines for the final WARNING when a MONITOR sample may not show what one request sends. */
export function sampleProblems(samples) {
  const problems = [];
  for (const name of REDIS_SERVERS) {
    for (const sc of Object.keys(SCENARIOS)) {
      if (samples[name][sc].sources > 1)
        problems.push(
          `MONITOR sample ${name} ${sc}: commands came from ${samples[name][sc].sources} connections (another client may have been active)`,
        );
      if (samples[name][sc].requests < MONITOR_SAMPLE)
        problems.push(`MONITOR sample ${name} ${sc}: only ${samples[name][sc].requests} of ${MONITOR_SAMPLE} requests were seen`);
    }
  }
  return problems;
}

/** Delete every `bench:*` key (SCAN + DEL, nothing outside that prefix); resolves how many. */
export async function cleanupRedis() {
  const client = redisState.client;
  if (!client || client.status !== 'ready') return 0;
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${REDIS_KEY_PREFIX}*`, 'COUNT', 1000);
    cursor = next;
    const ours = keys.filter((key) => key.startsWith(REDIS_KEY_PREFIX));
    if (ours.length > 0) deleted += await client.del(...ours);
  } while (cursor !== '0');
  return deleted;
}
