import { SessionError } from '../core/errors/session.error.js';
import { SessionMessages } from '../core/errors/session.messages.js';
import type { ClientSideSessionStore } from '../core/client-side-store.interface.js';
import { CookieStore } from './cookie/cookie.store.js';
import { FileStore } from './file.store.js';
import { MemoryStore } from './memory.store.js';
import type { SessionStore } from '../core/session-store.interface.js';
import type { StoreUrlOptions, UrlStoreModule } from './store-url.options.js';

export type { StoreUrlOptions } from './store-url.options.js';

/**
 * Stores behind optional peers, loaded only when their URL is used, so importing the package root
 * never loads a store client.
 */
const OPTIONAL_STORES: Record<string, { peer: string; load: () => Promise<UrlStoreModule> }> = {
  redis: { peer: 'ioredis', load: () => import('./redis/redis-store.url.js') },
  rediss: { peer: 'ioredis', load: () => import('./redis/redis-store.url.js') },
  postgres: { peer: 'typeorm and pg', load: () => import('./typeorm/typeorm-store.url.js') },
  postgresql: { peer: 'typeorm and pg', load: () => import('./typeorm/typeorm-store.url.js') },
  mysql: { peer: 'typeorm and mysql2', load: () => import('./typeorm/typeorm-store.url.js') },
  mariadb: { peer: 'typeorm and mysql2', load: () => import('./typeorm/typeorm-store.url.js') },
  sqlite: { peer: 'typeorm and better-sqlite3', load: () => import('./typeorm/typeorm-store.url.js') },
  memcached: { peer: 'memcached', load: () => import('./memcached/memcached-store.url.js') },
  mongodb: { peer: 'mongodb', load: () => import('./mongodb/mongodb-store.url.js') },
  'mongodb+srv': { peer: 'mongodb', load: () => import('./mongodb/mongodb-store.url.js') },
};

/**
 * Build a store from a URL such as `SESSION_STORE` would carry.
 *
 * - `memory:` or `memory:?max=50000`: a {@link MemoryStore} (bounded, least recently used out first).
 * - `file:./sessions`, `file:/var/lib/app/sessions` or `file:///var/lib/app/sessions`: a {@link FileStore}.
 * - `cookie:` or `cookie:?maxSize=6000`: a {@link CookieStore} (the session sealed in the cookie).
 * - `redis://…`, `rediss://…` (`nest-sessions/redis`), `postgres://…`, `mysql://…`, `mariadb://…`,
 *   `sqlite:./file.db` (`nest-sessions/typeorm`), `memcached://…` (`nest-sessions/memcached`),
 *   `mongodb://…` (`nest-sessions/mongodb`): loaded on demand; each needs its optional peer installed.
 *
 * @throws SessionError `SESSION_OPTIONS_INVALID` for a URL it cannot use, naming the fix.
 * @example createStoreFromUrl(process.env.SESSION_STORE ?? 'memory:')
 */
export async function createStoreFromUrl(url: string, options: StoreUrlOptions = {}): Promise<SessionStore | ClientSideSessionStore> {
  const { gcInterval } = options;
  const colon = url.indexOf(':');
  const scheme = colon > 0 ? url.slice(0, colon).toLowerCase() : '';
  const rest = url.slice(colon + 1);
  switch (scheme) {
    case 'memory': {
      const query = new URLSearchParams(rest.startsWith('?') ? rest.slice(1) : '');
      const max = query.get('max');
      if (max !== null && !/^[1-9]\d*$/.test(max)) {
        throw invalid(`\`max\` in "memory:?max=${max}" must be a positive whole number`, 'Write e.g. "memory:?max=50000".');
      }
      return new MemoryStore({ gcInterval, ...(max === null ? {} : { maxSessions: Number(max) }) });
    }
    case 'cookie': {
      const query = new URLSearchParams(rest.startsWith('?') ? rest.slice(1) : '');
      const maxSize = query.get('maxSize');
      if (maxSize !== null && !/^[1-9]\d*$/.test(maxSize)) {
        throw invalid(`\`maxSize\` in "cookie:?maxSize=${maxSize}" must be a positive whole number`, 'Write e.g. "cookie:?maxSize=6000".');
      }
      return new CookieStore(maxSize === null ? {} : { maxSize: Number(maxSize) });
    }
    case 'file': {
      let directory = rest;
      if (rest.startsWith('//')) {
        const parsed = new URL(url);
        if (parsed.host !== '' && parsed.host !== 'localhost') {
          throw invalid(`"${url}" names a host; file URLs take a path`, 'Write "file:./sessions" or "file:///var/lib/app/sessions".');
        }
        directory = decodeURIComponent(parsed.pathname);
      }
      if (!directory || directory === '/') {
        throw invalid('a file store URL needs a directory (not the file system root)', 'Write e.g. "file:./sessions".');
      }
      return new FileStore({ directory, gcInterval });
    }
    default: {
      const optional = OPTIONAL_STORES[scheme];
      if (!optional) {
        throw invalid(
          `unsupported store URL scheme "${scheme || url}"`,
          'Use memory:, file:, cookie:, redis://, rediss://, postgres://, mysql://, mariadb://, sqlite:, memcached:// or mongodb://, or pass a SessionStore instance.',
        );
      }
      let module: UrlStoreModule;
      try {
        module = await optional.load();
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw cause;
        throw new SessionError(
          'SESSION_OPTIONS_INVALID',
          SessionMessages.invalidOption(
            'store',
            `"${scheme}:" stores need ${optional.peer}, which is not installed`,
            `Run \`npm install ${optional.peer.replace(' and ', ' ')}\`.`,
          ),
          { cause },
        );
      }
      return module.storeFromUrl(url, options);
    }
  }
}

function invalid(rule: string, fix: string): SessionError {
  return new SessionError('SESSION_OPTIONS_INVALID', SessionMessages.invalidOption('store', rule, fix));
}
