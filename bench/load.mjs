// One autocannon run, driven through its API; prints a single JSON line on stdout.
// Spawned by run.mjs as `taskset -c 1 node bench/load.mjs '<json options>'` so the load
// generator and the server under test never share a core.
//
// Options: { url, method, headers, connections, duration? (s), amount? (requests) }
//
// p99/p50 are computed here from every 2xx response time (float ms, from autocannon's 'response'
// event): autocannon's own histogram stores whole milliseconds, too coarse for latencies of a few ms.
// Its figure is kept as `acP99` for reference.
import autocannon from 'autocannon';

const options = JSON.parse(process.argv[2] ?? '{}');
const samples = [];

const instance = autocannon(
  {
    url: options.url,
    method: options.method ?? 'GET',
    headers: options.headers ?? {},
    connections: options.connections ?? 50,
    pipelining: 1,
    timeout: 10,
    ...(options.amount ? { amount: options.amount } : { duration: options.duration ?? 5 }),
  },
  (error, result) => {
    if (error) {
      process.stderr.write(`${error.stack ?? error}\n`);
      process.exit(1);
    }
    const sorted = Float64Array.from(samples).sort();
    const pct = (p) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]);
    const ok = result['2xx'];
    process.stdout.write(
      `${JSON.stringify({
        ok,
        sent: result.requests.sent,
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
        duration: result.duration,
        rps: ok / result.duration,
        p50: pct(50),
        p99: pct(99),
        mean: sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : NaN,
        acP99: result.latency.p99,
        acRpsAvg: result.requests.average,
      })}\n`,
    );
  },
);

instance.on('response', (_client, statusCode, _bytes, responseTime) => {
  if (statusCode >= 200 && statusCode < 300) samples.push(responseTime);
});
