import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

/**
 * A Lua script run with `EVALSHA`, falling back to `EVAL` when the server does not have it cached
 * yet (after a restart or `SCRIPT FLUSH`), so each call is one round trip once the script is known.
 * Unlike ioredis `defineCommand`, it adds no methods to a client the application passed in.
 */
export class LuaScript {
  /** The SHA1 digest `EVALSHA` names the script by. */
  readonly sha: string;

  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /** Run the script on the node owning `keys` (all in one slot in cluster mode). */
  run(client: Redis | Cluster, keys: string[], args: (string | number)[]): Promise<unknown> {
    // A promise chain rather than an async function: this runs for every session write.
    return client.evalsha(this.sha, keys.length, ...keys, ...args).catch((err: unknown) => {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return client.eval(this.lua, keys.length, ...keys, ...args);
    });
  }
}
