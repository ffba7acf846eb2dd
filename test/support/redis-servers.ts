import { freePort } from './ports.js';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

/**
 * Real `redis-server` processes for tests: standalone (optionally TLS), a Redis Cluster of masters,
 * and Sentinel. Each runs in the foreground as a child of the test process, on loopback ports found
 * free, in a temporary directory, without persistence. Every process is also killed when the test
 * process exits, so a failing setup never leaves servers behind.
 */

const run = promisify(execFile);
const HOST = '127.0.0.1';
const READY_TIMEOUT = 10_000;
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** One Redis process that can be stopped and started again on the same port and directory. */
export interface RedisServer {
  readonly host: string;
  readonly port: number;
  /** Working directory (config, logs of Sentinel, cluster `nodes.conf`). */
  readonly dir: string;
  readonly running: boolean;
  /** Start it again after {@link RedisServer.stop}, same port and directory (data is not kept). */
  start(): Promise<void>;
  /** Stop it (SIGTERM, SIGKILL after 3 s) and wait until it has exited. Stopping twice is fine. */
  stop(): Promise<void>;
  /** Stop it and delete its directory. */
  dispose(): Promise<void>;
}

/** Paths of PEM files made by {@link createTlsFiles}. */
export interface TlsFiles {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** Delete the directory. */
  remove(): Promise<void>;
}

export interface StartRedisOptions {
  /** Port to listen on (the TLS port with `tls`). @default a free port */
  port?: number;
  /** Serve TLS only, with these files. */
  tls?: TlsFiles;
  /** `tls-auth-clients`: whether clients must present a certificate. @default 'optional' */
  tlsAuthClients?: 'yes' | 'no' | 'optional';
  /** More `redis-server` arguments. */
  args?: string[];
}

/** Start a standalone `redis-server`. */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const dir = await mkdtemp(join(tmpdir(), 'nest-sessions-redis-'));
  const args = [...commonArgs(dir)];
  if (options.tls) {
    const { tls } = options;
    args.push('--port', '0', '--tls-port', String(port));
    args.push('--tls-cert-file', tls.serverCert, '--tls-key-file', tls.serverKey, '--tls-ca-cert-file', tls.ca);
    args.push('--tls-auth-clients', options.tlsAuthClients ?? 'optional');
  } else {
    args.push('--port', String(port));
  }
  args.push(...(options.args ?? []));
  return launch(port, dir, args);
}

/** A running cluster of masters, every slot assigned. */
export interface RedisClusterServers {
  /** Seed addresses (every master). */
  nodes: { host: string; port: number }[];
  servers: RedisServer[];
  /** Stop every node and delete their directories. */
  stop(): Promise<void>;
}

/**
 * Start `masters` cluster-enabled servers, split the 16384 slots between them with
 * `CLUSTER ADDSLOTSRANGE`, join them with `CLUSTER MEET`, and wait until every node reports
 * `cluster_state:ok` and knows every other. Nodes started before a failure are stopped.
 */
export async function startRedisCluster(masters = 3): Promise<RedisClusterServers> {
  const servers: RedisServer[] = [];
  const admins: Redis[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((server) => server.dispose()));
  };
  try {
    const busPorts: number[] = [];
    for (let i = 0; i < masters; i++) {
      const busPort = await freePort();
      busPorts.push(busPort);
      const dir = await mkdtemp(join(tmpdir(), 'nest-sessions-cluster-'));
      const port = await freePort();
      const args = [
        ...commonArgs(dir),
        '--port',
        String(port),
        '--cluster-enabled',
        'yes',
        '--cluster-port',
        String(busPort),
        '--cluster-config-file',
        join(dir, 'nodes.conf'),
        '--cluster-node-timeout',
        '5000',
      ];
      servers.push(await launch(port, dir, args));
    }
    for (const server of servers) admins.push(adminClient(server.port));
    const size = Math.ceil(16384 / masters);
    await Promise.all(
      admins.map((admin, i) => admin.call('CLUSTER', 'ADDSLOTSRANGE', String(i * size), String(Math.min(16383, (i + 1) * size - 1)))),
    );
    for (let i = 1; i < masters; i++) {
      await admins[0].call('CLUSTER', 'MEET', HOST, String(servers[i].port), String(busPorts[i]));
    }
    const deadline = Date.now() + 15_000;
    for (;;) {
      const infos = await Promise.all(admins.map((admin) => admin.call('CLUSTER', 'INFO') as Promise<string>));
      if (infos.every((info) => info.includes('cluster_state:ok') && info.includes(`cluster_known_nodes:${masters}`))) break;
      if (Date.now() > deadline) throw new Error(`the test cluster did not become ready:\n${infos.join('\n')}`);
      await sleep(50);
    }
    return { nodes: servers.map(({ host, port }) => ({ host, port })), servers, stop };
  } catch (err) {
    await stop();
    throw err;
  } finally {
    for (const admin of admins) admin.disconnect();
  }
}

/** Start a Sentinel monitoring the master on `masterPort` under `name` (quorum 1). */
export async function startRedisSentinel(masterPort: number, name = 'mymaster'): Promise<RedisServer> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'nest-sessions-sentinel-'));
  const config = join(dir, 'sentinel.conf');
  // Sentinel rewrites its config file, so it must be a writable file of its own.
  await writeFile(
    config,
    [
      `port ${port}`,
      `bind ${HOST}`,
      `dir ${dir}`,
      `sentinel monitor ${name} ${HOST} ${masterPort} 1`,
      `sentinel down-after-milliseconds ${name} 5000`,
      '',
    ].join('\n'),
  );
  // Sentinel never logs "Ready to accept connections"; it is ready once it monitors the master.
  return launch(port, dir, [config, '--sentinel'], /\+monitor master/);
}

/**
 * A self-signed CA, a server certificate it signed for `localhost` and `127.0.0.1`, and a client
 * certificate it signed, made with `openssl` (EC P-256, valid 2 days) in a new temporary directory.
 */
export async function createTlsFiles(): Promise<TlsFiles> {
  const dir = await mkdtemp(join(tmpdir(), 'nest-sessions-tls-'));
  const file = (name: string): string => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    await run('openssl', [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.crt'),
      '-days',
      '2',
      '-subj',
      '/CN=nest-sessions test CA',
    ]);
    await writeFile(file('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    await writeFile(file('client.ext'), 'extendedKeyUsage=clientAuth\n');
    for (const [name, cn] of [
      ['server', 'localhost'],
      ['client', 'nest-sessions test client'],
    ] as const) {
      await run('openssl', ['req', '-new', ...ec, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${cn}`]);
      await run('openssl', [
        'x509',
        '-req',
        '-in',
        file(`${name}.csr`),
        '-CA',
        file('ca.crt'),
        '-CAkey',
        file('ca.key'),
        '-CAcreateserial',
        '-out',
        file(`${name}.crt`),
        '-days',
        '2',
        '-extfile',
        file(`${name}.ext`),
      ]);
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    ca: file('ca.crt'),
    serverCert: file('server.crt'),
    serverKey: file('server.key'),
    clientCert: file('client.crt'),
    clientKey: file('client.key'),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

function commonArgs(dir: string): string[] {
  return ['--bind', HOST, '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', '', '--daemonize', 'no'];
}

function adminClient(port: number): Redis {
  const client = new Redis({ host: HOST, port, maxRetriesPerRequest: 1 });
  client.on('error', () => {
    // Reported through the failing command.
  });
  return client;
}

/** Spawn `redis-server args` and wait until its output matches `ready`. */
async function launch(port: number, dir: string, args: string[], ready = /Ready to accept connections/): Promise<RedisServer> {
  let child: ChildProcess | undefined;

  const start = async (): Promise<void> => {
    if (child) throw new Error(`redis-server on port ${port} is already running`);
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    live.add(proc);
    proc.once('exit', () => {
      live.delete(proc);
      if (child === proc) child = undefined;
    });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new Error(`redis-server on port ${port} was not ready within ${READY_TIMEOUT} ms:\n${output}`)),
        READY_TIMEOUT,
      );
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        if (ready.test(output)) {
          cleanup();
          resolve();
        }
      };
      const onExit = (code: number | null): void => fail(new Error(`redis-server on port ${port} exited (${code}):\n${output}`));
      const fail = (err: Error): void => {
        cleanup();
        proc.kill('SIGKILL');
        reject(err);
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        proc.stdout.off('data', onData);
        proc.stderr.off('data', onData);
        proc.off('exit', onExit);
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      proc.once('exit', onExit);
    });
    // Keep draining the pipes so a chatty server never blocks on a full pipe.
    proc.stdout.resume();
    proc.stderr.resume();
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    if (!proc) return;
    child = undefined;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await start();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    host: HOST,
    port,
    dir,
    get running() {
      return child !== undefined;
    },
    start,
    stop,
    async dispose() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export { freePort };
