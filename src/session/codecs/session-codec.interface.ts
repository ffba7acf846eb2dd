/**
 * Turns one session value into text for the store and back.
 *
 * Values are encoded one key at a time, so a store can merge changed keys without decoding the
 * rest of the session. A codec must be deterministic: encoding the same value twice gives the same
 * text (nest-sessions compares encodings to detect in-place mutation of objects).
 *
 * @example
 * ```ts
 * const upper: SessionCodec = { name: 'json', encode: (v) => JSON.stringify(v), decode: (t) => JSON.parse(t) };
 * ```
 */
export interface SessionCodec {
  /** A short name used in error messages and diagnostics. */
  readonly name: string;
  /** Encode one value. Throw for a value the codec cannot represent. */
  encode(value: unknown): string;
  /** Decode text produced by {@link SessionCodec.encode}. */
  decode(text: string): unknown;
}
