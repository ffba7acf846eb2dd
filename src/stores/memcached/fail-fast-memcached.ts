import Memcached from 'memcached';

/** What the `memcached` client hands to `connectionIssue`: a socket, or a stand-in naming the server. */
interface IssueSource {
  serverAddress?: string;
  tokens?: string[];
  /** Queries written on this socket and not answered yet, oldest first. */
  metaData?: Array<Record<string, unknown>>;
  end?: () => void;
}

/**
 * The `memcached` client as {@link MemcachedStore} creates it: the same client, except that a
 * connection problem never marks a server as dead.
 *
 * The stock client logs each problem in an "issue log" that takes the server out of service for
 * `retry` ms, then after `failures` problems (or two problems at once) for `reconnect` ms (5 hours
 * by default), and then probes it by spawning the `ping` program: where `ping` is not installed
 * (slim container images) the spawn error is thrown from an event handler and ends the process.
 * Its timers are not `unref()`ed either, so they keep a process that should exit alive. None of
 * that can be turned off through options.
 *
 * Here a problem only closes the affected connection and is reported as an `issue` event, so
 * every operation tries the server again: with the server down operations fail as fast as the
 * connection is refused (or after the connect `timeout`), and they work again as soon as it is
 * back. A `SERVER_ERROR` answer (for example `object too large for cache`) is also attached to the
 * query it answers, as `serverError`, so the callback, which the client calls without an error in
 * that case, can tell it from a plain miss.
 */
export class FailFastMemcached extends Memcached {
  /**
   * Replaces the client's issue log (see the class description). Called by the client with a
   * message and the affected socket (or a stand-in naming the server).
   */
  connectionIssue(error: unknown, source?: IssueSource): void {
    const message = error instanceof Error ? error.message : String(error);
    const answered = source?.metaData?.[0];
    if (answered && typeof error === 'string') answered.serverError = error;
    source?.end?.();
    this.emit('issue', { server: source?.serverAddress ?? '', tokens: source?.tokens ?? [], messages: [message] });
  }
}
