#!/usr/bin/env node
// Where does a server spend its time under load? Starts each server pinned to CPU 0, warms it up
// with autocannon (pinned to CPU 1), then profiles only the measured window with the V8 CPU
// profiler (started and stopped in the server by SIGUSR2, see servers/common.mjs), and prints:
// the CPU time per request by origin (nest-sessions' dist/, @nestjs, other node_modules, Node
// internals, GC) side by side for the servers, then per server the top self-time functions and
// the functions of nest-sessions by self and by inclusive time.
//
//   npm run build && node bench/profile.mjs [--scenario read|write] [--servers bare,nest-sessions]
//     [--duration 5] [--top 15] [--interval 250 (µs)] [--keep (keep the .cpuprofile files)]
//     [--heap: bytes allocated per request instead of CPU time, from V8's sampling heap profiler
//      (collected objects included; --interval is then the mean bytes between samples, default 4096)]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadOptions, runLoad } from './lib/load.mjs';
import './lib/processes.mjs'; // servers and autocannon runs are killed on exit
import { root, SCENARIOS, seed, startServer, stopServer } from './lib/servers.mjs';

const { values: argv } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'read' },
    servers: { type: 'string', default: 'bare,nest-sessions' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    top: { type: 'string', default: '15' },
    interval: { type: 'string', default: '250' },
    keep: { type: 'boolean', default: false },
    heap: { type: 'boolean', default: false },
  },
});
if (!SCENARIOS[argv.scenario]) throw new Error(`--scenario must be read or write`);
const top = Number(argv.top);
const heap = argv.heap;
const interval = argv.interval === '250' && heap ? '4096' : argv.interval;

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

/** Self and inclusive time (µs) per function, keyed by name + location. */
function analyse(profile) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, { ...node, self: 0 }]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  for (let i = 0; i < profile.samples.length; i++) nodes.get(profile.samples[i]).self += profile.timeDeltas[i] ?? 0;
  // Inclusive time: every node's self time counts once for each distinct function on its stack.
  const self = new Map();
  const inclusive = new Map();
  const byOrigin = new Map();
  let total = 0;
  for (const node of nodes.values()) {
    if (node.self === 0) continue;
    total += node.self;
    const key = frameKey(node.callFrame);
    self.set(key, (self.get(key) ?? 0) + node.self);
    const origin = originOf(node.callFrame);
    byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + node.self);
    const seen = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const k = frameKey(nodes.get(id).callFrame);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + node.self);
    }
  }
  return { self, inclusive, byOrigin, total };
}

/** The same shape as analyse(), in bytes allocated, from a sampling heap profile. */
function analyseHeap(profile) {
  const self = new Map();
  const inclusive = new Map();
  const byOrigin = new Map();
  let total = 0;
  const walk = (node, stack) => {
    const key = frameKey(node.callFrame);
    const inner = stack.includes(key) ? stack : [...stack, key];
    if (node.selfSize > 0) {
      total += node.selfSize;
      self.set(key, (self.get(key) ?? 0) + node.selfSize);
      const origin = originOf(node.callFrame);
      byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + node.selfSize);
      for (const k of inner) inclusive.set(k, (inclusive.get(k) ?? 0) + node.selfSize);
    }
    for (const child of node.children ?? []) walk(child, inner);
  };
  walk(profile.head, []);
  return { self, inclusive, byOrigin, total };
}

/** A function by name and place: `name file:line`. */
function frameKey({ functionName, url, lineNumber }) {
  return `${functionName || '(anonymous)'} ${url ? `${shortUrl(url)}:${lineNumber + 1}` : ''}`.trim();
}

function shortUrl(url) {
  const file = url.startsWith('file://') ? fileURLToPath(url) : url;
  return file.startsWith(root) ? path.relative(root, file) : file;
}

function originOf({ url, functionName }) {
  if (!url) {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(root)') return 'root';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'program (native, unattributed)';
    return 'native / builtins';
  }
  if (url.startsWith('node:')) return 'node: internals';
  const file = shortUrl(url);
  if (file.startsWith('dist/')) return 'nest-sessions (dist/)';
  if (file.startsWith('bench/')) return 'bench server code';
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  if (match?.[1].startsWith('@nestjs/')) return match[1];
  if (match) return `node_modules: ${match[1]}`;
  return 'other';
}

const sorted = (map) => [...map].sort((a, b) => b[1] - a[1]);
// CPU: µs, printed as ms; heap: bytes, printed as KiB.
const ms = (v) => (heap ? v / 1024 : v / 1000).toFixed(0).padStart(6);
const unit = heap ? 'KiB' : 'ms';

async function profileServer(name) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `nest-sessions-prof-${name}-`));
  const file = path.join(dir, `${name}-${argv.scenario}.${heap ? 'heapprofile' : 'cpuprofile'}`);
  // The server answers SIGUSR2 with { profiling: true }, then with { profile } (servers/common.mjs).
  const server = await startServer(name, {
    BENCH_CPU_PROFILE: file,
    BENCH_CPU_PROFILE_INTERVAL: interval,
    BENCH_HEAP_PROFILE: heap ? '1' : '',
  });
  try {
    const cookie = await seed(server);
    const options = (duration) => loadOptions(server, argv.scenario, cookie, Number(argv.connections), { duration });
    await runLoad(options(2)); // warm-up (JIT), not profiled
    server.child.kill('SIGUSR2');
    await server.next(); // { profiling: true }
    const run = await runLoad(options(Number(argv.duration)));
    server.child.kill('SIGUSR2');
    await server.next(); // { profile }
    const profile = JSON.parse(readFileSync(file, 'utf8'));
    return { name, run, analysis: heap ? analyseHeap(profile) : analyse(profile), file, dir };
  } finally {
    await stopServer(server);
  }
}

const results = [];
for (const name of argv.servers.split(',')) {
  process.stderr.write(`profiling ${name} (${argv.scenario}: 2 s warm-up, then ${argv.duration} s profiled)\n`);
  results.push(await profileServer(name));
}

// CPU µs per request by origin, one column per server: the differences are what each layer costs.
const origins = new Map();
for (const { analysis } of results) for (const [origin, us] of analysis.byOrigin) origins.set(origin, (origins.get(origin) ?? 0) + us);
origins.delete('idle');
console.log(
  heap
    ? `\n${argv.scenario}: bytes allocated per request by origin (sampled every ~${interval} bytes; measured window only)`
    : `\n${argv.scenario}: CPU µs per request by origin (measured window only; profiler overhead included)`,
);
console.log(`  ${'origin'.padEnd(34)}${results.map((r) => r.name.padStart(17)).join('')}`);
// Requests handled while profiling: those sent (the last in-flight ones are answered before the stop signal).
const perRequest = (r, origin) => (r.analysis.byOrigin.get(origin) ?? 0) / r.run.sent;
for (const [origin] of sorted(origins)) {
  if (results.every((r) => perRequest(r, origin) < (heap ? 8 : 0.5))) continue;
  console.log(
    `  ${origin.padEnd(34)}${results
      .map((r) =>
        perRequest(r, origin)
          .toFixed(heap ? 0 : 1)
          .padStart(17),
      )
      .join('')}`,
  );
}
console.log(
  `  ${(heap ? 'total' : 'total busy').padEnd(34)}${results.map((r) => ((r.analysis.total - (r.analysis.byOrigin.get('idle') ?? 0)) / r.run.sent).toFixed(1).padStart(17)).join('')}`,
);

for (const { name, run, analysis, file, dir } of results) {
  console.log(
    `\n=== ${name}, ${argv.scenario}: ${run.rps.toFixed(0)} req/s, p99 ${run.p99.toFixed(2)} ms (profiling on); profile ${argv.keep ? file : '(deleted; --keep to keep)'}`,
  );
  console.log(`top ${top} functions by self ${heap ? 'allocation' : 'time'} (${unit} over the ${argv.duration} s window):`);
  for (const [key, us] of sorted(analysis.self)
    .filter(([k]) => !k.startsWith('(idle)'))
    .slice(0, top))
    console.log(`  ${ms(us)}  ${key}`);
  const ours = (map) => sorted(map).filter(([key]) => / dist\//.test(key));
  if (ours(analysis.self).length) {
    console.log(`nest-sessions functions by self ${heap ? 'allocation' : 'time'} (${unit}):`);
    for (const [key, us] of ours(analysis.self).slice(0, top)) console.log(`  ${ms(us)}  ${key}`);
    console.log(`nest-sessions functions by inclusive ${heap ? 'allocation' : 'time'} (${unit}):`);
    for (const [key, us] of ours(analysis.inclusive).slice(0, top)) console.log(`  ${ms(us)}  ${key}`);
  }
  if (!argv.keep) rmSync(dir, { recursive: true, force: true });
}
