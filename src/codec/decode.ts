/**
 * The decoder (C3): stored bytes back to a value, an envelope of `format.ts` or an integer
 * counter. Every store read goes through it, and the bytes may come from a store someone else
 * can write to, so it is both tuned and defensive.
 *
 * ## Decoding untrusted bytes
 *
 * Every length is checked against the bytes that remain before anything is allocated (a corrupt
 * length throws `DecodeError`; nothing is allocated beyond what the input could hold), nesting is
 * limited to {@link MAX_DEPTH}, no code is evaluated, a `__proto__` key is a `DecodeError`, and
 * keys that exist on `Object.prototype` (`constructor`, `toString`…) are defined with
 * `Object.defineProperty`, so no setter on `Object.prototype` runs (and a frozen
 * `Object.prototype` does not make decoding fail). Decoded bytes and strings are copies: nothing
 * decoded shares memory with the input. Invalid UTF-8 inside a string decodes with U+FFFD.
 *
 * ## State
 *
 * Like the encoder's, the decoder's state is in module variables, and every reader moves `at`,
 * so the readers all live in this file. No user code runs while decoding (no setters are
 * triggered, no getters read), but a nested call would still be handled by save/restore.
 */

import { DecodeError } from '../errors.js';
import type { FastBuffer } from './fast-buffer.js';
import {
  CODEC_MAGIC, CODEC_VERSION, FIXSTR, MAX_DEPTH,
  T_ARRAY, T_BIGINT_NEG, T_BIGINT_POS, T_BUFFER, T_DATE, T_FALSE, T_FLOAT64, T_HOLES, T_INT16, T_INT32, T_INT8,
  T_MAP, T_NULL, T_OBJECT, T_SET, T_STR32, T_STR8, T_TRUE, T_U8, T_UNDEFINED, T_UTF16,
} from './format.js';

// readObject asks whether a key exists on Object.prototype; the encoder keeps its own alias too.
const OBJECT_PROTO: object = Object.prototype;

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
  if (k === '__proto__') throw bad('a "__proto__" key');
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

/**
 * Constructors of plain objects by property count: V8 sizes the objects a constructor makes by
 * the properties its first instances receive (in-object slack tracking), so an object of n
 * properties made by PLAIN[n] holds them all in itself. One made as `{}` has room for four: the
 * fifth and later go to a separate property array (32 B more for a five-property record, which a
 * near cache or embedded store keeping decoded values pays on every entry). Their prototype is
 * Object.prototype, so what they make is a plain object in every observable way (prototype,
 * `constructor`, deep equality, inspection).
 */
const PLAIN: Array<new () => Record<string, unknown>> = [];
for (let n = 0; n <= 16; n++) {
  const Plain = function (this: Record<string, unknown>) {
    // readObject gives each instance its properties.
  } as unknown as { new (): Record<string, unknown>; prototype: object };
  Plain.prototype = Object.prototype;
  PLAIN.push(Plain);
}

function readObject(n: number, depth: number): Record<string, unknown> {
  checkDepth(depth);
  const o: Record<string, unknown> = n < PLAIN.length ? new PLAIN[n]!() : {};
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
