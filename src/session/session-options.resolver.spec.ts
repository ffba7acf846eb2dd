import { Logger } from '@nestjs/common';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FileStore } from '../stores/file.store.js';
import { MemoryStore } from '../stores/memory.store.js';
import type { SessionStore } from '../core/session-store.interface.js';
import { JsonCodec } from './codecs/json.codec.js';
import { RichCodec } from './codecs/rich.codec.js';
import type { SessionCodec } from './codecs/session-codec.interface.js';
import { SessionError } from '../core/errors/session.error.js';
import type { SessionIdTransport, SessionModuleOptions } from './session-options.interface.js';
import { checkSessionOptions, MIN_SECRET_LENGTH, resolveSessionOptions, type ResolvedSessionOptions } from './session-options.resolver.js';
import { CookieStore } from '../stores/cookie/cookie.store.js';
import { CookieTransport } from './transports/cookie.transport.js';
import { HeaderTransport } from './transports/header.transport.js';

const SECRET = 's'.repeat(32);
const OTHER_SECRET = 'o'.repeat(40);
const DAY = 86_400_000;

const createdStores: SessionStore[] = [];
const tempDirs: string[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(createdStores.splice(0).map((store) => store.close?.()));
  await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Resolve options and remember the store so it is closed after the test. */
async function resolveOk(options: Partial<SessionModuleOptions> = {}): Promise<ResolvedSessionOptions> {
  const resolved = await resolveSessionOptions({ secret: SECRET, ...options });
  createdStores.push(resolved.store as SessionStore);
  return resolved;
}

/**
 * Resolve `options`, expect a `SESSION_OPTIONS_INVALID` SessionError naming `option`, and return
 * its message.
 */
async function rejection(options: unknown, option: string): Promise<string> {
  let caught: unknown;
  try {
    const resolved = await resolveSessionOptions(options as SessionModuleOptions);
    createdStores.push(resolved.store as SessionStore);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SessionError);
  const error = caught as SessionError;
  expect(error.code).toBe('SESSION_OPTIONS_INVALID');
  expect(error.name).toBe('SessionError');
  expect(error.statusCode).toBe(500);
  const prefix = `nest-sessions: invalid option \`${option}\`: `;
  expect(error.message.slice(0, prefix.length)).toBe(prefix);
  return error.message;
}

/** `rejection` with `secret` filled in. */
function rejectionWith(options: Partial<SessionModuleOptions> | Record<string, unknown>, option: string): Promise<string> {
  return rejection({ secret: SECRET, ...options }, option);
}

function fakeRequest(headers: Record<string, string> = {}, encrypted = false): IncomingMessage {
  return { headers, socket: { encrypted } } as unknown as IncomingMessage;
}

function fakeResponse(): ServerResponse & { headers: Map<string, unknown> } {
  const headers = new Map<string, unknown>();
  return {
    headers,
    getHeader: (name: string) => headers.get(name.toLowerCase()),
    setHeader: (name: string, value: unknown) => {
      headers.set(name.toLowerCase(), value);
    },
  } as unknown as ServerResponse & { headers: Map<string, unknown> };
}

function validStore(): SessionStore {
  return {
    get: async () => null,
    set: async () => {},
    patch: async () => false,
    touch: async () => false,
    destroy: async () => {},
  };
}

describe('resolveSessionOptions', () => {
  it('exports the minimum secret length', () => {
    expect(MIN_SECRET_LENGTH).toBe(32);
  });

  describe('defaults', () => {
    it('applies the secure cookie defaults', async () => {
      const resolved = await resolveOk();
      expect(resolved.cookie).toStrictEqual({
        name: 'sid',
        path: '/',
        domain: undefined,
        httpOnly: true,
        secure: true,
        sameSite: 'lax',
        partitioned: false,
        priority: undefined,
        persistent: true,
      });
    });

    it('applies the timeout defaults: 1 day idle, 7 days absolute, touch every minute', async () => {
      const resolved = await resolveOk();
      expect(resolved.idleTimeout).toBe(DAY);
      expect(resolved.absoluteTimeout).toBe(7 * DAY);
      expect(resolved.touchInterval).toBe(60_000);
    });

    it('defaults idLength to 32, trustProxy to false and gcInterval to undefined', async () => {
      const resolved = await resolveOk();
      expect(resolved.idLength).toBe(32);
      expect(resolved.trustProxy).toBe(false);
      expect(resolved.gcInterval).toBeUndefined();
    });

    it('defaults maxIndexEntries to 100', async () => {
      expect((await resolveOk()).maxIndexEntries).toBe(100);
    });

    it('defaults to the JSON codec', async () => {
      const resolved = await resolveOk();
      expect(resolved.codec).toBeInstanceOf(JsonCodec);
    });

    it('defaults to one cookie transport', async () => {
      const resolved = await resolveOk();
      expect(resolved.transports).toHaveLength(1);
      expect(resolved.transports[0]).toBeInstanceOf(CookieTransport);
    });

    it('defaults to a MemoryStore it owns', async () => {
      const resolved = await resolveOk();
      expect(resolved.store).toBeInstanceOf(MemoryStore);
      expect(resolved.ownsStore).toBe(true);
    });

    it('builds a new store for every call', async () => {
      const first = await resolveOk();
      const second = await resolveOk();
      expect(first.store).not.toBe(second.store);
    });

    it('keeps the secret as a one-element list', async () => {
      const resolved = await resolveOk();
      expect(resolved.secrets).toEqual([SECRET]);
    });

    it('has a default onError that logs a warning with the code, message and cause', async () => {
      const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
      const resolved = await resolveOk();
      resolved.onError(new SessionError('SESSION_STORE_UNAVAILABLE', 'store down', { cause: new Error('ECONNREFUSED') }), {});
      resolved.onError(new SessionError('SESSION_LOST', 'lost', { cause: 'not an Error' }), {});
      resolved.onError(new SessionError('SESSION_HEADERS_SENT', 'late'), {});
      expect(warn.mock.calls.map((call) => call[0])).toEqual([
        'SESSION_STORE_UNAVAILABLE: store down (ECONNREFUSED)',
        'SESSION_LOST: lost',
        'SESSION_HEADERS_SENT: late',
      ]);
    });
  });

  describe('durations', () => {
    it.each([
      ['30m', 1_800_000],
      ['1.5h', 5_400_000],
      ['500ms', 500],
      ['1d', DAY],
      ['0.5w', 302_400_000],
      [90_000, 90_000],
      [1.9, 1],
    ])('reads idleTimeout %j as %d ms', async (idleTimeout, expected) => {
      const resolved = await resolveOk({ idleTimeout });
      expect(resolved.idleTimeout).toBe(expected);
    });

    it.each([
      ['30m', 60_000],
      ['1.5h', 60_000],
      ['2m', 60_000],
      ['90s', 45_000],
      ['500ms', 250],
      [3, 1],
      [1, 0],
    ])('defaults touchInterval for idleTimeout %j to %d ms (min of 60s and half)', async (idleTimeout, expected) => {
      const resolved = await resolveOk({ idleTimeout });
      expect(resolved.touchInterval).toBe(expected);
    });

    it('reads absoluteTimeout and touchInterval as strings or numbers', async () => {
      const resolved = await resolveOk({ idleTimeout: '2h', absoluteTimeout: '30d', touchInterval: '5m' });
      expect(resolved.idleTimeout).toBe(7_200_000);
      expect(resolved.absoluteTimeout).toBe(30 * DAY);
      expect(resolved.touchInterval).toBe(300_000);
      const numeric = await resolveOk({ idleTimeout: 60_000, absoluteTimeout: 120_000, touchInterval: 1000 });
      expect(numeric.idleTimeout).toBe(60_000);
      expect(numeric.absoluteTimeout).toBe(120_000);
      expect(numeric.touchInterval).toBe(1000);
    });

    it('accepts an absoluteTimeout equal to idleTimeout', async () => {
      const resolved = await resolveOk({ idleTimeout: '1h', absoluteTimeout: '60m' });
      expect(resolved.absoluteTimeout).toBe(3_600_000);
    });

    it('accepts an absoluteTimeout of exactly 400 days', async () => {
      const resolved = await resolveOk({ absoluteTimeout: '400d' });
      expect(resolved.absoluteTimeout).toBe(400 * DAY);
    });

    it('accepts a touchInterval of 0 and one just below idleTimeout', async () => {
      expect((await resolveOk({ idleTimeout: 1000, touchInterval: 0 })).touchInterval).toBe(0);
      expect((await resolveOk({ idleTimeout: 1000, touchInterval: 999 })).touchInterval).toBe(999);
    });

    it('reads gcInterval and passes it on', async () => {
      expect((await resolveOk({ gcInterval: '5m' })).gcInterval).toBe(300_000);
      expect((await resolveOk({ gcInterval: 0 })).gcInterval).toBe(0);
      expect((await resolveOk({ gcInterval: 1500 })).gcInterval).toBe(1500);
    });
  });

  describe('secrets', () => {
    it('keeps every secret of a list, in order, in a copy', async () => {
      const given = [OTHER_SECRET, SECRET];
      const resolved = await resolveOk({ secret: given });
      expect(resolved.secrets).toEqual([OTHER_SECRET, SECRET]);
      expect(resolved.secrets).not.toBe(given);
      given.push('x'.repeat(32));
      expect(resolved.secrets).toEqual([OTHER_SECRET, SECRET]);
    });

    it('accepts a secret of exactly 32 characters', async () => {
      const resolved = await resolveOk({ secret: 'z'.repeat(32) });
      expect(resolved.secrets).toEqual(['z'.repeat(32)]);
    });
  });

  it('treats null like a missing option (nullish defaults)', async () => {
    const resolved = await resolveOk({
      idLength: null,
      maxIndexEntries: null,
      transport: null,
      trustProxy: null,
      cookie: { name: null, path: null, secure: null, sameSite: null, httpOnly: null, partitioned: null, persistent: null },
    } as unknown as Partial<SessionModuleOptions>);
    expect(resolved.idLength).toBe(32);
    expect(resolved.maxIndexEntries).toBe(100);
    expect(resolved.trustProxy).toBe(false);
    expect(resolved.transports).toHaveLength(1);
    expect(resolved.transports[0]).toBeInstanceOf(CookieTransport);
    expect(resolved.cookie).toMatchObject({
      name: 'sid',
      path: '/',
      secure: true,
      sameSite: 'lax',
      httpOnly: true,
      partitioned: false,
      persistent: true,
    });
  });

  it('accepts idLength 22 and 128', async () => {
    expect((await resolveOk({ idLength: 22 })).idLength).toBe(22);
    expect((await resolveOk({ idLength: 128 })).idLength).toBe(128);
  });

  it('accepts maxIndexEntries 1 and 100000', async () => {
    expect((await resolveOk({ maxIndexEntries: 1 })).maxIndexEntries).toBe(1);
    expect((await resolveOk({ maxIndexEntries: 100_000 })).maxIndexEntries).toBe(100_000);
  });

  it('keeps trustProxy true', async () => {
    expect((await resolveOk({ trustProxy: true })).trustProxy).toBe(true);
  });

  it('passes a custom onError through', async () => {
    const onError = vi.fn();
    const resolved = await resolveOk({ onError });
    expect(resolved.onError).toBe(onError);
  });

  describe('cookie', () => {
    it('keeps every given attribute', async () => {
      const resolved = await resolveOk({
        cookie: {
          name: '__Secure-app',
          path: '/app',
          domain: '.example.com',
          httpOnly: false,
          secure: true,
          sameSite: 'none',
          partitioned: true,
          priority: 'high',
          persistent: false,
        },
      });
      expect(resolved.cookie).toStrictEqual({
        name: '__Secure-app',
        path: '/app',
        domain: '.example.com',
        httpOnly: false,
        secure: true,
        sameSite: 'none',
        partitioned: true,
        priority: 'high',
        persistent: false,
      });
    });

    it.each([
      ['a __Host- cookie with the defaults', { name: '__Host-sid' }],
      ['secure auto', { secure: 'auto' as const }],
      ['secure false', { secure: false }],
      ['sameSite strict', { sameSite: 'strict' as const }],
      ['sameSite false', { sameSite: false as const }],
      ['sameSite none with secure auto', { sameSite: 'none' as const, secure: 'auto' as const }],
      ['partitioned with secure auto', { partitioned: true, secure: 'auto' as const }],
      ['a __Secure- cookie with a domain and path', { name: '__Secure-x', domain: 'example.com', path: '/x' }],
      ['a name with token punctuation', { name: "a!#$%&'*+-.^_`|~1" }],
    ])('accepts %s', async (_label, cookie) => {
      const resolved = await resolveOk({ cookie });
      for (const [key, value] of Object.entries(cookie)) {
        expect(resolved.cookie[key as keyof typeof resolved.cookie]).toBe(value);
      }
    });

    it('gives the cookie transport the resolved name and attributes', async () => {
      const resolved = await resolveOk({ cookie: { name: 'app', path: '/app', sameSite: 'strict' } });
      const transport = resolved.transports[0];
      expect(transport.read(fakeRequest({ cookie: 'sid=no; app=yes' }))).toBe('yes');
      const res = fakeResponse();
      transport.write({ req: fakeRequest(), res, value: null, expiresAt: 0 });
      expect(res.headers.get('set-cookie')).toEqual([
        'app=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/app; HttpOnly; Secure; SameSite=Strict',
      ]);
    });

    it('gives the cookie transport trustProxy for secure: auto', async () => {
      const proxied = fakeRequest({ 'x-forwarded-proto': 'https' });
      const trusting = await resolveOk({ cookie: { secure: 'auto' }, trustProxy: true });
      const trustingRes = fakeResponse();
      trusting.transports[0].write({ req: proxied, res: trustingRes, value: null, expiresAt: 0 });
      expect(String((trustingRes.headers.get('set-cookie') as string[])[0])).toContain('; Secure');

      const wary = await resolveOk({ cookie: { secure: 'auto' } });
      const waryRes = fakeResponse();
      wary.transports[0].write({ req: proxied, res: waryRes, value: null, expiresAt: 0 });
      expect(String((waryRes.headers.get('set-cookie') as string[])[0])).not.toContain('Secure');
    });
  });

  describe('transports', () => {
    it("turns ['cookie', 'header'] into a CookieTransport then a HeaderTransport", async () => {
      const resolved = await resolveOk({ transport: ['cookie', 'header'] });
      expect(resolved.transports).toHaveLength(2);
      expect(resolved.transports[0]).toBeInstanceOf(CookieTransport);
      expect(resolved.transports[1]).toBeInstanceOf(HeaderTransport);
    });

    it("turns 'header' into one HeaderTransport using X-Session-Id", async () => {
      const resolved = await resolveOk({ transport: 'header' });
      expect(resolved.transports).toHaveLength(1);
      const transport = resolved.transports[0];
      expect(transport).toBeInstanceOf(HeaderTransport);
      expect(transport.read(fakeRequest({ 'x-session-id': 'token' }))).toBe('token');
      const res = fakeResponse();
      transport.write({ req: fakeRequest(), res, value: 'signed', expiresAt: 0 });
      expect(res.headers.get('x-session-id')).toBe('signed');
    });

    it('gives the header transport a custom headerName', async () => {
      const resolved = await resolveOk({ transport: 'header', headerName: 'X-Auth-Session' });
      const transport = resolved.transports[0];
      expect(transport.read(fakeRequest({ 'x-auth-session': 'token', 'x-session-id': 'other' }))).toBe('token');
      const res = fakeResponse();
      transport.write({ req: fakeRequest(), res, value: 'signed', expiresAt: 0 });
      expect(res.headers.get('x-auth-session')).toBe('signed');
      expect(res.headers.has('x-session-id')).toBe(false);
    });

    it('passes custom transport objects through, in order, with the built-in ones', async () => {
      const custom: SessionIdTransport = { read: () => undefined, write: () => {} };
      const resolved = await resolveOk({ transport: ['header', custom, 'cookie'] });
      expect(resolved.transports[0]).toBeInstanceOf(HeaderTransport);
      expect(resolved.transports[1]).toBe(custom);
      expect(resolved.transports[2]).toBeInstanceOf(CookieTransport);
    });

    it('accepts a single custom transport object', async () => {
      const custom: SessionIdTransport = { read: () => undefined, write: () => {} };
      const resolved = await resolveOk({ transport: custom });
      expect(resolved.transports).toEqual([custom]);
      expect(resolved.transports[0]).toBe(custom);
    });
  });

  describe('codec', () => {
    it("'json' gives a JsonCodec", async () => {
      expect((await resolveOk({ codec: 'json' })).codec).toBeInstanceOf(JsonCodec);
    });

    it("'rich' gives a RichCodec", async () => {
      const codec = (await resolveOk({ codec: 'rich' })).codec;
      expect(codec).toBeInstanceOf(RichCodec);
      expect(codec).not.toBeInstanceOf(JsonCodec);
    });

    it('passes a custom codec object through', async () => {
      const codec = { name: 'custom', encode: (v: unknown) => String(v), decode: (s: string) => s } as unknown as SessionCodec;
      expect((await resolveOk({ codec })).codec).toBe(codec);
    });
  });

  describe('store', () => {
    it('uses a given store instance without owning it', async () => {
      const store = new MemoryStore({ gcInterval: 0 });
      const resolved = await resolveOk({ store });
      expect(resolved.store).toBe(store);
      expect(resolved.ownsStore).toBe(false);
    });

    it('uses any object with the five store methods', async () => {
      const store = validStore();
      const resolved = await resolveOk({ store });
      expect(resolved.store).toBe(store);
      expect(resolved.ownsStore).toBe(false);
    });

    it.each(['memory:', 'memory:?max=10', 'MEMORY:', 'Memory:?max=1'])('builds a MemoryStore from %j', async (store) => {
      const resolved = await resolveOk({ store });
      expect(resolved.store).toBeInstanceOf(MemoryStore);
      expect(resolved.ownsStore).toBe(true);
    });

    it('builds a FileStore from file:<directory> that writes into that directory', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'nest-sessions-resolver-'));
      tempDirs.push(dir);
      const resolved = await resolveOk({ store: `file:${dir}`, gcInterval: 0 });
      expect(resolved.store).toBeInstanceOf(FileStore);
      expect(resolved.ownsStore).toBe(true);
      const id = 'a'.repeat(32);
      await (resolved.store as SessionStore).set(id, { data: { k: '"v"' }, createdAt: Date.now(), expiresAt: Date.now() + 60_000 });
      expect(await readdir(dir)).toContain(`${id}.json`);
    });

    it('builds a FileStore from a file:/// URL', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'nest-sessions-resolver-'));
      tempDirs.push(dir);
      const resolved = await resolveOk({ store: `file://${dir}` });
      expect(resolved.store).toBeInstanceOf(FileStore);
      expect(resolved.ownsStore).toBe(true);
      const id = 'b'.repeat(32);
      await (resolved.store as SessionStore).set(id, { data: {}, createdAt: Date.now(), expiresAt: Date.now() + 60_000 });
      expect(await readdir(dir)).toContain(`${id}.json`);
    });
  });

  describe('errors', () => {
    const M = (option: string, text: string) => `nest-sessions: invalid option \`${option}\`: ${text}`;

    describe('options', () => {
      it.each([
        ['undefined', undefined],
        ['null', null],
        ['a string', 'secret'],
        ['a number', 42],
      ])('rejects %s', async (_label, options) => {
        expect(await rejection(options, 'options')).toBe(
          M('options', 'SessionModule needs an options object. Call SessionModule.forRoot({ secret: ... }).'),
        );
      });
    });

    describe('secret', () => {
      const REQUIRED = M(
        'secret',
        'a secret is required. Pass a random string of at least 32 characters, e.g. from process.env.SESSION_SECRET.',
      );
      const tooShort = (option: string) =>
        M(
          option,
          "must be a string of at least 32 characters. Generate one with `node -e \"console.log(require('crypto').randomBytes(32).toString('base64url'))\"`.",
        );

      it.each([
        ['missing', {}],
        ['undefined', { secret: undefined }],
        ['null', { secret: null }],
        ['an empty list', { secret: [] }],
        ['a number', { secret: 12345678901234567890123456789012345 }],
        ['an object', { secret: { value: SECRET } }],
      ])('requires a secret: %s', async (_label, options) => {
        expect(await rejection(options, 'secret')).toBe(REQUIRED);
      });

      it.each([
        ['an empty string', ''],
        ['31 characters', 'x'.repeat(31)],
        ['a one-element list with a short secret', ['x'.repeat(31)]],
        ['a one-element list with a number', [42]],
        ['a one-element list with null', [null]],
      ])('rejects %s, naming `secret`', async (_label, secret) => {
        expect(await rejection({ secret }, 'secret')).toBe(tooShort('secret'));
      });

      it('names the index of a short secret in a list', async () => {
        expect(await rejection({ secret: [SECRET, 'short'] }, 'secret[1]')).toBe(tooShort('secret[1]'));
        expect(await rejection({ secret: ['short', SECRET] }, 'secret[0]')).toBe(tooShort('secret[0]'));
        expect(await rejection({ secret: [SECRET, OTHER_SECRET, ''] }, 'secret[2]')).toBe(tooShort('secret[2]'));
      });

      it('names the index of a non-string secret in a list', async () => {
        expect(await rejection({ secret: [SECRET, 42] }, 'secret[1]')).toBe(tooShort('secret[1]'));
        expect(await rejection({ secret: [SECRET, { toString: () => SECRET }] }, 'secret[1]')).toBe(tooShort('secret[1]'));
      });
    });

    describe('durations', () => {
      const notADuration = (option: string, shown: string) =>
        M(option, `${shown} is not a duration. Give milliseconds or a string such as '30m', '12h' or '7d'.`);

      it.each([
        ['idleTimeout', 'soon', '"soon"'],
        ['idleTimeout', '', '""'],
        ['idleTimeout', '10 minutes', '"10 minutes"'],
        ['idleTimeout', '1e3', '"1e3"'],
        ['idleTimeout', -1, '-1'],
        ['absoluteTimeout', '7 days', '"7 days"'],
        ['absoluteTimeout', '-7d', '"-7d"'],
        ['touchInterval', 'often', '"often"'],
        ['touchInterval', -5, '-5'],
        ['gcInterval', 'hourly', '"hourly"'],
        ['gcInterval', -1000, '-1000'],
      ])('rejects %s %j', async (option, value, shown) => {
        expect(await rejectionWith({ [option]: value }, option)).toBe(notADuration(option, shown));
      });

      it('shows NaN and Infinity as null (JSON.stringify) in the message', async () => {
        expect(await rejectionWith({ idleTimeout: Number.NaN }, 'idleTimeout')).toBe(notADuration('idleTimeout', 'null'));
        expect(await rejectionWith({ absoluteTimeout: Number.POSITIVE_INFINITY }, 'absoluteTimeout')).toBe(
          notADuration('absoluteTimeout', 'null'),
        );
      });

      it('rejects an idleTimeout of zero', async () => {
        const message = M('idleTimeout', "must be longer than zero. Give e.g. '30m'.");
        expect(await rejectionWith({ idleTimeout: 0 }, 'idleTimeout')).toBe(message);
        expect(await rejectionWith({ idleTimeout: '0s' }, 'idleTimeout')).toBe(message);
        expect(await rejectionWith({ idleTimeout: 0.5 }, 'idleTimeout')).toBe(message);
      });

      it('rejects an absoluteTimeout shorter than idleTimeout', async () => {
        const message = M('absoluteTimeout', 'must not be shorter than idleTimeout. Raise absoluteTimeout or lower idleTimeout.');
        expect(await rejectionWith({ idleTimeout: '2h', absoluteTimeout: '1h' }, 'absoluteTimeout')).toBe(message);
        expect(await rejectionWith({ idleTimeout: 1001, absoluteTimeout: 1000 }, 'absoluteTimeout')).toBe(message);
        // The default absoluteTimeout (7 days) is checked against a longer idleTimeout too.
        expect(await rejectionWith({ idleTimeout: '8d' }, 'absoluteTimeout')).toBe(message);
      });

      it('rejects an absoluteTimeout over 400 days', async () => {
        const message = M('absoluteTimeout', "must not exceed 400 days (the browser cookie limit). Give e.g. '30d'.");
        expect(await rejectionWith({ absoluteTimeout: '401d' }, 'absoluteTimeout')).toBe(message);
        expect(await rejectionWith({ absoluteTimeout: 400 * DAY + 1 }, 'absoluteTimeout')).toBe(message);
      });

      it('rejects a touchInterval not shorter than idleTimeout', async () => {
        const message = M('touchInterval', 'must be shorter than idleTimeout. Lower touchInterval, e.g. to a tenth of idleTimeout.');
        expect(await rejectionWith({ idleTimeout: '30m', touchInterval: '30m' }, 'touchInterval')).toBe(message);
        expect(await rejectionWith({ idleTimeout: '30m', touchInterval: '1h' }, 'touchInterval')).toBe(message);
        expect(await rejectionWith({ idleTimeout: 1000, touchInterval: 1000 }, 'touchInterval')).toBe(message);
      });
    });

    describe('idLength', () => {
      it.each([
        ['21', 21],
        ['129', 129],
        ['0', 0],
        ['a negative number', -32],
        ['a fraction', 32.5],
        ['NaN', Number.NaN],
        ['Infinity', Number.POSITIVE_INFINITY],
        ['a numeric string', '32'],
      ])('rejects %s', async (_label, idLength) => {
        expect(await rejectionWith({ idLength }, 'idLength')).toBe(
          M('idLength', 'must be a whole number from 22 (128 bits of entropy) to 128. Leave it out for the default of 32.'),
        );
      });
    });

    describe('maxIndexEntries', () => {
      it.each([
        ['0', 0],
        ['a negative number', -5],
        ['a fraction', 2.5],
        ['NaN', Number.NaN],
        ['Infinity', Number.POSITIVE_INFINITY],
        ['a numeric string', '100'],
      ])('rejects %s', async (_label, maxIndexEntries) => {
        expect(await rejectionWith({ maxIndexEntries }, 'maxIndexEntries')).toBe(
          M('maxIndexEntries', 'must be a whole number of at least 1. Leave it out for the default of 100.'),
        );
      });
    });

    describe('legacyCookies and legacyStore', () => {
      it.each([
        ['an empty object', {}],
        ['no secrets', { secrets: [] }],
        ['an empty secret', { secrets: [''] }],
        ['a number', { secrets: [42] }],
        ['a string instead of an object', 'keyboard cat'],
      ])('rejects %s', async (_label, legacyCookies) => {
        expect(await rejectionWith({ legacyCookies }, 'legacyCookies')).toBe(
          M(
            'legacyCookies',
            "must be true, or { secrets } with one or more non-empty strings. Give express-session's secret(s), e.g. { secrets: ['keyboard cat'] }, or true to use `secret`.",
          ),
        );
      });

      it('takes express-session secrets of any length, or the module secret with true', async () => {
        expect((await resolveOk({ legacyCookies: { secrets: 'keyboard cat' } })).legacySecrets).toEqual(['keyboard cat']);
        expect((await resolveOk({ legacyCookies: true, secret: [SECRET, OTHER_SECRET] })).legacySecrets).toEqual([SECRET, OTHER_SECRET]);
        expect((await resolveOk({ legacyCookies: false })).legacySecrets).toBeUndefined();
        expect((await resolveOk()).legacySecrets).toBeUndefined();
      });

      it('refuses legacyStore without legacyCookies, and anything that is not a store', async () => {
        expect(await rejectionWith({ legacyStore: new MemoryStore() }, 'legacyStore')).toBe(
          M('legacyStore', 'needs legacyCookies. Set legacyCookies: true (or { secrets }) as well, or leave legacyStore out.'),
        );
        expect(await rejectionWith({ legacyCookies: true, legacyStore: { get() {} } }, 'legacyStore')).toBe(
          M('legacyStore', "must be a session store (get, set, destroy). Wrap express-session's store: fromConnectStore(store)."),
        );
      });

      it('refuses legacyCookies over a client-side store', async () => {
        expect(await rejectionWith({ legacyCookies: true, store: 'cookie:' }, 'legacyCookies')).toBe(
          M(
            'legacyCookies',
            'a client-side store (CookieStore) keeps no sessions by ID. Use a server-side store (the one express-session used, through fromConnectStore, works).',
          ),
        );
      });
    });

    describe('cookie', () => {
      const HOST = M(
        'cookie.name',
        'a "__Host-" cookie needs secure: true, path: "/" and no domain, or browsers refuse it. Set cookie.secure to true and drop cookie.domain and cookie.path.',
      );

      it.each([
        ['an empty name', ''],
        ['a space', 'my sid'],
        ['a semicolon', 'sid;'],
        ['an equals sign', 'sid='],
        ['a comma', 'a,b'],
        ['a double quote', 'a"b'],
        ['a slash', 'a/b'],
        ['a non-ASCII letter', 'séssion'],
      ])('rejects a cookie name with %s', async (_label, name) => {
        expect(await rejectionWith({ cookie: { name } }, 'cookie.name')).toBe(
          M('cookie.name', `"${name}" is not a valid cookie name. Use letters, digits, "-" and "_".`),
        );
      });

      it.each([
        ['not starting with "/"', 'app'],
        ['empty', ''],
        ['containing ";"', '/a;b'],
        ['containing a space', '/a b'],
        ['containing a tab', '/a\tb'],
        ['containing a newline', '/a\nb'],
      ])('rejects a path %s', async (_label, path) => {
        expect(await rejectionWith({ cookie: { path } }, 'cookie.path')).toBe(
          M('cookie.path', `must start with "/" and contain no ";" or spaces. Use e.g. '/'.`),
        );
      });

      it.each([
        ['an empty domain', ''],
        ['a space', 'exa mple.com'],
        ['a port', 'example.com:8080'],
        ['a scheme', 'https://example.com'],
        ['a semicolon', 'example.com;'],
        ['an underscore', 'my_host.com'],
      ])('rejects %s', async (_label, domain) => {
        expect(await rejectionWith({ cookie: { domain } }, 'cookie.domain')).toBe(
          M('cookie.domain', `"${domain}" is not a domain. Give a host name such as "example.com", or leave it out.`),
        );
      });

      it.each([
        ['the string "true"', 'true'],
        ['1', 1],
        ['"AUTO"', 'AUTO'],
        ['the string "undefined"', 'undefined'],
      ])('rejects secure %s', async (_label, secure) => {
        expect(await rejectionWith({ cookie: { secure } }, 'cookie.secure')).toBe(
          M('cookie.secure', "must be true, false or 'auto'. Leave it out for the secure default."),
        );
      });

      it.each([
        ['"Lax"', 'Lax'],
        ['true', true],
        ['"always"', 'always'],
        ['""', ''],
      ])('rejects sameSite %s', async (_label, sameSite) => {
        expect(await rejectionWith({ cookie: { sameSite } }, 'cookie.sameSite')).toBe(
          M('cookie.sameSite', "must be 'lax', 'strict', 'none', 'auto' or false. Leave it out for 'lax'."),
        );
      });

      it('rejects a __Host- cookie with secure false', async () => {
        expect(await rejectionWith({ cookie: { name: '__Host-sid', secure: false } }, 'cookie.name')).toBe(HOST);
      });

      it('checks the __Host- prefix case-insensitively, as browsers do', async () => {
        expect(await rejectionWith({ cookie: { name: '__HOST-sid', secure: false } }, 'cookie.name')).toBe(HOST);
      });

      it("rejects a __Host- cookie with secure 'auto'", async () => {
        expect(await rejectionWith({ cookie: { name: '__Host-sid', secure: 'auto' } }, 'cookie.name')).toBe(HOST);
      });

      it('rejects a __Host- cookie with a domain', async () => {
        expect(await rejectionWith({ cookie: { name: '__Host-sid', domain: 'example.com' } }, 'cookie.name')).toBe(HOST);
      });

      it("rejects a __Host- cookie with path '/x'", async () => {
        expect(await rejectionWith({ cookie: { name: '__Host-sid', path: '/x' } }, 'cookie.name')).toBe(HOST);
      });

      it('rejects a __Secure- cookie with secure false', async () => {
        expect(await rejectionWith({ cookie: { name: '__Secure-sid', secure: false } }, 'cookie.name')).toBe(
          M('cookie.name', 'a "__Secure-" cookie needs secure: true. Set cookie.secure to true.'),
        );
      });

      it("rejects a __Secure- cookie with secure 'auto'", async () => {
        expect(await rejectionWith({ cookie: { name: '__Secure-sid', secure: 'auto' } }, 'cookie.name')).toBe(
          M('cookie.name', 'a "__Secure-" cookie needs secure: true. Set cookie.secure to true.'),
        );
      });

      it("rejects sameSite 'none' with secure false", async () => {
        expect(await rejectionWith({ cookie: { sameSite: 'none', secure: false } }, 'cookie.sameSite')).toBe(
          M('cookie.sameSite', "'none' needs a secure cookie, or browsers refuse it. Set cookie.secure to true or 'auto'."),
        );
      });

      it('rejects partitioned with secure false', async () => {
        expect(await rejectionWith({ cookie: { partitioned: true, secure: false } }, 'cookie.partitioned')).toBe(
          M('cookie.partitioned', "needs a secure cookie. Set cookie.secure to true or 'auto'."),
        );
      });
    });

    describe('transport', () => {
      const badEntry = (option: string) =>
        M(option, "must be 'cookie', 'header' or an object with read() and write(). See docs/configuration.md#session-id-transports.");

      it('rejects an empty transport list', async () => {
        expect(await rejectionWith({ transport: [] }, 'transport')).toBe(
          M('transport', "needs at least one transport. Leave it out for 'cookie'."),
        );
      });

      it.each<[string, unknown]>([
        ['an unknown name', 'query'],
        ['a capitalised name', 'Cookie'],
        ['false', false],
        ['a number', 1],
        ['an object without write()', { read: (): undefined => undefined }],
        ['an object whose write is not a function', { read: (): undefined => undefined, write: 'yes' }],
      ])('rejects a single transport that is %s, naming `transport`', async (_label, transport) => {
        expect(await rejectionWith({ transport }, 'transport')).toBe(badEntry('transport'));
      });

      it('rejects a one-element list with a bad entry, naming `transport`', async () => {
        expect(await rejectionWith({ transport: ['query'] }, 'transport')).toBe(badEntry('transport'));
      });

      it('names the index of a bad entry in a longer list', async () => {
        expect(await rejectionWith({ transport: ['cookie', 'query'] }, 'transport[1]')).toBe(badEntry('transport[1]'));
        expect(await rejectionWith({ transport: [null, 'header'] }, 'transport[0]')).toBe(badEntry('transport[0]'));
        expect(await rejectionWith({ transport: ['cookie', 'header', { read: () => undefined }] }, 'transport[2]')).toBe(
          badEntry('transport[2]'),
        );
      });

      it.each([
        ['a space', 'X Session'],
        ['a colon', 'X-Session:'],
        ['an underscore', 'X_Session'],
        ['an empty name', ''],
      ])('rejects a headerName with %s', async (_label, headerName) => {
        expect(await rejectionWith({ transport: 'header', headerName }, 'headerName')).toBe(
          M('headerName', `"${headerName}" is not a header name. Use e.g. 'X-Session-Id'.`),
        );
      });

      it('checks headerName even when only the cookie transport is used', async () => {
        expect(await rejectionWith({ headerName: 'bad name' }, 'headerName')).toBe(
          M('headerName', `"bad name" is not a header name. Use e.g. 'X-Session-Id'.`),
        );
      });
    });

    describe('codec', () => {
      it.each([
        ['an unknown name', 'xml'],
        ['null', null],
        ['an object without decode()', { encode: () => '' }],
        ['an object without encode()', { decode: () => null }],
        ['a function', () => ''],
      ])('rejects %s', async (_label, codec) => {
        expect(await rejectionWith({ codec }, 'codec')).toBe(
          M('codec', "must be 'json', 'rich' or an object with encode() and decode(). Leave it out for 'json'."),
        );
      });
    });

    describe('onError', () => {
      it.each([
        ['a string', 'log'],
        ['an object', { handle: () => {} }],
        ['null', null],
      ])('rejects %s', async (_label, onError) => {
        expect(await rejectionWith({ onError }, 'onError')).toBe(
          M('onError', 'must be a function. Pass (error, { req, res }) => { ... } or leave it out.'),
        );
      });
    });

    describe('store', () => {
      const FIX = 'Pass an object implementing SessionStore, or a URL such as "memory:".';

      it('lists every missing method', async () => {
        const { patch: _patch, touch: _touch, ...store } = validStore();
        expect(await rejectionWith({ store }, 'store')).toBe(M('store', `the store has no patch, touch methods. ${FIX}`));
      });

      it('uses the singular for one missing method', async () => {
        const { destroy: _destroy, ...store } = validStore();
        expect(await rejectionWith({ store }, 'store')).toBe(M('store', `the store has no destroy method. ${FIX}`));
      });

      it('treats a property that is not a function as missing', async () => {
        const store = { ...validStore(), get: 'nope' };
        expect(await rejectionWith({ store }, 'store')).toBe(M('store', `the store has no get method. ${FIX}`));
      });

      it.each([
        ['an empty object', {}],
        ['null', null],
        ['a number', 42],
      ])('lists all five methods for %s', async (_label, store) => {
        expect(await rejectionWith({ store }, 'store')).toBe(
          M('store', `the store has no get, set, patch, touch, destroy methods. ${FIX}`),
        );
      });

      it.each([
        ['ftp://localhost/sessions', 'ftp'],
        ['couchdb://db/sessions', 'couchdb'],
        ['sessions', 'sessions'],
        ['', ''],
      ])('rejects the store URL %j (scheme shown as %j)', async (store, shown) => {
        expect(await rejectionWith({ store }, 'store')).toBe(
          M(
            'store',
            `unsupported store URL scheme "${shown}". Use memory:, file:, cookie:, redis://, rediss://, postgres://, mysql://, mariadb://, sqlite:, memcached:// or mongodb://, or pass a SessionStore instance.`,
          ),
        );
      });

      it.each(['abc', '0', '-1', '1.5', ''])('rejects memory:?max=%s', async (max) => {
        expect(await rejectionWith({ store: `memory:?max=${max}` }, 'store')).toBe(
          M('store', `\`max\` in "memory:?max=${max}" must be a positive whole number. Write e.g. "memory:?max=50000".`),
        );
      });

      it('rejects file: without a directory, or with the file system root', async () => {
        for (const store of ['file:', 'file:///', 'file://']) {
          expect(await rejectionWith({ store }, 'store')).toBe(
            M('store', 'a file store URL needs a directory (not the file system root). Write e.g. "file:./sessions".'),
          );
        }
      });

      it('rejects a file URL that names a host instead of taking it as a path', async () => {
        expect(await rejectionWith({ store: 'file://./sessions' }, 'store')).toBe(
          M('store', '"file://./sessions" names a host; file URLs take a path. Write "file:./sessions" or "file:///var/lib/app/sessions".'),
        );
      });
    });
  });
});

describe('resolveSessionOptions: the options express-session users need', () => {
  const M = (option: string, text: string) => `nest-sessions: invalid option \`${option}\`: ${text}`;

  /** A request as Express hands it over: `secure` from its trust-proxy setting, `originalUrl` beside `url`. */
  function expressRequest(
    fields: { url?: string; originalUrl?: string; secure?: boolean; headers?: Record<string, string> } = {},
  ): IncomingMessage {
    return {
      headers: fields.headers ?? {},
      socket: { encrypted: false },
      url: fields.url,
      originalUrl: fields.originalUrl,
      secure: fields.secure,
    } as unknown as IncomingMessage;
  }

  function written(transport: SessionIdTransport, req: IncomingMessage, value: string | null = 'token'): string[] | undefined {
    const res = fakeResponse();
    transport.write({ req, res, value, expiresAt: Date.now() + DAY });
    return res.headers.get('set-cookie') as string[] | undefined;
  }

  describe('defaults (unchanged for apps that use none of them)', () => {
    it('starts no empty session, sends the cookie only when the ID changes, destroys on req.session = null, makes random IDs', async () => {
      const resolved = await resolveOk();
      expect(resolved.eagerSessions).toBe(false);
      expect(resolved.rolling).toBe(false);
      expect(resolved.unset).toBe('destroy');
      expect(resolved.generateId).toBeUndefined();
      expect(resolved.trustProxy).toBe(false);
      expect('matchPath' in resolved.cookie || 'withholdOverHttp' in resolved.cookie || 'perRequest' in resolved.cookie).toBe(false);
    });

    it('still sets a Secure cookie over plain HTTP', async () => {
      const resolved = await resolveOk();
      expect(written(resolved.transports[0], expressRequest())?.[0]).toContain('; Secure');
    });
  });

  describe('accepted values', () => {
    it('keeps eagerSessions, rolling, unset and generateId', async () => {
      const generateId = () => 'g'.repeat(32);
      const resolved = await resolveOk({ eagerSessions: true, rolling: true, unset: 'keep', generateId });
      expect(resolved).toMatchObject({ eagerSessions: true, rolling: true, unset: 'keep' });
      expect(resolved.generateId).toBe(generateId);
      expect((await resolveOk({ unset: 'destroy' })).unset).toBe('destroy');
    });

    it('treats null like a missing option', async () => {
      const resolved = await resolveOk({
        eagerSessions: null,
        rolling: null,
        unset: null,
        generateId: null,
        allowShortSecrets: null,
      } as unknown as Partial<SessionModuleOptions>);
      expect(resolved).toMatchObject({ eagerSessions: false, rolling: false, unset: 'destroy', generateId: undefined });
    });

    it('accepts touchInterval 0 (every response writes the expiry)', async () => {
      expect((await resolveOk({ touchInterval: 0 })).touchInterval).toBe(0);
    });

    it('keeps the cookie switches and the per-request function', async () => {
      const perRequest = () => ({});
      const resolved = await resolveOk({ cookie: { matchPath: true, withholdOverHttp: false, perRequest } });
      expect(resolved.cookie.matchPath).toBe(true);
      expect(resolved.cookie.withholdOverHttp).toBe(false);
      expect(resolved.cookie.perRequest).toBe(perRequest);
    });

    it("accepts sameSite 'auto' with secure true or 'auto', and trustProxy 'express'", async () => {
      expect((await resolveOk({ cookie: { sameSite: 'auto' } })).cookie.sameSite).toBe('auto');
      expect((await resolveOk({ cookie: { sameSite: 'auto', secure: 'auto' } })).cookie.sameSite).toBe('auto');
      expect((await resolveOk({ trustProxy: 'express' })).trustProxy).toBe('express');
    });
  });

  describe('allowShortSecrets', () => {
    it('accepts secrets of any non-empty length and warns once per short secret, never showing it', async () => {
      const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
      const resolved = await resolveOk({ secret: ['keyboard cat', SECRET, 'x'], allowShortSecrets: true });
      expect(resolved.secrets).toEqual(['keyboard cat', SECRET, 'x']);
      const messages = warn.mock.calls.map(([message]) => String(message));
      expect(messages).toHaveLength(2);
      expect(messages[0]).toContain('secret[0] is shorter than 32 characters (12)');
      expect(messages[1]).toContain('secret[2] is shorter than 32 characters (1)');
      for (const message of messages) expect(message).not.toContain('keyboard cat');
    });

    it('warns about nothing when every secret is long enough', async () => {
      const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
      await resolveOk({ allowShortSecrets: true });
      expect(warn).not.toHaveBeenCalled();
    });

    it('still refuses an empty or non-string secret', async () => {
      vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
      expect(await rejection({ secret: '', allowShortSecrets: true }, 'secret')).toBe(
        M('secret', 'must be a non-empty string. Give the secret as a string.'),
      );
      expect(await rejection({ secret: ['ok', 42], allowShortSecrets: true }, 'secret[1]')).toBe(
        M('secret[1]', 'must be a non-empty string. Give the secret as a string.'),
      );
    });

    it('must be a boolean', async () => {
      expect(await rejection({ secret: 'short', allowShortSecrets: 'yes' }, 'allowShortSecrets')).toBe(
        M('allowShortSecrets', 'must be true or false. Leave it out to require secrets of 32 characters or more.'),
      );
    });
  });

  describe('refusals', () => {
    it.each([
      ['eagerSessions', { eagerSessions: 'yes' }, 'must be true or false. Leave it out for false.'],
      ['rolling', { rolling: 1 }, 'must be true or false. Leave it out for false.'],
      ['unset', { unset: 'forget' }, "must be 'destroy' or 'keep'. Leave it out for 'destroy'."],
      [
        'generateId',
        { generateId: 'uuid' },
        'must be a function of the request that returns a session ID. Pass e.g. () => randomUUID(), or leave it out.',
      ],
      ['trustProxy', { trustProxy: 'yes' }, "must be true, false or 'express'. Leave it out to trust no proxy."],
      ['cookie.matchPath', { cookie: { matchPath: 'on' } }, 'must be true or false. Leave it out for false.'],
      ['cookie.withholdOverHttp', { cookie: { withholdOverHttp: 1 } }, 'must be true or false. Leave it out for false.'],
      [
        'cookie.perRequest',
        { cookie: { perRequest: {} } },
        'must be a function of the request. Pass (req) => ({ path: ... }), or leave it out.',
      ],
      [
        'cookie.sameSite',
        { cookie: { sameSite: 'auto', secure: false } },
        "'auto' is 'none' on HTTPS requests, which needs a secure cookie, or browsers refuse it. Set cookie.secure to true or 'auto'.",
      ],
      [
        'cookie.matchPath',
        { transport: 'header', cookie: { matchPath: true } },
        "needs the 'cookie' transport. Add 'cookie' to transport, or leave it out.",
      ],
      [
        'cookie.withholdOverHttp',
        { transport: 'header', cookie: { withholdOverHttp: true } },
        "needs the 'cookie' transport. Add 'cookie' to transport, or leave it out.",
      ],
    ])('refuses %s: %j', async (option, options, text) => {
      expect(await rejectionWith(options, option)).toBe(M(option, text));
    });

    it.each([
      ['generateId', { generateId: () => 'x' }],
      ['eagerSessions', { eagerSessions: true }],
      ['rolling', { rolling: true }],
      ['unset', { unset: 'keep' as const }],
      ['cookie.withholdOverHttp', { cookie: { withholdOverHttp: true } }],
    ])('refuses %s over a client-side store (CookieStore)', async (option, options) => {
      expect(await rejectionWith({ store: new CookieStore(), ...options }, option)).toBe(
        M(
          option,
          'a client-side store (CookieStore) seals each session into its own cookies and cannot honour it. Leave it out, or use a server-side store.',
        ),
      );
    });

    it("accepts unset: 'destroy', matchPath and sameSite 'auto' over a client-side store, which go through the shared code", async () => {
      const resolved = await resolveOk({ store: new CookieStore(), unset: 'destroy', cookie: { matchPath: true, sameSite: 'auto' } });
      expect(resolved.unset).toBe('destroy');
    });
  });

  describe('checkSessionOptions (synchronous, for fromExpressSessionOptions)', () => {
    it('throws what resolveSessionOptions would, without building a store', () => {
      expect(() => checkSessionOptions({ secret: SECRET, rolling: 'no' } as unknown as SessionModuleOptions)).toThrow(
        M('rolling', 'must be true or false. Leave it out for false.'),
      );
      expect(() => checkSessionOptions({ secret: SECRET, store: 'memory:' })).not.toThrow();
    });
  });

  describe('the cookie transport', () => {
    it("writes sameSite 'auto' as None on HTTPS and Lax over plain HTTP (with trustProxy)", async () => {
      const resolved = await resolveOk({ cookie: { sameSite: 'auto', secure: 'auto' }, trustProxy: true });
      const https = written(resolved.transports[0], expressRequest({ headers: { 'x-forwarded-proto': 'https' } }))![0];
      expect(https).toContain('; Secure; SameSite=None');
      const http = written(resolved.transports[0], expressRequest())![0];
      expect(http).not.toContain('Secure');
      expect(http).toContain('; SameSite=Lax');
    });

    it("reads Express's req.secure with trustProxy 'express', and ignores X-Forwarded-Proto then", async () => {
      const resolved = await resolveOk({ cookie: { secure: 'auto' }, trustProxy: 'express' });
      expect(written(resolved.transports[0], expressRequest({ secure: true }))![0]).toContain('; Secure');
      expect(written(resolved.transports[0], expressRequest({ headers: { 'x-forwarded-proto': 'https' } }))![0]).not.toContain('Secure');
    });

    it('withholds a Secure cookie over plain HTTP with withholdOverHttp, logging it once', async () => {
      const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
      const resolved = await resolveOk({ cookie: { withholdOverHttp: true } });
      expect(written(resolved.transports[0], expressRequest())).toBeUndefined();
      expect(written(resolved.transports[0], expressRequest(), null)).toBeUndefined();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toContain('a Secure session cookie was not set on a request that arrived over plain HTTP');
      const tls = { headers: {}, socket: { encrypted: true }, url: '/' } as unknown as IncomingMessage;
      expect(written(resolved.transports[0], tls)![0]).toContain('; Secure');
      const insecure = await resolveOk({ cookie: { withholdOverHttp: true, secure: false } });
      expect(written(insecure.transports[0], expressRequest())![0]).toMatch(/^sid=token; /);
    });

    it('takes attributes per request from perRequest, over the module ones, checked like the options', async () => {
      const resolved = await resolveOk({
        cookie: {
          perRequest: (req) =>
            req.url === '/admin' ? { path: '/admin', sameSite: 'strict' } : req.url === '/bad' ? { sameSite: 'sideways' as never } : {},
        },
      });
      const transport = resolved.transports[0] as CookieTransport;
      expect(written(transport, expressRequest({ url: '/admin' }))![0]).toMatch(/; Path=\/admin; HttpOnly; Secure; SameSite=Strict$/);
      expect(written(transport, expressRequest({ url: '/' }))![0]).toMatch(/; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
      expect(() => written(transport, expressRequest({ url: '/bad' }))).toThrow(
        M('cookie.perRequest(req).sameSite', "must be 'lax', 'strict', 'none', 'auto' or false. Leave it out for 'lax'."),
      );
    });

    it('covers the requests under the cookie path, as browsers match it, on the URL the request arrived with', async () => {
      const resolved = await resolveOk({ cookie: { path: '/app', matchPath: true } });
      const transport = resolved.transports[0] as CookieTransport;
      expect(transport.covers(expressRequest({ url: '/app' }))).toBe(true);
      expect(transport.covers(expressRequest({ url: '/app/page?x=1' }))).toBe(true);
      expect(transport.covers(expressRequest({ url: '/application' }))).toBe(false);
      expect(transport.covers(expressRequest({ url: '/' }))).toBe(false);
      // A mounted router sees a shortened url; the path the browser asked for is originalUrl.
      expect(transport.covers(expressRequest({ url: '/page', originalUrl: '/app/page' }))).toBe(true);
      expect(transport.covers(expressRequest({ url: '/app', originalUrl: '/other/app' }))).toBe(false);
    });
  });
});
