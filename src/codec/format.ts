/**
 * The wire format of the built-in codec, byte by byte: the one thing the encoder and the decoder
 * must agree on, and the one a stored value outlives (bytes written by one larder are read by the
 * next), so it is written down here once, beside the constants that spell it.
 *
 * ## Stored forms
 *
 * - A top-level safe integer (`Number.isSafeInteger`, not `-0`) is stored as its ASCII decimal
 *   form (`42`, `-7`), with no envelope, so `setValue(k, 5)` followed by Redis `INCRBY` works and
 *   both read back as numbers. Conversely, bytes matching `-?(0|[1-9][0-9]*)` (at most 20
 *   characters; `-0` excluded, as Redis itself refuses it) decode as a `number` (C3: incr counters
 *   read back as numbers; counters past 2^53 lose precision, as any JS number does).
 * - Everything else is an envelope: `0xC1` (a magic byte: never an ASCII digit or `-`, never the
 *   first byte of valid UTF-8 or MessagePack), the format version `0x01`, then exactly one value.
 *   An unknown version, trailing bytes, or any malformed or truncated value is a `DecodeError`.
 *
 * ## Values (one tag byte, then a payload; every multi-byte number little-endian)
 *
 * | tag           | value                                                                        |
 * |---------------|------------------------------------------------------------------------------|
 * | `00`–`7F`     | the integer 0..127                                                           |
 * | `80`–`9F`     | a UTF-8 string of 0..31 bytes (length in the low 5 bits), then the bytes     |
 * | `A0`–`AF`     | an array of 0..15 elements (low 4 bits), then the elements                   |
 * | `B0`–`BF`     | a plain object of 0..15 properties (low 4 bits), then key, value, key, value |
 * | `C0`          | `null`                                                                       |
 * | `C1`          | `undefined` (inside arrays, objects, maps and sets only)                     |
 * | `C2` / `C3`   | `false` / `true`                                                             |
 * | `C4` `C5` `C6`| int8, int16, int32                                                           |
 * | `C7`          | float64 (every other number: `-0`, `NaN`, `±Infinity`, fractions, big ints)  |
 * | `C8`          | UTF-8 string, u8 byte length                                                 |
 * | `C9`          | UTF-8 string, u32 byte length                                                |
 * | `CA`          | a string that is not well-formed UTF-16 (lone surrogates): u32 count of code |
 * |               | units, then the units as UTF-16LE, so it round-trips exactly                 |
 * | `CB`          | array, u32 length (including holes), then the elements                       |
 * | `CC`          | plain object, u32 property count, then key, value, …                         |
 * | `CD`          | `Map`, u32 entry count, then key, value, …                                   |
 * | `CE`          | `Set`, u32 member count, then the members                                    |
 * | `CF`          | a run of array holes (inside arrays only), u32 count ≥ 1                     |
 * | `D0`          | `Date`, its time value as float64 (`NaN` for an invalid Date)                |
 * | `D1` / `D2`   | `bigint` ≥ 0 / < 0: u32 byte count, then the magnitude big-endian, no        |
 * |               | leading zero byte (`0n` is `D1 00000000`)                                    |
 * | `D3` / `D4`   | `Uint8Array` / `Buffer`: u32 byte count, then the bytes                      |
 * | `D5`–`DF`     | reserved (DecodeError)                                                       |
 * | `E0`–`FF`     | the integer -32..-1                                                          |
 *
 * Object keys are string values (any string tag). Encoding is deterministic: the same value always
 * gives the same bytes (set membership compares encoded forms, L1), object properties and Map/Set
 * entries in their insertion order.
 *
 * The tags are plain numeric constants, not a TypeScript enum (which compiles to an object looked
 * up at run time): the encoder and the decoder test them on every byte they handle.
 */
import { DEFAULTS } from '../defaults.js';

/** First byte of every envelope. */
export const CODEC_MAGIC = 0xc1;
/** The format version this codec writes (and the only one it reads). */
export const CODEC_VERSION = 1;
/** Deepest container nesting accepted, on encode and on decode (keeps both stack-safe). */
export const MAX_DEPTH = 512;
/** Default limit of `defaultCodec`'s `encode` (the cache passes `maxValueBytes` itself). */
export const DEFAULT_MAX_BYTES: number = DEFAULTS.maxValueBytes;

// Tags with a payload of their own, `C0`–`D4` in the table above. `T_UNDEFINED` shares its byte
// with CODEC_MAGIC: the magic only ever comes first, a value tag only after the version byte.
export const T_NULL = 0xc0;
export const T_UNDEFINED = 0xc1;
export const T_FALSE = 0xc2;
export const T_TRUE = 0xc3;
export const T_INT8 = 0xc4;
export const T_INT16 = 0xc5;
export const T_INT32 = 0xc6;
export const T_FLOAT64 = 0xc7;
export const T_STR8 = 0xc8;
export const T_STR32 = 0xc9;
export const T_UTF16 = 0xca;
export const T_ARRAY = 0xcb;
export const T_OBJECT = 0xcc;
export const T_MAP = 0xcd;
export const T_SET = 0xce;
export const T_HOLES = 0xcf;
export const T_DATE = 0xd0;
export const T_BIGINT_POS = 0xd1;
export const T_BIGINT_NEG = 0xd2;
export const T_U8 = 0xd3;
export const T_BUFFER = 0xd4;

// The high bits of the "fix" forms, whose low bits carry a small length: strings of 0..31 bytes,
// arrays and objects of 0..15 entries, so the common small value costs one header byte.
export const FIXSTR = 0x80;
export const FIXARRAY = 0xa0;
export const FIXOBJECT = 0xb0;
