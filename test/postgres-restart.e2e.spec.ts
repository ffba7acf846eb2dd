import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInstance, type Instance } from './support/instances.js';
import { runOutageLoad, sleep } from './support/outage-load.js';
import { startPostgres, type PostgresServer } from './support/postgres-server.js';

/**
 * PostgreSQL restarted under load: a PostgreSQL server started for this file (its own data
 * directory and port, not the shared server), two app processes using the URL-built `TypeormStore`
 * on it, and 8 clients (each its own session, each alternating between the two instances)
 * incrementing a counter. Two seconds in, the server is shut down (SIGINT, what
 * `pg_ctl stop -m fast` sends: open transactions are rolled back, every connection is closed) and
 * started again a second later on the same data directory. The apps must reconnect by themselves
 * (TypeORM's `pg` pool drops the dead connections and opens new ones): meanwhile requests answer 200
 * or 503 within the store timeout (no 500, no hang, no crash), and afterwards every increment
 * acknowledged with 200 is there, read through either instance, and nothing else: the count equals
 * the number of 200 answers.
 *
 * Unlike Redis replication, nothing here is asynchronous: a write finishes (its `UPDATE` committed)
 * before the response is sent, and a clean shutdown keeps every commit. The count could exceed the
 * 200s only if a commit succeeded on the server while its connection was being cut, so that the app
 * saw an error and answered 503. A fast shutdown lets a commit in progress finish and answer first,
 * so none is expected, and the equality is kept strict: an excess is reported with its figures.
 */
const STORE_TIMEOUT = 1000;
/**
 * A request makes at most two store calls (read, then write), each bounded by `storeTimeout`;
 * anything slower than that plus a second of scheduling margin on a busy 2-core machine is a hang.
 */
const HANG_LIMIT = 2 * STORE_TIMEOUT + 1000;
const CLIENTS = 8;
const STOP_AFTER = 2000;
/** How long the server stays down before it is started again. */
const DOWN_FOR = 1000;
const MIN_LOAD = 6000;
/** Load keeps running this long after both instances have answered 200 after the restart. */
const AFTER_RECOVERY = 1000;
const MAX_LOAD = 20_000;

describe('PostgreSQL restarted under load, two app instances', () => {
  const table = `restart_${randomBytes(4).toString('hex')}`;
  let postgres: PostgresServer;
  let instances: Instance[] = [];

  beforeAll(async () => {
    postgres = await startPostgres();
    const storeUrl = `${postgres.url}?table=${table}`;
    instances = await Promise.all([
      startInstance(storeUrl, { STORE_TIMEOUT: String(STORE_TIMEOUT) }),
      startInstance(storeUrl, { STORE_TIMEOUT: String(STORE_TIMEOUT) }),
    ]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.stop()));
    await postgres?.dispose();
  });

  it('acknowledged increments survive the restart; meanwhile 200 or 503, no hang, no crash; the apps reconnect by themselves', async () => {
    let downAt = Infinity;
    let startAt = Infinity;
    const run = await runOutageLoad({
      instances,
      clients: CLIENTS,
      outageAfter: STOP_AFTER,
      minLoad: MIN_LOAD,
      maxLoad: MAX_LOAD,
      afterRecovery: AFTER_RECOVERY,
      hangLimit: HANG_LIMIT,
      async outage() {
        await postgres.stop('fast');
        downAt = performance.now();
        await sleep(DOWN_FOR);
        startAt = performance.now();
        await postgres.start();
      },
    });
    const { answers, acked, lastAcked, finals, byStatus, lost, slowest } = run;
    const restartedAt = run.backAt;
    const firstOkAfterRestart = instances.map((_, i) => {
      const ok = answers.filter((x) => x.instance === i && x.status === 200 && x.start > restartedAt);
      return ok.length === 0 ? null : Math.round(Math.min(...ok.map((x) => x.end)) - restartedAt);
    });
    // Requests sent after the server had exited and answered before it was back: PostgreSQL cannot have served them.
    const duringOutage = answers.filter((x) => x.start > downAt && x.end < restartedAt);
    console.log(
      JSON.stringify({
        loadMs: Math.round(run.loadEnd - run.began),
        stopAtMs: Math.round(run.outageAt - run.began),
        stopTookMs: Math.round(downAt - run.outageAt),
        startTookMs: Math.round(restartedAt - startAt),
        outageMs: Math.round(restartedAt - run.outageAt),
        total: answers.length,
        ok: byStatus.get(200) ?? 0,
        unavailable: byStatus.get(503) ?? 0,
        other: Object.fromEntries([...byStatus].filter(([status]) => status !== 200 && status !== 503)),
        duringOutage: duringOutage.length,
        failedAfterRestart: answers.filter((x) => x.status !== 200 && x.start > restartedAt).length,
        recoveryMsPerInstance: run.recovery,
        firstOkAfterRestartMs: firstOkAfterRestart,
        slowestRequestMs: slowest,
        acked,
        finals,
        sessionsLost: lost,
      }),
    );

    // Only 200 and 503, each within the limit, and both processes still up.
    expect([...byStatus.keys()].filter((status) => status !== 200 && status !== 503)).toEqual([]);
    expect(slowest).toBeLessThan(HANG_LIMIT);
    expect(instances.map((instance) => instance.alive())).toEqual([true, true]);
    // While the server was down, every request was refused with 503: none was served from elsewhere.
    expect(duringOutage.length).toBeGreaterThan(0);
    expect(duringOutage.filter((x) => x.status !== 503)).toEqual([]);
    // Every acknowledged increment is still there, through either instance, and none that was refused.
    expect(lost).toEqual([]);
    for (const [client, [viaA, viaB]] of finals.entries()) {
      expect(viaA).toBe(viaB);
      expect(viaA).toBe(acked[client]);
      expect(viaA).toBeGreaterThanOrEqual(lastAcked[client]!);
    }
    // The load really went through the restart: writes before the stop, and after the restart on both instances.
    expect(answers.some((x) => x.status === 200 && x.end < run.outageAt)).toBe(true);
    expect(run.recovered).toBe(true);
    // Recovered without a restart of the apps: a new session works through both instances.
    const jar = new Map<string, string>();
    const [first, second] = instances;
    expect((await first!.client(jar).post('/increment')).json()).toEqual({ count: 1 });
    expect((await second!.client(jar).post('/increment')).json()).toEqual({ count: 2 });
    expect((await first!.client(jar).get('/all')).json()).toMatchObject({ count: 2, servedBy: first!.pid });
  }, 60_000);
});
