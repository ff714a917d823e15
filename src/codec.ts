/**
 * The built-in value codec (C1–C5): a versioned binary envelope of our own, fast on the hot path
 * (every store read and write goes through it) and safe to decode from an untrusted store.
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
 * ## What is refused (C2, C5): `ValueError`, synchronously, before any I/O
 *
 * Functions, symbols, `undefined` at the top level, class instances (anything whose prototype is
 * not one of `Object.prototype`, `null`, `Array.prototype`, `Map.prototype`, `Set.prototype`,
 * `Date.prototype`, `Uint8Array.prototype`, `Buffer.prototype`: so `RegExp`, `Error`, `WeakMap`,
 * `Promise`, boxed primitives, other typed arrays, subclasses and objects of another realm), an own
 * `__proto__` key, cycles, nesting deeper than {@link MAX_DEPTH} containers, and an encoded size
 * above `maxBytes` (the encoder stops as soon as its output passes the limit).
 *
 * `ValueError.path` names the offending part: `$` is the value itself, `.name` a property whose
 * name is an identifier, `["a key"]` any other property (JSON-quoted), `[3]` an array index,
 * `<Map>[2]` the value of a Map's third entry and `<Map>[2]<key>` its key, `<Set>[2]` a Set's third
 * member: e.g. `$.items[3].fn`, `$.prices<Map>[0]<key>.code`. For a cycle, the path is where the
 * cycle closes (the reference back to an ancestor).
 *
 * ## Structured-clone behaviour, and where we differ
 *
 * As structured clone: only own enumerable string-keyed properties are stored (symbol keys and
 * non-enumerable properties are ignored); getters are read as values; a property holding
 * `undefined` stays an own property holding `undefined`; array holes stay holes (runs of holes are
 * stored compactly, so `a[1e9] = 1` is a few bytes). Objects with a `null` prototype decode as
 * plain `{}` objects. Unlike structured clone: shared references are stored as copies (identity is
 * not preserved), and non-index properties of arrays are ignored.
 *
 * ## Decoding untrusted bytes (C3)
 *
 * Every length is checked against the bytes that remain before anything is allocated (a corrupt
 * length throws `DecodeError`; nothing is allocated beyond what the input could hold), nesting is
 * limited to {@link MAX_DEPTH}, no code is evaluated, a `__proto__` key is a `DecodeError`, and
 * keys that exist on `Object.prototype` (`constructor`, `toString`…) are defined with
 * `Object.defineProperty`, so no setter on `Object.prototype` runs (and a frozen
 * `Object.prototype` does not make decoding fail). Decoded bytes and strings are copies: nothing
 * decoded shares memory with the input. Invalid UTF-8 inside a string decodes with U+FFFD.
 *
 * ## Memory
 *
 * Encoding writes into one reused scratch buffer and copies the result out with
 * `Buffer.allocUnsafe`, so, as with any small Node Buffer, a small result is a slice of Node's
 * shared 8 KiB pool. A holder that keeps many small results for long (an in-process store) and
 * accounts their size may copy them into their own allocation.
 */

import { isDate, isMap, isSet, isUint8Array } from 'node:util/types';
import { constants as bufferConstants } from 'node:buffer';
import { DecodeError, ValueError } from './errors.js';

/** A value codec: the built-in one, or one given as the `codec` option. */
export interface Codec {
  encode(value: unknown): Buffer;
  decode(bytes: Buffer): unknown;
}

/** First byte of every envelope. */
export const CODEC_MAGIC = 0xc1;
/** The format version this module writes (and the only one it reads). */
export const CODEC_VERSION = 1;
/** Deepest container nesting accepted, on encode and on decode (keeps both stack-safe). */
export const MAX_DEPTH = 512;
/** Default limit of {@link defaultCodec}'s `encode` (the cache passes `maxValueBytes` itself). */
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

const T_NULL = 0xc0;
const T_UNDEFINED = 0xc1;
const T_FALSE = 0xc2;
const T_TRUE = 0xc3;
const T_INT8 = 0xc4;
const T_INT16 = 0xc5;
const T_INT32 = 0xc6;
const T_FLOAT64 = 0xc7;
const T_STR8 = 0xc8;
const T_STR32 = 0xc9;
const T_UTF16 = 0xca;
const T_ARRAY = 0xcb;
const T_OBJECT = 0xcc;
const T_MAP = 0xcd;
const T_SET = 0xce;
const T_HOLES = 0xcf;
const T_DATE = 0xd0;
const T_BIGINT_POS = 0xd1;
const T_BIGINT_NEG = 0xd2;
const T_U8 = 0xd3;
const T_BUFFER = 0xd4;

const FIXSTR = 0x80;
const FIXARRAY = 0xa0;
const FIXOBJECT = 0xb0;

const OBJECT_PROTO: object = Object.prototype;
const ARRAY_PROTO: object = Array.prototype;
const MAP_PROTO: object = Map.prototype;
const SET_PROTO: object = Set.prototype;
const DATE_PROTO: object = Date.prototype;
const U8_PROTO: object = Uint8Array.prototype;
const BUFFER_PROTO: object = Buffer.prototype;
const getPrototypeOf = Object.getPrototypeOf;
const objectKeys = Object.keys;
const hasOwn = Object.hasOwn;
const dateGetTime = Date.prototype.getTime;

/** Node's Buffer has these (they skip `toString`/`write`'s argument normalisation); not in @types. */
interface FastBuffer extends Buffer {
  utf8Slice(start: number, end: number): string;
  utf8Write(s: string, offset: number, length?: number): number;
  ucs2Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
}

// ---------------------------------------------------------------------------------------------
// Encoding
//
// State lives in module variables (the fastest access V8 offers here) around one reusable scratch
// buffer; the result is copied out, since callers keep it. Encoding can run user code (getters,
// proxies) that may itself call encode: a nested call saves the state, works on fresh buffers, and
// restores it.

const INITIAL_SCRATCH = 16 * 1024;
/** A scratch buffer grown past this is dropped after the call rather than kept for the next. */
const KEEP_SCRATCH = 1024 * 1024;

let buf = Buffer.allocUnsafeSlow(INITIAL_SCRATCH) as FastBuffer;
let view = new DataView(buf.buffer, buf.byteOffset, buf.length);
let pos = 0;
let limit = 0;
/** `ancestors[d]` is the container being written at depth d (what cycles are looked for in). */
let ancestors: object[] = [];
let busy = false;

/** A refused part, on its way up to the top, collecting path segments. Internal. */
class Refusal {
  readonly segments: string[] = [];
  constructor(
    readonly what: string,
    /** Depth of the refused part: containers at a smaller depth add their segment. */
    readonly depth: number,
  ) {}
}

function oversize(maxBytes: number): ValueError {
  return new ValueError(`the encoded value is larger than the ${maxBytes}-byte limit (maxValueBytes)`, '$');
}

function grow(needed: number): void {
  if (needed > limit) throw oversize(limit);
  let cap = buf.length * 2;
  if (cap < needed) cap = needed;
  if (cap > limit) cap = limit;
  const next = Buffer.allocUnsafeSlow(cap) as FastBuffer;
  buf.copy(next, 0, 0, pos);
  buf = next;
  view = new DataView(next.buffer, next.byteOffset, next.length);
}

function ensure(n: number): void {
  if (pos + n > buf.length) grow(pos + n);
}

function writeU32At(p: number, n: number): void {
  buf[p] = n & 0xff;
  buf[p + 1] = (n >>> 8) & 0xff;
  buf[p + 2] = (n >>> 16) & 0xff;
  buf[p + 3] = n >>> 24;
}

/** Writes a tag and a u32 count: `small` for counts below 16 (fix forms), else `big` + u32. */
function writeHeader(n: number, small: number, big: number): void {
  ensure(5);
  if (n < 16 && small !== 0) {
    buf[pos++] = small | n;
  } else {
    buf[pos] = big;
    writeU32At(pos + 1, n);
    pos += 5;
  }
}

function writeNumber(n: number): void {
  ensure(9);
  if ((n | 0) === n && (n !== 0 || 1 / n > 0)) {
    if (n >= 0) {
      if (n < 128) {
        buf[pos++] = n;
        return;
      }
    } else if (n >= -32) {
      buf[pos++] = 0x100 + n;
      return;
    }
    if (n >= -128 && n < 128) {
      buf[pos] = T_INT8;
      buf[pos + 1] = n & 0xff;
      pos += 2;
    } else if (n >= -32768 && n < 32768) {
      buf[pos] = T_INT16;
      buf[pos + 1] = n & 0xff;
      buf[pos + 2] = (n >> 8) & 0xff;
      pos += 3;
    } else {
      buf[pos] = T_INT32;
      writeU32At(pos + 1, n);
      pos += 5;
    }
    return;
  }
  buf[pos] = T_FLOAT64;
  view.setFloat64(pos + 1, n, true);
  pos += 9;
}

/** Strings shorter than this are encoded by hand (a loop beats Buffer's native call for them). */
const SHORT_STRING = 64;

function writeString(s: string): void {
  const len = s.length;
  if (len < SHORT_STRING) {
    // At most 3 bytes per UTF-16 unit (a surrogate pair: 4 bytes for 2 units).
    // Optimistic header: one byte (fixstr) for strings under 32 units, which ASCII ones fit in; the
    // bytes are moved up by one in the rare case that they do not.
    const header = len < 32 ? 1 : 2;
    ensure(2 + len * 3);
    const b = buf;
    const start = pos + header;
    let p = start;
    for (let i = 0; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) {
        b[p++] = c;
      } else if (c < 0x800) {
        b[p++] = 0xc0 | (c >> 6);
        b[p++] = 0x80 | (c & 63);
      } else if ((c & 0xf800) !== 0xd800) {
        b[p++] = 0xe0 | (c >> 12);
        b[p++] = 0x80 | ((c >> 6) & 63);
        b[p++] = 0x80 | (c & 63);
      } else {
        const d = i + 1 < len ? s.charCodeAt(i + 1) : 0;
        if (c >= 0xdc00 || (d & 0xfc00) !== 0xdc00) {
          writeUtf16(s); // a lone surrogate: not representable in UTF-8
          return;
        }
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        b[p++] = 0xf0 | (cp >> 18);
        b[p++] = 0x80 | ((cp >> 12) & 63);
        b[p++] = 0x80 | ((cp >> 6) & 63);
        b[p++] = 0x80 | (cp & 63);
        i++;
      }
    }
    const n = p - start;
    if (n < 32) {
      b[pos] = FIXSTR | n;
      if (header === 2) for (let i = start; i < p; i++) b[i - 1] = b[i]!;
      pos += 1 + n;
    } else {
      if (header === 1) for (let i = p; i > start; i--) b[i] = b[i - 1]!;
      b[pos] = T_STR8;
      b[pos + 1] = n;
      pos += 2 + n;
    }
    return;
  }
  // Long strings: the native UTF-8 writer. Reserve the worst case unless that alone would pass the
  // limit, in which case measure first (a string that fits must not be refused).
  let room = len * 3;
  if (pos + 5 + room > limit) room = Buffer.byteLength(s, 'utf8');
  ensure(5 + room);
  const n = buf.utf8Write(s, pos + 5, room);
  // Lone surrogates come out as U+FFFD; only a string with non-ASCII can hold one.
  if (n !== len && !s.isWellFormed()) {
    writeUtf16(s);
    return;
  }
  buf[pos] = T_STR32;
  writeU32At(pos + 1, n);
  pos += 5 + n;
}

function writeUtf16(s: string): void {
  const n = s.length;
  ensure(5 + n * 2);
  buf[pos] = T_UTF16;
  writeU32At(pos + 1, n);
  buf.write(s, pos + 5, n * 2, 'utf16le');
  pos += 5 + n * 2;
}

function writeBigInt(b: bigint): void {
  const neg = b < 0n;
  let hex = (neg ? -b : b).toString(16);
  if (b === 0n) hex = '';
  else if (hex.length & 1) hex = '0' + hex;
  const n = hex.length >>> 1;
  ensure(5 + n);
  buf[pos] = neg ? T_BIGINT_NEG : T_BIGINT_POS;
  writeU32At(pos + 1, n);
  if (n > 0) buf.write(hex, pos + 5, n, 'hex');
  pos += 5 + n;
}

function writeBytes(tag: number, u: Uint8Array): void {
  const n = u.length;
  ensure(5 + n);
  buf[pos] = tag;
  writeU32At(pos + 1, n);
  buf.set(u, pos + 5);
  pos += 5 + n;
}

function write(v: unknown, depth: number): void {
  switch (typeof v) {
    case 'string':
      writeString(v);
      return;
    case 'number':
      writeNumber(v);
      return;
    case 'boolean':
      ensure(1);
      buf[pos++] = v ? T_TRUE : T_FALSE;
      return;
    case 'object':
      if (v === null) {
        ensure(1);
        buf[pos++] = T_NULL;
      } else {
        writeObject(v, depth);
      }
      return;
    case 'undefined':
      ensure(1);
      buf[pos++] = T_UNDEFINED;
      return;
    case 'bigint':
      writeBigInt(v);
      return;
    case 'function':
      throw new Refusal('a function', depth);
    default:
      throw new Refusal(`a ${typeof v}`, depth);
  }
}

function writeObject(v: object, depth: number): void {
  const proto: unknown = getPrototypeOf(v);
  if (proto === OBJECT_PROTO || proto === null) {
    enter(v, depth);
    writePlain(v as Record<string, unknown>, depth);
  } else if (proto === ARRAY_PROTO && Array.isArray(v)) {
    enter(v, depth);
    writeArray(v, depth);
  } else if (proto === BUFFER_PROTO && isUint8Array(v)) {
    writeBytes(T_BUFFER, v);
  } else if (proto === U8_PROTO && isUint8Array(v)) {
    writeBytes(T_U8, v);
  } else if (proto === MAP_PROTO && isMap(v)) {
    enter(v, depth);
    writeMap(v, depth);
  } else if (proto === SET_PROTO && isSet(v)) {
    enter(v, depth);
    writeSet(v, depth);
  } else if (proto === DATE_PROTO && isDate(v)) {
    ensure(9);
    buf[pos] = T_DATE;
    view.setFloat64(pos + 1, dateGetTime.call(v), true);
    pos += 9;
  } else {
    throw new Refusal(describe(proto), depth);
  }
}

/**
 * Registers a container at its depth, refusing a cycle (the container is one of its own
 * ancestors) or nesting past MAX_DEPTH. Looking through the ancestors costs one comparison per
 * level, nothing for the usual shallow values, and finds a cycle where it closes, before its
 * contents are written over and over.
 */
function enter(v: object, depth: number): void {
  for (let i = 0; i < depth; i++) {
    if (ancestors[i] === v) throw new Refusal('a cycle (a reference to one of its own ancestors)', depth);
  }
  if (depth >= MAX_DEPTH) throw new Refusal(`nesting deeper than ${MAX_DEPTH} levels`, depth);
  ancestors[depth] = v;
}

function describe(proto: unknown): string {
  let name = '';
  try {
    const ctor: unknown = proto !== null && typeof proto === 'object' ? (proto as { constructor?: unknown }).constructor : undefined;
    if (typeof ctor === 'function' && typeof ctor.name === 'string') name = ctor.name;
  } catch {
    // A throwing getter on a foreign prototype: keep the generic description.
  }
  if (['Map', 'Set', 'Date', 'Array', 'Uint8Array', 'Buffer', 'Object'].includes(name)) {
    return `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name} of another realm, of a subclass, or a forged one`;
  }
  return `${name ? `an instance of ${name}` : 'an object with a foreign prototype'} (only plain objects, arrays, Map, Set, Date, Uint8Array and Buffer are stored)`;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function propSegment(k: string): string {
  return IDENTIFIER.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
}

function writePlain(o: Record<string, unknown>, depth: number): void {
  const keys = objectKeys(o);
  const n = keys.length;
  writeHeader(n, FIXOBJECT, T_OBJECT);
  let i = 0;
  try {
    for (; i < n; i++) {
      const k = keys[i]!;
      if (k === '__proto__') throw new Refusal('an own "__proto__" property', depth + 1);
      writeString(k);
      write(o[k], depth + 1);
    }
  } catch (e) {
    if (e instanceof Refusal && e.depth > depth) e.segments.push(propSegment(keys[i]!));
    throw e;
  }
}

function writeArray(a: unknown[], depth: number): void {
  const n = a.length;
  writeHeader(n, FIXARRAY, T_ARRAY);
  let i = 0;
  try {
    for (; i < n; i++) {
      const el = a[i];
      if (el === undefined && !hasOwn(a, i)) break;
      write(el, depth + 1);
    }
  } catch (e) {
    if (e instanceof Refusal && e.depth > depth) e.segments.push(`[${i}]`);
    throw e;
  }
  if (i < n) writeSparseTail(a, i, depth);
}

/**
 * The rest of an array from its first hole on, as runs of holes and values. Walks the array's own
 * keys rather than every index, so `a[1e9] = 1` costs one entry, not a billion.
 */
function writeSparseTail(a: unknown[], from: number, depth: number): void {
  const n = a.length;
  let cur = from;
  let idx = from;
  try {
    for (const k of objectKeys(a)) {
      idx = Number(k);
      // Own keys of an array are its indices (ascending) and then any other property (ignored).
      if (!(idx >= from && idx < n && String(idx) === k)) continue;
      if (idx > cur) writeHoles(idx - cur);
      write(a[idx], depth + 1);
      cur = idx + 1;
    }
  } catch (e) {
    if (e instanceof Refusal && e.depth > depth) e.segments.push(`[${idx}]`);
    throw e;
  }
  if (cur < n) writeHoles(n - cur);
}

function writeHoles(count: number): void {
  ensure(5);
  buf[pos] = T_HOLES;
  writeU32At(pos + 1, count);
  pos += 5;
}

function writeMap(m: Map<unknown, unknown>, depth: number): void {
  writeHeader(m.size, 0, T_MAP);
  let i = 0;
  let inKey = true;
  try {
    for (const [k, v] of m) {
      inKey = true;
      write(k, depth + 1);
      inKey = false;
      write(v, depth + 1);
      i++;
    }
  } catch (e) {
    if (e instanceof Refusal && e.depth > depth) e.segments.push(inKey ? `<Map>[${i}]<key>` : `<Map>[${i}]`);
    throw e;
  }
}

function writeSet(s: Set<unknown>, depth: number): void {
  writeHeader(s.size, 0, T_SET);
  let i = 0;
  try {
    for (const v of s) {
      write(v, depth + 1);
      i++;
    }
  } catch (e) {
    if (e instanceof Refusal && e.depth > depth) e.segments.push(`<Set>[${i}]`);
    throw e;
  }
}

/**
 * Encodes a value for the store (C1), or throws `ValueError` naming the offending part (C2) or
 * reporting that the result would pass `maxBytes` (C5). Synchronous: it throws before any I/O.
 * A top-level safe integer is stored as ASCII decimal (an incr-compatible counter).
 */
export function encodeValue(v: unknown, maxBytes: number = DEFAULT_MAX_BYTES): Buffer {
  if (typeof v === 'number' && Number.isSafeInteger(v) && (v !== 0 || 1 / v > 0)) {
    const out = Buffer.from(String(v), 'latin1');
    if (out.length > maxBytes) throw oversize(maxBytes);
    return out;
  }
  if (v === undefined) throw new ValueError('cannot store undefined at $ (a miss reads as undefined)', '$');
  if (busy) return encodeNested(v, maxBytes);
  busy = true;
  try {
    return encodeEnvelope(v, maxBytes);
  } finally {
    busy = false;
    if (buf.length > KEEP_SCRATCH) {
      buf = Buffer.allocUnsafeSlow(INITIAL_SCRATCH) as FastBuffer;
      view = new DataView(buf.buffer, buf.byteOffset, buf.length);
    }
    // Do not keep the caller's objects alive.
    for (let i = 0; i < ancestors.length; i++) ancestors[i] = OBJECT_PROTO;
  }
}

function encodeEnvelope(v: unknown, maxBytes: number): Buffer {
  limit = maxBytes < bufferConstants.MAX_LENGTH ? maxBytes : bufferConstants.MAX_LENGTH;
  pos = 0;
  try {
    ensure(2);
    buf[0] = CODEC_MAGIC;
    buf[1] = CODEC_VERSION;
    pos = 2;
    write(v, 0);
  } catch (e) {
    if (e instanceof Refusal) {
      const path = '$' + e.segments.reverse().join('');
      throw new ValueError(`cannot store ${e.what} at ${path}`, path);
    }
    throw e;
  }
  const n = pos;
  if (n > limit) throw oversize(limit);
  // Callers keep the result: copy it out of the scratch buffer (by hand when tiny, where that is
  // faster than the native copy).
  const out = Buffer.allocUnsafe(n);
  if (n <= 32) for (let i = 0; i < n; i++) out[i] = buf[i]!;
  else buf.copy(out, 0, 0, n);
  return out;
}

/** encode called from user code that runs inside another encode (a getter, a proxy trap). */
function encodeNested(v: unknown, maxBytes: number): Buffer {
  const saved = { buf, view, pos, limit, ancestors };
  buf = Buffer.allocUnsafeSlow(256) as FastBuffer;
  view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  ancestors = [];
  try {
    return encodeEnvelope(v, maxBytes);
  } finally {
    ({ buf, view, pos, limit, ancestors } = saved);
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding
//
// Like encoding, state in module variables. No user code runs while decoding (no setters are
// triggered, no getters read), but a nested call would still be handled by save/restore.

let src = Buffer.alloc(0) as FastBuffer;
let at = 0;
let end = 0;
let decoding = false;

function bad(what: string): DecodeError {
  return new DecodeError(`stored value is not decodable: ${what} (at byte ${at})`);
}

/** Checks that `n` more bytes are there before anything is read or allocated. */
function need(n: number): void {
  if (n > end - at) throw bad('truncated or corrupt length');
}

function readU32(): number {
  need(4);
  const n = (src[at]! | (src[at + 1]! << 8) | (src[at + 2]! << 16)) + src[at + 3]! * 0x1000000;
  at += 4;
  return n;
}

function readString(n: number): string {
  need(n);
  const s = at;
  const e = s + n;
  at = e;
  // Short ASCII by hand (no native call); anything else through the native decoder. Under 13
  // characters a concatenation is a flat string; from 13 on V8 would keep it as a cons string.
  if (n < 13) {
    for (let i = s; i < e; i++) if (src[i]! >= 0x80) return src.utf8Slice(s, e);
    return asciiString(s, e);
  }
  return src.utf8Slice(s, e);
}

function asciiString(s: number, e: number): string {
  let out = '';
  for (let i = s; i < e; i++) out += String.fromCharCode(src[i]!);
  return out;
}

// Object keys repeat across values, so short ASCII keys are looked up in a small cache (indexed
// by a hash of their bytes) instead of being built again: no allocation, and the string we hand
// out is one V8 has already internalized, so adding it as a property is cheaper too.
const KEY_CACHE_BITS = 12;
const KEY_CACHE_MASK = (1 << KEY_CACHE_BITS) - 1;
const MAX_CACHED_KEY = 32;
const keyCache: string[] = new Array<string>(1 << KEY_CACHE_BITS).fill('');
// Short string values repeat too (units, currencies, codes, tags): the same cache idea, a cache
// of their own so that they never push keys out. Kept values (a near cache) then share them.
const MAX_CACHED_VALUE = 8;
const valueCache: string[] = new Array<string>(1 << KEY_CACHE_BITS).fill('');

function readCachedKey(n: number, cache: string[] = keyCache): string {
  need(n);
  const s = at;
  const e = s + n;
  let h = n;
  for (let i = s; i < e; i++) {
    const c = src[i]!;
    if (c >= 0x80) {
      at = e;
      return src.utf8Slice(s, e);
    }
    h = Math.imul(h ^ c, 0x01000193);
  }
  h = (h ^ (h >>> 15)) & KEY_CACHE_MASK;
  const cached = cache[h]!;
  at = e;
  if (cached.length === n) {
    let i = 0;
    while (i < n && cached.charCodeAt(i) === src[s + i]) i++;
    if (i === n) return cached;
  }
  const k = n < 13 ? asciiString(s, e) : src.latin1Slice(s, e);
  cache[h] = k;
  return k;
}

/** An object key: any string tag. */
function readKey(): string {
  if (at >= end) throw bad('truncated');
  const t = src[at++]!;
  let k: string;
  if ((t & 0xe0) === FIXSTR) k = readCachedKey(t & 31);
  else if (t === T_STR8) {
    need(1);
    const n = src[at++]!;
    k = n <= MAX_CACHED_KEY ? readCachedKey(n) : readString(n);
  } else if (t === T_STR32) k = readString(readU32());
  else if (t === T_UTF16) k = readUtf16();
  else throw bad(`an object key must be a string (tag 0x${t.toString(16)})`);
  if (k === '__proto__') throw bad('a "__proto__" key (C3)');
  return k;
}

function readUtf16(): string {
  const n = readU32();
  need(n * 2);
  const s = src.ucs2Slice(at, at + n * 2);
  at += n * 2;
  return s;
}

function readFloat64(): number {
  need(8);
  const f = src.readDoubleLE(at);
  at += 8;
  return f;
}

function readBigInt(neg: boolean): bigint {
  const n = readU32();
  need(n);
  if (n === 0) {
    if (neg) throw bad('a negative zero bigint');
    return 0n;
  }
  if (src[at] === 0) throw bad('a bigint with a leading zero byte');
  const hex = src.toString('hex', at, at + n);
  at += n;
  let b: bigint;
  try {
    b = BigInt('0x' + hex);
  } catch {
    throw bad('a bigint too large for this runtime');
  }
  return neg ? -b : b;
}

function readBytes(asBuffer: boolean): Uint8Array {
  const n = readU32();
  need(n);
  const out = asBuffer ? Buffer.allocUnsafe(n) : new Uint8Array(n);
  src.copy(out, 0, at, at + n);
  at += n;
  return out;
}

function checkDepth(depth: number): void {
  if (depth >= MAX_DEPTH) throw bad(`nesting deeper than ${MAX_DEPTH} levels`);
}

function readArray(n: number, depth: number): unknown[] {
  checkDepth(depth);
  // Every element takes at least one byte, so an array whose length fits in what is left is
  // allocated at its size: an array grown by push keeps spare capacity (17 slots for 2 elements),
  // which a near cache holding decoded values pays for on every entry. A longer claimed length
  // can only be a run of holes (or corrupt): that array grows as it is read, never up front.
  const a: unknown[] = n <= end - at ? new Array<unknown>(n) : [];
  let i = 0;
  while (i < n) {
    if (at >= end) throw bad('truncated array');
    if (src[at] === T_HOLES) {
      at++;
      const c = readU32();
      if (c === 0 || c > n - i) throw bad('a run of holes past the array length');
      i += c;
      if (a.length < i) a.length = i;
    } else {
      a[i++] = read(depth + 1);
    }
  }
  return a;
}

function readObject(n: number, depth: number): Record<string, unknown> {
  checkDepth(depth);
  const o: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const k = readKey();
    const v = read(depth + 1);
    // Plain assignment unless Object.prototype has that key (a setter could run, or a frozen
    // prototype would make the assignment throw).
    if (k in OBJECT_PROTO) Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
    else o[k] = v;
  }
  return o;
}

function readMap(depth: number): Map<unknown, unknown> {
  checkDepth(depth);
  const n = readU32();
  const m = new Map<unknown, unknown>();
  for (let i = 0; i < n; i++) {
    const k = read(depth + 1);
    m.set(k, read(depth + 1));
  }
  return m;
}

function readSet(depth: number): Set<unknown> {
  checkDepth(depth);
  const n = readU32();
  const s = new Set<unknown>();
  for (let i = 0; i < n; i++) s.add(read(depth + 1));
  return s;
}

function read(depth: number): unknown {
  if (at >= end) throw bad('truncated');
  const t = src[at++]!;
  if (t < 0x80) return t;
  if (t < 0xa0) return (t & 31) <= MAX_CACHED_VALUE ? readCachedKey(t & 31, valueCache) : readString(t & 31);
  if (t < 0xb0) return readArray(t & 15, depth);
  if (t < 0xc0) return readObject(t & 15, depth);
  if (t >= 0xe0) return t - 0x100;
  switch (t) {
    case T_NULL:
      return null;
    case T_UNDEFINED:
      if (depth === 0) throw bad('undefined at the top level');
      return undefined;
    case T_FALSE:
      return false;
    case T_TRUE:
      return true;
    case T_INT8:
      need(1);
      return (src[at++]! << 24) >> 24;
    case T_INT16: {
      need(2);
      const n = ((src[at]! | (src[at + 1]! << 8)) << 16) >> 16;
      at += 2;
      return n;
    }
    case T_INT32:
      return readU32() | 0;
    case T_FLOAT64:
      return readFloat64();
    case T_STR8:
      need(1);
      return readString(src[at++]!);
    case T_STR32:
      return readString(readU32());
    case T_UTF16:
      return readUtf16();
    case T_ARRAY:
      return readArray(readU32(), depth);
    case T_OBJECT:
      return readObject(readU32(), depth);
    case T_MAP:
      return readMap(depth);
    case T_SET:
      return readSet(depth);
    case T_DATE:
      return new Date(readFloat64());
    case T_BIGINT_POS:
      return readBigInt(false);
    case T_BIGINT_NEG:
      return readBigInt(true);
    case T_U8:
      return readBytes(false);
    case T_BUFFER:
      return readBytes(true);
    case T_HOLES:
      throw bad('a hole outside an array');
    default:
      throw bad(`unknown tag 0x${t.toString(16)}`);
  }
}

/**
 * True when the bytes are an ASCII decimal integer as Redis `INCRBY` writes them
 * (`-?(0|[1-9][0-9]*)`, at most 20 characters, not `-0`).
 */
export function isIntegerCounter(b: Uint8Array): boolean {
  const n = b.length;
  if (n === 0 || n > 20) return false;
  let i = 0;
  if (b[0] === 0x2d) {
    if (n === 1) return false;
    i = 1;
  }
  const first = b[i]!;
  if (first === 0x30) return n === i + 1 && i === 0; // "0" (but not "-0"), no leading zeros
  for (; i < n; i++) {
    const c = b[i]!;
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function asBuffer(b: Uint8Array): FastBuffer {
  return (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)) as FastBuffer;
}

/**
 * Decodes stored bytes (C3): an envelope, or an ASCII integer counter (read as a number).
 * Anything malformed, truncated, of an unknown version or followed by trailing bytes throws
 * `DecodeError`; nothing else is ever thrown for any input.
 */
export function decodeValue(bytes: Uint8Array): unknown {
  if (!(bytes instanceof Uint8Array)) throw new DecodeError(`stored value is not decodable: not bytes but ${typeof bytes}`);
  const b = asBuffer(bytes);
  if (b.length === 0) throw new DecodeError('stored value is not decodable: empty');
  if (b[0] !== CODEC_MAGIC) {
    if (isIntegerCounter(b)) return Number(b.latin1Slice(0, b.length));
    throw new DecodeError('stored value is not decodable: not a larder envelope nor an integer counter');
  }
  if (b.length < 2) throw new DecodeError('stored value is not decodable: truncated envelope');
  if (b[1] !== CODEC_VERSION) {
    throw new DecodeError(`stored value is not decodable: unknown format version ${b[1]} (this larder reads version ${CODEC_VERSION})`);
  }
  const nested = decoding;
  const saved = nested ? { src, at, end } : null;
  decoding = true;
  src = b;
  at = 2;
  end = b.length;
  try {
    const v = read(0);
    if (at !== end) throw bad(`${end - at} trailing bytes`);
    return v;
  } finally {
    if (saved !== null) ({ src, at, end } = saved);
    else {
      decoding = false;
      src = EMPTY; // do not keep the caller's bytes alive
    }
  }
}

const EMPTY = Buffer.alloc(0) as FastBuffer;

/** The built-in codec (C3), as a `Codec` object; `encode` applies {@link DEFAULT_MAX_BYTES}. */
export const defaultCodec: Codec = Object.freeze({
  encode: (value: unknown): Buffer => encodeValue(value, DEFAULT_MAX_BYTES),
  decode: (bytes: Buffer): unknown => decodeValue(bytes),
});
