// The machine and the checkout: what the benchmark needs to run, and the facts printed with its
// figures (Node, CPU, load, package versions, commit).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fail } from './processes.mjs';
import { LOAD_CPU, root } from './servers.mjs';

export function checkEnvironment() {
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

const PACKAGES = [
  '@nestjs/core',
  'express',
  'express-session',
  'autocannon',
  'ioredis',
  'redis',
  'connect-redis',
  '@nestjs/platform-fastify',
  'fastify',
  '@fastify/session',
  '@fastify/cookie',
];

export function machineFacts() {
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
    versions: Object.fromEntries(PACKAGES.map((name) => [name, packageVersion(name)])),
  };
}
