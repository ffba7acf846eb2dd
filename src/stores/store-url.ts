import { SessionError } from '../session/errors/session.error.js';
import { SessionMessages } from '../session/errors/session.messages.js';
import { FileStore } from './file.store.js';
import { MemoryStore } from './memory.store.js';
import type { SessionStore } from './session-store.interface.js';

/** Settings a URL cannot carry, applied to the store it builds. */
export interface StoreUrlOptions {
  /** Milliseconds between sweeps of expired sessions; `undefined` keeps the store's default. */
  gcInterval?: number;
}

/**
 * Build a store from a URL such as `SESSION_STORE` would carry.
 *
 * - `memory:` or `memory:?max=50000`: a {@link MemoryStore} (bounded, least recently used out first).
 * - `file:./sessions`, `file:/var/lib/app/sessions` or `file:///var/lib/app/sessions`: a {@link FileStore}.
 *
 * @throws SessionError `SESSION_OPTIONS_INVALID` for a URL it cannot use, naming the fix.
 * @example createStoreFromUrl(process.env.SESSION_STORE ?? 'memory:')
 */
export async function createStoreFromUrl(url: string, options: StoreUrlOptions = {}): Promise<SessionStore> {
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
    default:
      throw invalid(
        `unsupported store URL scheme "${scheme || url}"`,
        'Use "memory:" or "file:./path", or pass a SessionStore instance.',
      );
  }
}

function invalid(rule: string, fix: string): SessionError {
  return new SessionError('SESSION_OPTIONS_INVALID', SessionMessages.invalidOption('store', rule, fix));
}
