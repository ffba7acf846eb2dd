import { freePort } from '../support/ports.js';
import { MongoClient, type Collection, type Db, type Document } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SessionError } from '../../src/core/errors/session.error.js';
import { generateSessionId } from '../../src/core/session-id.js';
import { escapeKey, unescapeKey } from '../../src/stores/mongodb/mongo-key-escape.js';
import { parseMongoUrl } from '../../src/stores/mongodb/mongodb-store.url.js';
import { MongoStore, type MongoSessionDocument, type MongoStoreOptions } from '../../src/stores/mongodb/mongodb.store.js';
import { createStoreFromUrl } from '../../src/stores/store-url.js';
import { describeStoreConformance } from '../../src/store-kit/store-conformance.js';

/**
 * The conformance suite and the index tests need a real MongoDB server, which this machine does
 * not have. Point SESSION_TEST_MONGODB_URL at one (e.g. mongodb://localhost:27017/nest_sessions_test)
 * to run them; each test uses a collection of its own and drops it. Without it they are reported
 * as skipped, with the reason in the suite's name.
 */
const MONGO_URL = process.env.SESSION_TEST_MONGODB_URL ?? '';
const REAL_SERVER_SUITE = MONGO_URL
  ? 'MongoStore against a real server'
  : 'MongoStore against a real server (skipped: no MongoDB server here; set SESSION_TEST_MONGODB_URL=mongodb://… to run it)';

/** Exposes the collection the store uses. */
class InspectableMongoStore extends MongoStore {
  get sessions(): Collection<MongoSessionDocument> {
    return this.collection;
  }
}

/** The rejection of `promise` (failing the test when it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<SessionError> {
  const error: unknown = await promise.then(
    () => expect.unreachable('expected a rejection'),
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(SessionError);
  return error as SessionError;
}

describe('escapeKey / unescapeKey', () => {
  it.each([
    ['user', 'user'],
    ['cart.items', 'cart%2Eitems'],
    ['a.b.c', 'a%2Eb%2Ec'],
    ['$where', '%24where'],
    ['price$', 'price%24'],
    ['100%', '100%25'],
    ['%2E', '%252E'],
    ['__proto__', '%5F_proto__'],
    ['_csrf', '%5Fcsrf'],
    ['a_b', 'a_b'],
    ['', '%'],
    ['%', '%25'],
    ['nul\0byte', 'nul%00byte'],
    ['ключ', 'ключ'],
    ['😀', '😀'],
    ['lone\uD800', 'lone%uD800'],
    ['\uDC00lone', '%uDC00lone'],
    [' spaced ', ' spaced '],
    ['a:b', 'a:b'],
    ['constructor', 'constructor'],
  ])('%j ⇄ %j', (key, field) => {
    expect(escapeKey(key)).toBe(field);
    expect(unescapeKey(field)).toBe(key);
  });

  it('round-trips random keys one-to-one into safe field names', () => {
    const alphabet = ['a', 'Z', '0', '.', '$', '%', '_', '\0', ' ', 'u', 'F', '2', 'E', 'é', '\uD83D', '\uDE00', '\uD800', '\uDFFF'];
    let seed = 42;
    const random = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const fields = new Map<string, string>();
    for (let i = 0; i < 5000; i++) {
      const key = Array.from({ length: random(8) }, () => alphabet[random(alphabet.length)]).join('');
      const field = escapeKey(key);
      expect(unescapeKey(field), JSON.stringify(key)).toBe(key);
      expect(field).not.toBe('');
      expect(field).not.toMatch(/[.$\0]/);
      expect(field.startsWith('_')).toBe(false);
      expect(field, JSON.stringify(key)).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
      const earlier = fields.get(field);
      expect(earlier === undefined || earlier === key, `${JSON.stringify(earlier)} and ${JSON.stringify(key)} collide`).toBe(true);
      fields.set(field, key);
    }
  });

  it('keeps stray % signs in fields written by someone else', () => {
    expect(unescapeKey('50%')).toBe('50%');
    expect(unescapeKey('%zz')).toBe('%zz');
    expect(unescapeKey('%2e')).toBe('%2e');
    expect(unescapeKey('%%')).toBe('%%');
  });
});

describe('MongoStore without a server', () => {
  const stores: MongoStore[] = [];
  const clients: MongoClient[] = [];
  const create = <T extends MongoStore = MongoStore>(
    options: MongoStoreOptions,
    Store: new (options: MongoStoreOptions) => T = MongoStore as new (options: MongoStoreOptions) => T,
  ): T => {
    const store = new Store(options);
    stores.push(store);
    return store;
  };
  /** A client that never connects unless an operation runs. */
  const lazyClient = (url = 'mongodb://127.0.0.1:1/app'): MongoClient => {
    const client = new MongoClient(url, { serverSelectionTimeoutMS: 200 });
    clients.push(client);
    return client;
  };

  afterEach(async () => {
    vi.restoreAllMocks();
    await Promise.all(stores.splice(0).map((store) => store.close()));
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });

  it('uses the database and collection it is given', () => {
    const client = lazyClient();
    expect(create({ client }, InspectableMongoStore).sessions.namespace).toBe('app.sessions');
    expect(create({ client, dbName: 'other', collection: 'web' }, InspectableMongoStore).sessions.namespace).toBe('other.web');
    expect(create({ db: client.db('x') }, InspectableMongoStore).sessions.namespace).toBe('x.sessions');
    const collection = client.db('y').collection('z');
    expect(create({ collection }, InspectableMongoStore).sessions).toBe(collection);
    expect(create({ url: 'mongodb://127.0.0.1:1/fromurl' }, InspectableMongoStore).sessions.namespace).toBe('fromurl.sessions');
    expect(create({ url: 'mongodb://127.0.0.1:1/fromurl', dbName: 'named' }, InspectableMongoStore).sessions.namespace).toBe(
      'named.sessions',
    );
  });

  it('closes the client it created from url, and never one passed in', async () => {
    const close = vi.spyOn(MongoClient.prototype, 'close');
    const client = lazyClient();
    await create({ client }).close();
    await create({ db: client.db('app') }).close();
    expect(close).not.toHaveBeenCalled();
    await create({ url: 'mongodb://127.0.0.1:1/app' }).close();
    expect(close).toHaveBeenCalledOnce();
  });

  // Every operation tries to connect again: left to the driver, the first failed connection would
  // close the client for good, and later operations would fail with MongoTopologyClosedError.
  it('fails with SESSION_STORE_UNAVAILABLE, carrying the driver error, when MongoDB cannot be reached, and keeps trying', async () => {
    const port = await freePort();
    const store = create({ url: `mongodb://127.0.0.1:${port}/app`, clientOptions: { serverSelectionTimeoutMS: 300 } });
    const id = generateSessionId();
    const operations = [
      () => store.get(id),
      () => store.set(id, { data: {}, createdAt: Date.now(), expiresAt: Date.now() + 60_000 }),
      () => store.patch(id, { set: { a: '1' }, unset: [] }, Date.now() + 60_000),
    ];
    for (const operation of operations) {
      const started = Date.now();
      const error = await rejectionOf(operation());
      expect(error.code).toBe('SESSION_STORE_UNAVAILABLE');
      expect((error.cause as Error).name).toBe('MongoServerSelectionError');
      expect(Date.now() - started).toBeLessThan(5000);
    }
  });

  it('never reaches the driver with a malformed ID', async () => {
    const store = create({ client: lazyClient() }, InspectableMongoStore);
    const findOne = vi.spyOn(store.sessions, 'findOne');
    const updateOne = vi.spyOn(store.sessions, 'updateOne');
    const deleteOne = vi.spyOn(store.sessions, 'deleteOne');
    for (const bad of ['', 'short', '../'.padEnd(32, 'A'), { $ne: null } as unknown as string]) {
      expect(await store.get(bad)).toBeNull();
      expect(await store.patch(bad, { set: { a: '1' }, unset: [] }, Date.now() + 1000)).toBe(false);
      expect(await store.touch(bad, Date.now() + 1000)).toBe(false);
      await store.destroy(bad);
      expect((await rejectionOf(store.set(bad, { data: {}, createdAt: 0, expiresAt: 1 }))).code).toBe('SESSION_INVALID_ID');
    }
    expect(await store.findByPrincipal({ $ne: null } as unknown as string)).toEqual([]);
    expect(findOne).not.toHaveBeenCalled();
    expect(updateOne).not.toHaveBeenCalled();
    expect(deleteOne).not.toHaveBeenCalled();
  });

  // Only the commands the store sends, recorded on a real Collection whose methods are stubbed; what
  // MongoDB does with them is checked by the real-server suite below.
  it('sends per-key $set/$unset updates filtered on a live session, and never upserts them', async () => {
    const store = create({ client: lazyClient(), createIndexes: false }, InspectableMongoStore);
    const updateOne = vi.spyOn(store.sessions, 'updateOne').mockResolvedValue({
      acknowledged: true,
      matchedCount: 1,
      modifiedCount: 1,
      upsertedCount: 0,
      upsertedId: null,
    });
    const replaceOne = vi.spyOn(store.sessions, 'replaceOne').mockResolvedValue({
      acknowledged: true,
      matchedCount: 0,
      modifiedCount: 0,
      upsertedCount: 1,
      upsertedId: null,
    });
    const id = generateSessionId();
    const set: Record<string, string> = { 'a.b': '1', both: '2' };
    Object.defineProperty(set, '__proto__', { value: 'p', enumerable: true });

    expect(await store.patch(id, { set, unset: ['$c', 'both'], principal: 'bob' }, 5000)).toBe(true);
    expect(updateOne).toHaveBeenLastCalledWith(
      { _id: id, expiresAt: { $gt: expect.any(Date) } },
      {
        $set: { expiresAt: new Date(5000), 'data.a%2Eb': '1', 'data.both': '2', 'data.%5F_proto__': 'p', principal: 'bob' },
        $unset: { 'data.%24c': '' },
      },
    );
    expect(await store.patch(id, { set: {}, unset: [], principal: null }, 6000)).toBe(true);
    expect(updateOne).toHaveBeenLastCalledWith(
      { _id: id, expiresAt: { $gt: expect.any(Date) } },
      { $set: { expiresAt: new Date(6000) }, $unset: { principal: '' } },
    );
    expect(await store.touch(id, 7000)).toBe(true);
    expect(updateOne).toHaveBeenLastCalledWith({ _id: id, expiresAt: { $gt: expect.any(Date) } }, { $set: { expiresAt: new Date(7000) } });

    updateOne.mockResolvedValue({ acknowledged: true, matchedCount: 0, modifiedCount: 0, upsertedCount: 0, upsertedId: null });
    expect(await store.patch(id, { set: { a: '1' }, unset: [] }, 8000)).toBe(false);
    expect(await store.touch(id, 8000)).toBe(false);

    await store.set(id, { data: { '': 'e', 'x.y': 'z' }, createdAt: 1000, expiresAt: 9000, principal: 'bob' });
    expect(replaceOne).toHaveBeenLastCalledWith(
      { _id: id },
      { data: { '%': 'e', 'x%2Ey': 'z' }, createdAt: new Date(1000), expiresAt: new Date(9000), principal: 'bob' },
      { upsert: true },
    );
  });

  it.each<[string, () => unknown]>([
    ['url', () => ({})],
    ['url', () => null],
    ['url', () => ({ url: 'postgres://localhost/app' })],
    ['url', () => ({ url: 'mongodb://localhost/app?bogusOption=1' })],
    ['client', () => ({ url: 'mongodb://localhost/app', client: lazyClient() })],
    ['db', () => ({ client: lazyClient(), db: lazyClient().db('a') })],
    ['client', () => ({ client: {} })],
    ['db', () => ({ db: {} })],
    ['collection', () => ({ collection: { findOne() {} } })],
    ['dbName', () => ({ db: lazyClient().db('a'), dbName: 'b' })],
    ['dbName', () => ({ client: lazyClient(), dbName: 'bad.name' })],
    ['dbName', () => ({ client: lazyClient(), dbName: '' })],
    ['clientOptions', () => ({ client: lazyClient(), clientOptions: {} })],
    ['collection', () => ({ client: lazyClient(), collection: '' })],
    ['collection', () => ({ client: lazyClient(), collection: 'a$b' })],
    ['collection', () => ({ client: lazyClient(), collection: 'system.users' })],
    ['createIndexes', () => ({ client: lazyClient(), createIndexes: 'yes' })],
    ['gcInterval', () => ({ client: lazyClient(), gcInterval: -1 })],
    ['gcInterval', () => ({ client: lazyClient(), gcInterval: Number.NaN })],
  ])('rejects an invalid %s option', (option, options) => {
    let error: unknown;
    try {
      create(options() as MongoStoreOptions);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SessionError);
    expect((error as SessionError).code).toBe('SESSION_OPTIONS_INVALID');
    expect((error as SessionError).message).toContain(`\`${option}\``);
  });

  describe('URL', () => {
    it('parses MongoDB store URLs', () => {
      expect(parseMongoUrl('mongodb://localhost/app')).toEqual({ url: 'mongodb://localhost/app', dbName: 'app' });
      expect(parseMongoUrl('mongodb://u:p%40ss@m1:27017,m2:27018/app?replicaSet=rs0&collection=web&tls=false')).toEqual({
        url: 'mongodb://u:p%40ss@m1:27017,m2:27018/app?replicaSet=rs0&tls=false',
        dbName: 'app',
        collection: 'web',
      });
      expect(parseMongoUrl('mongodb+srv://u:p@cluster0.example.net/app?collection=web%20sessions')).toEqual({
        url: 'mongodb+srv://u:p@cluster0.example.net/app',
        dbName: 'app',
        collection: 'web sessions',
      });
    });

    it.each([
      ['mongodb://localhost', /names no database/],
      ['mongodb://localhost/', /names no database/],
      ['mongodb:///app', /names no host/],
      ['mongodb://user@/app', /names no host/],
      ['mongodb://localhost/app?collection=a&collection=b', /"collection" more than once/],
      ['mongodb://localhost/%E0%A4%A', /malformed %-escape/],
      ['mongo://localhost/app', /not a mongodb/],
    ])('refuses %s', (url, message) => {
      let error: unknown;
      try {
        parseMongoUrl(url);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(SessionError);
      expect((error as SessionError).code).toBe('SESSION_OPTIONS_INVALID');
      expect((error as SessionError).message).toMatch(message);
    });

    it('builds a MongoStore through createStoreFromUrl (mongodb:// and mongodb+srv://)', async () => {
      const store = await createStoreFromUrl('mongodb://127.0.0.1:1/app?collection=web&serverSelectionTimeoutMS=200');
      expect(store).toBeInstanceOf(MongoStore);
      stores.push(store as MongoStore);
      expect((store as unknown as { collection: Collection }).collection.namespace).toBe('app.web');
      const error = await rejectionOf(createStoreFromUrl('mongodb+srv://cluster0.example.net'));
      expect(error.code).toBe('SESSION_OPTIONS_INVALID');
    });
  });
});

// The default reporter only counts skipped tests; this says which and why.
if (!MONGO_URL) console.warn(REAL_SERVER_SUITE);
describe.skipIf(!MONGO_URL)(REAL_SERVER_SUITE, () => {
  let client: MongoClient;
  let db: Db;

  beforeAll(async () => {
    client = new MongoClient(MONGO_URL, { serverSelectionTimeoutMS: 5000 });
    await client.connect();
    db = client.db();
  });

  afterAll(async () => {
    await client?.close();
  });

  const fresh = (options: Partial<MongoStoreOptions> = {}): InspectableMongoStore =>
    new InspectableMongoStore({ db, collection: `sessions_test_${generateSessionId().slice(0, 12)}`, ...options });
  const dropAndClose = async (store: InspectableMongoStore): Promise<void> => {
    await store.close();
    await store.sessions.drop().catch(() => undefined);
  };

  // Without the TTL index: MongoDB's TTL monitor (once a minute) could delete an expired record
  // just before the gc test counts what gc() deletes. The index tests below use the indexes.
  describeStoreConformance('MongoStore', () => fresh({ createIndexes: false }), {
    supportsLocks: true,
    teardown: (store) => dropAndClose(store as InspectableMongoStore),
  });

  it('creates a TTL index on expiresAt and a sparse index on principal', async () => {
    const store = fresh();
    try {
      await store.get(generateSessionId());
      const indexes: Document[] = await store.sessions.listIndexes().toArray();
      expect(indexes).toContainEqual(expect.objectContaining({ key: { expiresAt: 1 }, expireAfterSeconds: 0 }));
      expect(indexes).toContainEqual(expect.objectContaining({ key: { principal: 1 }, sparse: true }));
    } finally {
      await dropAndClose(store);
    }
  });

  it('creates no index with createIndexes: false', async () => {
    const store = fresh({ createIndexes: false });
    try {
      await store.set(generateSessionId(), { data: {}, createdAt: Date.now(), expiresAt: Date.now() + 60_000 });
      const indexes: Document[] = await store.sessions.listIndexes().toArray();
      expect(indexes.map((index) => index.key)).toEqual([{ _id: 1 }]);
    } finally {
      await dropAndClose(store);
    }
  });

  it('stores the documented shape, with dotted and $ keys escaped, and patches them one by one', async () => {
    const store = fresh();
    try {
      const id = generateSessionId();
      const now = Date.now();
      await store.set(id, {
        data: { 'a.b': '1', $c: '2', plain: '3' },
        createdAt: now - 1000,
        expiresAt: now + 60_000,
        principal: 'alice',
      });
      const document = await store.sessions.findOne({ _id: id });
      expect(document).toEqual({
        _id: id,
        data: { 'a%2Eb': '1', '%24c': '2', plain: '3' },
        createdAt: new Date(now - 1000),
        expiresAt: new Date(now + 60_000),
        principal: 'alice',
      });

      expect(await store.patch(id, { set: { 'a.b': '10', 'x.y.z': '4' }, unset: ['$c'] }, now + 120_000)).toBe(true);
      expect(await store.get(id)).toEqual({
        data: { 'a.b': '10', plain: '3', 'x.y.z': '4' },
        createdAt: now - 1000,
        expiresAt: now + 120_000,
        principal: 'alice',
      });
      // A nested path was not created for the dotted key.
      expect((await store.sessions.findOne({ _id: id }))!.data).toEqual({ 'a%2Eb': '10', plain: '3', 'x%2Ey%2Ez': '4' });
    } finally {
      await dropAndClose(store);
    }
  });
});
