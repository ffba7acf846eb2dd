import { freePort } from './ports.js';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A PostgreSQL server of its own for a test, never the shared one on 5432: `initdb` into a new
 * temporary directory (trust authentication, user `postgres`), then `postgres` in the foreground
 * as a child of the test process, on a free loopback port, its Unix socket in that directory, with
 * `fsync` off (commits still reach the operating system before they are acknowledged, so they
 * survive a stop of the server, not a crash of the machine). It can be stopped and started again
 * on the same data directory and port, so what was committed before the stop is there afterwards.
 *
 * PostgreSQL refuses to run as root: as root, `initdb` and `postgres` run as the `postgres` system
 * user (which the Debian package creates), and the directory is given to that user. The binaries
 * are looked up in `/usr/lib/postgresql/<version>/bin` (Debian, newest version first), then on
 * `PATH`. Every server still running is shut down when the test process exits.
 */

const HOST = '127.0.0.1';
const READY_TIMEOUT = 15_000;
const STOP_TIMEOUT = 10_000;
const INSTALL_HINT =
  'Install the PostgreSQL server binaries (Debian/Ubuntu: `apt-get install postgresql`), or put `initdb` and `postgres` on PATH.';
const live = new Set<ChildProcess>();
process.once('exit', () => {
  // SIGQUIT is PostgreSQL's immediate shutdown: the postmaster takes its backends down with it.
  for (const child of live) child.kill('SIGQUIT');
});

/** A PostgreSQL server that can be stopped and started again on the same data directory and port. */
export interface PostgresServer {
  readonly host: string;
  readonly port: number;
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication: no password). */
  readonly url: string;
  /** The temporary directory: `data/` (the cluster), the Unix socket, `initdb.log`. */
  readonly dir: string;
  readonly running: boolean;
  /**
   * Shut the server down and wait until it has exited. `fast` (the default, like
   * `pg_ctl stop -m fast`) rolls back open transactions, disconnects every client and writes a
   * checkpoint; `immediate` (`pg_ctl stop -m immediate`) just exits, and the next start recovers
   * from the WAL. Stopping a stopped server is fine.
   */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Start it again after {@link PostgresServer.stop}: same data directory, same port. */
  start(): Promise<void>;
  /** Stop it (immediately) and delete its directory. */
  dispose(): Promise<void>;
}

/** The uid and gid to run PostgreSQL as: the `postgres` user when we are root, else ourselves. */
interface RunAs {
  uid?: number;
  gid?: number;
}

/** `initdb` a new cluster in a temporary directory and start `postgres` on it. */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = findBinaries();
  const runAs = await runAsOptions(bin);
  const dir = await mkdtemp(join(tmpdir(), 'nest-sessions-postgres-'));
  const data = join(dir, 'data');
  let child: ChildProcess | undefined;
  let port = 0;

  const start = async (): Promise<void> => {
    if (child) throw new Error(`postgres on port ${port} is already running`);
    const args = ['-D', data, '-p', String(port), '-k', dir, '-h', HOST, '-c', 'fsync=off', '-c', 'full_page_writes=off'];
    const proc = spawn(join(bin, 'postgres'), args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], ...runAs });
    child = proc;
    live.add(proc);
    proc.once('exit', () => {
      live.delete(proc);
      if (child === proc) child = undefined;
    });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new Error(`postgres on port ${port} was not ready within ${READY_TIMEOUT} ms:\n${output}`)),
        READY_TIMEOUT,
      );
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        if (/database system is ready to accept connections/.test(output)) {
          cleanup();
          resolve();
        }
      };
      const onError = (err: Error): void => fail(new Error(`could not run ${join(bin, 'postgres')}: ${err.message}. ${INSTALL_HINT}`));
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
        fail(new Error(`postgres on port ${port} exited (${code ?? signal}):\n${output}`));
      const fail = (err: Error): void => {
        cleanup();
        proc.kill('SIGQUIT');
        reject(err);
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        proc.stdout?.off('data', onData);
        proc.stderr?.off('data', onData);
        proc.off('error', onError);
        proc.off('exit', onExit);
      };
      proc.stdout?.on('data', onData);
      proc.stderr?.on('data', onData);
      proc.once('error', onError);
      proc.once('exit', onExit);
    });
    // Keep draining the pipes so the server never blocks on a full pipe.
    proc.stdout?.resume();
    proc.stderr?.resume();
  };

  const stop = async (mode: 'fast' | 'immediate' = 'fast'): Promise<void> => {
    const proc = child;
    if (!proc) return;
    child = undefined;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    // The signals `pg_ctl stop -m fast|immediate` sends to the postmaster.
    proc.kill(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT);
    await exited;
    clearTimeout(timer);
  };

  try {
    if (runAs.uid !== undefined) await chown(dir, runAs.uid, runAs.gid ?? -1);
    await run(
      join(bin, 'initdb'),
      ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync', '--no-instructions'],
      { cwd: dir, ...runAs },
    );
    port = await freePort();
    await start();
  } catch (err) {
    await stop('immediate');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    host: HOST,
    port,
    url: `postgres://postgres@${HOST}:${port}/postgres`,
    dir,
    get running() {
      return child !== undefined;
    },
    start,
    stop,
    async dispose() {
      await stop('immediate');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The directory holding `initdb` and `postgres`: Debian's newest `/usr/lib/postgresql/<v>/bin`, else PATH. */
function findBinaries(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+(\.\d+)?$/.test(name))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const version of versions) {
    const bin = join(root, version, 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres'))) return bin;
  }
  for (const bin of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres'))) return bin;
  }
  throw new Error(`PostgreSQL's initdb and postgres were not found in ${root}/<version>/bin nor on PATH. ${INSTALL_HINT}`);
}

/** As root, the uid and gid of the `postgres` user (PostgreSQL will not run as root); otherwise nothing. */
async function runAsOptions(bin: string): Promise<RunAs> {
  if (process.getuid?.() !== 0) return {};
  try {
    const [{ stdout: uid }, { stdout: gid }] = await Promise.all([
      runCapture('id', ['-u', 'postgres']),
      runCapture('id', ['-g', 'postgres']),
    ]);
    return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
  } catch {
    throw new Error(
      `the tests run as root, and PostgreSQL refuses to: ${bin}/postgres must run as the \`postgres\` system user, which does not exist. ${INSTALL_HINT}`,
    );
  }
}

function runCapture(file: string, args: string[]): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, (err, stdout) => (err ? reject(err) : resolve({ stdout })));
  });
}

/** Run `file args` to completion; a failure names the command and carries its output. */
function run(file: string, args: string[], options: { cwd: string } & RunAs): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, options, (err, stdout, stderr) => {
      if (!err) return resolve();
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT' ? ` ${INSTALL_HINT}` : '';
      reject(new Error(`${file} ${args.join(' ')} failed: ${err.message}${missing}\n${stdout}${stderr}`));
    });
  });
}
