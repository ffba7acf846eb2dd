// Shared helpers for the benchmark servers. Plain ESM JavaScript: decorators are applied with
// Reflect.decorate exactly as TypeScript's emitted `__decorate`/`__param` helpers would, so the
// servers need no build step of their own (and stay out of the root tsconfig's type check).
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';

export const SECRET = 'bench-secret-that-is-long-enough-0123456789';

/** `@decorators` on method `name` of `Class` (applied last-to-first, like TypeScript). */
export function decorateMethod(Class, name, ...decorators) {
  const proto = Class.prototype;
  const descriptor = Reflect.decorate(decorators, proto, name, Object.getOwnPropertyDescriptor(proto, name));
  if (descriptor) Object.defineProperty(proto, name, descriptor);
}

/** A parameter decorator for argument `index` (TypeScript's `__param`). */
export const param = (index, decorator) => (target, key) => decorator(target, key, index);

/**
 * Start `AppModule` on a random loopback port and announce `{ ready, port }` on stdout: on Express,
 * or on `adapter` when given (a `FastifyAdapter`, see fastify.mjs); `configure(app)` may be async.
 * The process closes the app and exits on SIGTERM/SIGINT, and, with BENCH_WATCH_STDIN=1, when its
 * stdin ends (the driver's pipe closes), so a crashed driver never leaves servers behind. A clean exit also lets `--cpu-prof` write its file.
 */
export async function serve(AppModule, configure, adapter) {
  const app = adapter
    ? await NestFactory.create(AppModule, adapter, { logger: false })
    : await NestFactory.create(AppModule, { logger: false });
  if (configure) await configure(app);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address();
  // With BENCH_COUNT_REQUESTS=1 (set by run.mjs for every server: the divisor of its CPU-per-request and
  // Redis commands-per-request figures) count every request the server receives, in-flight ones the
  // load generator gave up on included.
  let handled = 0;
  if (process.env.BENCH_COUNT_REQUESTS === '1') app.getHttpServer().on('request', () => handled++);
  // With BENCH_GC_STATS=1, the time spent in garbage collection (ms) and the number of collections
  // by kind (minor, major, ...) go into the `stats` answer too.
  const gc = { ms: 0, byKind: {} };
  if (process.env.BENCH_GC_STATS === '1') {
    const { PerformanceObserver, constants } = await import('node:perf_hooks');
    const kinds = {
      [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
      [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
      [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
      [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
    };
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        gc.ms += entry.duration;
        const kind = kinds[entry.detail?.kind] ?? 'other';
        gc.byKind[kind] = (gc.byKind[kind] ?? 0) + 1;
      }
    }).observe({ entryTypes: ['gc'] });
  }
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    const timer = setTimeout(() => process.exit(0), 3000);
    app.close().finally(() => {
      clearTimeout(timer);
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (process.env.BENCH_WATCH_STDIN === '1') {
    // Started by the driver with a stdin pipe: its end means the driver is gone.
    // It also asks for the request count with a `stats` line, answered with `{ stats: { handled } }`.
    let input = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => {
      input += chunk;
      for (let nl = input.indexOf('\n'); nl !== -1; nl = input.indexOf('\n')) {
        const line = input.slice(0, nl).trim();
        input = input.slice(nl + 1);
        if (line === 'stats') process.stdout.write(`${JSON.stringify({ stats: { handled, gc } })}\n`);
      }
    });
    process.stdin.on('end', stop);
    process.stdin.on('error', stop);
  }
  if (process.env.BENCH_CPU_PROFILE) await enableProfiling(process.env.BENCH_CPU_PROFILE, process.env.BENCH_HEAP_PROFILE === '1');
  process.stdout.write(`${JSON.stringify({ ready: true, port, pid: process.pid })}\n`);
}

/**
 * For bench/profile.mjs: the first SIGUSR2 starts the V8 CPU profiler (with `heap`, the sampling
 * heap profiler, counting objects the GC has already collected too, so it shows what is allocated,
 * not what is kept), the second stops it, writes the profile to `file` and prints `{ profile: file }`,
 * so only the measured window is profiled (no start-up, no warm-up).
 */
async function enableProfiling(file, heap) {
  const [{ Session }, { writeFileSync }] = await Promise.all([import('node:inspector'), import('node:fs')]);
  const session = new Session();
  session.connect();
  const post = (method, params) =>
    new Promise((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));
  const interval = Number(process.env.BENCH_CPU_PROFILE_INTERVAL) || 250;
  if (heap) await post('HeapProfiler.enable');
  else {
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval });
  }
  let running = false;
  process.on('SIGUSR2', async () => {
    if (!running) {
      running = true;
      if (heap)
        await post('HeapProfiler.startSampling', {
          samplingInterval: interval,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true,
        });
      else await post('Profiler.start');
      process.stdout.write(`${JSON.stringify({ profiling: true })}\n`);
      return;
    }
    running = false;
    const { profile } = await post(heap ? 'HeapProfiler.stopSampling' : 'Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    process.stdout.write(`${JSON.stringify({ profile: file })}\n`);
  });
}
