#!/usr/bin/env node
// nest-sessions benchmark: bare Nest vs nest-sessions vs express-session, in memory and (when
// Redis answers on 127.0.0.1:6379, or with --redis) on Redis, one run.
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
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

const { values: argv } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    writes: { type: 'string', default: '5000' },
    warmup: { type: 'string', default: '2' },
    noise: { type: 'string', default: '10' },
    redis: { type: 'boolean' },
    'redis-rounds': { type: 'string' },
    'h2h-rounds': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowNegative: true,
});
if (argv.help) {
  console.log(`usage: node bench/run.mjs [--rounds 5] [--duration 5] [--connections 50] [--writes 5000] [--warmup 2] [--noise 10]
                         [--redis | --no-redis] [--redis-rounds 3]
  --rounds       measured rounds; medians are reported            (default 5)
  --duration     seconds per server per scenario per round        (default 5)
  --connections  autocannon connections                            (default 50)
  --writes       requests fired in the shared-session counter test (default 5000)
  --warmup       seconds of unmeasured load per server and scenario before round 1 (default 2; 0 = none)
  --noise        % of one CPU other processes may use: before each run the driver waits (up to 5 s
                 per run, 15 s in all) for them to drop below it, and a run during which they
                 used more is repeated once, keeping the quieter attempt (at most 10% of runs)
                 (default 10; 0 = no waiting or repeating)
  --redis        include the Redis servers (nest-sessions-redis, express-session-redis); fail if
                 Redis does not answer PING on 127.0.0.1:6379
  --no-redis     leave them out
                 (default: included when Redis answers PING, else skipped with a note)
  --redis-rounds rounds (the first ones) in which the Redis servers are driven too, at most --rounds
                 (default: the smaller of 3 and --rounds)
  --h2h-rounds   head-to-head rounds after the others: the servers of a group (bare, nest-sessions,
                 express-session; then the two Redis servers) under load at the same time on the same
                 core, --duration s per scenario (default: --rounds; 0 = none)`);
  process.exit(0);
}
const positiveInt = (name, min = 1) => {
  const n = Number(argv[name]);
  if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}, got ${JSON.stringify(argv[name])}`);
  return n;
};
const config = {
  rounds: positiveInt('rounds'),
  duration: positiveInt('duration'),
  connections: positiveInt('connections'),
  writes: positiveInt('writes'),
  warmup: positiveInt('warmup', 0),
  noise: positiveInt('noise', 0),
};
config.h2hRounds = argv['h2h-rounds'] === undefined ? config.rounds : positiveInt('h2h-rounds', 0);
config.redisRounds = argv['redis-rounds'] === undefined ? Math.min(3, config.rounds) : positiveInt('redis-rounds');
if (config.redisRounds > config.rounds) fail('--redis-rounds must not exceed --rounds (the Redis servers are paired with bare within a round)');
if (config.writes < config.connections) fail('--writes must be at least --connections (autocannon needs one request per connection)');

const BASE_SERVERS = ['bare', 'nest-sessions', 'express-session'];
const REDIS_SERVERS = ['nest-sessions-redis', 'express-session-redis'];
// Set once main() knows whether the Redis servers take part.
let SERVERS = BASE_SERVERS;
let SESSION_SERVERS = BASE_SERVERS.filter((name) => name !== 'bare');
const isRedisServer = (name) => REDIS_SERVERS.includes(name);
const REDIS_HOST = '127.0.0.1';
const REDIS_PORT = 6379;
/** Every key the Redis servers write starts with this (`bench:ns:`, `bench:es:`); deleted at the end. */
const REDIS_KEY_PREFIX = 'bench:';
/** Sequential requests per Redis server and scenario watched with MONITOR. */
const MONITOR_SAMPLE = 20;
const SCENARIOS = {
  read: { method: 'GET', path: '/read' },
  write: { method: 'POST', path: '/write' },
};
// The bare server gets a cookie of the same size as nest-sessions' (32-char ID + '.' + 43-char MAC),
// so header parsing costs the same everywhere.
const BARE_COOKIE = `sid=${'a'.repeat(32)}.${'b'.repeat(43)}`;
const SERVER_CPU = '0';
const LOAD_CPU = '1';
const QUIET_BUDGET_MS = 15_000;

// ---------------------------------------------------------------------------------------------
// Child processes: every one is tracked and killed on the way out, whatever the way out is.

const children = new Set();

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function killAll(signal) {
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
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    process.stderr.write(`\n${signal}: stopping servers\n`);
    killAll('SIGTERM');
    // Once the servers are gone (or after 1 s), delete the `bench:*` keys (at most 2 s more), then exit.
    const exit = async () => {
      clearInterval(poll);
      await Promise.race([cleanupRedis().catch(() => undefined), sleep(2000)]);
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

function fail(message) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------
// Environment checks and machine facts.

function checkEnvironment() {
  const probe = spawnSync('taskset', ['-c', LOAD_CPU, 'true'], { stdio: 'ignore' });
  if (probe.error) fail('`taskset` was not found; install util-linux (it provides taskset).');
  if (probe.status !== 0) fail(`\`taskset -c ${LOAD_CPU}\` failed: the machine needs at least 2 usable CPUs.`);
  if (!existsSync(path.join(root, 'dist', 'index.js'))) fail('dist/index.js is missing: run `npm run build` (or `npm run bench`).');
}

function packageVersion(name) {
  try {
    return JSON.parse(readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return 'n/a';
  }
}

function git(...args) {
  const out = spawnSync('git', args, { cwd: root, encoding: 'utf8' });
  return out.status === 0 ? out.stdout.trim() : undefined;
}

function machineFacts() {
  const cpus = os.cpus();
  const dirty = git('status', '--porcelain');
  return {
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpuModel: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    availableParallelism: os.availableParallelism(),
    cpuMHz: cpus[0]?.speed,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    loadavg: os.loadavg().map((n) => +n.toFixed(2)),
    commit: git('rev-parse', '--short', 'HEAD'),
    dirtyFiles: dirty === undefined ? undefined : dirty.split('\n').filter(Boolean).length,
    versions: {
      '@nestjs/core': packageVersion('@nestjs/core'),
      express: packageVersion('express'),
      'express-session': packageVersion('express-session'),
      autocannon: packageVersion('autocannon'),
      ioredis: packageVersion('ioredis'),
      redis: packageVersion('redis'),
      'connect-redis': packageVersion('connect-redis'),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Servers and load runs.

function startServer(name) {
  const child = track(
    spawn('taskset', ['-c', SERVER_CPU, process.execPath, path.join(here, 'servers', `${name}.mjs`)], {
      cwd: root,
      // Every server counts the requests it receives (the divisor of CPU per request and of Redis commands per request).
      env: { ...process.env, NODE_ENV: 'production', BENCH_WATCH_STDIN: '1', BENCH_COUNT_REQUESTS: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
  ownPids.add(child.pid);
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    for (const line of chunk.split('\n')) if (line.trim()) process.stderr.write(`[${name}] ${line}\n`);
  });
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`${name} server did not start within 30 s`)), 30_000);
    const onExit = (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} server exited during start-up (code ${code}, signal ${signal})`));
    };
    child.once('exit', onExit);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', function onData(chunk) {
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline === -1) return;
      child.stdout.off('data', onData);
      clearTimeout(timer);
      child.off('exit', onExit);
      try {
        const { port, pid } = JSON.parse(buffer.slice(0, newline));
        const server = { name, child, pid: child.pid, url: `http://127.0.0.1:${port}`, stats: statsChannel(name, child, buffer.slice(newline + 1)) };
        // `taskset` execs node, so the pid spawned is the server's own: its CPU time is the server's.
        const comm = readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim();
        if (comm !== 'node' || pid !== child.pid) {
          process.stderr.write(`warning: ${name}: pid ${child.pid} is \`${comm}\`${pid !== child.pid ? ` and the server reports pid ${pid}` : ''}; its cpu/req figures may not be the server's\n`);
        }
        resolve(server);
      } catch (error) {
        reject(new Error(`${name} server printed an unexpected first line: ${buffer.slice(0, newline)}`, { cause: error }));
      }
    });
  });
}

/**
 * After its first line a server only speaks when asked: a `stats` line on its stdin is answered
 * with `{ stats: { handled } }` on its stdout (servers/common.mjs). Returns the function asking.
 */
function statsChannel(name, child, rest) {
  let buffer = rest;
  const waiters = [];
  child.stdout.on('data', (chunk) => {
    buffer += chunk;
    for (let nl = buffer.indexOf('\n'); nl !== -1; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      let message;
      try {
        message = JSON.parse(line);
      } catch {
        continue;
      }
      if (message.stats) waiters.shift()?.resolve(message.stats);
    }
  });
  child.once('exit', () => {
    for (const waiter of waiters.splice(0)) waiter.reject(new Error(`${name} server exited`));
  });
  return () =>
    new Promise((resolve, reject) => {
      const waiter = {
        resolve: (value) => (clearTimeout(timer), resolve(value)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(new Error(`${name} server did not answer a stats request within 5 s`));
      }, 5000);
      waiters.push(waiter);
      child.stdin.write('stats\n');
    });
}

async function stopServer(server) {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3500);
  await exited;
  clearTimeout(timer);
}

function runLoad(options) {
  return new Promise((resolve, reject) => {
    const child = track(
      spawn('taskset', ['-c', LOAD_CPU, process.execPath, path.join(here, 'load.mjs'), JSON.stringify(options)], {
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

/** GET /seed without a cookie: a new session holding count = 0; returns the `name=value` cookie to send. */
async function seed(server) {
  const res = await fetch(`${server.url}/seed`);
  await res.text();
  if (res.status !== 200) throw new Error(`${server.name}: GET /seed answered ${res.status}`);
  if (server.name === 'bare') return BARE_COOKIE;
  const cookie = res.headers.getSetCookie()[0]?.split(';')[0];
  if (!cookie) throw new Error(`${server.name}: GET /seed set no cookie`);
  return cookie;
}

async function call(server, scenario, cookie) {
  const { method, path: route } = SCENARIOS[scenario];
  const res = await fetch(`${server.url}${route}`, { method, headers: { cookie } });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`${server.name}: ${method} ${route} answered ${res.status}`);
  return { body, setCookie: res.headers.getSetCookie() };
}

/** The session round-trips: a seeded session reads 0, a write makes it 1, and no new cookie is issued. */
async function preflight(server, cookies) {
  const read = await call(server, 'read', cookies.read);
  if (read.body.count !== 0) throw new Error(`${server.name}: the seeded session reads count=${read.body.count}, expected 0`);
  if (server.name === 'bare') return;
  const write = await call(server, 'write', cookies.write);
  const again = await call(server, 'read', cookies.write);
  if (write.body.count !== 1 || again.body.count !== 1) {
    throw new Error(`${server.name}: a write to the seeded session did not stick (wrote ${write.body.count}, read ${again.body.count})`);
  }
  if (read.setCookie.length > 0 || write.setCookie.length > 0) {
    process.stderr.write(`note: ${server.name} sets a cookie on requests of an existing session: ${[...read.setCookie, ...write.setCookie][0]}\n`);
  }
}

function loadOptions(server, scenario, cookie, extra) {
  const { method, path: route } = SCENARIOS[scenario];
  return { url: `${server.url}${route}`, method, headers: { cookie }, connections: config.connections, ...extra };
}

// ---------------------------------------------------------------------------------------------
// Redis: the driver's own connection (named `bench-driver`), separate from the servers'. It only
// sends INFO between runs, ECHO markers during the MONITOR sample, and SCAN/DEL at the end.

/** The driver's ioredis client, its address as Redis sees it, and facts about the server. */
const redisState = { client: undefined, addr: undefined, version: undefined };

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
    if (pid > 0 && readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('redis')) redisPid = pid;
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

const totalCalls = (stats) => Object.values(stats.calls).reduce((a, b) => a + b, 0);

/** The server's request count and Redis's command counts, taken together between runs. */
async function redisSnapshot(server) {
  const { handled } = await server.stats();
  return { handled, ...(await commandstats()) };
}

/**
 * After a run: wait until the server has finished the requests still in flight when autocannon
 * stopped (its request count and Redis's command counts stop moving), then the commands Redis ran
 * since `before`, less the driver's own INFO calls, and the requests the server received.
 */
async function redisDelta(server, before) {
  let ownInfo = 1; // INFO calls sent from `before`'s own (counted in every later snapshot) on
  let previous;
  let after;
  for (let poll = 0; ; poll++) {
    await sleep(poll === 0 ? 150 : 100);
    after = await redisSnapshot(server);
    // Stable: the server received nothing more, and Redis ran nothing but the previous INFO.
    if (previous && after.handled === previous.handled && totalCalls(after) - totalCalls(previous) === 1) break;
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

/**
 * Which commands one request sends, watched with MONITOR: `count` sequential requests, each after
 * an ECHO marker from the driver's connection, so every command between two markers belongs to
 * one request. Commands a Lua script ran arrive with the source `lua`, right after the script's
 * EVALSHA. Not part of the measured runs (MONITOR slows Redis down).
 */
async function monitorSample(server, scenario, cookie, count) {
  const monitor = await redisState.client.monitor();
  const events = [];
  monitor.on('monitor', (_time, args, source) => events.push({ command: String(args[0]).toLowerCase(), arg: String(args[1] ?? ''), source }));
  const marker = `bench-marker-${process.pid}`;
  try {
    for (let i = 0; i < count; i++) {
      await redisState.client.echo(marker);
      await call(server, scenario, cookie);
    }
    await sleep(200); // anything the last request still sends after its response
    await redisState.client.echo(marker);
    const deadline = performance.now() + 2000;
    while (events.filter((e) => e.command === 'echo' && e.arg === marker).length < count + 1 && performance.now() < deadline) await sleep(20);
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
    const text = request.length === 0 ? '(none)' : request.map((c) => (c.lua.length ? `${c.command} {${compactList(c.lua)}}` : c.command)).join(' -> ');
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

/** Delete every `bench:*` key (SCAN + DEL, nothing outside that prefix); resolves how many. */
async function cleanupRedis() {
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

// ---------------------------------------------------------------------------------------------
// Statistics and output.

function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const fmt = (value, digits) => (Number.isFinite(value) ? value.toFixed(digits) : '-');
const pad = (value, width) => String(value).padEnd(width);
const padLeft = (value, width) => String(value).padStart(width);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Foreign CPU load. The machine may be shared (other test runs, editors), and two cores leave no
// spare one. Foreign load is the CPU time of every process other than this driver (whose reaped
// children include the autocannon processes) and the servers, summed over /proc/<pid>/stat
// (utime+stime plus cutime+cstime, so short-lived processes count through their parents). It is
// reported per run as a share of one CPU; before a run the driver waits (bounded) for the machine
// to calm down, and a run that was noisy anyway is repeated once (bounded) and the quieter kept.
// The Redis server (when it runs on this machine and its process is visible) is counted apart:
// during a run of a Redis server its CPU time is part of the measurement, reported as `redisCpu`,
// not foreign load; at any other time it counts as foreign like every other process.

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
const ownPids = new Set([process.pid]);

/** utime+stime+cutime+cstime of `pid`, in clock ticks (0 when it is gone). */
function processTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  } catch {
    return 0;
  }
}

/** utime+stime (fields 14 and 15 of /proc/<pid>/stat) of `pid` itself, in clock ticks (NaN when it is gone). */
/** CPU µs per request: `ticks` of CPU time (CLOCK_TICKS per second) over `handled` requests. */
const cpuPerRequest = (ticks, handled) => +(((ticks / CLOCK_TICKS) * 1e6) / handled).toFixed(2);

function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return NaN;
  }
}

/** The local redis-server's pid, when its process is visible in /proc (set by connectRedis). */
let redisPid;

function foreignTicks() {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (entry.charCodeAt(0) <= 57 && /^\d+$/.test(entry) && !ownPids.has(Number(entry))) ticks += processTicks(entry);
  }
  return ticks;
}

function foreignProbe() {
  const ticks = foreignTicks();
  return { ticks, redisTicks: redisPid === undefined ? 0 : processTicks(redisPid), at: performance.now() };
}

/**
 * CPU used by other processes since `before`, as a share of one CPU (0.5 = half a core);
 * without the Redis server's when `exceptRedis`.
 */
function foreignShare(before, after = foreignProbe(), exceptRedis = false) {
  const seconds = (after.at - before.at) / 1000;
  const redis = exceptRedis ? Math.max(0, after.redisTicks - before.redisTicks) : 0;
  return seconds > 0 ? Math.max(0, after.ticks - before.ticks - redis) / CLOCK_TICKS / seconds : 0;
}

/** CPU used by the Redis server since `before`, as a share of one CPU (NaN when it is not visible). */
function redisShare(before, after) {
  const seconds = (after.at - before.at) / 1000;
  return redisPid === undefined || seconds <= 0 ? NaN : Math.max(0, after.redisTicks - before.redisTicks) / CLOCK_TICKS / seconds;
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

function summarise(runs) {
  const summary = {};
  for (const scenario of Object.keys(SCENARIOS)) {
    summary[scenario] = {};
    for (const server of SERVERS) {
      const mine = runs.filter((r) => r.scenario === scenario && r.server === server);
      if (mine.length === 0) continue;
      const rpsRatios = [];
      const p99Ratios = [];
      const cpuRatios = [];
      for (const run of mine) {
        const bare = runs.find((r) => r.scenario === scenario && r.server === 'bare' && r.round === run.round);
        rpsRatios.push(run.rps / bare.rps);
        p99Ratios.push(run.p99 / bare.p99);
        cpuRatios.push(bare.cpuUs / run.cpuUs); // bare's CPU per request over the server's: reads like the req/s ratio
      }
      summary[scenario][server] = {
        rounds: mine.length,
        rps: median(mine.map((r) => r.rps)),
        p99: median(mine.map((r) => r.p99)),
        p50: median(mine.map((r) => r.p50)),
        // Paired within a round (same minutes, same machine state), then the median across rounds.
        rpsRatio: median(rpsRatios),
        p99Ratio: median(p99Ratios),
        rpsRatioRange: [Math.min(...rpsRatios), Math.max(...rpsRatios)],
        cpuUs: median(mine.map((r) => r.cpuUs)),
        cpuRatio: median(cpuRatios),
        cpuRatioRange: [Math.min(...cpuRatios), Math.max(...cpuRatios)],
        ...(isRedisServer(server) ? { redisCpu: median(mine.map((r) => r.redisCpu)) } : {}),
      };
    }
  }
  return summary;
}

/**
 * Head-to-head runs of one group, per scenario and server: medians of req/s, CPU per request and
 * CPU share, and the median (and range) of the per-run ratios to the group's reference (req/s over
 * the reference's; the reference's µs/req over the server's, so above 1 means cheaper).
 */
function summariseHeadToHead(runs, group) {
  const result = {};
  for (const scenario of Object.keys(SCENARIOS)) {
    result[scenario] = {};
    for (const server of group.servers) {
      const mine = runs.filter((r) => r.scenario === scenario && r.server === server);
      const rps = [];
      const cpu = [];
      for (const run of mine) {
        const ref = runs.find((r) => r.scenario === scenario && r.server === group.reference && r.round === run.round);
        rps.push(run.rps / ref.rps);
        cpu.push(ref.cpuUs / run.cpuUs);
      }
      result[scenario][server] = {
        rounds: mine.length,
        rps: median(mine.map((r) => r.rps)),
        cpuUs: median(mine.map((r) => r.cpuUs)),
        cpuShare: median(mine.map((r) => r.cpuShare)),
        p99: median(mine.map((r) => r.p99)),
        rpsRatio: median(rps),
        rpsRatioRange: [Math.min(...rps), Math.max(...rps)],
        cpuRatio: median(cpu),
        cpuRatioRange: [Math.min(...cpu), Math.max(...cpu)],
      };
    }
  }
  return result;
}

/**
 * `a` against `b` per scenario: the median of the per-round ratios of req/s, of p99 and of CPU per
 * request (b's over a's, so that, like req/s, above 1 means `a` is ahead), paired within a round.
 */
function compare(runs, a, b) {
  const result = {};
  for (const scenario of Object.keys(SCENARIOS)) {
    const rps = [];
    const p99 = [];
    const cpu = [];
    for (const run of runs.filter((r) => r.scenario === scenario && r.server === a)) {
      const other = runs.find((r) => r.scenario === scenario && r.server === b && r.round === run.round);
      if (!other) continue;
      rps.push(run.rps / other.rps);
      p99.push(run.p99 / other.p99);
      cpu.push(other.cpuUs / run.cpuUs);
    }
    result[scenario] = {
      rpsRatio: median(rps),
      p99Ratio: median(p99),
      rpsRatioRange: [Math.min(...rps), Math.max(...rps)],
      cpuRatio: median(cpu),
      cpuRatioRange: [Math.min(...cpu), Math.max(...cpu)],
      rounds: rps.length,
    };
  }
  return result;
}

/**
 * Commands per request for each Redis server and scenario: the commandstats deltas of all its kept
 * runs, summed, over the requests the server received in them. `luaOnly` (from its MONITOR samples)
 * names the commands seen only inside Lua scripts; the rest were sent by the server (round trips).
 */
function commandsPerRequest(runs, samples) {
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

const rate = (value) => (value > 0 && value < 0.005 ? '<0.01' : fmt(value, 2));

/** `hgetall 1.00, evalsha 1.00; in Lua: hmget 1.00, ...` */
function breakdown(c) {
  const entries = Object.entries(c.perRequest);
  const list = (items) => items.map(([name, v]) => `${name} ${rate(v)}`).join(', ');
  const sent = entries.filter(([name]) => !c.luaOnly.includes(name));
  const lua = entries.filter(([name]) => c.luaOnly.includes(name));
  return `${list(sent) || 'none'}${lua.length ? `; run by Lua: ${list(lua)}` : ''}`;
}

function printTable(summary) {
  const header =
    `${pad('scenario', 10)}${pad('server', 23)}${padLeft('req/s', 9)}${padLeft('x bare', 9)}${padLeft('p99 ms', 9)}${padLeft('x bare', 9)}` +
    `${padLeft('cpu µs/req', 12)}${padLeft('x bare', 9)}   x bare min-max of rounds: req/s, cpu`;
  console.log(header);
  console.log('-'.repeat(header.length));
  for (const scenario of Object.keys(SCENARIOS)) {
    for (const server of SERVERS) {
      const s = summary[scenario][server];
      if (!s) continue;
      const isBare = server === 'bare';
      console.log(
        `${pad(scenario, 10)}${pad(server, 23)}${padLeft(fmt(s.rps, 0), 9)}${padLeft(isBare ? '' : fmt(s.rpsRatio, 2), 9)}${padLeft(fmt(s.p99, 2), 9)}${padLeft(isBare ? '' : fmt(s.p99Ratio, 2), 9)}` +
          `${padLeft(fmt(s.cpuUs, 1), 12)}${padLeft(isBare ? '' : fmt(s.cpuRatio, 2), 9)}   ` +
          `${isBare ? '' : `${fmt(s.rpsRatioRange[0], 2)}-${fmt(s.rpsRatioRange[1], 2)}, ${fmt(s.cpuRatioRange[0], 2)}-${fmt(s.cpuRatioRange[1], 2)}`}${isRedisServer(server) ? `  (${s.rounds} round(s); Redis used ${fmt(s.redisCpu * 100, 0)}% of a CPU)` : ''}`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------

async function main() {
  checkEnvironment();

  // Redis scenarios: --redis requires Redis, --no-redis leaves them out, and by default they are
  // included when Redis answers PING.
  let redisLine;
  let redisOn = false;
  if (argv.redis === false) {
    redisLine = 'Redis scenarios: off (--no-redis)';
  } else {
    const probe = await connectRedis();
    if (probe.ok) redisOn = true;
    else if (argv.redis === true) fail(`--redis: Redis at ${REDIS_HOST}:${REDIS_PORT} did not answer PING (${probe.reason})`);
    else redisLine = `Redis scenarios: SKIPPED, Redis at ${REDIS_HOST}:${REDIS_PORT} did not answer PING (${probe.reason}); start it to include them (or pass --no-redis)`;
  }
  if (redisOn) {
    SERVERS = [...BASE_SERVERS, ...REDIS_SERVERS];
    SESSION_SERVERS = SERVERS.filter((name) => name !== 'bare');
    const others = (await redisState.client.client('LIST')).split('\n').filter((line) => line.trim() && !line.includes(`addr=${redisState.addr} `));
    redisLine =
      `Redis scenarios: on (Redis ${redisState.version} at ${REDIS_HOST}:${REDIS_PORT}, ` +
      `${redisPid === undefined ? 'its process not visible here' : `pid ${redisPid}, not pinned: it shares the CPUs with the server and autocannon`}); ` +
      `${REDIS_SERVERS.join(' and ')} in rounds 1-${config.redisRounds} of ${config.rounds}` +
      (others.length ? `\nnote: ${others.length} other client(s) connected to Redis; commands they send during a run would be counted in commands/request` : '');
  }

  const machine = machineFacts();
  const scenarioCount = Object.keys(SCENARIOS).length;
  const redisCount = redisOn ? REDIS_SERVERS.length : 0;
  const runsInAll = scenarioCount * (BASE_SERVERS.length * config.rounds + redisCount * config.redisRounds);
  // Each run also spends ~1 s starting autocannon and pausing (~1.5 s for a Redis server, with its
  // counter snapshots); the noise guard may add up to ~35 s.
  const estimate =
    scenarioCount * BASE_SERVERS.length * (config.rounds * (config.duration + 1) + config.warmup + 0.7) +
    scenarioCount * redisCount * (config.redisRounds * (config.duration + 1.5) + config.warmup + 0.7 + 1) +
    10 + 3 * redisCount +
    config.h2hRounds * scenarioCount * (redisCount ? 2 : 1) * (config.duration + 1.5);
  console.log(`node ${machine.node} (V8 ${machine.v8}) on ${machine.platform}`);
  console.log(`CPU: ${machine.cpuModel}, ${machine.cores} cores (available parallelism ${machine.availableParallelism}), ${machine.memoryGiB} GiB RAM, load average ${machine.loadavg.join(' ')}`);
  console.log(`versions: ${Object.entries(machine.versions).map(([k, v]) => `${k} ${v}`).join(', ')}; nest-sessions commit ${machine.commit ?? 'n/a'}${machine.dirtyFiles ? ` (+${machine.dirtyFiles} uncommitted files)` : ''}`);
  console.log(
    `servers pinned to CPU ${SERVER_CPU}, autocannon to CPU ${LOAD_CPU}; ${config.rounds} round(s) x ${config.duration} s, then ${config.h2hRounds} head-to-head round(s), ` +
      `${config.connections} connections, warm-up ${config.warmup} s; about ${Math.round(estimate)} s in all`,
  );
  console.log(`${redisLine}\n`);

  const servers = {};
  let keysDeleted;
  try {
    for (const name of SERVERS) servers[name] = await startServer(name);

    // One session per server per scenario, checked to round-trip, then warmed up.
    const cookies = {};
    const writesSent = {};
    for (const name of SERVERS) {
      cookies[name] = { read: await seed(servers[name]), write: await seed(servers[name]) };
      await preflight(servers[name], cookies[name]);
      writesSent[name] = 1;
      if (config.warmup > 0) {
        for (const scenario of Object.keys(SCENARIOS)) {
          process.stderr.write(`warm-up  ${scenario.padEnd(6)} ${name}\n`);
          const run = await runLoad(loadOptions(servers[name], scenario, cookies[name][scenario], { duration: config.warmup }));
          if (scenario === 'write') writesSent[name] += run.sent;
        }
      }
    }

    const runs = [];
    const discarded = [];
    const problems = [];
    let retriesLeft = Math.floor(runsInAll * 0.1);
    let quietBudgetMs = QUIET_BUDGET_MS;
    // A pause between runs; with --noise it is the first 0.5 s window of the wait for quiet.
    const pauseBeforeRun = async () => {
      if (config.noise > 0) quietBudgetMs -= Math.max(0, (await waitForQuiet(config.noise / 100, Math.min(5000, quietBudgetMs + 500))) - 500);
      else await sleep(250);
    };
    for (let round = 0; round < config.rounds; round++) {
      const active = round < config.redisRounds ? SERVERS : BASE_SERVERS;
      const order = active.map((_, i) => active[(i + round) % active.length]);
      for (const scenario of Object.keys(SCENARIOS)) {
        for (const name of order) {
          const onRedis = isRedisServer(name);
          let run;
          for (let attempt = 1; ; attempt++) {
            await pauseBeforeRun();
            const redisBefore = onRedis ? await redisSnapshot(servers[name]) : undefined;
            const handledBefore = onRedis ? redisBefore.handled : (await servers[name].stats()).handled;
            const ticksBefore = cpuTicks(servers[name].pid);
            const before = foreignProbe();
            const result = await runLoad(loadOptions(servers[name], scenario, cookies[name][scenario], { duration: config.duration }));
            const after = foreignProbe();
            // During a Redis server's run, Redis's own CPU time is part of what is measured.
            const foreign = foreignShare(before, after, onRedis);
            if (scenario === 'write') writesSent[name] += result.sent;
            const attemptRun = { ...result, foreign: +foreign.toFixed(3), attempt };
            if (onRedis) {
              attemptRun.redisCpu = +redisShare(before, after).toFixed(3);
              attemptRun.redis = await redisDelta(servers[name], redisBefore);
            }
            // The server's own CPU time per request it received, both read once it has answered
            // its last in-flight requests (redisDelta waits for that too).
            attemptRun.handled = onRedis ? attemptRun.redis.handled : (await settledCount(servers[name])) - handledBefore;
            attemptRun.cpuTicks = cpuTicks(servers[name].pid) - ticksBefore;
            attemptRun.cpuUs = cpuPerRequest(attemptRun.cpuTicks, attemptRun.handled);
            if (run) {
              // Second attempt: keep the quieter of the two (chosen by foreign load, never by speed).
              let dropped = attemptRun;
              if (attemptRun.foreign < run.foreign) [run, dropped] = [attemptRun, run];
              discarded.push({ round: round + 1, scenario, server: name, ...dropped });
              break;
            }
            run = attemptRun;
            if (config.noise === 0 || foreign * 100 <= config.noise || retriesLeft === 0) break;
            retriesLeft--;
            process.stderr.write(`  (other processes used ${fmt(foreign * 100, 0)}% of a CPU during the run: repeating it)\n`);
          }
          runs.push({ round: round + 1, scenario, server: name, ...run });
          if (run.non2xx || run.errors || run.timeouts || !run.ok) {
            problems.push(`round ${round + 1} ${scenario} ${name}: ${run.ok} ok, ${run.non2xx} non-2xx, ${run.errors} errors, ${run.timeouts} timeouts`);
          }
          if (run.redis?.failed) problems.push(`round ${round + 1} ${scenario} ${name}: ${run.redis.failed} Redis command(s) failed`);
          process.stderr.write(
            `round ${round + 1}/${config.rounds}  ${scenario.padEnd(6)} ${name.padEnd(22)} ${fmt(run.rps, 0).padStart(7)} req/s  p99 ${fmt(run.p99, 2).padStart(7)} ms  cpu ${fmt(run.cpuUs, 1).padStart(6)} µs/req   others used ${fmt(run.foreign * 100, 0).padStart(3)}% of a CPU` +
              `${onRedis ? `, Redis ${fmt(run.redisCpu * 100, 0)}%; ${fmt(totalOf(run.redis.commands) / run.redis.handled, 2)} Redis commands and ${fmt(run.redis.reads / run.redis.handled, 2)} socket reads/request over ${run.redis.handled} requests` : ''}\n`,
          );
        }
      }
    }

    // Head-to-head: the servers of a group under load at once, on the same core, so whatever the
    // machine does during the run (a neighbour, the hypervisor, a slow second) happens to all of
    // them alike. Each gets its own autocannon process (all on the load CPU) with --connections.
    const groups = [{ name: 'memory', servers: BASE_SERVERS, reference: 'bare' }];
    if (redisOn) groups.push({ name: 'redis', servers: REDIS_SERVERS, reference: 'express-session-redis' });
    const h2hRuns = [];
    for (let round = 0; round < config.h2hRounds; round++) {
      for (const scenario of Object.keys(SCENARIOS)) {
        for (const group of groups) {
          // Rotated each round, so no server's autocannon always starts first.
          const names = group.servers.map((_, i) => group.servers[(i + round) % group.servers.length]);
          await pauseBeforeRun();
          const before = [];
          for (const name of names) before.push({ handled: (await servers[name].stats()).handled, ticks: cpuTicks(servers[name].pid) });
          const foreignBefore = foreignProbe();
          const results = await Promise.all(names.map((name) => runLoad(loadOptions(servers[name], scenario, cookies[name][scenario], { duration: config.duration }))));
          const foreign = foreignShare(foreignBefore, foreignProbe(), group.name === 'redis');
          const line = [];
          for (const [i, name] of names.entries()) {
            const result = results[i];
            if (scenario === 'write') writesSent[name] += result.sent;
            const handled = (await settledCount(servers[name])) - before[i].handled;
            const ticks = cpuTicks(servers[name].pid) - before[i].ticks;
            const run = {
              round: round + 1,
              scenario,
              group: group.name,
              server: name,
              ...result,
              handled,
              cpuTicks: ticks,
              cpuUs: cpuPerRequest(ticks, handled),
              // The server's share of one CPU over the run: how the core was split between them.
              cpuShare: +(ticks / CLOCK_TICKS / result.duration).toFixed(3),
              foreign: +foreign.toFixed(3),
            };
            h2hRuns.push(run);
            if (run.non2xx || run.errors || run.timeouts || !run.ok) {
              problems.push(`head-to-head round ${round + 1} ${scenario} ${name}: ${run.ok} ok, ${run.non2xx} non-2xx, ${run.errors} errors, ${run.timeouts} timeouts`);
            }
            line.push(`${name} ${fmt(run.rps, 0)} req/s, ${fmt(run.cpuUs, 1)} µs/req, ${fmt(run.cpuShare * 100, 0)}% CPU`);
          }
          process.stderr.write(`h2h ${round + 1}/${config.h2hRounds}  ${scenario.padEnd(6)} ${line.join(' | ')}; others used ${fmt(foreign * 100, 0)}% of a CPU\n`);
        }
      }
    }

    // Which commands one request sends, watched with MONITOR (after the measured runs: it slows Redis).
    const samples = {};
    if (redisOn) {
      for (const name of REDIS_SERVERS) {
        samples[name] = {};
        for (const scenario of Object.keys(SCENARIOS)) {
          samples[name][scenario] = await monitorSample(servers[name], scenario, cookies[name][scenario], MONITOR_SAMPLE);
          writesSent[name] += samples[name][scenario].writes;
        }
      }
    }

    // Did the write scenario's session keep every write? (Same question as the counter test, under
    // --duration load.) `sent` counts requests written to the socket, including the last in-flight
    // ones autocannon stops waiting for, so it is an upper bound on the writes the server handled.
    const writeSession = {};
    for (const name of SESSION_SERVERS) {
      const { body } = await call(servers[name], 'read', cookies[name].write);
      writeSession[name] = { count: body.count, sent: writesSent[name] };
    }

    // Shared-session counter: exactly N increments of one key of one session, over many connections.
    const shared = {};
    for (const name of SESSION_SERVERS) {
      const cookie = await seed(servers[name]);
      const run = await runLoad(loadOptions(servers[name], 'write', cookie, { amount: config.writes }));
      const { body } = await call(servers[name], 'read', cookie);
      shared[name] = { fired: config.writes, ok: run.ok, non2xx: run.non2xx, errors: run.errors, final: body.count, survived: body.count / config.writes };
    }

    const summary = summarise(runs);
    console.log('');
    printTable(summary);
    console.log(
      `(medians of ${config.rounds} round(s)${redisOn ? `, ${config.redisRounds} for the Redis servers` : ''}; "x bare" = median of the per-round ratios to bare, for cpu bare's µs/req over the server's (above 1 = cheaper than bare); ` +
        `p99 from exact response times; cpu = the server process's utime+stime / requests it received${redisOn ? ', Redis\'s own CPU not included' : ''})`,
    );
    console.log(
      `shared-session counter: ${SESSION_SERVERS.map((name) => {
        const s = shared[name];
        return `${name} ${s.final}/${s.fired} survived (${fmt(s.survived * 100, 1)}%)${s.ok !== s.fired ? ` [only ${s.ok} answered 2xx]` : ''}`;
      }).join(', ')}`,
    );
    console.log(
      `write-scenario session after all rounds: ${SESSION_SERVERS.map((name) => `${name} count ${writeSession[name].count} of <= ${writeSession[name].sent} writes sent (${fmt((writeSession[name].count / writeSession[name].sent) * 100, 1)}%)`).join(', ')}`,
    );

    const ns = { read: summary.read['nest-sessions'], write: summary.write['nest-sessions'] };
    const es = { read: summary.read['express-session'], write: summary.write['express-session'] };
    const verdict = (ok) => (ok ? 'met' : 'MISSED');
    console.log(
      `targets (req/s): read >= 0.90x bare: ${fmt(ns.read.rpsRatio, 2)} ${verdict(ns.read.rpsRatio >= 0.9)}; write >= 0.85x bare: ${fmt(ns.write.rpsRatio, 2)} ${verdict(ns.write.rpsRatio >= 0.85)}; ` +
        `ahead of express-session: read ${fmt(ns.read.rps, 0)} vs ${fmt(es.read.rps, 0)} ${verdict(ns.read.rps > es.read.rps)}, write ${fmt(ns.write.rps, 0)} vs ${fmt(es.write.rps, 0)} ${verdict(ns.write.rps > es.write.rps)}; ` +
        `(cpu/req): read >= 0.90x bare: ${fmt(ns.read.cpuRatio, 2)} ${verdict(ns.read.cpuRatio >= 0.9)}; write >= 0.85x bare: ${fmt(ns.write.cpuRatio, 2)} ${verdict(ns.write.cpuRatio >= 0.85)}`,
    );

    const h2h = {};
    if (config.h2hRounds > 0) {
      for (const group of groups) h2h[group.name] = summariseHeadToHead(h2hRuns.filter((r) => r.group === group.name), group);
      console.log(
        `head-to-head (${config.h2hRounds} round(s) x ${config.duration} s per scenario: the servers of a group under load at the same time, on CPU ${SERVER_CPU}; ` +
          `x = median of the per-run ratios to the group's reference, req/s and cpu/req (reference's µs/req over the server's), min-max in brackets; share = of CPU ${SERVER_CPU}):`,
      );
      for (const group of groups) {
        for (const scenario of Object.keys(SCENARIOS)) {
          const entries = group.servers
            .filter((name) => name !== group.reference)
            .map((name) => {
              const x = h2h[group.name][scenario][name];
              return `${name} ${fmt(x.rpsRatio, 2)}x [${fmt(x.rpsRatioRange[0], 2)}-${fmt(x.rpsRatioRange[1], 2)}] req/s, ${fmt(x.cpuRatio, 2)}x [${fmt(x.cpuRatioRange[0], 2)}-${fmt(x.cpuRatioRange[1], 2)}] cpu/req, share ${fmt(x.cpuShare * 100, 0)}%`;
            });
          const ref = h2h[group.name][scenario][group.reference];
          console.log(`  ${pad(scenario, 6)} vs ${group.reference} (${fmt(ref.rps, 0)} req/s, ${fmt(ref.cpuUs, 1)} µs/req, share ${fmt(ref.cpuShare * 100, 0)}%): ${entries.join('; ')}`);
        }
      }
      const m = h2h.memory;
      console.log(
        `targets, head-to-head: read >= 0.90x bare: req/s ${fmt(m.read['nest-sessions'].rpsRatio, 2)} ${verdict(m.read['nest-sessions'].rpsRatio >= 0.9)}, cpu/req ${fmt(m.read['nest-sessions'].cpuRatio, 2)} ${verdict(m.read['nest-sessions'].cpuRatio >= 0.9)}; ` +
          `write >= 0.85x bare: req/s ${fmt(m.write['nest-sessions'].rpsRatio, 2)} ${verdict(m.write['nest-sessions'].rpsRatio >= 0.85)}, cpu/req ${fmt(m.write['nest-sessions'].cpuRatio, 2)} ${verdict(m.write['nest-sessions'].cpuRatio >= 0.85)}` +
          (h2h.redis
            ? `; nest-sessions-redis >= 1.3x express-session-redis: read req/s ${fmt(h2h.redis.read['nest-sessions-redis'].rpsRatio, 2)}x ${verdict(h2h.redis.read['nest-sessions-redis'].rpsRatio >= 1.3)}, cpu/req ${fmt(h2h.redis.read['nest-sessions-redis'].cpuRatio, 2)}x ${verdict(h2h.redis.read['nest-sessions-redis'].cpuRatio >= 1.3)}; ` +
              `write req/s ${fmt(h2h.redis.write['nest-sessions-redis'].rpsRatio, 2)}x ${verdict(h2h.redis.write['nest-sessions-redis'].rpsRatio >= 1.3)}, cpu/req ${fmt(h2h.redis.write['nest-sessions-redis'].cpuRatio, 2)}x ${verdict(h2h.redis.write['nest-sessions-redis'].cpuRatio >= 1.3)}`
            : ''),
      );
    }

    let redisReport;
    if (redisOn) {
      const pair = compare(runs, 'nest-sessions-redis', 'express-session-redis');
      const commands = commandsPerRequest(runs, samples);
      const scenarios = Object.keys(SCENARIOS);
      console.log(
        `nest-sessions-redis / express-session-redis (median of per-round ratios, ${pair.read.rounds} round(s)): ` +
          scenarios
            .map(
              (sc) =>
                `${sc} req/s ${fmt(pair[sc].rpsRatio, 2)}x (rounds ${fmt(pair[sc].rpsRatioRange[0], 2)}-${fmt(pair[sc].rpsRatioRange[1], 2)}), ` +
                `cpu/req ${fmt(pair[sc].cpuRatio, 2)}x (rounds ${fmt(pair[sc].cpuRatioRange[0], 2)}-${fmt(pair[sc].cpuRatioRange[1], 2)}), p99 ${fmt(pair[sc].p99Ratio, 2)}x`,
            )
            .join('; ') +
          " (cpu/req: express-session-redis's over nest-sessions-redis', so higher is better, like req/s; p99: lower is better)",
      );
      console.log(
        `commands/request (INFO commandstats delta over the measured runs / requests the server received; Redis also counts the commands a Lua script runs): ` +
          REDIS_SERVERS.map((name) => `${name} ${scenarios.map((sc) => `${sc} ${fmt(commands[name][sc].total, 2)} (${breakdown(commands[name][sc])})`).join(', ')}`).join('; '),
      );
      console.log(
        `round trips/request (commands the server sent, i.e. less those run by Lua): ` +
          REDIS_SERVERS.map((name) => `${name} ${scenarios.map((sc) => `${sc} ${fmt(commands[name][sc].sent, 2)}`).join(', ')}`).join('; ') +
          `; Redis socket reads/request (below round trips when a client pipelines): ` +
          REDIS_SERVERS.map((name) => `${name} ${scenarios.map((sc) => `${sc} ${fmt(commands[name][sc].readsPerRequest, 2)}`).join(', ')}`).join('; '),
      );
      console.log(
        `MONITOR sample (${MONITOR_SAMPLE} sequential requests each, commands in order, Lua's in braces): ` +
          REDIS_SERVERS.map(
            (name) => `${name} ${scenarios.map((sc) => `${sc}: ${samples[name][sc].patterns.map((p) => `${p.times}x [${p.pattern}]`).join(' ') || 'nothing seen'}`).join('; ')}`,
          ).join(' | '),
      );
      const nsRedis = commands['nest-sessions-redis'];
      const round2 = (v) => Math.round(v * 100) / 100;
      console.log(
        `Redis targets: nest-sessions-redis read = 1 round trip: ${fmt(nsRedis.read.sent, 2)} ${verdict(round2(nsRedis.read.sent) <= 1)}; ` +
          `write <= 2 round trips: ${fmt(nsRedis.write.sent, 2)} ${verdict(round2(nsRedis.write.sent) <= 2)}; ` +
          `req/s >= 1.3x express-session-redis: read ${fmt(pair.read.rpsRatio, 2)}x ${verdict(pair.read.rpsRatio >= 1.3)}, write ${fmt(pair.write.rpsRatio, 2)}x ${verdict(pair.write.rpsRatio >= 1.3)}; ` +
          `(cpu/req) >= 1.3x: read ${fmt(pair.read.cpuRatio, 2)}x ${verdict(pair.read.cpuRatio >= 1.3)}, write ${fmt(pair.write.cpuRatio, 2)}x ${verdict(pair.write.cpuRatio >= 1.3)}`,
      );
      for (const name of REDIS_SERVERS) {
        for (const sc of scenarios) {
          if (samples[name][sc].sources > 1) problems.push(`MONITOR sample ${name} ${sc}: commands came from ${samples[name][sc].sources} connections (another client may have been active)`);
          if (samples[name][sc].requests < MONITOR_SAMPLE) problems.push(`MONITOR sample ${name} ${sc}: only ${samples[name][sc].requests} of ${MONITOR_SAMPLE} requests were seen`);
        }
      }
      redisReport = { version: redisState.version, pid: redisPid, rounds: config.redisRounds, pair, commands, samples };
    }

    const foreign = runs.map((r) => r.foreign * 100);
    console.log(
      `machine noise: other processes used median ${fmt(median(foreign), 0)}% (max ${fmt(Math.max(...foreign), 0)}%) of one CPU during the kept runs; ` +
        `${discarded.length} run(s) repeated, ${fmt((QUIET_BUDGET_MS - quietBudgetMs) / 1000, 1)} s spent waiting for quiet (threshold ${config.noise}%)`,
    );
    if (problems.length) console.log(`WARNING:\n  ${problems.join('\n  ')}`);

    console.log(`BENCH_JSON ${JSON.stringify({ date: new Date().toISOString(), machine, config, summary, shared, writeSession, redis: redisReport ?? null, h2h, runs, h2hRuns, discarded })}`);
  } finally {
    await Promise.all(Object.values(servers).map(stopServer));
    killAll('SIGKILL');
    if (redisState.client) {
      try {
        keysDeleted = await cleanupRedis();
        console.log(`Redis clean-up: deleted ${keysDeleted} ${REDIS_KEY_PREFIX}* key(s)`);
      } catch (error) {
        process.stderr.write(`bench: could not delete the ${REDIS_KEY_PREFIX}* keys: ${error.message}\n`);
      }
      redisState.client.disconnect();
    }
  }
}

const totalOf = (commands) => Object.values(commands).reduce((a, b) => a + b, 0);

main().catch((error) => {
  process.stderr.write(`bench failed: ${error.stack ?? error}\n`);
  killAll('SIGKILL');
  process.exit(1);
});
