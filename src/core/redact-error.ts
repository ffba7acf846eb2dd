import { isValidSessionId } from './session-id.js';

/** What stands in for a session ID (or lock key) in an error a store reports. */
const REDACTED = '[redacted]';

/** Levels of nested errors and objects copied; anything deeper is left out. */
const MAX_DEPTH = 8;
/** Runs of base64url characters: every session ID, index record ID and lock key is one. */
const TOKEN = /[A-Za-z0-9_-]+/g;
/**
 * String properties holding a whole statement with its values written in (mysql2's `sql`), so the
 * session's ID and data: left out.
 */
const PAYLOAD_STRINGS = new Set(['sql']);
/** Marks a value {@link copyValue} leaves out. */
const OMIT = Symbol('omit');

/**
 * A copy of `error`, for the `cause` of a `SessionError` a store reports, that carries no session
 * ID: every ID-shaped token found in `inputs` (the IDs, keys and values the failed call was given)
 * is replaced with `[redacted]` in its message, stack and string properties, down its `cause` chain
 * and nested errors. Client error messages and objects name the keys and values they were sent
 * (file paths, query parameters, command arguments), and `onError` and Nest's Logger write causes
 * to the logs, where a session ID is a credential.
 *
 * The copy is a plain `Error` keeping the original's `name`, `message`, `stack` and own properties
 * (`code`, `errno`, `syscall`, `query`, `driverError`, `cause`, `errors`, …), with these left out:
 * arrays other than arrays of errors (a command's arguments, a statement's parameters: the
 * session's ID and data), mysql2's `sql` (the statement with its values written in), functions,
 * class instances other than errors (sockets, clients, topology descriptions) and accessors.
 *
 * @example throw new SessionError('SESSION_STORE_UNAVAILABLE', message, { cause: redactError(err, [id]) })
 */
export function redactError(error: unknown, inputs: readonly unknown[]): Error {
  const secrets = [...idsIn(inputs, new Set<string>(), 0)].sort((a, b) => b.length - a.length);
  const seen = new Map<object, unknown>();
  if (typeof error === 'object' && error !== null) return copyError(error, secrets, seen, 0);
  return new Error(scrub(String(error), secrets));
}

/** Every ID-shaped token in `value`: its strings, array items, and object keys and values. */
function idsIn(value: unknown, found: Set<string>, depth: number): Set<string> {
  if (typeof value === 'string') {
    for (const token of value.match(TOKEN) ?? []) if (isValidSessionId(token)) found.add(token);
  } else if (typeof value === 'object' && value !== null && depth < MAX_DEPTH) {
    for (const [key, inner] of Object.entries(value)) {
      if (!Array.isArray(value)) idsIn(key, found, depth + 1);
      idsIn(inner, found, depth + 1);
    }
  }
  return found;
}

function scrub(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) if (result.includes(secret)) result = result.split(secret).join(REDACTED);
  return result;
}

function copyError(error: object, secrets: readonly string[], seen: Map<object, unknown>, depth: number): Error {
  const source = error as Partial<Error>;
  // An error-like object without a message (a plain object thrown) still says what it was.
  const copy = new Error(scrub(typeof source.message === 'string' ? source.message : Object.prototype.toString.call(error), secrets));
  seen.set(error, copy);
  if (typeof source.name === 'string') {
    Object.defineProperty(copy, 'name', { value: scrub(source.name, secrets), writable: true, configurable: true });
  }
  copy.stack = typeof source.stack === 'string' ? scrub(source.stack, secrets) : `${copy.name}: ${copy.message}`;
  for (const key of Reflect.ownKeys(error)) {
    if (typeof key === 'symbol' || key === 'message' || key === 'name' || key === 'stack' || PAYLOAD_STRINGS.has(key)) continue;
    const descriptor = Object.getOwnPropertyDescriptor(error, key);
    if (!descriptor || !('value' in descriptor)) continue;
    const value = copyValue(descriptor.value, secrets, seen, depth + 1);
    if (value === OMIT) continue;
    Object.defineProperty(copy, scrub(key, secrets), { value, enumerable: descriptor.enumerable, writable: true, configurable: true });
  }
  return copy;
}

function copyValue(value: unknown, secrets: readonly string[], seen: Map<object, unknown>, depth: number): unknown {
  if (typeof value === 'string') return scrub(value, secrets);
  if (typeof value === 'function' || typeof value === 'symbol') return OMIT;
  if (typeof value !== 'object' || value === null) return value;
  if (seen.has(value)) return seen.get(value);
  if (depth > MAX_DEPTH) return OMIT;
  if (value instanceof Error) return copyError(value, secrets, seen, depth);
  if (Array.isArray(value)) {
    if (value.length === 0 || !value.every((item) => item instanceof Error)) return OMIT;
    return value.map((item) => copyValue(item, secrets, seen, depth + 1)).filter((item) => item !== OMIT);
  }
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return OMIT;
  const copy: Record<string, unknown> = {};
  seen.set(value, copy);
  for (const [key, inner] of Object.entries(value)) {
    if (PAYLOAD_STRINGS.has(key)) continue;
    const copied = copyValue(inner, secrets, seen, depth + 1);
    // defineProperty, so a key named `__proto__` is copied like any other key.
    if (copied !== OMIT)
      Object.defineProperty(copy, scrub(key, secrets), { value: copied, enumerable: true, writable: true, configurable: true });
  }
  return copy;
}
