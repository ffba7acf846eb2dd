import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInstance, type Instance } from './support/instances.js';
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

interface Answer {
  client: number;
  instance: number;
  start: number;
  end: number;
  /** HTTP status, or 0 when the request got no answer within {@link HANG_LIMIT} (or failed to connect). */
  status: number;
  count?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

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
    const jars = Array.from({ length: CLIENTS }, () => new Map<string, string>());
    const acked = Array.from({ length: CLIENTS }, () => 0);
    const lastAcked = Array.from({ length: CLIENTS }, () => 0);
    const answers: Answer[] = [];
    const began = performance.now();
    let stopAt = Infinity;
    let downAt = Infinity;
    let restartedAt = Infinity;
    let stopping = false;
    const recoveredAfterRestart = (): boolean =>
      instances.every((_, i) => answers.some((x) => x.instance === i && x.status === 200 && x.start > restartedAt));

    const worker = async (client: number): Promise<void> => {
      for (let n = 0; !stopping; n++) {
        const instance = (client + n) % 2;
        const start = performance.now();
        let answer: Answer;
        try {
          const response = await instances[instance]!.client(jars[client]).post('/increment', undefined, {
            signal: AbortSignal.timeout(HANG_LIMIT),
          });
          answer = { client, instance, start, end: performance.now(), status: response.status };
          if (response.status === 200) {
            answer.count = response.json<{ count: number }>().count;
            acked[client]!++;
            lastAcked[client] = answer.count;
          }
        } catch {
          answer = { client, instance, start, end: performance.now(), status: 0 };
        }
        answers.push(answer);
        // A refused request comes back at once: do not spin on it.
        if (answer.status !== 200) await sleep(20);
      }
    };
    const load = Promise.all(jars.map((_, client) => worker(client)));

    await sleep(STOP_AFTER);
    stopAt = performance.now();
    await postgres.stop('fast');
    downAt = performance.now();
    await sleep(DOWN_FOR);
    const startAt = performance.now();
    await postgres.start();
    restartedAt = performance.now();
    const minEnd = began + MIN_LOAD;
    while (performance.now() < began + MAX_LOAD && (performance.now() < minEnd || !recoveredAfterRestart())) await sleep(50);
    await sleep(AFTER_RECOVERY);
    stopping = true;
    await load;
    const loadEnd = performance.now();

    // Read every client's count back through both instances, after the load.
    const finals = await Promise.all(
      jars.map(async (jar) =>
        Promise.all(instances.map(async (instance) => (await instance.client(new Map(jar)).get('/all')).json<{ count?: number }>().count)),
      ),
    );

    // Figures.
    const byStatus = new Map<number, number>();
    for (const { status } of answers) byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    const recovery = instances.map((_, i) => {
      const failures = answers.filter((x) => x.instance === i && x.status !== 200 && x.end > stopAt);
      if (failures.length === 0) return null;
      const lastFailure = Math.max(...failures.map((x) => x.start));
      const ok = answers.filter((x) => x.instance === i && x.status === 200 && x.start > lastFailure);
      return ok.length === 0 ? Infinity : Math.round(Math.min(...ok.map((x) => x.end)) - stopAt);
    });
    const lost = finals.flatMap(([viaA, viaB], client) =>
      (viaA ?? 0) < acked[client]! || (viaB ?? 0) < acked[client]! ? [{ client, acked: acked[client], viaA, viaB }] : [],
    );
    const firstOkAfterRestart = instances.map((_, i) => {
      const ok = answers.filter((x) => x.instance === i && x.status === 200 && x.start > restartedAt);
      return ok.length === 0 ? null : Math.round(Math.min(...ok.map((x) => x.end)) - restartedAt);
    });
    // Requests sent after the server had exited and answered before it was back: PostgreSQL cannot have served them.
    const duringOutage = answers.filter((x) => x.start > downAt && x.end < restartedAt);
    const slowest = Math.round(Math.max(...answers.map((x) => x.end - x.start)));
    console.log(
      JSON.stringify({
        loadMs: Math.round(loadEnd - began),
        stopAtMs: Math.round(stopAt - began),
        stopTookMs: Math.round(downAt - stopAt),
        startTookMs: Math.round(restartedAt - startAt),
        outageMs: Math.round(restartedAt - stopAt),
        total: answers.length,
        ok: byStatus.get(200) ?? 0,
        unavailable: byStatus.get(503) ?? 0,
        other: Object.fromEntries([...byStatus].filter(([status]) => status !== 200 && status !== 503)),
        duringOutage: duringOutage.length,
        failedAfterRestart: answers.filter((x) => x.status !== 200 && x.start > restartedAt).length,
        recoveryMsPerInstance: recovery,
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
    expect(answers.some((x) => x.status === 200 && x.end < stopAt)).toBe(true);
    expect(recoveredAfterRestart()).toBe(true);
    // Recovered without a restart of the apps: a new session works through both instances.
    const jar = new Map<string, string>();
    const [first, second] = instances;
    expect((await first!.client(jar).post('/increment')).json()).toEqual({ count: 1 });
    expect((await second!.client(jar).post('/increment')).json()).toEqual({ count: 2 });
    expect((await first!.client(jar).get('/all')).json()).toMatchObject({ count: 2, servedBy: first!.pid });
  }, 60_000);
});
