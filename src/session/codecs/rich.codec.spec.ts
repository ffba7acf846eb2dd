import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { SessionError } from '../../core/errors/session.error.js';
import { RichCodec } from './rich.codec.js';

function thrown(fn: () => unknown): SessionError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SessionError);
    return err as SessionError;
  }
  throw new Error('expected a SessionError');
}

function codecError(fn: () => unknown): SessionError {
  const err = thrown(fn);
  expect(err.code).toBe('SESSION_CODEC_ERROR');
  return err;
}

class Point {
  constructor(
    public x: number,
    public y: number,
  ) {
    Point.constructed++;
  }
  static constructed = 0;
  length(): number {
    return Math.hypot(this.x, this.y);
  }
}

class Money {
  static fromSessionCalls: unknown[] = [];
  constructor(
    readonly amount: bigint,
    readonly currency: string,
  ) {}
  toSession(): [bigint, string] {
    return [this.amount, this.currency];
  }
  static fromSession(data: [bigint, string]): Money {
    Money.fromSessionCalls.push(data);
    return new Money(data[0], data[1]);
  }
}

describe('RichCodec', () => {
  const codec = new RichCodec();
  const roundTrip = (value: unknown, c: RichCodec = codec): unknown => c.decode(c.encode(value));

  it('is named rich', () => {
    expect(codec.name).toBe('rich');
  });

  describe('plain JSON values', () => {
    it.each([
      ['a string', 'hello ✓ "quoted" \\ \u2028 \ud800'],
      ['a string that looks like a tag', '{"$":"Date","v":"2024-01-01T00:00:00.000Z"}'],
      ['an empty string', ''],
      ['zero', 0],
      ['an integer', 42],
      ['a float', -3.25],
      ['a large float', 1e300],
      ['true', true],
      ['false', false],
      ['null', null],
      ['an empty array', []],
      ['an empty object', {}],
      ['an array', [1, 'two', null, false, [3]]],
      ['a nested object', { user: { id: 7, roles: ['admin', 'ops'] }, flags: {} }],
    ])('round-trips %s', (_label, value) => {
      expect(roundTrip(value)).toEqual(value);
    });

    it('writes plain data exactly as JSON.stringify does', () => {
      const value = { b: 1, a: [true, null, 'x', -2.5], nested: { z: 0.5, s: 'é' } };
      expect(codec.encode(value)).toBe(JSON.stringify(value));
      expect(codec.encode('text')).toBe('"text"');
      expect(codec.encode(12)).toBe('12');
      expect(codec.encode(null)).toBe('null');
      expect(codec.encode(false)).toBe('false');
    });

    it('reads text written by JSON.stringify', () => {
      expect(codec.decode('{"a":[1,{"b":"c"}],"d":null}')).toEqual({ a: [1, { b: 'c' }], d: null });
    });

    it('does not mutate the value it encodes', () => {
      const value = { a: [1, undefined, new Date(0)], b: { c: 2n } };
      const before = { a: [...value.a], b: { ...value.b } };
      codec.encode(value);
      expect(value).toEqual(before);
      expect(value.a[2]).toBeInstanceOf(Date);
    });
  });

  describe('special numbers', () => {
    it.each([
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['-Infinity', Number.NEGATIVE_INFINITY],
      ['-0', -0],
    ])('round-trips %s at the top level and nested', (_label, value) => {
      expect(Object.is(roundTrip(value), value)).toBe(true);
      const nested = roundTrip({ a: [value], b: value }) as { a: number[]; b: number };
      expect(Object.is(nested.a[0], value)).toBe(true);
      expect(Object.is(nested.b, value)).toBe(true);
    });

    it('keeps +0 as a plain number', () => {
      expect(codec.encode(0)).toBe('0');
      expect(Object.is(roundTrip(0), 0)).toBe(true);
    });
  });

  describe('BigInt', () => {
    it.each([
      ['zero', 0n],
      ['one', 1n],
      ['negative', -42n],
      ['huge', 2n ** 256n + 7n],
      ['huge negative', -(10n ** 80n) - 1n],
    ])('round-trips %s', (_label, value) => {
      expect(roundTrip(value)).toBe(value);
      expect(roundTrip({ n: [value] })).toEqual({ n: [value] });
    });
  });

  describe('undefined', () => {
    it('round-trips undefined at the top level', () => {
      expect(roundTrip(undefined)).toBeUndefined();
    });

    it('keeps undefined object properties as own properties', () => {
      const decoded = roundTrip({ a: undefined, b: 1 }) as Record<string, unknown>;
      expect(Object.keys(decoded)).toEqual(['a', 'b']);
      expect(decoded.a).toBeUndefined();
    });

    it('keeps undefined array items and turns holes into undefined items', () => {
      const decoded = roundTrip([1, undefined, , 4]) as unknown[];
      expect(decoded).toHaveLength(4);
      expect(1 in decoded).toBe(true);
      expect(2 in decoded).toBe(true);
      expect(decoded).toEqual([1, undefined, undefined, 4]);
    });
  });

  describe('Date', () => {
    it.each([
      ['the epoch', new Date(0)],
      ['a date with milliseconds', new Date('2024-05-01T12:34:56.789Z')],
      ['a date before 1970', new Date('1901-12-13T20:45:52.000Z')],
      ['a date after year 9999', new Date(8.64e15)],
      ['the earliest date', new Date(-8.64e15)],
    ])('round-trips %s', (_label, date) => {
      const decoded = roundTrip(date);
      expect(decoded).toBeInstanceOf(Date);
      expect((decoded as Date).getTime()).toBe(date.getTime());
    });

    it('round-trips an invalid Date', () => {
      const decoded = roundTrip(new Date(Number.NaN));
      expect(decoded).toBeInstanceOf(Date);
      expect(Number.isNaN((decoded as Date).getTime())).toBe(true);
    });
  });

  describe('Map and Set', () => {
    it('round-trips a Map with keys of any type, in insertion order', () => {
      const objectKey = { id: 1 };
      const map = new Map<unknown, unknown>([
        ['b', 1],
        [1, 'one'],
        [objectKey, [true]],
        [10n, null],
        [undefined, Number.NaN],
        [new Date(5), 'date key'],
        ['__proto__', 'not a prototype'],
      ]);
      const decoded = roundTrip(map) as Map<unknown, unknown>;
      expect(decoded).toBeInstanceOf(Map);
      expect(decoded).toEqual(map);
      expect([...decoded.keys()].map((k) => typeof k)).toEqual(['string', 'number', 'object', 'bigint', 'undefined', 'object', 'string']);
      expect(decoded.get('__proto__')).toBe('not a prototype');
    });

    it('round-trips a Set of mixed values', () => {
      const set = new Set<unknown>([1, '1', 1n, undefined, null, Number.NaN, -0, { a: 1 }]);
      const decoded = roundTrip(set) as Set<unknown>;
      expect(decoded).toBeInstanceOf(Set);
      expect([...decoded]).toEqual([...set]);
    });

    it('round-trips empty collections', () => {
      expect(roundTrip(new Map())).toEqual(new Map());
      expect(roundTrip(new Set())).toEqual(new Set());
    });

    it('round-trips a Map of Sets of Dates, inside objects and arrays', () => {
      const value = {
        schedule: new Map<string, Set<Date>>([
          ['mon', new Set([new Date('2024-01-01T09:00:00Z'), new Date('2024-01-01T17:00:00Z')])],
          ['tue', new Set()],
        ]),
        nested: [new Map([[new Set([1n]), new Map([['deep', [undefined, new Date(Number.NaN)]]])]])],
      };
      const decoded = roundTrip(value) as typeof value;
      expect(decoded).toEqual(value);
      const mon = decoded.schedule.get('mon')!;
      expect(mon).toBeInstanceOf(Set);
      expect([...mon][0]).toBeInstanceOf(Date);
      const [[setKey, inner]] = [...decoded.nested[0]] as [[Set<bigint>, Map<string, unknown[]>]];
      expect(setKey).toEqual(new Set([1n]));
      expect(inner.get('deep')).toHaveLength(2);
    });
  });

  describe('RegExp', () => {
    it.each([/a+b/, /^[\p{L}]+$/u, /x.y/dgimsy, /\//g, new RegExp('(?<year>\\d{4})', 'g')])(
      'round-trips %s with source and flags',
      (re) => {
        const decoded = roundTrip({ re }) as { re: RegExp };
        expect(decoded.re).toBeInstanceOf(RegExp);
        expect(decoded.re.source).toBe(re.source);
        expect(decoded.re.flags).toBe(re.flags);
      },
    );
  });

  describe('bytes', () => {
    it('round-trips a Uint8Array as a Uint8Array', () => {
      const bytes = new Uint8Array([0, 1, 2, 253, 254, 255]);
      const decoded = roundTrip(bytes);
      expect(decoded).toBeInstanceOf(Uint8Array);
      expect(Buffer.isBuffer(decoded)).toBe(false);
      expect([...(decoded as Uint8Array)]).toEqual([...bytes]);
    });

    it('encodes only the bytes of a Uint8Array view', () => {
      const whole = new Uint8Array([9, 9, 1, 2, 3, 9]);
      const decoded = roundTrip(whole.subarray(2, 5)) as Uint8Array;
      expect([...decoded]).toEqual([1, 2, 3]);
      expect(decoded.byteOffset).toBe(0);
    });

    it('round-trips a Buffer as a Buffer', () => {
      const buffer = Buffer.from('héllo, wörld');
      const decoded = roundTrip({ buffer }) as { buffer: Buffer };
      expect(Buffer.isBuffer(decoded.buffer)).toBe(true);
      expect(decoded.buffer.equals(buffer)).toBe(true);
    });

    it('round-trips empty byte arrays', () => {
      expect(roundTrip(new Uint8Array(0))).toEqual(new Uint8Array(0));
      expect(Buffer.isBuffer(roundTrip(Buffer.alloc(0)))).toBe(true);
    });
  });

  describe('escaping user data that looks like a tag', () => {
    it.each([
      ['an object with a $ key', { $: 'hello', other: 1 }],
      ['an object shaped like a Date tag', { $: 'Date', v: '2024-01-01T00:00:00.000Z' }],
      ['an object shaped like an escape', { $: 'object', v: { $: 'undefined' } }],
      ['an object shaped like a class tag', { $: 'class', n: 'Point', v: { x: 1, y: 2 } }],
      ['an object shaped like an unknown tag', { $: 'nope' }],
      ['an object whose $ is not a string', { $: 5, v: [1] }],
      ['a $ key holding special values', { $: new Map([['k', 1n]]) }],
    ])('round-trips %s unchanged', (_label, value) => {
      const decoded = roundTrip(value);
      expect(decoded).toEqual(value);
      expect(roundTrip([value, { wrap: value }])).toEqual([value, { wrap: value }]);
      expect(roundTrip(new Map([['k', value]]))).toEqual(new Map([['k', value]]));
    });

    it('does not escape keys that merely contain $', () => {
      const value = { $ref: '#/a', a$: 1, $$: 2 };
      expect(codec.encode(value)).toBe(JSON.stringify(value));
      expect(roundTrip(value)).toEqual(value);
    });
  });

  describe('registered classes', () => {
    it('restores the prototype without calling the constructor', () => {
      const c = new RichCodec({ classes: { Point } });
      const point = new Point(3, 4);
      const callsBefore = Point.constructed;
      const decoded = roundTrip({ point }, c) as { point: Point };
      expect(Point.constructed).toBe(callsBefore);
      expect(decoded.point).toBeInstanceOf(Point);
      expect(decoded.point).not.toBe(point);
      expect(decoded.point.length()).toBe(5);
      expect(Object.keys(decoded.point)).toEqual(['x', 'y']);
    });

    it('writes the registered name into the store', () => {
      const c = new RichCodec({ classes: { StoredPoint: Point } });
      expect(c.encode(new Point(1, 2))).toBe('{"$":"class","n":"StoredPoint","v":{"x":1,"y":2}}');
    });

    it('rich-encodes properties, including nested registered instances', () => {
      class Shape {
        constructor(
          public points: Point[],
          public meta: Map<string, unknown>,
        ) {}
      }
      const c = new RichCodec({ classes: { Point, Shape } });
      const shape = new Shape(
        [new Point(0, 0), new Point(1, 1)],
        new Map<string, unknown>([
          ['at', new Date(7)],
          ['n', 2n],
        ]),
      );
      const decoded = roundTrip(shape, c) as Shape;
      expect(decoded).toBeInstanceOf(Shape);
      expect(decoded.points[1]).toBeInstanceOf(Point);
      expect(decoded.meta.get('at')).toEqual(new Date(7));
      expect(decoded).toEqual(shape);
    });

    it('keeps an instance property named $ or __proto__ as data', () => {
      const c = new RichCodec({ classes: { Point } });
      const point = new Point(1, 2) as Point & Record<string, unknown>;
      point.$ = 'Date';
      Object.defineProperty(point, '__proto__', { value: { evil: true }, enumerable: true, writable: true, configurable: true });
      const decoded = roundTrip(point, c) as Point & Record<string, unknown>;
      expect(Object.getPrototypeOf(decoded)).toBe(Point.prototype);
      expect(decoded.$).toBe('Date');
      expect(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value).toEqual({ evil: true });
      expect(decoded.length()).toBe(Math.hypot(1, 2));
    });

    it('does not run setters of the class prototype while restoring', () => {
      class Guarded {
        static setterCalls = 0;
        value = 1;
        set other(_v: unknown) {
          Guarded.setterCalls++;
        }
      }
      const c = new RichCodec({ classes: { Guarded } });
      const decoded = c.decode('{"$":"class","n":"Guarded","v":{"value":2,"other":3}}') as Guarded & { other: unknown };
      expect(Guarded.setterCalls).toBe(0);
      expect(Object.getOwnPropertyDescriptor(decoded, 'other')?.value).toBe(3);
    });

    it('uses toSession() and fromSession() when the class has them', () => {
      const c = new RichCodec({ classes: { Money } });
      Money.fromSessionCalls.length = 0;
      const price = new Money(-(10n ** 30n), 'EUR');
      const text = c.encode({ price });
      expect(text).toBe('{"price":{"$":"class","n":"Money","v":[{"$":"bigint","v":"-1000000000000000000000000000000"},"EUR"]}}');
      const decoded = c.decode(text) as { price: Money };
      expect(decoded.price).toBeInstanceOf(Money);
      expect(decoded.price.amount).toBe(-(10n ** 30n));
      expect(decoded.price.currency).toBe('EUR');
      // fromSession receives the decoded data, with rich values restored.
      expect(Money.fromSessionCalls).toEqual([[-(10n ** 30n), 'EUR']]);
    });

    it('uses fromSession() with the property copy when there is no toSession()', () => {
      class Temperature {
        constructor(public celsius: number) {}
        static fromSession(data: { celsius: number }): Temperature {
          return new Temperature(data.celsius + 0);
        }
      }
      const c = new RichCodec({ classes: { Temperature } });
      const decoded = roundTrip(new Temperature(-0), c) as Temperature;
      expect(decoded).toBeInstanceOf(Temperature);
      expect(decoded.celsius).toBe(0);
    });

    it('uses toSession() and restores the returned object as properties when there is no fromSession()', () => {
      class Session {
        secret = 'not stored';
        constructor(public user: string) {}
        toSession(): { user: string } {
          return { user: this.user };
        }
      }
      const c = new RichCodec({ classes: { Session } });
      const decoded = roundTrip(new Session('ada'), c) as Session;
      expect(decoded).toBeInstanceOf(Session);
      expect(decoded.user).toBe('ada');
      expect(Object.hasOwn(decoded, 'secret')).toBe(false);
    });

    it('registers through register(), chained', () => {
      const c = new RichCodec().register('Point', Point).register('Money', Money);
      const decoded = roundTrip([new Point(1, 1), new Money(1n, 'USD')], c) as unknown[];
      expect(decoded[0]).toBeInstanceOf(Point);
      expect(decoded[1]).toBeInstanceOf(Money);
      expect(c.register('Point', Point)).toBe(c);
    });

    it('refuses an unregistered subclass of a registered class', () => {
      class Point3D extends Point {
        z = 0;
      }
      const c = new RichCodec({ classes: { Point } });
      const err = codecError(() => c.encode(new Point3D(1, 2)));
      expect(err.message).toMatch(/class Point3D/);
    });

    it('wraps errors thrown by toSession() and fromSession(), keeping them as cause', () => {
      const boom = new Error('boom');
      class Fragile {
        toSession(): never {
          throw boom;
        }
      }
      class Brittle {
        static fromSession(): never {
          throw boom;
        }
      }
      const c = new RichCodec({ classes: { Fragile, Brittle } });
      const encodeErr = codecError(() => c.encode({ f: new Fragile() }));
      expect(encodeErr.cause).toBe(boom);
      expect(encodeErr.message).toMatch(/boom/);
      const decodeErr = codecError(() => c.decode('{"$":"class","n":"Brittle","v":{}}'));
      expect(decodeErr.cause).toBe(boom);
    });

    it.each([
      ['an empty name', () => new RichCodec({ classes: { '': Point } })],
      ['something that is not a class', () => new RichCodec({ classes: { Point: (() => 1) as never } })],
      ['null', () => new RichCodec().register('X', null as never)],
      ['a built-in type', () => new RichCodec({ classes: { Date } })],
      ['Map', () => new RichCodec().register('Map', Map)],
      ['a name taken by another class', () => new RichCodec({ classes: { Point } }).register('Point', Money)],
      ['a class under a second name', () => new RichCodec({ classes: { Point } }).register('Other', Point)],
    ])('refuses to register %s', (_label, register) => {
      const err = thrown(register);
      expect(err.code).toBe('SESSION_OPTIONS_INVALID');
    });
  });

  describe('values it refuses to encode', () => {
    it('names an unregistered class and how to register it', () => {
      class Invoice {
        total = 1;
      }
      const err = codecError(() => codec.encode({ orders: [{ invoice: new Invoice() }] }));
      expect(err.message).toContain('class Invoice');
      expect(err.message).toContain('new RichCodec({ classes: { Invoice } })');
      expect(err.message).toContain('at orders[0].invoice');
    });

    it.each([
      ['an Error', new Error('x'), /class Error/],
      ['a typed array other than Uint8Array', new Float64Array(2), /class Float64Array/],
      ['a WeakMap', new WeakMap(), /class WeakMap/],
      ['a boxed string', new String('x'), /class String/],
      ['a Promise', Promise.resolve(1), /class Promise/],
    ])('refuses %s', (_label, value, message) => {
      expect(codecError(() => codec.encode({ value })).message).toMatch(message);
    });

    it.each([
      ['a top-level function', () => 1, /a function\. /],
      ['a nested function', { handlers: { click: () => 1 } }, /a function at handlers\.click/],
      ['a symbol in an array', [1, Symbol('s')], /a symbol at \[1\]/],
      ['a function as a Map value', new Map([['k', () => 1]]), /a function at <Map value #0>/],
      ['a symbol as a Map key', new Map([[Symbol('k'), 1]]), /a symbol at <Map key #0>/],
      ['a function in a Set', new Set([1, () => 1]), /a function at <Set item #1>/],
      ['an odd key', { 'my key': { fn: () => 1 } }, /at \["my key"\]\.fn/],
      ['an own toJSON function', { toJSON: () => 'x' }, /a function at toJSON/],
    ])('refuses %s, saying where it is', (_label, value, message) => {
      expect(codecError(() => codec.encode(value)).message).toMatch(message);
    });

    class Loop {
      toSession(): this {
        return this;
      }
    }
    const loopCodec = new RichCodec({ classes: { Loop } });

    it.each<[string, () => unknown, RichCodec]>([
      [
        'an object cycle',
        () => {
          const a: Record<string, unknown> = { name: 'a' };
          a.self = { back: a };
          return a;
        },
        codec,
      ],
      [
        'an array cycle',
        () => {
          const list: unknown[] = [1];
          list.push([list]);
          return list;
        },
        codec,
      ],
      [
        'a Map cycle',
        () => {
          const map = new Map<string, unknown>();
          map.set('me', map);
          return map;
        },
        codec,
      ],
      [
        'a Set cycle',
        () => {
          const set = new Set<unknown>();
          set.add({ set });
          return set;
        },
        codec,
      ],
      ['a toSession() that returns this', () => ({ loop: new Loop() }), loopCodec],
    ])('refuses %s instead of overflowing the stack', (_label, make, c) => {
      const err = codecError(() => c.encode(make()));
      expect(err.message).toMatch(/circular reference/);
      expect(err.cause).toBeUndefined();
    });

    it('accepts an object referenced twice without a cycle, as two copies', () => {
      const shared = { n: 1 };
      const decoded = roundTrip({ a: shared, b: [shared] }) as { a: object; b: object[] };
      expect(decoded).toEqual({ a: { n: 1 }, b: [{ n: 1 }] });
      expect(decoded.a).not.toBe(decoded.b[0]);
    });

    it('wraps a stack overflow on absurdly deep values', () => {
      let deep: unknown = 1;
      for (let i = 0; i < 200_000; i++) deep = [deep];
      const err = codecError(() => codec.encode(deep));
      expect(err.cause).toBeInstanceOf(RangeError);
    });
  });

  describe('objects without the usual prototype', () => {
    it('encodes a null-prototype object as a plain object', () => {
      const bare = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1, d: new Date(3) });
      expect(roundTrip(bare)).toEqual({ a: 1, d: new Date(3) });
    });

    it('encodes an Array subclass as a plain array, ignoring its toJSON()', () => {
      class Tagged extends Array<unknown> {
        toJSON(): string {
          return 'replaced';
        }
      }
      const tagged = Tagged.from([1, 2]) as Tagged;
      const decoded = roundTrip({ tagged });
      expect(decoded).toEqual({ tagged: [1, 2] });
      expect(Object.getPrototypeOf((decoded as { tagged: unknown }).tagged)).toBe(Array.prototype);
    });
  });

  describe('decoding', () => {
    it('decodes __proto__ keys as own properties and never pollutes prototypes', () => {
      const text =
        '{"__proto__":{"polluted":true},"a":{"__proto__":{"$":"Date","v":"2024-01-01T00:00:00.000Z"}},' +
        '"b":{"$":"object","v":{"$":1,"__proto__":{"polluted":true}}},"constructor":{"prototype":{"polluted":true}}}';
      const decoded = codec.decode(text) as Record<string, Record<string, unknown>>;
      expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
      expect(Object.hasOwn(decoded, '__proto__')).toBe(true);
      expect(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value).toEqual({ polluted: true });
      // The nested value was replaced (a Date decoded) through the own __proto__ property.
      expect(Object.getPrototypeOf(decoded.a)).toBe(Object.prototype);
      expect(Object.getOwnPropertyDescriptor(decoded.a, '__proto__')?.value).toBeInstanceOf(Date);
      expect(Object.getPrototypeOf(decoded.b)).toBe(Object.prototype);
      expect(Object.hasOwn(decoded.b, '__proto__')).toBe(true);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
      expect(decoded.polluted).toBeUndefined();
    });

    it('round-trips an object with an own __proto__ property', () => {
      const value = JSON.parse('{"__proto__":{"x":1}}') as Record<string, unknown>;
      value.when = new Date(1);
      const decoded = roundTrip(value) as Record<string, unknown>;
      expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
      expect(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value).toEqual({ x: 1 });
      expect(decoded.when).toEqual(new Date(1));
    });

    it.each([['not json'], ['{"a":'], [''], ['undefined'], ["{'a':1}"]])(
      'refuses garbage text %j with the SyntaxError as cause',
      (text) => {
        const err = codecError(() => codec.decode(text));
        expect(err.cause).toBeInstanceOf(SyntaxError);
      },
    );

    it('refuses a value that is not a string', () => {
      codecError(() => codec.decode(42 as never));
    });

    it.each([['{"$":"Decimal","v":"1.5"}'], ['[{"$":"function","v":"() => 1"}]'], ['{"$":5}'], ['{"$":null}']])(
      'refuses an unknown tag in %s',
      (text) => {
        expect(codecError(() => codec.decode(text)).message).toMatch(/unknown/);
      },
    );

    it('refuses a class name that is not registered', () => {
      const err = codecError(() => codec.decode('{"$":"class","n":"Point","v":{"x":1,"y":2}}'));
      expect(err.message).toContain('"Point"');
      expect(err.message).toContain('new RichCodec({ classes: { Point } })');
    });

    it.each([
      ['{"$":"number","v":"1"}'],
      ['{"$":"number"}'],
      ['{"$":"bigint","v":"1.5"}'],
      ['{"$":"bigint","v":"0x10"}'],
      ['{"$":"bigint","v":""}'],
      ['{"$":"bigint","v":12}'],
      ['{"$":"Date","v":"yesterday"}'],
      ['{"$":"Date","v":0}'],
      ['{"$":"Map","v":{}}'],
      ['{"$":"Map","v":[[1]]}'],
      ['{"$":"Map","v":[1]}'],
      ['{"$":"Set","v":"abc"}'],
      ['{"$":"RegExp","v":"a+"}'],
      ['{"$":"Uint8Array","v":"not base64!"}'],
      ['{"$":"Buffer","v":[1,2]}'],
      ['{"$":"object","v":[1]}'],
      ['{"$":"object"}'],
      ['{"$":"class","v":{}}'],
    ])('refuses the malformed tag %s', (text) => {
      expect(codecError(() => codec.decode(text)).message).toMatch(/malformed/);
    });

    it('refuses a registered class whose payload is not an object', () => {
      const c = new RichCodec({ classes: { Point } });
      expect(codecError(() => c.decode('{"$":"class","n":"Point","v":[1,2]}')).message).toMatch(/malformed/);
    });

    it('wraps an invalid RegExp with the SyntaxError as cause', () => {
      const err = codecError(() => codec.decode('{"$":"RegExp","v":["(","g"]}'));
      expect(err.cause).toBeInstanceOf(SyntaxError);
    });
  });

  describe('determinism', () => {
    const c = new RichCodec({ classes: { Point, Money } });
    const make = (): unknown => ({
      user: { id: 7, name: 'Ada', $: 'x' },
      cart: new Map<unknown, unknown>([
        ['sku-1', { qty: 2, price: new Money(1999n, 'EUR') }],
        [new Point(1, 2), new Set([new Date(0), undefined, Number.NaN])],
      ]),
      tags: new Set(['a', 'b']),
      at: new Date('2024-05-01T00:00:00Z'),
      re: /x/g,
      bytes: Buffer.from([1, 2, 3]),
      list: [undefined, -0, 10n ** 20n],
    });

    it('encodes the same value to the same text every time', () => {
      const value = make();
      const first = c.encode(value);
      expect(c.encode(value)).toBe(first);
      expect(c.encode(make())).toBe(first);
    });

    it('encodes a decoded value back to the same text', () => {
      const text = c.encode(make());
      expect(c.encode(c.decode(text))).toBe(text);
      expect(c.decode(text)).toEqual(make());
    });

    it('changes the text when a nested value is mutated in place', () => {
      const value = make() as { cart: Map<string, { qty: number }> };
      const before = c.encode(value);
      value.cart.get('sku-1')!.qty = 3;
      expect(c.encode(value)).not.toBe(before);
    });
  });
});
