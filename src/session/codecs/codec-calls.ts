import { SessionError } from '../../core/errors/session.error.js';
import { SessionMessages } from '../../core/errors/session.messages.js';
import type { SessionCodec } from './session-codec.interface.js';

/**
 * `codec.encode(value)` for session key `key`; a codec's failure becomes `SESSION_CODEC_ERROR`
 * naming the key (a `SessionError` it throws itself passes as it is).
 * @internal
 */
export function encodeValue(codec: SessionCodec, key: string, value: unknown): string {
  try {
    return codec.encode(value);
  } catch (cause) {
    if (cause instanceof SessionError) throw cause;
    throw new SessionError('SESSION_CODEC_ERROR', SessionMessages.codec('encode', key), { cause });
  }
}

/** `codec.decode(raw)` for session key `key`, failing as {@link encodeValue} does. @internal */
export function decodeValue(codec: SessionCodec, key: string, raw: string): unknown {
  try {
    return codec.decode(raw);
  } catch (cause) {
    if (cause instanceof SessionError) throw cause;
    throw new SessionError('SESSION_CODEC_ERROR', SessionMessages.codec('decode', key), { cause });
  }
}
