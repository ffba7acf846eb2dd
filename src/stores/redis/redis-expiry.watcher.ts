import { Cluster, type Redis } from 'ioredis';
import { SessionError } from '../../core/errors/session.error.js';
import { SessionMessages } from '../../core/errors/session.messages.js';
import { isValidSessionId } from '../../core/session-id.js';

/** Keyspace notifications of expired keys, in every database (the subscriber filters by key). */
const EXPIRED_PATTERN = '__keyevent@*__:expired';

/**
 * Listen to Redis' expired-key notifications on every server that holds sessions (each master of a
 * cluster: notifications are local to the node) and call `listener` with the session ID of each
 * expired key named `<head><id>}` (`head` = the client's own key prefix, the store's prefix and
 * `{`), so lock and principal-index keys never count. Resolves the function that stops listening.
 *
 * @throws SessionError `SESSION_OPTIONS_INVALID` when a server has the notifications off, naming
 *   the option and the `CONFIG SET` that turns them on.
 * @internal
 */
export async function watchRedisExpiries(
  client: Redis | Cluster,
  head: string,
  listener: (id: string) => void,
  onError: (error: Error) => void,
): Promise<() => Promise<void>> {
  // A cluster knows its masters once it has connected.
  if (client instanceof Cluster && client.status !== 'ready') await onceReady(client);
  const servers: Redis[] = client instanceof Cluster ? client.nodes('master') : [client];
  await Promise.all(servers.map((server) => checkNotifications(server)));
  const subscribers = servers.map((server) => server.duplicate());
  const stop = async (): Promise<void> => {
    await Promise.all(subscribers.map((subscriber) => subscriber.quit().catch(() => subscriber.disconnect())));
  };
  try {
    for (const subscriber of subscribers) {
      // A subscriber's own errors (a dropped connection) must not crash the process; it reconnects.
      subscriber.on('error', onError);
      subscriber.on('pmessage', (_pattern: string, _channel: string, key: string) => {
        if (!key.startsWith(head) || !key.endsWith('}')) return;
        const id = key.slice(head.length, -1);
        if (isValidSessionId(id)) listener(id);
      });
      await subscriber.psubscribe(EXPIRED_PATTERN);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return stop;
}

/** Resolves when `cluster` is ready; rejects on its `end` (it gave up connecting). */
function onceReady(cluster: Cluster): Promise<void> {
  return new Promise((resolve, reject) => {
    const ready = (): void => {
      cluster.off('end', ended);
      resolve();
    };
    const ended = (): void => {
      cluster.off('ready', ready);
      reject(new SessionError('SESSION_STORE_UNAVAILABLE', SessionMessages.storeUnavailable('watch for expired sessions')));
    };
    cluster.once('ready', ready);
    cluster.once('end', ended);
    if (cluster.status === 'wait') void cluster.connect().catch(() => undefined);
  });
}

/** Refuse to start when `server` does not notify expired keys; trust it when CONFIG is not allowed. */
async function checkNotifications(server: Redis): Promise<void> {
  let flags: string;
  try {
    const reply = await server.config('GET', 'notify-keyspace-events');
    flags = reply[1] ?? '';
  } catch {
    // Managed services often refuse CONFIG: nothing to check against.
    return;
  }
  const keyevents = flags.includes('E');
  const expired = flags.includes('x') || flags.includes('A');
  if (!keyevents || !expired) {
    throw new SessionError(
      'SESSION_OPTIONS_INVALID',
      SessionMessages.invalidOption(
        'expiryEvents',
        `the Redis server notifies no expired keys (notify-keyspace-events is "${flags}"; it needs E and x)`,
        'Run `CONFIG SET notify-keyspace-events Ex` (or set it in redis.conf), or leave expiryEvents out.',
      ),
    );
  }
}
