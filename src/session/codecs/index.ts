export type { SessionCodec } from './session-codec.interface.js';
export { JsonCodec } from './json.codec.js';
export { RichCodec } from './rich.codec.js';
export type { RichCodecOptions, SessionClass } from './rich.codec.js';
