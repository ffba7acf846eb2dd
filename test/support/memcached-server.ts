import { readFile } from 'node:fs/promises';
import { freePort } from './ports.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';

/**
 * A real `memcached` process on a free loopback port, for tests. It never uses a system
 * memcached service; `memcached` must be installed (`apt-get install memcached`).
 *
 * @example
 * ```ts
 * const server = new MemcachedTestServer(['-I', '4m']);
 * beforeAll(() => server.start());
 * afterAll(() => server.stop());
 * ```
 */
export class MemcachedTestServer {
  private child: ChildProcess | undefined;
  private portNumber = 0;

  /** `extraArgs` are added to `memcached -l 127.0.0.1 -p PORT -U 0 -m 64`. */
  constructor(private readonly extraArgs: string[] = []) {}

  /** `127.0.0.1:PORT`; the port is picked by the first {@link start} and kept by later ones. */
  get address(): string {
    if (this.portNumber === 0) throw new Error('MemcachedTestServer: start() it first');
    return `127.0.0.1:${this.portNumber}`;
  }

  get port(): number {
    return this.portNumber;
  }

  /** Start memcached (again on the same port after {@link stop}) and wait until it accepts connections. */
  async start(): Promise<void> {
    if (this.child) return;
    if (this.portNumber === 0) this.portNumber = await freePort();
    const args = ['-l', '127.0.0.1', '-p', String(this.portNumber), '-U', '0', '-m', '64', ...this.extraArgs];
    // memcached refuses to run as root unless told which user to run as.
    if (process.getuid?.() === 0) args.push('-u', 'root');
    const child = spawn('memcached', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<Error>((resolve) => {
      child.once('error', (err) =>
        resolve(new Error(`could not run memcached (is it installed? apt-get install memcached): ${err.message}`)),
      );
      child.once('exit', (code, signal) => resolve(new Error(`memcached exited (${code ?? signal}): ${stderr.trim()}`)));
    });
    this.child = child;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const result = await Promise.race([exited, canConnect(this.portNumber)]);
      if (result instanceof Error) {
        this.child = undefined;
        throw result;
      }
      if (result) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`memcached did not listen on port ${this.portNumber} within 10 s: ${stderr.trim()}`);
      }
      await new Promise((done) => setTimeout(done, 20));
    }
  }

  /** Stop memcached (its data is lost) and wait until the process has exited. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    await exited;
  }

  /**
   * Freeze memcached (SIGSTOP): connections stay open but nothing is answered, like a hung server.
   * Resolves once the kernel reports the process stopped, since the signal is delivered
   * asynchronously and a request sent before that could still be answered.
   */
  async pause(): Promise<void> {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    this.child!.kill('SIGSTOP');
    for (let i = 0; i < 200; i++) {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
      // The state is the field after the parenthesised command name: T means stopped.
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T') return;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    throw new Error(`memcached (pid ${pid}) did not stop within 1 s of SIGSTOP`);
  }

  /** Let a paused memcached run again (SIGCONT). */
  resume(): void {
    this.child?.kill('SIGCONT');
  }
}

/** Whether a TCP connection to the loopback `port` succeeds. */
function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}
