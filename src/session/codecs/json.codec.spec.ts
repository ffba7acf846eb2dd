import { describe, expect, it } from 'vitest';
import { SessionError } from '../../core/errors/session.error.js';
import { JsonCodec } from './json.codec.js';

function codecError(fn: () => unknown): SessionError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SessionError);
    expect((err as SessionError).code).toBe('SESSION_CODEC_ERROR');
    return err as SessionError;
  }
  throw new Error('expected a SessionError');
}

describe('JsonCodec', () => {
  const codec = new JsonCodec();

  it('is named json', () => {
    expect(codec.name).toBe('json');
  });

  it.each([
    ['a string', 'hello ✓ "quoted" \\ \u2028'],
    ['an empty string', ''],
    ['an integer', 42],
    ['a negative float', -3.25],
    ['true', true],
    ['false', false],
    ['null', null],
    ['an array', [1, 'two', null, false, [3]]],
    ['a nested object', { user: { id: 7, roles: ['admin', 'ops'] }, flags: {} }],
  ])('round-trips %s', (_label, value) => {
    expect(codec.decode(codec.encode(value))).toEqual(value);
  });

  it('writes exactly what JSON.stringify writes', () => {
    const value = { b: 1, a: [true, null, 'x'], nested: { z: 0.5 } };
    expect(codec.encode(value)).toBe(JSON.stringify(value));
  });

  it('is deterministic', () => {
    const value = { cart: [{ sku: 'a', qty: 2 }], total: 10, at: '2024-01-01' };
    expect(codec.encode(value)).toBe(codec.encode(value));
    expect(codec.encode(codec.decode(codec.encode(value)))).toBe(codec.encode(value));
  });

  it('keeps JSON semantics for values JSON changes', () => {
    const date = new Date('2024-05-01T12:00:00.000Z');
    expect(codec.decode(codec.encode({ date }))).toEqual({ date: '2024-05-01T12:00:00.000Z' });
    expect(codec.decode(codec.encode({ gone: undefined, kept: 1 }))).toEqual({ kept: 1 });
    expect(codec.decode(codec.encode([undefined, Number.NaN, Number.POSITIVE_INFINITY]))).toEqual([null, null, null]);
    expect(codec.decode(codec.encode({ map: new Map([['a', 1]]), set: new Set([1]) }))).toEqual({ map: {}, set: {} });
  });

  it('refuses undefined as the whole value instead of returning undefined', () => {
    const err = codecError(() => codec.encode(undefined));
    expect(err.message).toMatch(/undefined/);
    expect(err.message).toMatch(/Delete the session key/);
  });

  it('refuses a value whose toJSON() returns undefined', () => {
    codecError(() => codec.encode({ toJSON: () => undefined }));
  });

  it.each([
    ['a top-level function', () => 1, /function/],
    ['a nested function', { a: { onClick: () => 1 } }, /function \(at key "onClick"\)/],
    ['a function in an array', [1, () => 1], /function/],
    ['a top-level symbol', Symbol('s'), /symbol/],
    ['a nested symbol', { s: Symbol('s') }, /symbol \(at key "s"\)/],
    ['a symbol in an array', [Symbol('s')], /symbol/],
  ])('refuses %s', (_label, value, message) => {
    expect(codecError(() => codec.encode(value)).message).toMatch(message);
  });

  it('refuses a BigInt, pointing to RichCodec, with the TypeError as cause', () => {
    const err = codecError(() => codec.encode({ big: 10n }));
    expect(err.message).toMatch(/BigInt/);
    expect(err.message).toMatch(/RichCodec/);
    expect(err.cause).toBeInstanceOf(TypeError);
  });

  it('refuses a circular structure with the TypeError as cause', () => {
    const value: Record<string, unknown> = { a: 1 };
    value.self = value;
    const err = codecError(() => codec.encode(value));
    expect(err.message).toMatch(/circular/);
    expect(err.cause).toBeInstanceOf(TypeError);
  });

  it('wraps an error thrown by a getter, keeping it as cause', () => {
    const boom = new Error('boom');
    const value = {
      get broken(): never {
        throw boom;
      },
    };
    const err = codecError(() => codec.encode(value));
    expect(err.cause).toBe(boom);
    expect(err.message).toMatch(/boom/);
  });

  it.each([['not json'], ['{"a":'], [''], ['undefined'], ["{'a':1}"]])('refuses to decode %j with the SyntaxError as cause', (text) => {
    const err = codecError(() => codec.decode(text));
    expect(err.cause).toBeInstanceOf(SyntaxError);
  });

  it('decodes __proto__ keys as own properties without touching prototypes', () => {
    const decoded = codec.decode('{"__proto__":{"polluted":true},"a":{"__proto__":{"polluted":true}}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Object.hasOwn(decoded, '__proto__')).toBe(true);
    expect((decoded.a as object).constructor).toBe(Object);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((decoded as { polluted?: unknown }).polluted).toBeUndefined();
  });
});
