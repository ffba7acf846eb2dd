import { randomBytes } from 'node:crypto';
import { statSync, type Stats } from 'node:fs';
import { chmod, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { SessionError } from '../core/errors/session.error.js';
import { SessionMessages } from '../core/errors/session.messages.js';
import { isValidSessionId } from '../core/session-id.js';
import { gcIntervalOption, startGcTimer } from '../core/gc-timer.js';
import { checkLockArguments, isValidLockOwner } from '../core/lock-arguments.js';
import { redactError } from '../core/redact-error.js';
import type { PrincipalSession, SessionPatch, SessionRecord, SessionStore } from '../core/session-store.interface.js';

/** Options of {@link FileStore}. */
export interface FileStoreOptions {
  /**
   * Directory holding one `<id>.json` file per session. Created on first use (with missing parents)
   * when it does not exist. Give the store a directory of its own: {@link FileStore.gc} deletes
   * expired session files and stale temporary files in it.
   *
   * An existing directory must belong to the user the process runs as and must not be writable by
   * its group or by other users (no `0o020` or `0o002` bit): anyone who can write to it can plant a
   * session file, i.e. a session of their choosing. The store refuses any other directory with
   * `SESSION_OPTIONS_INVALID`, when it is created and again when it first uses the directory (not
   * on Windows, whose permissions mode bits and owner IDs do not describe).
   * @example '/var/lib/my-app/sessions'
   */
  directory: string;
  /**
   * Milliseconds between sweeps that delete expired session files and stale temporary files (see
   * {@link FileStore.gc}). The timer is `unref()`ed, so it never keeps the process alive. `0`
   * disables the timer.
   * @default 300_000 (5 minutes)
   * @example 0 // when SessionModule already calls gc() on its own schedule
   */
  gcInterval?: number;
  /**
   * The clock deciding whether a record has expired, in epoch milliseconds. Meant for tests.
   * @default Date.now
   * @example { now: () => fakeTime }
   */
  now?: () => number;
  /**
   * Permissions of session files. The process umask can only remove bits from it.
   * @default 0o600 (read and write for the owner only)
   * @example 0o640
   */
  fileMode?: number;
  /**
   * Permissions of the directory when the store creates it. A directory that already exists keeps
   * its permissions. Group and other users may not write (see {@link FileStoreOptions.directory}).
   * @default 0o700 (owner only)
   * @example 0o750
   */
  dirMode?: number;
}

const DEFAULT_GC_INTERVAL = 5 * 60_000;
/** Temporary files older than this are leftovers of a crashed write and deleted by gc. */
const STALE_TMP_AGE = 60 * 60_000;
/** How many session files gc reads at once. */
const GC_CONCURRENCY = 8;
const SESSION_FILE = /^(.+)\.json$/;
const TMP_FILE = /^\.[A-Za-z0-9_-]+\.[0-9a-f]+\.tmp$/;
/**
 * Subdirectory of the locks. Session files are `<id>.json` directly in the root and IDs never
 * contain a dot, so no session file can ever be or be inside it.
 */
const LOCK_DIR = '.locks';
const LOCK_FILE = /^(.+)\.lock$/;
const GUARD_FILE = /^(.+)\.guard$/;
/** A guard file older than this (real time) was left by a process that died holding it, and is broken. */
const STALE_GUARD_AGE = 10_000;
/** Longest wait for another process to drop the guard of a lock before the operation fails. */
const GUARD_WAIT = 2_000;

/**
 * A {@link SessionStore} keeping one JSON file per session in a directory, for single-process
 * deployments that want sessions to survive a restart without running a database.
 *
 * - **Safe file names.** IDs are checked with `isValidSessionId` and every resolved path is checked
 *   to lie directly in the directory, so no input ever reads or writes a file elsewhere.
 * - **Atomic writes.** A record is written to a temporary file (`.<id>.<random>.tmp`, mode
 *   `fileMode`) that is then renamed over `<id>.json`, so readers see the old or the new file,
 *   never a partial one. Writes are not `fsync`ed: after a power loss a file may come back empty
 *   or truncated, and such a file is read as a missing session (and deleted), never served.
 * - **One process.** Operations on the same session are serialized inside the process, so
 *   parallel patches of different keys all survive. Several processes sharing one directory are
 *   NOT safe for concurrent patches of the same session: the last writer wins and the other
 *   process's keys are lost. Use a shared store such as Redis for clusters.
 * - **Locks.** {@link FileStore.tryLock} and {@link FileStore.unlock} keep one file per lock in
 *   the `.locks` subdirectory, and unlike session writes they are safe across processes sharing
 *   the directory (see {@link FileStore.tryLock}).
 * - **Faults.** Missing, expired and corrupt files read as `null` (expired and corrupt ones are
 *   deleted). Any other file-system error rejects with a `SessionError` coded
 *   `SESSION_STORE_UNAVAILABLE` whose `cause` is a copy of the original error with the session ID
 *   (part of every file name) replaced by `[redacted]`.
 * - **Permissions.** The directory must be the process user's own and not writable by its group
 *   or others, or the store refuses it (see {@link FileStoreOptions.directory}).
 *
 * @example
 * ```ts
 * SessionModule.forRoot({ secret, store: new FileStore({ directory: '/var/lib/my-app/sessions' }) });
 * ```
 */
export class FileStore implements SessionStore {
  /** The absolute session directory. */
  protected readonly root: string;
  private readonly clock: () => number;
  private readonly fileMode: number;
  private readonly dirMode: number;
  /** Tail of the operation chain of each session ID; removed once the chain is idle. */
  private readonly locks = new Map<string, Promise<void>>();
  private rootReady: Promise<void> | undefined;
  private lockDirReady: Promise<void> | undefined;
  /** The gc timer, `undefined` when `gcInterval` is `0` or after {@link FileStore.close}. */
  protected timer: NodeJS.Timeout | undefined;

  constructor(options: FileStoreOptions) {
    if (typeof options?.directory !== 'string' || options.directory.trim() === '') {
      throw invalidOption('directory', 'it must be a non-empty path', "Pass for example { directory: './sessions' }.");
    }
    const gcInterval = gcIntervalOption(options.gcInterval, DEFAULT_GC_INTERVAL);
    for (const [name, mode] of [
      ['fileMode', options.fileMode],
      ['dirMode', options.dirMode],
    ] as const) {
      if (mode !== undefined && (!Number.isInteger(mode) || mode < 0 || mode > 0o7777)) {
        throw invalidOption(name, 'it must be a permission number', 'Pass an octal literal such as 0o600.');
      }
    }
    if (options.dirMode !== undefined && (options.dirMode & 0o022) !== 0) {
      throw invalidOption(
        'dirMode',
        'it must not let the group or other users write to the directory (no 0o020 or 0o002 bit), or they could plant session files in it',
        'Pass for example 0o700 or 0o750.',
      );
    }
    this.root = resolve(options.directory);
    let existing: Stats | undefined;
    try {
      existing = statSync(this.root, { throwIfNoEntry: false });
    } catch {
      // Not readable now: the first operation reports it.
    }
    if (existing?.isDirectory()) checkDirectory(this.root, existing);
    this.clock = options.now ?? Date.now;
    this.fileMode = options.fileMode ?? 0o600;
    this.dirMode = options.dirMode ?? 0o700;
    this.timer = startGcTimer(() => this.gc(), gcInterval);
  }

  async get(id: string): Promise<SessionRecord | null> {
    const file = this.sessionPath(id);
    if (!file) return null;
    return this.exclusive(id, () => this.readLive(id, file));
  }

  /** @throws {SessionError} `SESSION_INVALID_ID` (as a rejection) when `id` is malformed. */
  async set(id: string, record: SessionRecord): Promise<void> {
    const file = this.sessionPath(id);
    if (!file) throw new SessionError('SESSION_INVALID_ID', SessionMessages.invalidId());
    const copy: SessionRecord = {
      data: record.data,
      createdAt: record.createdAt,
      expiresAt: record.expiresAt,
      ...(record.principal === undefined ? {} : { principal: record.principal }),
    };
    // Serialized before waiting for the lock, so later changes by the caller are not stored.
    const json = JSON.stringify(copy);
    await this.exclusive(id, () => this.write(id, file, json));
  }

  async patch(id: string, patch: SessionPatch, expiresAt: number): Promise<boolean> {
    const file = this.sessionPath(id);
    if (!file) return false;
    const changes: SessionPatch = { set: { ...patch.set }, unset: [...patch.unset], principal: patch.principal };
    return this.exclusive(id, async () => {
      const record = await this.readLive(id, file);
      if (!record) return false;
      for (const key of changes.unset) delete record.data[key];
      for (const [key, value] of Object.entries(changes.set)) {
        // defineProperty, not assignment, so a key named `__proto__` is stored like any other key.
        Object.defineProperty(record.data, key, { value, enumerable: true, writable: true, configurable: true });
      }
      record.expiresAt = expiresAt;
      if (changes.principal === null) delete record.principal;
      else if (changes.principal !== undefined) record.principal = changes.principal;
      await this.write(id, file, JSON.stringify(record));
      return true;
    });
  }

  async touch(id: string, expiresAt: number): Promise<boolean> {
    const file = this.sessionPath(id);
    if (!file) return false;
    return this.exclusive(id, async () => {
      const record = await this.readLive(id, file);
      if (!record) return false;
      record.expiresAt = expiresAt;
      await this.write(id, file, JSON.stringify(record));
      return true;
    });
  }

  async destroy(id: string): Promise<void> {
    const file = this.sessionPath(id);
    if (!file) return;
    await this.exclusive(id, async () => {
      try {
        await unlink(file);
      } catch (err) {
        if (code(err) !== 'ENOENT') throw unavailable('write', err, id);
      }
    });
  }

  /**
   * Delete expired and corrupt session files, and temporary files older than one hour (left by a
   * write that crashed; their age is measured with the real clock against their modification time).
   * Files whose name is not `<valid id>.json` or a temporary file of this store are left alone.
   * Expired lock files (see {@link FileStore.tryLock}) and guards left by dead processes are
   * deleted too. Resolves how many expired sessions were deleted; locks are not counted.
   *
   * @throws {SessionError} `SESSION_STORE_UNAVAILABLE` (as a rejection) when the directory cannot be
   * listed. Errors on single files are skipped; the next run retries them.
   */
  async gc(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch (err) {
      if (code(err) === 'ENOENT') return 0;
      throw unavailable('read', err);
    }
    const ids: string[] = [];
    const staleTmp: string[] = [];
    for (const name of names) {
      const id = SESSION_FILE.exec(name)?.[1];
      if (id !== undefined && this.sessionPath(id)) ids.push(id);
      else if (TMP_FILE.test(name)) staleTmp.push(name);
    }

    let deleted = 0;
    const worker = async (): Promise<void> => {
      for (let id = ids.pop(); id !== undefined; id = ids.pop()) {
        const file = this.sessionPath(id)!;
        try {
          // Awaited before adding: `deleted += await ...` would read `deleted` before other workers add to it.
          const count = await this.exclusive(id, () => this.deleteIfExpired(file));
          deleted += count;
        } catch {
          // Skipped; the next run retries this file.
        }
      }
    };
    await Promise.all(Array.from({ length: GC_CONCURRENCY }, worker));

    const staleBefore = Date.now() - STALE_TMP_AGE;
    for (const name of staleTmp) {
      const file = join(this.root, name);
      try {
        if ((await stat(file)).mtimeMs < staleBefore) await unlink(file);
      } catch {
        // Already gone, or not deletable now; the next run retries.
      }
    }
    await this.sweepLocks(staleBefore);
    return deleted;
  }

  /** Live sessions of `principal`. Reads every session file: fine for the file store's scale, O(n). */
  async findByPrincipal(principal: string): Promise<PrincipalSession[]> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch (err) {
      if (code(err) === 'ENOENT') return [];
      throw unavailable('read', err);
    }
    const found: PrincipalSession[] = [];
    const ids = names
      .map((name) => SESSION_FILE.exec(name)?.[1])
      .filter((id): id is string => id !== undefined && this.sessionPath(id) !== null);
    const worker = async (): Promise<void> => {
      for (let id = ids.pop(); id !== undefined; id = ids.pop()) {
        const record = await this.exclusive(id, () => this.readLive(id, this.sessionPath(id)!));
        if (record?.principal === principal) found.push({ id, createdAt: record.createdAt, expiresAt: record.expiresAt });
      }
    };
    await Promise.all(Array.from({ length: GC_CONCURRENCY }, worker));
    return found;
  }

  async destroyByPrincipal(principal: string): Promise<number> {
    const sessions = await this.findByPrincipal(principal);
    await Promise.all(sessions.map(({ id }) => this.destroy(id)));
    return sessions.length;
  }

  /**
   * Take lock `key` for `owner` unless another owner holds it unexpired (see
   * {@link SessionStore.tryLock}), safely across processes sharing the directory.
   *
   * Each lock is a file `.locks/<key>.lock` holding its owner and expiry (by the store's clock),
   * in a subdirectory where no session file can be. Every change to a lock file happens while its
   * guard `.locks/<key>.guard` exists: a file created with the `wx` flag, which fails when the
   * file exists, so exactly one process at a time (and one operation at a time within a process)
   * reads, decides and writes a given lock. The lock file itself is replaced atomically (written
   * to a temporary file, renamed over it), so taking over an expired lock never races with
   * another taker. A guard left behind by a process that died holding it is broken after 10 s;
   * an operation waits at most 2 s for a guard before it fails with `SESSION_STORE_UNAVAILABLE`.
   *
   * @throws {SessionError} `SESSION_INVALID_ID` (as a rejection) for a malformed key, owner or
   * ttl; `SESSION_STORE_UNAVAILABLE` on file-system errors.
   */
  async tryLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    checkLockArguments(key, owner, ttlMs);
    const paths = this.lockPaths(key)!;
    return this.exclusive(`lock:${key}`, () =>
      this.guarded(key, paths, async () => {
        const held = await this.readLock(key, paths.file);
        const now = this.now();
        if (held && held.owner !== owner && held.expiresAt > now) return false;
        await this.writeLock(key, paths.file, { owner, expiresAt: now + ttlMs });
        return true;
      }),
    );
  }

  /** Release lock `key` if `owner` holds it (see {@link SessionStore.unlock}), under the lock's guard. */
  async unlock(key: string, owner: string): Promise<void> {
    if (!isValidLockOwner(owner)) return;
    const paths = this.lockPaths(key);
    if (!paths) return;
    await this.exclusive(`lock:${key}`, () =>
      this.guarded(key, paths, async () => {
        if ((await this.readLock(key, paths.file))?.owner !== owner) return;
        await unlink(paths.file).catch((err: unknown) => {
          if (code(err) !== 'ENOENT') throw unavailable('write', err, key);
        });
      }),
    );
  }

  /** Stop the gc timer and wait for operations already started to finish. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all(this.locks.values());
  }

  /** The current time in epoch milliseconds; records with `expiresAt <= now()` are expired. */
  protected now(): number {
    return this.clock();
  }

  /**
   * The file of session `id`, or `null` when `id` is malformed or would resolve anywhere but
   * directly inside the session directory.
   */
  protected sessionPath(id: string): string | null {
    if (!isValidSessionId(id)) return null;
    const file = resolve(this.root, `${id}.json`);
    return dirname(file) === this.root ? file : null;
  }

  /**
   * The lock file of `key` and its guard, in the lock subdirectory, or `null` when `key` is
   * malformed or would resolve anywhere but directly inside that subdirectory.
   */
  protected lockPaths(key: string): { file: string; guard: string } | null {
    if (!isValidSessionId(key)) return null;
    const dir = join(this.root, LOCK_DIR);
    const file = resolve(dir, `${key}.lock`);
    const guard = resolve(dir, `${key}.guard`);
    return dirname(file) === dir && dirname(guard) === dir ? { file, guard } : null;
  }

  /**
   * Run `operation` while holding the guard file of lock `key`: created with `wx`, so only one
   * process holds it; waited for (a few ms at a time, at most {@link GUARD_WAIT}) while another
   * process holds it, and broken once older than {@link STALE_GUARD_AGE}. Removed afterwards.
   */
  private async guarded<T>(key: string, paths: { guard: string }, operation: () => Promise<T>): Promise<T> {
    await this.ensureLockDir();
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0 && Date.now() - started > GUARD_WAIT) {
        throw unavailable('write', new Error(`another process kept the lock guard ${paths.guard} for more than ${GUARD_WAIT} ms`), key);
      }
      try {
        await (await open(paths.guard, 'wx', this.fileMode)).close();
        break;
      } catch (err) {
        if (code(err) === 'ENOENT') {
          // The directory was deleted while the store ran: create it again.
          this.rootReady = this.lockDirReady = undefined;
          await this.ensureLockDir();
          continue;
        }
        if (code(err) !== 'EEXIST') throw unavailable('write', err, key);
      }
      if (await this.breakStaleGuard(key, paths.guard)) continue;
      await new Promise((done) => setTimeout(done, 1 + Math.random() * 4));
    }
    try {
      return await operation();
    } finally {
      await unlink(paths.guard).catch(() => {
        // Already gone; a guard that cannot be removed is broken once stale.
      });
    }
  }

  /**
   * Remove `guard` if it is older than {@link STALE_GUARD_AGE}; resolves whether it did. Renamed
   * away before deletion, so of several processes breaking it at once only one succeeds.
   */
  private async breakStaleGuard(key: string, guard: string): Promise<boolean> {
    try {
      if ((await stat(guard)).mtimeMs >= Date.now() - STALE_GUARD_AGE) return false;
      const tomb = `${guard}.${randomBytes(6).toString('hex')}.stale`;
      await rename(guard, tomb);
      await unlink(tomb).catch(() => undefined);
      return true;
    } catch (err) {
      // Removed by its holder meanwhile: the next attempt may create it.
      if (code(err) === 'ENOENT') return true;
      throw unavailable('write', err, key);
    }
  }

  /** The lock `key` in `file`, or `null` when there is none; a file that does not parse counts as none. */
  private async readLock(key: string, file: string): Promise<LockFile | null> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if (code(err) === 'ENOENT') return null;
      throw unavailable('read', err, key);
    }
    return parseLock(text);
  }

  /** Replace `file` with `lock` atomically (temporary file, then rename). */
  private async writeLock(key: string, file: string, lock: LockFile): Promise<void> {
    const tmp = join(this.root, LOCK_DIR, `.${key}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await this.writeNew(tmp, JSON.stringify(lock));
      await rename(tmp, file);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw unavailable('write', err, key);
    }
  }

  /**
   * Delete expired lock files (each under its guard, so a lock being taken over is never
   * deleted), guards left by dead processes, and temporary files of crashed lock writes modified
   * before `staleBefore`. Best effort: errors are left for the next run.
   */
  private async sweepLocks(staleBefore: number): Promise<void> {
    const dir = join(this.root, LOCK_DIR);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return;
    }
    for (const name of names) {
      try {
        const key = LOCK_FILE.exec(name)?.[1];
        const guardOf = GUARD_FILE.exec(name)?.[1];
        if (key !== undefined) {
          const paths = this.lockPaths(key);
          if (!paths) continue;
          await this.exclusive(`lock:${key}`, () =>
            this.guarded(key, paths, async () => {
              const held = await this.readLock(key, paths.file);
              if (!held || held.expiresAt <= this.now()) await unlink(paths.file);
            }),
          );
        } else if (guardOf !== undefined && this.lockPaths(guardOf)) {
          await this.breakStaleGuard(guardOf, join(dir, name));
        } else if (TMP_FILE.test(name) && (await stat(join(dir, name))).mtimeMs < staleBefore) {
          await unlink(join(dir, name));
        }
      } catch {
        // Skipped; the next run retries.
      }
    }
  }

  /** Create the lock subdirectory (and the root) on first use; a failure is retried by the next operation. */
  private async ensureLockDir(): Promise<void> {
    await this.ensureRoot('write');
    this.lockDirReady ??= (async () => {
      const dir = join(this.root, LOCK_DIR);
      const created = await mkdir(dir, { recursive: true, mode: this.dirMode });
      if (created !== undefined) await chmod(dir, this.dirMode);
    })();
    const ready = this.lockDirReady;
    return ready.catch((err: unknown) => {
      if (this.lockDirReady === ready) this.lockDirReady = undefined;
      throw unavailable('write', err);
    });
  }

  /**
   * Run `operation` after every earlier operation on `id` has settled, so read-modify-write
   * sequences on one session never interleave within this process.
   */
  private exclusive<T>(id: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id);
    const result = previous ? previous.then(operation) : operation();
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return result;
  }

  /** The live record of `id` in `file`; expired and corrupt files are deleted and read as `null`. */
  private async readLive(id: string, file: string): Promise<SessionRecord | null> {
    await this.ensureRoot('read');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if (code(err) === 'ENOENT') return null;
      throw unavailable('read', err, id);
    }
    const record = parseRecord(text);
    if (!record || record.expiresAt <= this.now()) {
      await unlink(file).catch(() => {
        // Best effort: the record is not served either way, and gc retries the deletion.
      });
      return null;
    }
    return record;
  }

  /** 1 when `file` held an expired record and was deleted, else 0. Corrupt files are deleted too. */
  private async deleteIfExpired(file: string): Promise<number> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if (code(err) === 'ENOENT') return 0;
      throw err;
    }
    const record = parseRecord(text);
    if (record && record.expiresAt > this.now()) return 0;
    await unlink(file);
    return record ? 1 : 0;
  }

  /** Replace `file` atomically: write a temporary file next to it, then rename it over `file`. */
  private async write(id: string, file: string, json: string): Promise<void> {
    await this.ensureRoot('write');
    const tmp = join(this.root, `.${id}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      try {
        await this.writeNew(tmp, json);
      } catch (err) {
        if (code(err) !== 'ENOENT') throw err;
        // The directory was deleted while the store ran (e.g. by a /tmp cleaner): create it again.
        this.rootReady = undefined;
        await this.ensureRoot('write');
        await this.writeNew(tmp, json);
      }
      await rename(tmp, file);
    } catch (err) {
      await unlink(tmp).catch(() => {
        // The temporary file was not created, or gc removes it later.
      });
      throw err instanceof SessionError ? err : unavailable('write', err, id);
    }
  }

  private async writeNew(path: string, content: string): Promise<void> {
    // 'wx' fails rather than follow anything already at this random name.
    const handle = await open(path, 'wx', this.fileMode);
    try {
      await handle.writeFile(content, 'utf8');
    } finally {
      await handle.close();
    }
  }

  /**
   * Create the session directory on first use, or check one that exists (see
   * {@link FileStoreOptions.directory}); a failure is retried by the next operation.
   */
  private ensureRoot(operation: 'read' | 'write'): Promise<void> {
    this.rootReady ??= (async () => {
      const created = await mkdir(this.root, { recursive: true, mode: this.dirMode });
      // mkdir's mode is reduced by the umask; set it exactly, but only on a directory we created.
      if (created !== undefined) await chmod(this.root, this.dirMode);
      // Someone else may have created it since the constructor looked.
      else checkDirectory(this.root, await stat(this.root));
    })();
    const ready = this.rootReady;
    return ready.catch((err: unknown) => {
      if (this.rootReady === ready) this.rootReady = undefined;
      throw err instanceof SessionError ? err : unavailable(operation, err);
    });
  }
}

/** What a lock file holds: its owner and until when it is held (epoch ms, by the store's clock). */
interface LockFile {
  owner: string;
  expiresAt: number;
}

/** The lock in `text`, or `null` when it is not a well-formed lock. */
function parseLock(text: string): LockFile | null {
  try {
    const { owner, expiresAt } = JSON.parse(text) as Partial<LockFile>;
    return typeof owner === 'string' && Number.isFinite(expiresAt) ? { owner, expiresAt: expiresAt! } : null;
  } catch {
    return null;
  }
}

/** The record in `text`, or `null` when it is not a well-formed record. */
function parseRecord(text: string): SessionRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { data, createdAt, expiresAt, principal } = value as Partial<SessionRecord>;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return null;
  if (!Object.values(data).every((v) => typeof v === 'string')) return null;
  if (!Number.isFinite(createdAt) || !Number.isFinite(expiresAt)) return null;
  return { data, createdAt: createdAt!, expiresAt: expiresAt!, ...(typeof principal === 'string' ? { principal } : {}) };
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * A failed file operation on session (or lock) `id`. File-system errors name the file, whose name
 * holds the ID, so the `cause` is a copy with it redacted (see `redactError`).
 */
function unavailable(operation: 'read' | 'write', cause: unknown, id?: string): SessionError {
  return new SessionError('SESSION_STORE_UNAVAILABLE', SessionMessages.storeUnavailable(operation), {
    cause: redactError(cause, id === undefined ? [] : [id]),
  });
}

/**
 * Refuse a session directory another local user could plant session files in: one writable by its
 * group or by others, or owned by another user than the process's. Not on Windows, whose
 * permissions mode bits and owner IDs do not describe.
 */
function checkDirectory(dir: string, stats: Stats): void {
  if (process.platform === 'win32') return;
  if ((stats.mode & 0o022) !== 0) {
    throw invalidOption(
      'directory',
      `"${dir}" is writable by its group or by other users (mode ${(stats.mode & 0o7777).toString(8).padStart(4, '0')}), so another local user could plant session files in it`,
      `Run \`chmod 700 ${dir}\` (or chmod go-w), or give a directory that only the user running this process can write to.`,
    );
  }
  const uid = process.getuid?.();
  if (uid !== undefined && stats.uid !== uid) {
    throw invalidOption(
      'directory',
      `"${dir}" belongs to user ${stats.uid}, not to the user this process runs as (${uid}), so that user could plant session files in it`,
      `Run \`chown ${uid} ${dir}\` and \`chmod 700 ${dir}\`, or give a directory of the user running this process.`,
    );
  }
}

function invalidOption(option: string, rule: string, fix: string): SessionError {
  return new SessionError('SESSION_OPTIONS_INVALID', SessionMessages.invalidOption(option, rule, fix));
}
