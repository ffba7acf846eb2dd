import { afterAll, describe, expect, it } from 'vitest';
import { startInstance, type Instance } from './support/instances.js';
import { startRedis, type RedisServer } from './support/redis-servers.js';

/**
 * A real outage: the Redis this test started is stopped while an app process is under load, then
 * started again. Redis runs with an fsync'ed append-only file, as a production Redis that must not
 * lose committed sessions would.
 */
describe('Redis stopped under load, then restarted', () => {
  let redis: RedisServer | undefined;
  let app: Instance | undefined;

  afterAll(async () => {
    await app?.stop();
    await redis?.dispose();
  });

  it('no crash, no hang, no lost committed session, and service back without restarting the app', async () => {
    redis = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    app = await startInstance(`redis://127.0.0.1:${redis.port}/0?prefix=fault:&commandTimeout=500&connectTimeout=500`, {
      STORE_TIMEOUT: '1000',
    });

    // Sessions committed before the outage.
    const committed = Array.from({ length: 10 }, () => new Map<string, string>());
    for (const [i, jar] of committed.entries()) expect((await app.client(jar).post('/set', { n: i })).status).toBe(200);

    // Load: 8 workers, each incrementing its own session, bounded in count and time.
    let running = true;
    const latencies: number[] = [];
    const statuses = new Map<number, number>();
    const workers = Array.from({ length: 8 }, async () => {
      const jar = new Map<string, string>();
      const client = app!.client(jar);
      await client.post('/set', { count: 0 });
      let attempts = 0;
      let successes = 0;
      const deadline = Date.now() + 20_000;
      while (running && Date.now() < deadline && attempts < 2000) {
        attempts++;
        const started = Date.now();
        const response = await client.post('/increment').catch(() => undefined);
        latencies.push(Date.now() - started);
        const status = response?.status ?? 0;
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status === 200) successes++;
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return { jar, attempts, successes };
    });

    await new Promise((resolve) => setTimeout(resolve, 700));
    await redis.stop();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(app.alive()).toBe(true);
    const duringOutage = statuses.get(503) ?? 0;
    expect(duringOutage).toBeGreaterThan(0);

    await redis.start();
    // Service comes back by itself: poll until a read succeeds (bounded).
    const recovered = Date.now();
    while ((await app.client(committed[0]).get('/all')).status !== 200) {
      expect(Date.now() - recovered).toBeLessThan(10_000);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    running = false;
    const results = await Promise.all(workers);

    expect(app.alive()).toBe(true);
    // Only successes and clean 503s: no 500, no dropped connection, no hang.
    expect([...statuses.keys()].sort()).toEqual([200, 503]);
    expect(Math.max(...latencies)).toBeLessThan(3000);
    // Every session committed before the outage is intact.
    for (const [i, jar] of committed.entries()) expect((await app.client(jar).get('/all')).json()).toMatchObject({ n: i });
    // Every increment reported as done is there; a failed one may or may not have landed, never more.
    for (const { jar, attempts, successes } of results) {
      const { count } = (await app.client(jar).get('/all')).json() as { count: number };
      expect(count).toBeGreaterThanOrEqual(successes);
      expect(count).toBeLessThanOrEqual(attempts);
      expect(successes).toBeGreaterThan(0);
    }
  }, 60_000);
});
