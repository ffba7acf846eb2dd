import { Buffer } from 'node:buffer';
import { SessionError } from '../../core/errors/session.error.js';
import { SessionMessages } from '../../core/errors/session.messages.js';
import type { SessionCodec } from './session-codec.interface.js';

/**
 * A class whose instances {@link RichCodec} may store, once registered under a name.
 *
 * By default an instance is stored as its own enumerable properties (each rich-encoded) and
 * restored with `Object.create(Class.prototype)` plus those properties: the constructor is not
 * called. Two optional hooks replace that:
 * - an instance method `toSession()` returns the data to store instead of the properties (any
 *   value RichCodec can encode);
 * - a static method `fromSession(data)` builds the instance from the decoded data instead.
 *
 * @example
 * ```ts
 * class Money {
 *   constructor(readonly amount: bigint, readonly currency: string) {}
 *   toSession() { return [this.amount, this.currency]; }
 *   static fromSession([amount, currency]: [bigint, string]) { return new Money(amount, currency); }
 * }
 * ```
 */
export type SessionClass = (abstract new (...args: never[]) => object) & {
  /** Optional: build an instance from what `toSession()` (or the property copy) produced. */
  fromSession?(data: unknown): unknown;
};

/** Options of {@link RichCodec}. */
export interface RichCodecOptions {
  /**
   * Classes whose instances may be stored, keyed by the name written into the store. The name,
   * not the class, is what ties stored data to code, so keep it stable across releases and
   * renames. More can be added later with {@link RichCodec.register}.
   *
   * @default {}
   * @example
   * ```ts
   * new RichCodec({ classes: { Money, Address } })
   * ```
   */
  readonly classes?: Readonly<Record<string, SessionClass>>;
}

/** One registered class. */
interface ClassEntry {
  readonly name: string;
  readonly cls: SessionClass;
  readonly proto: object;
}

/**
 * Internal failure raised deep inside the encoder. It is not an `Error` (no stack trace to
 * capture) and collects the path to the offending value while the recursion unwinds; `encode()`
 * turns it into a `SessionError`.
 */
class EncodeFault extends Error {
  /** Path segments, innermost first. */
  readonly path: string[] = [];
  constructor(
    readonly what: string,
    readonly hint: string,
  ) {
    super(what);
  }
}

const CODE = 'SESSION_CODEC_ERROR';

// Tag objects without a payload are shared: encoding `undefined` or NaN allocates nothing.
const UNDEFINED_TAG = Object.freeze({ $: 'undefined' });
const NAN_TAG = Object.freeze({ $: 'number', v: 'NaN' });
const POS_INF_TAG = Object.freeze({ $: 'number', v: 'Infinity' });
const NEG_INF_TAG = Object.freeze({ $: 'number', v: '-Infinity' });
const NEG_ZERO_TAG = Object.freeze({ $: 'number', v: '-0' });

const BIGINT_PATTERN = /^-?\d+$/;
const BASE64_PATTERN = /^[A-Za-z0-9+/]*={0,2}$/;
const IDENTIFIER_PATTERN = /^[A-Za-z_$][\w$]*$/;

/** Prototypes RichCodec encodes itself; registering their classes would be ambiguous. */
const BUILT_IN_PROTOTYPES: ReadonlySet<object> = new Set<object>([
  Object.prototype,
  Array.prototype,
  Date.prototype,
  Map.prototype,
  Set.prototype,
  RegExp.prototype,
  Uint8Array.prototype,
  Buffer.prototype,
]);

/**
 * A codec that keeps JavaScript types JSON loses, in the spirit of Go's `gob`. It round-trips:
 * - `Date` (invalid dates included), `Map` and `Set` (any keys and values, nested), `RegExp`
 *   (source and flags; `lastIndex` is not kept);
 * - `BigInt` of any size and sign, `NaN`, `Infinity`, `-Infinity` and `-0`;
 * - `undefined`, as the whole value or inside arrays, objects, Maps and Sets (array holes come
 *   back as `undefined` items);
 * - `Uint8Array` (as `Uint8Array`) and `Buffer` (as `Buffer`), stored as base64;
 * - plain objects and arrays, and instances of classes registered under a name (see
 *   {@link SessionClass} for how they are stored and restored).
 *
 * Anything else is refused with a `SessionError` whose code is `SESSION_CODEC_ERROR`: functions,
 * symbols, circular references, and instances of classes that are not registered (the message
 * names the class and how to register it). Objects shared in several places are stored once per
 * place and come back as separate copies. Objects with a `null` prototype come back as ordinary
 * objects, and `Array` subclasses as plain arrays.
 *
 * Wire format: JSON text. Strings, finite numbers, booleans, `null`, arrays and plain objects are
 * written as themselves, so plain data encodes to exactly what `JSON.stringify` writes, and
 * RichCodec reads text written by {@link JsonCodec} (unless that data holds objects with a `$`
 * key). Other values become tag objects whose `$` key names the type, e.g.
 * `{"$":"Date","v":"2024-05-01T12:00:00.000Z"}`, `{"$":"bigint","v":"-12"}`,
 * `{"$":"Map","v":[[key,value],...]}` or `{"$":"class","n":"Money","v":{...}}`. A plain object
 * that has its own `$` key is escaped as `{"$":"object","v":{...}}`, so user data that looks like a
 * tag round-trips unchanged.
 *
 * Encoding is deterministic: the same value gives the same text (object keys and Map and Set
 * entries keep their insertion order). Decoding never sets a prototype from stored data: a
 * `__proto__` key comes back as an own property.
 *
 * @example
 * ```ts
 * const codec = new RichCodec({ classes: { Money } });
 * const text = codec.encode({ cart: new Map([['sku-1', 2n]]), at: new Date() });
 * const back = codec.decode(text); // a Map with a bigint, and a Date
 * ```
 */
export class RichCodec implements SessionCodec {
  /** Always `'rich'`. */
  readonly name = 'rich';

  readonly #byName = new Map<string, ClassEntry>();
  readonly #byPrototype = new Map<object, ClassEntry>();

  /**
   * @param options Classes to register; see {@link RichCodecOptions}.
   * @throws SessionError `SESSION_OPTIONS_INVALID` for a registration {@link RichCodec.register}
   *   would refuse.
   */
  constructor(options: RichCodecOptions = {}) {
    for (const [name, cls] of Object.entries(options.classes ?? {})) this.register(name, cls);
  }

  /**
   * Allow instances of `cls` to be stored, under `name`. Registering the same class under the
   * same name again does nothing.
   *
   * @returns this codec, for chaining.
   * @throws SessionError `SESSION_OPTIONS_INVALID` if `name` is empty, `cls` is not a class, `cls`
   *   is a type RichCodec handles itself (`Date`, `Map`, ...), `name` is taken by another class, or
   *   `cls` is already registered under another name.
   * @example
   * ```ts
   * codec.register('Money', Money).register('Address', Address);
   * ```
   */
  register(name: string, cls: SessionClass): this {
    const option = `classes.${name}`;
    if (typeof name !== 'string' || name === '') {
      throw invalidOption('classes', 'a class name must be a non-empty string', "Write e.g. codec.register('Money', Money).");
    }
    const proto: unknown = typeof cls === 'function' ? cls.prototype : undefined;
    if (typeof proto !== 'object' || proto === null) {
      throw invalidOption(option, 'must be a class', `Pass the class itself: new RichCodec({ classes: { ${name} } }).`);
    }
    if (BUILT_IN_PROTOTYPES.has(proto)) {
      throw invalidOption(option, `${cls.name} is encoded by RichCodec itself`, 'Leave it out of `classes`.');
    }
    const byName = this.#byName.get(name);
    if (byName?.cls === cls) return this;
    if (byName) {
      throw invalidOption(option, `the name is already registered for class ${byName.cls.name}`, 'Give each class its own name.');
    }
    const byPrototype = this.#byPrototype.get(proto);
    if (byPrototype) {
      throw invalidOption(
        option,
        `class ${cls.name} is already registered as "${byPrototype.name}"`,
        'Register each class under one name only.',
      );
    }
    const entry: ClassEntry = { name, cls, proto };
    this.#byName.set(name, entry);
    this.#byPrototype.set(proto, entry);
    return this;
  }

  /**
   * Encode `value` as tagged JSON text.
   *
   * @throws SessionError `SESSION_CODEC_ERROR` for functions, symbols, circular references and
   *   unregistered class instances (naming where in the value it found them), and, with the
   *   original error as `cause`, when a `toSession()` hook or a getter throws.
   */
  encode(value: unknown): string {
    switch (typeof value) {
      case 'string':
        return JSON.stringify(value);
      case 'boolean':
        return value ? 'true' : 'false';
      case 'number':
        if (Number.isFinite(value) && !Object.is(value, -0)) return JSON.stringify(value);
        break;
      case 'object':
        if (value === null) return 'null';
        break;
    }
    try {
      return JSON.stringify(this.#encode(value, new Set()));
    } catch (err) {
      if (err instanceof EncodeFault) {
        const where = err.path.length === 0 ? '' : ` at ${err.path.reverse().join('').replace(/^\./, '')}`;
        throw new SessionError(CODE, `nest-sessions: RichCodec cannot encode ${err.what}${where}. ${err.hint}`);
      }
      if (err instanceof SessionError) throw err;
      throw new SessionError(CODE, `nest-sessions: RichCodec could not encode the value: ${describe(err)}`, {
        cause: err,
      });
    }
  }

  /**
   * Decode text written by {@link RichCodec.encode}.
   *
   * @throws SessionError `SESSION_CODEC_ERROR` for text that is not JSON (the `SyntaxError` is the
   *   `cause`), an unknown tag, a malformed tag, a class name that is not registered, or (as
   *   `cause`) an error thrown by a `fromSession()` hook.
   */
  decode(text: string): unknown {
    if (typeof text !== 'string') {
      throw new SessionError(CODE, `nest-sessions: RichCodec can only decode a string, not ${typeof text}.`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new SessionError(CODE, 'nest-sessions: RichCodec could not decode the stored text: it is not valid JSON.', {
        cause: err,
      });
    }
    // Every tag is written as `"$":`, so text without `"$"` is plain JSON and needs no walk.
    if (typeof parsed !== 'object' || parsed === null || !text.includes('"$"')) return parsed;
    try {
      return this.#decode(parsed);
    } catch (err) {
      if (err instanceof SessionError) throw err;
      throw new SessionError(CODE, `nest-sessions: RichCodec could not decode the stored value: ${describe(err)}`, {
        cause: err,
      });
    }
  }

  /** Encode to a JSON-ready value; returns its argument unchanged when it is already JSON-safe. */
  #encode(value: unknown, seen: Set<object>): unknown {
    switch (typeof value) {
      case 'string':
      case 'boolean':
        return value;
      case 'number':
        if (Number.isFinite(value)) return value === 0 && 1 / value < 0 ? NEG_ZERO_TAG : value;
        return value !== value ? NAN_TAG : value > 0 ? POS_INF_TAG : NEG_INF_TAG;
      case 'bigint':
        return { $: 'bigint', v: value.toString() };
      case 'undefined':
        return UNDEFINED_TAG;
      case 'object':
        return value === null ? null : this.#encodeObject(value, seen);
      default:
        throw new EncodeFault(`a ${typeof value}`, `A session cannot hold ${typeof value}s; remove it before storing.`);
    }
  }

  #encodeObject(object: object, seen: Set<object>): unknown {
    if (seen.has(object)) {
      throw new EncodeFault('a circular reference', 'Store a copy without the cycle (for example an ID instead of the object).');
    }
    seen.add(object);
    const proto: unknown = Object.getPrototypeOf(object);
    let out: unknown;
    if (proto === Object.prototype) out = this.#encodeRecord(object, seen, false);
    else if (proto === Array.prototype) out = this.#encodeArray(object as unknown[], seen, false);
    else if (proto === Date.prototype) {
      const time = (object as Date).getTime();
      out = { $: 'Date', v: Number.isNaN(time) ? null : (object as Date).toISOString() };
    } else if (proto === Map.prototype) out = this.#encodeMap(object as Map<unknown, unknown>, seen);
    else if (proto === Set.prototype) out = this.#encodeSet(object as Set<unknown>, seen);
    else if (proto === Buffer.prototype) out = { $: 'Buffer', v: (object as Buffer).toString('base64') };
    else if (proto === Uint8Array.prototype) out = { $: 'Uint8Array', v: toBase64(object as Uint8Array) };
    else if (proto === RegExp.prototype) out = { $: 'RegExp', v: [(object as RegExp).source, (object as RegExp).flags] };
    else {
      const entry = this.#byPrototype.get(proto as object);
      if (entry) out = this.#encodeInstance(object, entry, seen);
      // A copy is forced for Array subclasses and foreign-realm objects: JSON.stringify would
      // otherwise honour a toJSON() their prototype might carry.
      else if (Array.isArray(object)) out = this.#encodeArray(object, seen, true);
      else if (proto === null || Object.getPrototypeOf(proto) === null) out = this.#encodeRecord(object, seen, proto !== null);
      else {
        const name = className(proto);
        throw new EncodeFault(
          `an instance of class ${name}`,
          `The class is not registered with the codec; register it: new RichCodec({ classes: { ${name} } }) or codec.register('${name}', ${name}).`,
        );
      }
    }
    seen.delete(object);
    return out;
  }

  /**
   * Encode own enumerable string-keyed properties. Copy-on-write: unless `copy` is set, the input
   * object itself is returned when no property needed a tag, so plain data allocates nothing.
   */
  #encodeRecord(record: object, seen: Set<object>, copy: boolean): unknown {
    const source = record as Record<string, unknown>;
    const keys = Object.keys(source);
    // Null prototype: assigning a `__proto__` key must create a property, not set a prototype.
    let out: Record<string, unknown> | undefined = copy ? (Object.create(null) as Record<string, unknown>) : undefined;
    let escape = false;
    let i = 0;
    try {
      for (; i < keys.length; i++) {
        const key = keys[i];
        if (key === '$') escape = true;
        const value = source[key];
        const encoded = this.#encode(value, seen);
        if (out !== undefined) out[key] = encoded;
        else if (encoded !== value) {
          out = Object.create(null) as Record<string, unknown>;
          for (let j = 0; j < i; j++) out[keys[j]] = source[keys[j]];
          out[key] = encoded;
        }
      }
    } catch (err) {
      if (err instanceof EncodeFault) err.path.push(propertySegment(keys[i]));
      throw err;
    }
    const body = out ?? record;
    return escape ? { $: 'object', v: body } : body;
  }

  /** Like `#encodeRecord`, for arrays; holes read as `undefined` (and so get a tag). */
  #encodeArray(array: unknown[], seen: Set<object>, copy: boolean): unknown[] {
    const length = array.length;
    let out: unknown[] | undefined = copy ? [] : undefined;
    let i = 0;
    try {
      for (; i < length; i++) {
        const value = array[i];
        const encoded = this.#encode(value, seen);
        if (out !== undefined) out.push(encoded);
        else if (encoded !== value) {
          out = array.slice(0, i);
          out.push(encoded);
        }
      }
    } catch (err) {
      if (err instanceof EncodeFault) err.path.push(`[${i}]`);
      throw err;
    }
    return out ?? array;
  }

  #encodeMap(map: Map<unknown, unknown>, seen: Set<object>): unknown {
    const entries: unknown[] = [];
    let i = 0;
    let isValue = false;
    try {
      for (const [key, value] of map) {
        isValue = false;
        const encodedKey = this.#encode(key, seen);
        isValue = true;
        entries.push([encodedKey, this.#encode(value, seen)]);
        i++;
      }
    } catch (err) {
      if (err instanceof EncodeFault) err.path.push(`<Map ${isValue ? 'value' : 'key'} #${i}>`);
      throw err;
    }
    return { $: 'Map', v: entries };
  }

  #encodeSet(set: Set<unknown>, seen: Set<object>): unknown {
    const items: unknown[] = [];
    try {
      for (const item of set) items.push(this.#encode(item, seen));
    } catch (err) {
      if (err instanceof EncodeFault) err.path.push(`<Set item #${items.length}>`);
      throw err;
    }
    return { $: 'Set', v: items };
  }

  #encodeInstance(instance: object, entry: ClassEntry, seen: Set<object>): unknown {
    const toSession = (instance as { toSession?: unknown }).toSession;
    // The payload is always an ordinary encoded value, so decoding reads it the same way whether
    // it came from toSession() or from the property copy.
    const data = typeof toSession === 'function' ? this.#encode(toSession.call(instance), seen) : this.#encodeRecord(instance, seen, true);
    return { $: 'class', n: entry.name, v: data };
  }

  /** Decode a parsed JSON value in place (arrays and objects from `JSON.parse` are ours to reuse). */
  #decode(value: unknown): unknown {
    if (typeof value !== 'object' || value === null) return value;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        if (typeof item === 'object' && item !== null) {
          const decoded = this.#decode(item);
          if (decoded !== item) value[i] = decoded;
        }
      }
      return value;
    }
    const record = value as Record<string, unknown>;
    return Object.hasOwn(record, '$') ? this.#decodeTag(record) : this.#decodeRecord(record);
  }

  #decodeRecord(record: Record<string, unknown>): Record<string, unknown> {
    for (const key of Object.keys(record)) {
      const value = record[key];
      if (typeof value === 'object' && value !== null) {
        const decoded = this.#decode(value);
        // The key is already an own data property (JSON.parse creates them with
        // CreateDataProperty), so even `__proto__` is written as a property here, not a prototype.
        if (decoded !== value) record[key] = decoded;
      }
    }
    return record;
  }

  #decodeTag(tag: Record<string, unknown>): unknown {
    const type = tag.$;
    const v = tag.v;
    switch (type) {
      case 'undefined':
        return undefined;
      case 'number':
        switch (v) {
          case 'NaN':
            return Number.NaN;
          case 'Infinity':
            return Number.POSITIVE_INFINITY;
          case '-Infinity':
            return Number.NEGATIVE_INFINITY;
          case '-0':
            return -0;
        }
        break;
      case 'bigint':
        if (typeof v === 'string' && BIGINT_PATTERN.test(v)) return BigInt(v);
        break;
      case 'Date': {
        if (v === null) return new Date(Number.NaN);
        if (typeof v !== 'string') break;
        const date = new Date(v);
        if (!Number.isNaN(date.getTime())) return date;
        break;
      }
      case 'Map':
        if (Array.isArray(v)) {
          const map = new Map<unknown, unknown>();
          for (const entry of v as unknown[]) {
            if (!Array.isArray(entry) || entry.length !== 2) throw malformed(type);
            map.set(this.#decode(entry[0]), this.#decode(entry[1]));
          }
          return map;
        }
        break;
      case 'Set':
        if (Array.isArray(v)) {
          const set = new Set<unknown>();
          for (const item of v as unknown[]) set.add(this.#decode(item));
          return set;
        }
        break;
      case 'RegExp':
        if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string') {
          return new RegExp(v[0], v[1]);
        }
        break;
      case 'Uint8Array':
        // Copied out of the Buffer so the result does not share Node's pooled memory.
        if (typeof v === 'string' && BASE64_PATTERN.test(v)) return new Uint8Array(Buffer.from(v, 'base64'));
        break;
      case 'Buffer':
        if (typeof v === 'string' && BASE64_PATTERN.test(v)) return Buffer.from(v, 'base64');
        break;
      case 'object':
        if (isParsedRecord(v)) return this.#decodeRecord(v);
        break;
      case 'class':
        return this.#decodeInstance(tag.n, v);
      default:
        throw new SessionError(
          CODE,
          `nest-sessions: RichCodec cannot decode a value tagged ${preview(type)}: the tag is unknown. Was it written by a different codec or a newer version?`,
        );
    }
    throw malformed(type);
  }

  #decodeInstance(name: unknown, payload: unknown): unknown {
    if (typeof name !== 'string') throw malformed('class');
    const entry = this.#byName.get(name);
    if (!entry) {
      throw new SessionError(
        CODE,
        `nest-sessions: RichCodec cannot decode an instance of class ${preview(name)}: no class is registered under that name. Register it: new RichCodec({ classes: { ${name} } }).`,
      );
    }
    const data = this.#decode(payload);
    if (typeof entry.cls.fromSession === 'function') return entry.cls.fromSession(data);
    if (!isParsedRecord(data)) throw malformed('class');
    const instance = Object.create(entry.proto) as object;
    for (const key of Object.keys(data)) {
      // defineProperty, not assignment: neither a `__proto__` key nor a setter on the class
      // prototype may intercept stored data.
      Object.defineProperty(instance, key, { value: data[key], writable: true, enumerable: true, configurable: true });
    }
    return instance;
  }
}

/** An object as `JSON.parse` builds it (not an array, not a decoded Map, Date, ...). */
function isParsedRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function propertySegment(key: string): string {
  return IDENTIFIER_PATTERN.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

function className(proto: unknown): string {
  const ctor: unknown = (proto as { constructor?: unknown }).constructor;
  return typeof ctor === 'function' && ctor.name ? ctor.name : 'AnonymousClass';
}

function preview(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : String(JSON.stringify(value));
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function malformed(type: string): SessionError {
  return new SessionError(
    CODE,
    `nest-sessions: RichCodec cannot decode a value tagged ${preview(type)}: its payload is malformed. The stored text was changed or not written by RichCodec.`,
  );
}

function invalidOption(option: string, rule: string, fix: string): SessionError {
  return new SessionError('SESSION_OPTIONS_INVALID', SessionMessages.invalidOption(option, rule, fix));
}
