// The servers under test (bench/servers/*.mjs): their names and routes, the cores they and the load
// generator are pinned to, starting and stopping them, and the few requests the driver sends them
// itself (seed, a single read or write, the pre-flight check).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { track } from './processes.mjs';

/** bench/ and the repository root (the servers' working directory). */
export const benchDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const root = path.resolve(benchDir, '..');

export const BASE_SERVERS = ['bare', 'nest-sessions', 'express-session'];
export const REDIS_SERVERS = ['nest-sessions-redis', 'express-session-redis'];
/** With --compat: nest-sessions (memory, Express) through its express-session compatible `req.session`. */
export const COMPAT_SERVERS = ['nest-sessions-compat'];
/** With --fastify: the same on Nest-on-Fastify, against bare Fastify and @fastify/session. */
export const FASTIFY_SERVERS = ['fastify-bare', 'fastify-nest-sessions', 'fastify-session'];
export const FASTIFY_REDIS_SERVERS = ['fastify-nest-sessions-redis', 'fastify-session-redis'];
/** Every server, in the order of the table. */
export const ALL_SERVERS = [...BASE_SERVERS, ...COMPAT_SERVERS, ...REDIS_SERVERS, ...FASTIFY_SERVERS, ...FASTIFY_REDIS_SERVERS];
export const isRedisServer = (name) => REDIS_SERVERS.includes(name) || FASTIFY_REDIS_SERVERS.includes(name);
export const isFastifyServer = (name) => name.startsWith('fastify-');
/** The server without sessions that `name`'s "x bare" ratios are to: `bare`, or `fastify-bare` for a Fastify server. */
export const bareOf = (name) => (isFastifyServer(name) ? 'fastify-bare' : 'bare');
export const isBare = (name) => bareOf(name) === name;

/**
 * The servers of a run: `memory` (driven in every round) and `redis` (in the first --redis-rounds),
 * from the options: the Express ones always, `--compat`'s and `--fastify`'s when asked for.
 */
export function serverLists({ redisOn, fastify, compat }) {
  const memory = [...BASE_SERVERS, ...(compat ? COMPAT_SERVERS : []), ...(fastify ? FASTIFY_SERVERS : [])];
  const redis = redisOn ? [...REDIS_SERVERS, ...(fastify ? FASTIFY_REDIS_SERVERS : [])] : [];
  return { memory, redis, all: [...memory, ...redis] };
}

export const SCENARIOS = {
  read: { method: 'GET', path: '/read' },
  write: { method: 'POST', path: '/write' },
};

// The bare server gets a cookie of the same size as nest-sessions' (32-char ID + '.' + 43-char MAC),
// so header parsing costs the same everywhere.
const BARE_COOKIE = `sid=${'a'.repeat(32)}.${'b'.repeat(43)}`;

export const SERVER_CPU = '0';
export const LOAD_CPU = '1';

/**
 * Start servers/<name>.mjs pinned to SERVER_CPU, with `env` on top of the driver's environment.
 * Resolves, once the server has printed its first line (`{ ready, port, pid }`), with
 * `{ name, child, pid, reportedPid, url, next, stats }`; its stderr is passed on, each line
 * prefixed with `[name]`.
 */
export function startServer(name, env = {}) {
  const child = track(
    spawn('taskset', ['-c', SERVER_CPU, process.execPath, path.join(benchDir, 'servers', `${name}.mjs`)], {
      cwd: root,
      env: { ...process.env, NODE_ENV: 'production', BENCH_WATCH_STDIN: '1', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
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
        const next = messages(name, child, buffer.slice(newline + 1));
        resolve({
          name,
          child,
          pid: child.pid,
          reportedPid: pid,
          url: `http://127.0.0.1:${port}`,
          next,
          stats: () => askStats(child, next),
        });
      } catch (error) {
        reject(new Error(`${name} server printed an unexpected first line: ${buffer.slice(0, newline)}`, { cause: error }));
      }
    });
  });
}

/**
 * After its first line a server only speaks when asked, one JSON line per answer
 * (servers/common.mjs): to a `stats` line on its stdin, `{ stats: { handled, gc } }`; under
 * profile.mjs, to SIGUSR2, `{ profiling: true }` and then `{ profile }`. Returns `next(timeoutMs?, what?)`,
 * resolving the next answer (rejected when the server exits, or after `timeoutMs` when given).
 */
function messages(name, child, rest) {
  let buffer = rest;
  const unread = [];
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
      if (waiters.length) waiters.shift().resolve(message);
      else unread.push(message);
    }
  });
  child.once('exit', () => {
    for (const waiter of waiters.splice(0)) waiter.reject(new Error(`${name} server exited`));
  });
  return (timeoutMs, what) => {
    if (unread.length) return Promise.resolve(unread.shift());
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (value) => (clearTimeout(timer), resolve(value)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      };
      const timer =
        timeoutMs &&
        setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`${name} server did not answer ${what} within ${timeoutMs / 1000} s`));
        }, timeoutMs);
      waiters.push(waiter);
    });
  };
}

/** The server's `{ handled, gc }`: the requests it has received (and, with BENCH_GC_STATS=1, its GC time and counts). */
async function askStats(child, next) {
  const answer = next(5000, 'a stats request');
  child.stdin.write('stats\n');
  let message = await answer;
  while (!message.stats) message = await next(5000, 'a stats request');
  return message.stats;
}

export async function stopServer(server) {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3500);
  await exited;
  clearTimeout(timer);
}

/** GET /seed without a cookie: a new session holding count = 0; returns the `name=value` cookie to send. */
export async function seed(server) {
  const res = await fetch(`${server.url}/seed`);
  await res.text();
  if (res.status !== 200) throw new Error(`${server.name}: GET /seed answered ${res.status}`);
  if (isBare(server.name)) return BARE_COOKIE;
  const cookie = res.headers.getSetCookie()[0]?.split(';')[0];
  if (!cookie) throw new Error(`${server.name}: GET /seed set no cookie`);
  return cookie;
}

/** One request of `scenario` with `cookie`: the JSON body and the cookies the server set. */
export async function call(server, scenario, cookie) {
  const { method, path: route } = SCENARIOS[scenario];
  const res = await fetch(`${server.url}${route}`, { method, headers: { cookie } });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`${server.name}: ${method} ${route} answered ${res.status}`);
  return { body, setCookie: res.headers.getSetCookie() };
}

/** The session round-trips: a seeded session reads 0, a write makes it 1, and no new cookie is issued. */
export async function preflight(server, cookies) {
  const read = await call(server, 'read', cookies.read);
  if (read.body.count !== 0) throw new Error(`${server.name}: the seeded session reads count=${read.body.count}, expected 0`);
  if (isBare(server.name)) return;
  const write = await call(server, 'write', cookies.write);
  const again = await call(server, 'read', cookies.write);
  if (write.body.count !== 1 || again.body.count !== 1) {
    throw new Error(`${server.name}: a write to the seeded session did not stick (wrote ${write.body.count}, read ${again.body.count})`);
  }
  if (read.setCookie.length > 0 || write.setCookie.length > 0) {
    process.stderr.write(
      `note: ${server.name} sets a cookie on requests of an existing session: ${[...read.setCookie, ...write.setCookie][0]}\n`,
    );
  }
}
