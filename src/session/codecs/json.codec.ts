import { SessionError } from '../../core/errors/session.error.js';
import type { SessionCodec } from './session-codec.interface.js';

/**
 * The default codec: plain `JSON.stringify` / `JSON.parse`, compatible with what express-session
 * stores and readable by any other JSON consumer.
 *
 * It keeps JSON's semantics, so some values change on the way through: a `Date` comes back as its
 * ISO string, a `Map` or `Set` as `{}`, `NaN` and `Infinity` as `null`, `undefined` object
 * properties disappear and `undefined` array items become `null`. Use {@link RichCodec} to keep
 * those types.
 *
 * It refuses (with a `SessionError` whose code is `SESSION_CODEC_ERROR`) what JSON would drop or
 * cannot represent at all, rather than losing data without a word:
 * - `undefined` as the whole value (the session layer deletes a key set to `undefined`, so this
 *   only happens when the codec is called directly);
 * - functions and symbols, anywhere in the value;
 * - `BigInt` values (the message points to {@link RichCodec});
 * - circular structures (the `TypeError` from `JSON.stringify` is the `cause`).
 *
 * Encoding is deterministic: the same value gives the same text (keys keep their insertion order).
 *
 * @example
 * ```ts
 * const codec = new JsonCodec();
 * codec.encode({ userId: 42, roles: ['admin'] }); // '{"userId":42,"roles":["admin"]}'
 * codec.decode('{"userId":42}');                  // { userId: 42 }
 * ```
 */
export class JsonCodec implements SessionCodec {
  /** Always `'json'`. */
  readonly name = 'json';

  /**
   * Encode `value` as JSON text.
   *
   * @throws SessionError `SESSION_CODEC_ERROR` for `undefined`, functions, symbols, BigInts and
   *   circular structures.
   */
  encode(value: unknown): string {
    if (value === undefined) {
      throw new SessionError(
        'SESSION_CODEC_ERROR',
        'nest-sessions: JsonCodec cannot encode undefined: JSON has no undefined. Delete the session key instead of setting it to undefined.',
      );
    }
    // Strings, finite numbers, booleans and null cannot hide anything JSON would drop: no replacer.
    const type = typeof value;
    if (type === 'string' || type === 'boolean' || value === null || (type === 'number' && Number.isFinite(value))) {
      return JSON.stringify(value);
    }
    let text: string | undefined;
    try {
      text = JSON.stringify(value, rejectUnrepresentable);
    } catch (err) {
      throw encodeError(err);
    }
    // A top-level toJSON() may itself return undefined, which JSON.stringify passes through.
    if (text === undefined) {
      throw new SessionError('SESSION_CODEC_ERROR', 'nest-sessions: JsonCodec cannot encode this value: its toJSON() returned undefined.');
    }
    return text;
  }

  /**
   * Decode JSON text written by {@link JsonCodec.encode}. Keys such as `__proto__` become own
   * properties (that is how `JSON.parse` works), so stored data cannot change prototypes.
   *
   * @throws SessionError `SESSION_CODEC_ERROR`, with the `SyntaxError` as `cause`, for text that is
   *   not valid JSON.
   */
  decode(text: string): unknown {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new SessionError('SESSION_CODEC_ERROR', 'nest-sessions: JsonCodec could not decode the stored text: it is not valid JSON.', {
        cause: err,
      });
    }
  }
}

/**
 * `JSON.stringify` replacer. Without it a function or symbol property would vanish silently, and
 * the session would come back without it.
 */
function rejectUnrepresentable(key: string, value: unknown): unknown {
  const type = typeof value;
  if (type === 'function' || type === 'symbol') {
    const where = key === '' ? '' : ` (at key ${JSON.stringify(key)})`;
    throw new SessionError(
      'SESSION_CODEC_ERROR',
      `nest-sessions: JsonCodec cannot encode a ${type}${where}: JSON has no ${type}s. Remove it from the value before storing it in the session.`,
    );
  }
  return value;
}

function encodeError(err: unknown): SessionError {
  if (err instanceof SessionError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof TypeError && /bigint/i.test(message)) {
    return new SessionError(
      'SESSION_CODEC_ERROR',
      "nest-sessions: JsonCodec cannot encode a BigInt: JSON has no BigInt. Use the rich codec (codec: 'rich' or new RichCodec()), or store the number as a string.",
      { cause: err },
    );
  }
  if (err instanceof TypeError && /circular/i.test(message)) {
    return new SessionError(
      'SESSION_CODEC_ERROR',
      'nest-sessions: JsonCodec cannot encode a circular structure. Store a copy without the cycle (for example an ID instead of the object).',
      { cause: err },
    );
  }
  return new SessionError('SESSION_CODEC_ERROR', `nest-sessions: JsonCodec could not encode the value: ${message}`, {
    cause: err,
  });
}
