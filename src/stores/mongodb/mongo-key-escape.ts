/**
 * The form of the empty session key: a lone `%`, which {@link escapeKey} produces for nothing else
 * (it writes `%` only as the start of `%XX` or `%uXXXX`), since MongoDB refuses empty field names in
 * update paths (`data.`).
 */
const EMPTY_KEY = '%';
/**
 * Characters that cannot stand in a field name used as an update path: `%` (the escape character
 * itself), `.` (a path separator), `$` (operators) and NUL (BSON names are C strings); and lone
 * surrogates, which BSON's UTF-8 would turn into U+FFFD.
 */
const UNSAFE = /[%.$\0]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const ESCAPE = /%([0-9A-F]{2})|%u([0-9A-F]{4})/g;

/**
 * The MongoDB field name under which {@link MongoStore} keeps the session key `key` inside a
 * document's `data`. Reversible ({@link unescapeKey}) and one-to-one, so every string is a valid
 * session key:
 *
 * - `%`, `.`, `$` and NUL become `%25`, `%2E`, `%24` and `%00`; a lone surrogate becomes `%uXXXX`;
 * - a leading `_` becomes `%5F`, so no field is ever named `__proto__`;
 * - the empty key becomes `%`.
 *
 * Everything else is kept, so field names stay readable: `user` stays `user`, `a.b` is `a%2Eb`.
 *
 * @example escapeKey('cart.items') // 'cart%2Eitems'
 * @example escapeKey('__proto__') // '%5F_proto__'
 */
export function escapeKey(key: string): string {
  if (key === '') return EMPTY_KEY;
  const escaped = key.replace(UNSAFE, (char) =>
    char.length === 1 && char.charCodeAt(0) < 0x100 ? `%${hex(char.charCodeAt(0), 2)}` : `%u${hex(char.charCodeAt(0), 4)}`,
  );
  return escaped.startsWith('_') ? `%5F${escaped.slice(1)}` : escaped;
}

/**
 * The session key stored under the field name `field`: the inverse of {@link escapeKey}. A `%`
 * not followed by two (or `u` and four) upper-case hex digits is kept as it is, so a field written
 * by someone else never makes reading fail.
 *
 * @example unescapeKey('cart%2Eitems') // 'cart.items'
 */
export function unescapeKey(field: string): string {
  if (field === EMPTY_KEY) return '';
  return field.replace(ESCAPE, (_, byte: string | undefined, unit: string | undefined) =>
    String.fromCharCode(parseInt((byte ?? unit)!, 16)),
  );
}

function hex(code: number, digits: number): string {
  return code.toString(16).toUpperCase().padStart(digits, '0');
}
