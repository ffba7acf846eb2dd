import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { JsonCodec } from './codecs/json.codec.js';
import { createExpressSessionView } from './express-session.view.js';
import { FlashBag } from './flash-bag.js';
import { FLASH_KEY, Session, type AnySession, type SessionOperations } from './session.js';

/** The engine calls a session makes without a store, with `reserved` as the reserved key prefixes. */
function operations(reserved: string[] = []): SessionOperations {
  const unused = () => Promise.reject(new Error('not used in this test'));
  return {
    codec: new JsonCodec(),
    save: unused,
    regenerate: unused,
    destroy: unused,
    reload: unused,
    update: unused,
    headersSent: () => false,
    reservedKeyPrefixes: reserved,
  };
}

/** A session loaded from a record holding `data` (values encoded as the JSON codec stores them). */
function loaded(data: Record<string, string>, reserved?: string[]): AnySession {
  const now = Date.now();
  const id = 'x'.repeat(32);
  const state = {
    id,
    isNew: false,
    createdAt: now,
    expiresAt: now + 60_000,
    loadedId: id,
    presented: true,
    transport: 0,
    principal: undefined,
    degraded: false,
    touchRequested: false,
    saveRequested: false,
    written: false,
    cookie: undefined,
    binding: undefined,
  };
  return new Session(operations(reserved), state, data);
}

/** A browser-session cookie with the module defaults, as the engine describes it. */
const COOKIE = {
  expires: null,
  maxAge: null,
  originalMaxAge: null,
  secure: true,
  httpOnly: true,
  sameSite: 'lax' as const,
  domain: undefined,
  path: '/',
  partitioned: false,
  priority: undefined,
};
/** What JSON.stringify(req.session) shows of that cookie, before the data keys. */
const COOKIE_JSON =
  '"cookie":{"originalMaxAge":null,"partitioned":false,"expires":null,"secure":true,"httpOnly":true,"path":"/","sameSite":"lax"}';

const host = {
  describeCookie: () => COOKIE,
  setCookieMember: () => undefined,
  idOf: () => 'an-id-chosen-on-first-read-0000',
  // No request here: nothing calls back with a throwing callback in these tests.
  callbackFailed: (_session: unknown, error: Error) => {
    throw error;
  },
  hideView: () => undefined,
};

describe('Session reads own data only', () => {
  const polluted: string[] = [];
  function pollute(key: string, value: unknown): void {
    Object.defineProperty(Object.prototype, key, { value, writable: true, enumerable: false, configurable: true });
    polluted.push(key);
  }
  afterEach(() => {
    for (const key of polluted.splice(0)) delete (Object.prototype as Record<string, unknown>)[key];
  });

  it('inherited names are neither held nor readable', () => {
    const session = loaded({ user: '"alice"' });
    expect(session.has('constructor')).toBe(false);
    expect(session.has('toString')).toBe(false);
    expect(session.get('toString')).toBeUndefined();
    expect(session.get('hasOwnProperty')).toBeUndefined();
    expect(session.keys()).toEqual(['user']);
  });

  it('a polluted Object.prototype is not session data, nor a flash', () => {
    const session = loaded({ user: '"alice"' });
    pollute('isAdmin', '"yes"');
    pollute(FLASH_KEY, '"forged"');
    expect(session.get('isAdmin')).toBeUndefined();
    expect(session.has('isAdmin')).toBe(false);
    expect(session.keys()).toEqual(['user']);
    expect(session.toJSON()).toEqual({ user: 'alice' });
    expect(session.consumeFlash()).toBeUndefined();
    expect(loaded({}).hasData).toBe(false);
  });

  it('a value equal to a polluted prototype entry is still written, and deleting an inherited name writes nothing', () => {
    const session = loaded({ user: '"alice"' });
    pollute('isAdmin', '"yes"');
    session.set('isAdmin', 'yes');
    session.delete('constructor');
    const patch = session.buildPatch();
    expect({ ...patch.set }).toEqual({ isAdmin: '"yes"' });
    expect(patch.unset).toEqual([]);
    expect(session.encodeAll(patch)).toEqual({ user: '"alice"', isAdmin: '"yes"' });
  });
});

describe('req.session (the express-session view) behaves as a plain object', () => {
  it('converts to a string and has the methods of Object.prototype', () => {
    const view = createExpressSessionView(loaded({ user: '"alice"' }), host) as unknown as Record<string, any>;
    expect(String(view)).toBe('[object Object]');
    expect(`${view}`).toBe('[object Object]');
    expect(view.toString()).toBe('[object Object]');
    expect(view.valueOf()).toBe(view);
    expect(view.hasOwnProperty('user')).toBe(true);
    expect(view.hasOwnProperty('x')).toBe(false);
    expect(Object.prototype.hasOwnProperty.call(view, 'toString')).toBe(false);
    expect(JSON.stringify(view)).toBe(`{${COOKIE_JSON},"user":"alice"}`);
    expect('toString' in view).toBe(true);
  });

  it('a stored key of the same name wins', () => {
    const view = createExpressSessionView(loaded({ toString: '"mine"' }), host) as unknown as Record<string, unknown>;
    expect(view.toString).toBe('mine');
  });

  it('serves only the methods captured at load, not what Object.prototype gains later', () => {
    Object.defineProperty(Object.prototype, 'isAdmin', { value: true, writable: true, enumerable: false, configurable: true });
    try {
      const view = createExpressSessionView(loaded({}), host) as unknown as Record<string, unknown>;
      expect(view.isAdmin).toBeUndefined();
      expect('isAdmin' in view).toBe(false);
    } finally {
      delete (Object.prototype as Record<string, unknown>).isAdmin;
    }
  });

  it('prints as the session does', () => {
    const view = createExpressSessionView(loaded({ user: '"alice"' }), host);
    expect(inspect(view)).toBe(`Session { id: [redacted], isNew: false, keys: [ 'user' ] }`);
  });
});

describe('reserved keys (an extension such as the auth module keeps its records under a prefix)', () => {
  const data = { user: '"alice"', 'auth:main': '{"accessToken":"secret"}', [FLASH_KEY]: '"hi"' };

  it('are left out of keys(), toJSON(), inspect() and the view, but get() and has() read them', () => {
    const session = loaded({ ...data }, ['auth:']);
    expect(session.keys()).toEqual(['user']);
    expect(session.toJSON()).toEqual({ user: 'alice' });
    expect(inspect(session)).not.toContain('auth:');
    expect(session.get('auth:main')).toEqual({ accessToken: 'secret' });
    expect(session.has('auth:main')).toBe(true);
    const view = createExpressSessionView(session, host) as unknown as Record<string, unknown>;
    expect(Object.keys(view)).toEqual(['cookie', 'user']);
    expect(JSON.stringify(view)).toBe(`{${COOKIE_JSON},"user":"alice"}`);
    expect(Object.getOwnPropertyDescriptor(view, 'auth:main')).toBeUndefined();
    expect(Object.getOwnPropertyDescriptor(view, FLASH_KEY)).toBeUndefined();
  });

  it('allKeys() lists them, and they count as data worth storing', () => {
    const session = loaded({ 'auth:main': '{}' }, ['auth:']);
    expect(session.keys()).toEqual([]);
    expect(session.allKeys()).toEqual(['auth:main']);
    expect(session.hasData).toBe(true);
  });

  it('clear() removes them too', () => {
    const session = loaded({ ...data }, ['auth:']);
    session.clear();
    expect(session.allKeys()).toEqual([]);
    expect(session.get('auth:main')).toBeUndefined();
    expect(session.buildPatch().unset.sort()).toEqual(['auth:main', 'user']);
  });

  it('without a reserved prefix, every key is listed as before', () => {
    expect(loaded({ ...data }).keys()).toEqual(['user', 'auth:main']);
  });
});

describe('FlashBag keeps every message an own property', () => {
  it('a message type named __proto__ does not change the prototype of the stored flash', () => {
    const bag = new FlashBag(undefined);
    bag.add('__proto__', 'odd');
    const pending = bag.pending as Record<string, unknown>;
    expect(Object.getPrototypeOf(pending)).toBe(Object.prototype);
    expect(Object.hasOwn(pending, '__proto__')).toBe(true);
    expect(JSON.stringify(pending)).toBe('{"__proto__":["odd"]}');
  });

  it('an incoming __proto__ key stays own when part of the flash was read', () => {
    const bag = new FlashBag(JSON.parse('{"info":["a"],"__proto__":{"isAdmin":true}}'));
    bag.consume('info');
    const rest = bag.pending as Record<string, unknown>;
    expect(rest.isAdmin).toBeUndefined();
    expect(Object.keys(rest)).toEqual(['__proto__']);
  });
});
