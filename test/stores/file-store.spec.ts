import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SessionError } from '../../src/core/errors/session.error.js';
import { generateSessionId } from '../../src/core/session-id.js';
import { FileStore, type FileStoreOptions } from '../../src/stores/file.store.js';
import type { SessionRecord, SessionStore } from '../../src/core/session-store.interface.js';
import { describeStoreConformance } from '../../src/store-kit/store-conformance.js';

const conformanceDirs = new Map<SessionStore, string>();
describeStoreConformance(
  'FileStore',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nest-sessions-conformance-'));
    const store = new FileStore({ directory: join(dir, 'sessions') });
    conformanceDirs.set(store, dir);
    return store;
  },
  {
    supportsLocks: true,
    teardown: async (store) => {
      await store.close?.();
      await rm(conformanceDirs.get(store)!, { recursive: true, force: true });
      conformanceDirs.delete(store);
    },
  },
);

/** Exposes the gc timer and counts gc runs. */
class InspectableFileStore extends FileStore {
  gcRuns = 0;

  get gcTimer(): NodeJS.Timeout | undefined {
    return this.timer;
  }

  override async gc(): Promise<number> {
    this.gcRuns++;
    return super.gc();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));
const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;
const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );
const rejection = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => undefined,
    (err: unknown) => err,
  );

/** Every file and directory under `dir`, with the content of files. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    result[relative(dir, path)] = entry.isDirectory() ? '<dir>' : await readFile(path, 'utf8');
  }
  return result;
}

describe('FileStore', () => {
  let base: string;
  let root: string;
  const stores: FileStore[] = [];
  const create = <T extends FileStore = FileStore>(
    options: Partial<FileStoreOptions> = {},
    Store: new (options: FileStoreOptions) => T = FileStore as new (options: FileStoreOptions) => T,
  ): T => {
    const store = new Store({ directory: root, gcInterval: 0, ...options });
    stores.push(store);
    return store;
  };
  const record = (expiresAt = Date.now() + 60_000, data: Record<string, string> = { a: '"1"' }): SessionRecord => ({
    data,
    createdAt: 1_000,
    expiresAt,
  });

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'nest-sessions-file-store-'));
    root = join(base, 'inner', 'sessions');
  });

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    await rm(base, { recursive: true, force: true });
  });

  it('creates the directory on first use with mode 0o700 and writes files with mode 0o600', async () => {
    const store = create();
    expect(await exists(root)).toBe(false);

    const id = generateSessionId();
    await store.set(id, record());
    expect(await mode(root)).toBe(0o700);
    expect(await mode(join(root, `${id}.json`))).toBe(0o600);

    expect(await store.patch(id, { set: { b: '2' }, unset: [] }, Date.now() + 60_000)).toBe(true);
    expect(await mode(join(root, `${id}.json`))).toBe(0o600);
  });

  it('applies dirMode exactly to a directory it creates but leaves an existing one alone', async () => {
    const own = join(base, 'own');
    await create({ directory: own, dirMode: 0o750 }).set(generateSessionId(), record());
    expect(await mode(own)).toBe(0o750);

    const existing = join(base, 'existing');
    await mkdir(existing, { mode: 0o755 });
    await create({ directory: existing }).set(generateSessionId(), record());
    expect(await mode(existing)).toBe(0o755);
  });

  it('never touches a file outside its directory, whatever the ID', async () => {
    const store = create();
    const live = generateSessionId();
    await store.set(live, record());
    const victim = 'v'.repeat(24);
    await writeFile(join(base, `${victim}.json`), JSON.stringify(record()));
    await writeFile(join(base, 'inner', `${victim}.json`), JSON.stringify(record()));
    const before = await snapshot(base);

    const hostile = [
      `../../${victim}`,
      `../${victim}`,
      `..%2f..%2f${victim}`,
      `${live}/../../${victim}`,
      `/${base}/${victim}`.padEnd(32, 'v'),
      `..\\..\\${victim}`,
      `${live}\u0000../../${victim}`,
      `../sessions/${live}`,
      `../../${'x'.repeat(30)}`,
    ];
    for (const id of hostile) {
      expect(await store.get(id)).toBeNull();
      expect(await rejection(store.set(id, record()))).toBeInstanceOf(SessionError);
      expect(await store.patch(id, { set: { x: '1' }, unset: [] }, Date.now() + 60_000)).toBe(false);
      expect(await store.touch(id, Date.now() + 60_000)).toBe(false);
      await store.destroy(id);
    }
    expect(await store.gc()).toBe(0);

    expect(await snapshot(base)).toEqual(before);
    expect(await readdir(root)).toEqual([`${live}.json`]);
  });

  it.each([
    ['not JSON', 'this is not json'],
    ['empty', ''],
    ['truncated', JSON.stringify(record()).slice(0, 20)],
    ['null', 'null'],
    ['an array', '[]'],
    ['missing data', JSON.stringify({ createdAt: 1, expiresAt: Date.now() + 60_000 })],
    ['a non-string value', JSON.stringify({ data: { a: 1 }, createdAt: 1, expiresAt: Date.now() + 60_000 })],
    ['a non-numeric expiresAt', JSON.stringify({ data: {}, createdAt: 1, expiresAt: 'later' })],
  ])('reads a corrupt file (%s) as missing and deletes it', async (_, content) => {
    const store = create();
    const id = generateSessionId();
    await store.set(id, record());
    const file = join(root, `${id}.json`);
    await writeFile(file, content);

    expect(await store.get(id)).toBeNull();
    expect(await exists(file)).toBe(false);

    await writeFile(file, content);
    expect(await store.patch(id, { set: { x: '1' }, unset: [] }, Date.now() + 60_000)).toBe(false);
    expect(await store.touch(id, Date.now() + 60_000)).toBe(false);
    expect(await store.get(id)).toBeNull();
  });

  it('leaves only session files behind after many writes', async () => {
    const store = create();
    const ids = Array.from({ length: 10 }, () => generateSessionId());
    await Promise.all(ids.map((id) => store.set(id, record())));
    await Promise.all(
      ids.flatMap((id) => [
        ...Array.from({ length: 10 }, (_, i) => store.patch(id, { set: { [`k${i}`]: '1' }, unset: [] }, Date.now() + 60_000)),
        store.touch(id, Date.now() + 90_000),
      ]),
    );
    await store.destroy(ids[0]);

    expect((await readdir(root)).sort()).toEqual(
      ids
        .slice(1)
        .map((id) => `${id}.json`)
        .sort(),
    );
    // Per-session locks are dropped once idle, so the lock map does not grow with every session seen.
    expect((Reflect.get(store, 'locks') as Map<string, unknown>).size).toBe(0);
  });

  it('reports file-system errors as SESSION_STORE_UNAVAILABLE and cleans up the temporary file', async () => {
    const store = create();
    await store.set(generateSessionId(), record());
    const id = generateSessionId();
    // A directory where the session file should be makes both reading and renaming fail.
    await mkdir(join(root, `${id}.json`));

    const writeError = await rejection(store.set(id, record()));
    expect(writeError).toBeInstanceOf(SessionError);
    expect((writeError as SessionError).code).toBe('SESSION_STORE_UNAVAILABLE');
    expect((writeError as SessionError).message).toContain('write');
    expect((writeError as SessionError).cause).toBeInstanceOf(Error);

    const readError = await rejection(store.get(id));
    expect(readError).toBeInstanceOf(SessionError);
    expect((readError as SessionError).code).toBe('SESSION_STORE_UNAVAILABLE');
    expect((readError as SessionError).message).toContain('read');

    expect((await readdir(root)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('gc deletes expired and corrupt sessions and stale temporary files, and leaves other files alone', async () => {
    let now = 1_000_000;
    const store = create({ now: () => now });
    const expired = generateSessionId();
    const live = generateSessionId();
    await store.set(expired, record(now + 10));
    await store.set(live, record(now + 1_000));

    const staleTmp = join(root, `.${generateSessionId()}.0123456789ab.tmp`);
    const freshTmp = join(root, `.${generateSessionId()}.ba9876543210.tmp`);
    await writeFile(staleTmp, '{"partial');
    await writeFile(freshTmp, '{"partial');
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60_000);
    await utimes(staleTmp, twoHoursAgo, twoHoursAgo);
    const unrelated = ['notes.txt', 'foo.json', `${generateSessionId()}.json.bak`, '.hidden.json', 'old.tmp'];
    for (const name of unrelated) {
      await writeFile(join(root, name), JSON.stringify(record(0)));
      await utimes(join(root, name), twoHoursAgo, twoHoursAgo);
    }

    // A corrupt session file is deleted too, but only expired sessions are counted.
    await writeFile(join(root, `${generateSessionId()}.json`), '{"trunc');

    now += 10;
    expect(await store.gc()).toBe(1);
    expect((await readdir(root)).sort()).toEqual([`${live}.json`, freshTmp.slice(root.length + 1), ...unrelated].sort());
    expect(await store.get(live)).not.toBeNull();
  });

  it('treats a record as expired once expiresAt <= now and deletes its file on read', async () => {
    let now = 1_000_000;
    const store = create({ now: () => now });
    const id = generateSessionId();
    await store.set(id, record(now + 10));

    now += 9;
    expect(await store.get(id)).not.toBeNull();
    now += 1;
    expect(await store.get(id)).toBeNull();
    expect(await exists(join(root, `${id}.json`))).toBe(false);
  });

  it('lets two instances on the same directory see each other’s records', async () => {
    const first = create();
    const second = create();
    const id = generateSessionId();
    const rec = record();

    await first.set(id, rec);
    expect(await second.get(id)).toEqual(rec);
    expect(await second.patch(id, { set: { b: '2' }, unset: ['a'] }, rec.expiresAt)).toBe(true);
    expect((await first.get(id))?.data).toEqual({ b: '2' });
    await first.destroy(id);
    expect(await second.get(id)).toBeNull();
  });

  it('keeps locks in a .locks subdirectory, exclusive across instances sharing the directory', async () => {
    const [first, second] = [create(), create()];
    const key = generateSessionId(43);
    await first.set(key, record());
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? first : second).tryLock(key, `owner-${i}`, 60_000)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = `owner-${results.indexOf(true)}`;

    // Both sides sorted the same way: a key starting with '-' sorts before '.locks'.
    expect((await readdir(root)).sort()).toEqual(['.locks', `${key}.json`].sort());
    expect(await readdir(join(root, '.locks'))).toEqual([`${key}.lock`]);
    expect(await mode(join(root, '.locks'))).toBe(0o700);
    expect(JSON.parse(await readFile(join(root, '.locks', `${key}.lock`), 'utf8'))).toMatchObject({ owner: winner });

    await second.unlock(key, 'owner-x');
    expect(await second.tryLock(key, 'owner-x', 60_000)).toBe(false);
    await second.unlock(key, winner);
    expect(await readdir(join(root, '.locks'))).toEqual([]);
    expect(await first.tryLock(key, 'owner-x', 60_000)).toBe(true);
    expect(await first.get(key)).toEqual(record(expect.any(Number) as number));
  });

  it('takes an expired lock over once, from either instance, and gc deletes expired lock files', async () => {
    let now = 1_000_000;
    const [first, second] = [create({ now: () => now }), create({ now: () => now })];
    const [expiring, lasting] = [generateSessionId(43), generateSessionId(43)];
    expect(await first.tryLock(expiring, 'a', 100)).toBe(true);
    expect(await first.tryLock(lasting, 'a', 60_000)).toBe(true);
    now += 100;
    const takers = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? first : second).tryLock(expiring, `b${i}`, 100)));
    expect(takers.filter(Boolean)).toHaveLength(1);

    now += 100;
    expect(await second.gc()).toBe(0);
    expect(await readdir(join(root, '.locks'))).toEqual([`${lasting}.lock`]);
    expect(await second.tryLock(lasting, 'c', 60_000)).toBe(false);
  });

  it('waits for a guard held by another process, and breaks one left by a process that died', async () => {
    const store = create();
    const key = generateSessionId(43);
    await store.tryLock(generateSessionId(43), 'warm-up', 1000);
    const guard = join(root, '.locks', `${key}.guard`);

    await writeFile(guard, '');
    const busy = await rejection(store.tryLock(key, 'a', 60_000));
    expect((busy as SessionError).code).toBe('SESSION_STORE_UNAVAILABLE');
    expect(((busy as SessionError).cause as Error).message).toContain('kept the lock guard');

    const longAgo = new Date(Date.now() - 60_000);
    await utimes(guard, longAgo, longAgo);
    expect(await store.tryLock(key, 'a', 60_000)).toBe(true);
    expect(await exists(guard)).toBe(false);
  });

  it('creates the directory again when it is deleted while the store runs', async () => {
    const store = create();
    await store.set(generateSessionId(), record());
    await rm(root, { recursive: true });

    const id = generateSessionId();
    await store.set(id, record());
    expect(await store.get(id)).not.toBeNull();
    expect(await mode(root)).toBe(0o700);
  });

  it('close() waits for operations already started', async () => {
    const store = create();
    const id = generateSessionId();
    const pending = store.set(id, record());
    await store.close();
    expect(await exists(join(root, `${id}.json`))).toBe(true);
    await pending;
  });

  it('runs gc on an unref()ed timer that close() stops', async () => {
    const store = create({ gcInterval: 10 }, InspectableFileStore);
    expect(store.gcTimer).toBeDefined();
    expect(store.gcTimer!.hasRef()).toBe(false);

    await sleep(80);
    expect(store.gcRuns).toBeGreaterThan(0);

    await store.close();
    const runs = store.gcRuns;
    await sleep(80);
    expect(store.gcRuns).toBe(runs);
    expect(store.gcTimer).toBeUndefined();
  });

  it.each([
    ['directory', {}],
    ['directory', { directory: '  ' }],
    ['gcInterval', { directory: 'x', gcInterval: -5 }],
    ['fileMode', { directory: 'x', fileMode: 0o10000 }],
    ['dirMode', { directory: 'x', dirMode: 1.5 }],
  ])('rejects an invalid %s option', (option, options) => {
    let error: unknown;
    try {
      new FileStore(options as FileStoreOptions);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SessionError);
    expect((error as SessionError).code).toBe('SESSION_OPTIONS_INVALID');
    expect((error as SessionError).message).toContain(`\`${option}\``);
  });
});

/**
 * Security review (issue 10), point 14: a session directory other local users can write to would
 * let them plant session files (a session of their choosing for any ID), so the store refuses one.
 */
describe('FileStore directory permissions', () => {
  let base: string;
  const stores: FileStore[] = [];
  const record = (): SessionRecord => ({ data: { a: '"1"' }, createdAt: 1_000, expiresAt: Date.now() + 60_000 });
  /** A new directory under `base` with exactly `permissions`. */
  const directoryWithMode = async (permissions: number): Promise<string> => {
    const dir = join(base, `sessions-${permissions.toString(8)}`);
    await mkdir(dir);
    await chmod(dir, permissions);
    return dir;
  };
  /** The error `run` throws (failing the test when it throws none). */
  const thrownBy = (run: () => unknown): SessionError => {
    try {
      run();
    } catch (err) {
      expect(err).toBeInstanceOf(SessionError);
      return err as SessionError;
    }
    return expect.unreachable('expected the store to refuse');
  };

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'nest-sessions-file-perms-'));
  });

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    await rm(base, { recursive: true, force: true });
  });

  it.skipIf(process.platform === 'win32').each([
    ['0o777', 0o777],
    ['0o770', 0o770],
    ['0o702', 0o702],
    ['0o1777', 0o1777],
  ])(
    'refuses an existing directory with mode %s (writable by its group or others) with SESSION_OPTIONS_INVALID',
    async (_, permissions) => {
      const dir = await directoryWithMode(permissions);
      const error = thrownBy(() => stores.push(new FileStore({ directory: dir, gcInterval: 0 })));
      expect(error.code).toBe('SESSION_OPTIONS_INVALID');
      expect(error.message).toContain('invalid option `directory`');
      expect(error.message).toContain(dir);
      expect(error.message).toContain('writable by its group or by other users');
      expect(error.message).toContain(`chmod 700 ${dir}`);
      expect(await readdir(dir)).toEqual([]);
    },
  );

  it('accepts an existing directory with mode 0o700, and one with 0o755', async () => {
    for (const permissions of [0o700, 0o755]) {
      const dir = await directoryWithMode(permissions);
      const store = new FileStore({ directory: dir, gcInterval: 0 });
      stores.push(store);
      const id = generateSessionId();
      await store.set(id, record());
      expect((await store.get(id))?.data).toEqual({ a: '"1"' });
      expect(await mode(dir)).toBe(permissions);
    }
  });

  it('creates a missing directory with mode 0o700, and a later store on it starts', async () => {
    const dir = join(base, 'new', 'sessions');
    const store = new FileStore({ directory: dir, gcInterval: 0 });
    stores.push(store);
    await store.set(generateSessionId(), record());
    expect(await mode(dir)).toBe(0o700);
    stores.push(new FileStore({ directory: dir, gcInterval: 0 }));
  });

  it.skipIf(process.platform === 'win32')(
    'refuses a directory someone else made group- or world-writable before the first operation',
    async () => {
      const dir = join(base, 'late');
      const store = new FileStore({ directory: dir, gcInterval: 0 });
      stores.push(store);
      await mkdir(dir);
      await chmod(dir, 0o777);
      const error = await store.set(generateSessionId(), record()).then(
        () => expect.unreachable('expected the store to refuse'),
        (err: unknown) => err as SessionError,
      );
      expect(error).toBeInstanceOf(SessionError);
      expect(error.code).toBe('SESSION_OPTIONS_INVALID');
      expect(error.message).toContain(`chmod 700 ${dir}`);
      expect(await readdir(dir)).toEqual([]);
    },
  );

  it('refuses a dirMode that would create such a directory', () => {
    const error = thrownBy(() => new FileStore({ directory: join(base, 'x'), gcInterval: 0, dirMode: 0o770 }));
    expect(error.code).toBe('SESSION_OPTIONS_INVALID');
    expect(error.message).toContain('invalid option `dirMode`');
  });

  // Only root can give a directory to another user.
  it.skipIf(process.platform === 'win32' || process.getuid?.() !== 0)(
    'refuses a directory owned by another user than the one the process runs as',
    async () => {
      const dir = await directoryWithMode(0o700);
      await chown(dir, 54_321, 54_321);
      const error = thrownBy(() => stores.push(new FileStore({ directory: dir, gcInterval: 0 })));
      expect(error.code).toBe('SESSION_OPTIONS_INVALID');
      expect(error.message).toContain('invalid option `directory`');
      expect(error.message).toContain('belongs to user 54321');
      expect(error.message).toContain(`chown`);
    },
  );
});
