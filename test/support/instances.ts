import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TestClient } from './http-client.js';
import type { AdapterName } from './test-app.js';

const SERVER = fileURLToPath(new URL('./instance-server.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A running app instance in its own process. */
export interface Instance {
  url: string;
  port: number;
  pid: number;
  /** The platform the instance's app runs on, as its HTTP adapter reports it (`getType()`). */
  platform: string;
  process: ChildProcess;
  /** A client of this instance that shares `jar` with others, like one browser hitting a load balancer. */
  client(jar?: Map<string, string>): TestClient;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** Whether the process is still running. */
  alive(): boolean;
}

/**
 * Start `test/support/instance-server.mjs` against `storeUrl` in a separate Node process (the built
 * package from `dist/`, which `npm test` builds first), on `platform` (Express unless told
 * otherwise), and wait until it listens.
 */
export async function startInstance(
  storeUrl: string,
  env: Record<string, string> = {},
  platform: AdapterName = 'express',
): Promise<Instance> {
  if (!existsSync(new URL('../../dist/index.js', import.meta.url))) {
    throw new Error('dist/ is missing: run `npm run build` (npm test does it first)');
  }
  const child = spawn(process.execPath, [SERVER], {
    cwd: ROOT,
    env: { ...process.env, STORE_URL: storeUrl, SESSION_SECRET: 'multi-instance-secret-0123456789abcdef', ...env, PLATFORM: platform },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const ready = await new Promise<{ port: number; pid: number; platform: string }>((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`instance did not start in 20 s: ${stderr}`)), 20_000);
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const line = buffer.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as { port: number; pid: number; platform: string });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`instance exited with ${code}: ${stderr}`));
    });
  });
  const url = `http://127.0.0.1:${ready.port}`;
  let exited = false;
  const exit = new Promise<void>((resolve) => child.on('exit', () => ((exited = true), resolve())));
  return {
    url,
    port: ready.port,
    pid: ready.pid,
    platform: ready.platform,
    process: child,
    client: (jar) => new TestClient(url, jar),
    async stop() {
      if (!exited) child.kill('SIGTERM');
      await exit;
    },
    alive: () => !exited,
  };
}
