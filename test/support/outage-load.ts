import { performance } from 'node:perf_hooks';
import type { Instance } from './instances.js';

/** One request of the load. */
export interface Answer {
  client: number;
  instance: number;
  /** `performance.now()` when it was sent and when it was answered. */
  start: number;
  end: number;
  /** HTTP status, or 0 when the request got no answer within the hang limit (or failed to connect). */
  status: number;
  count?: number;
}

/** How {@link runOutageLoad} drives the load around an outage. */
export interface OutageLoadOptions {
  /** Two app instances on one store (`test/support/instance-server.mjs`, serving `POST /increment`). */
  instances: Instance[];
  /** Concurrent clients, each with a session of its own, each alternating between the instances. */
  clients: number;
  /** Milliseconds of load before the outage starts. */
  outageAfter: number;
  /** Least and most milliseconds of load in all. */
  minLoad: number;
  maxLoad: number;
  /** Load goes on this long after both instances have answered 200 again. */
  afterRecovery: number;
  /** A request not answered within this many milliseconds counts as hung (status 0). */
  hangLimit: number;
  /**
   * Bring the store down (and, for a restart, up again); resolves once the store can serve again
   * (the replica promoted, the server restarted): recovery is awaited from then on.
   */
  outage(): Promise<void>;
}

/** What happened, for the assertions and the figures. */
export interface OutageLoadResult {
  answers: Answer[];
  /** Per client: increments answered with 200, and the count the last of them reported. */
  acked: number[];
  lastAcked: number[];
  /** Per client, after the load: its count read through each instance. */
  finals: Array<Array<number | undefined>>;
  /** `performance.now()` marks: load start, outage start, store back, load end. */
  began: number;
  outageAt: number;
  backAt: number;
  loadEnd: number;
  byStatus: Map<number, number>;
  /** Per instance: ms from the outage start to its first 200 after its last failure (`null` if it never failed). */
  recovery: Array<number | null>;
  /** Clients whose count, through either instance, is below their acknowledged increments. */
  lost: Array<{ client: number; acked: number; viaA: number | undefined; viaB: number | undefined }>;
  slowest: number;
  /** Whether both instances answered 200 to a request sent after the store was back. */
  recovered: boolean;
}

export const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

/**
 * Run `clients` counters against `instances`, cause the outage `outageAfter` ms in, keep the load
 * going until both instances serve again (within `minLoad`..`maxLoad`), then read every count back
 * through both instances. The assertions are the caller's.
 */
export async function runOutageLoad(options: OutageLoadOptions): Promise<OutageLoadResult> {
  const { instances, hangLimit } = options;
  const jars = Array.from({ length: options.clients }, () => new Map<string, string>());
  const acked = jars.map(() => 0);
  const lastAcked = jars.map(() => 0);
  const answers: Answer[] = [];
  const began = performance.now();
  let backAt = Infinity;
  let stopping = false;
  const recoveredAfterBack = (): boolean =>
    instances.every((_, i) => answers.some((x) => x.instance === i && x.status === 200 && x.start > backAt));

  const worker = async (client: number): Promise<void> => {
    for (let n = 0; !stopping; n++) {
      const instance = (client + n) % instances.length;
      const start = performance.now();
      let answer: Answer;
      try {
        const response = await instances[instance]!.client(jars[client]).post('/increment', undefined, {
          signal: AbortSignal.timeout(hangLimit),
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

  await sleep(options.outageAfter);
  const outageAt = performance.now();
  await options.outage();
  backAt = performance.now();
  const minEnd = began + options.minLoad;
  while (performance.now() < began + options.maxLoad && (performance.now() < minEnd || !recoveredAfterBack())) await sleep(50);
  await sleep(options.afterRecovery);
  stopping = true;
  await load;
  const loadEnd = performance.now();

  const finals = await Promise.all(
    jars.map(async (jar) =>
      Promise.all(instances.map(async (instance) => (await instance.client(new Map(jar)).get('/all')).json<{ count?: number }>().count)),
    ),
  );
  const byStatus = new Map<number, number>();
  for (const { status } of answers) byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
  const recovery = instances.map((_, i) => {
    const failures = answers.filter((x) => x.instance === i && x.status !== 200 && x.end > outageAt);
    if (failures.length === 0) return null;
    const lastFailure = Math.max(...failures.map((x) => x.start));
    const ok = answers.filter((x) => x.instance === i && x.status === 200 && x.start > lastFailure);
    return ok.length === 0 ? Infinity : Math.round(Math.min(...ok.map((x) => x.end)) - outageAt);
  });
  const lost = finals.flatMap(([viaA, viaB], client) =>
    (viaA ?? 0) < acked[client]! || (viaB ?? 0) < acked[client]! ? [{ client, acked: acked[client]!, viaA, viaB }] : [],
  );
  const slowest = Math.round(Math.max(...answers.map((x) => x.end - x.start)));
  return {
    answers,
    acked,
    lastAcked,
    finals,
    began,
    outageAt,
    backAt,
    loadEnd,
    byStatus,
    recovery,
    lost,
    slowest,
    recovered: recoveredAfterBack(),
  };
}
