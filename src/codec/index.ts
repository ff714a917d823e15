/**
 * The value codec (C1–C5), as the rest of larder sees it: the `Codec` interface a custom codec
 * implements, the built-in codec as `encodeValue` / `decodeValue` / `defaultCodec`, and the
 * helpers and constants importers use. The built-in codec is a versioned binary envelope of our
 * own, fast on the hot path (every store read and write goes through it) and safe to decode from
 * an untrusted store. Where its parts live:
 *
 * - `format.ts`: the wire format byte by byte, its tags and limits;
 * - `encode.ts`: the encoder and its scratch buffer; `refusal.ts`: what it refuses and how it
 *   names the offending part (`ValueError.path`);
 * - `decode.ts`: the decoder, its string caches, and the integer-counter check.
 *
 * ## Structured-clone behaviour, and where we differ
 *
 * As structured clone: only own enumerable string-keyed properties are stored (symbol keys and
 * non-enumerable properties are ignored); getters are read as values; a property holding
 * `undefined` stays an own property holding `undefined`; array holes stay holes (runs of holes are
 * stored compactly, so `a[1e9] = 1` is a few bytes). Objects with a `null` prototype decode as
 * plain `{}` objects. Unlike structured clone: shared references are stored as copies (identity is
 * not preserved), and non-index properties of arrays are ignored.
 */

import { decodeValue } from './decode.js';
import { encodeValue } from './encode.js';
import { DEFAULT_MAX_BYTES } from './format.js';

export { CODEC_MAGIC, CODEC_VERSION, DEFAULT_MAX_BYTES, MAX_DEPTH } from './format.js';
export { encodeValue } from './encode.js';
export { decodeValue, isIntegerCounter } from './decode.js';

/** A value codec: the built-in one, or one given as the `codec` option. */
export interface Codec {
  encode(value: unknown): Buffer;
  decode(bytes: Buffer): unknown;
}

/** The built-in codec (C3), as a `Codec` object; `encode` applies {@link DEFAULT_MAX_BYTES}. */
export const defaultCodec: Codec = Object.freeze({
  encode: (value: unknown): Buffer => encodeValue(value, DEFAULT_MAX_BYTES),
  decode: (bytes: Buffer): unknown => decodeValue(bytes),
});
