/**
 * The encoder (C1, C2, C5): a value to the bytes described in `format.ts`, or a `ValueError`
 * (what is refused, and how the path is named: `refusal.ts`). Every store write goes through it,
 * so it is tuned for V8: change it only with `bench/codec.ts` measured before and after.
 *
 * ## State, and why the whole encoder is this one file
 *
 * State lives in module variables (the fastest access V8 offers here) around one reusable scratch
 * buffer; the result is copied out, since callers keep it. Encoding can run user code (getters,
 * proxies) that may itself call encode: a nested call saves the state, works on fresh buffers, and
 * restores it.
 *
 * Every writer moves `pos`, and may replace `buf`, while a module's variables are read-only to the
 * modules that import them: writers spread over several files would have to reach that state
 * through an object or a setter on every byte they write. So everything that touches the scratch
 * state stays here, past the ~400 lines we aim for; what never touches it (the format constants,
 * the refusal messages and paths) lives beside it.
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
import { ValueError } from '../errors.js';
import type { FastBuffer } from './fast-buffer.js';
import {
  CODEC_MAGIC, CODEC_VERSION, DEFAULT_MAX_BYTES, FIXARRAY, FIXOBJECT, FIXSTR, MAX_DEPTH,
  T_ARRAY, T_BIGINT_NEG, T_BIGINT_POS, T_BUFFER, T_DATE, T_FALSE, T_FLOAT64, T_HOLES, T_INT16, T_INT32, T_INT8,
  T_MAP, T_NULL, T_OBJECT, T_SET, T_STR32, T_STR8, T_TRUE, T_U8, T_UNDEFINED, T_UTF16,
} from './format.js';
import { Refusal, describe, oversize, propSegment } from './refusal.js';

const OBJECT_PROTO: object = Object.prototype;
const ARRAY_PROTO: object = Array.prototype;
const MAP_PROTO: object = Map.prototype;
const SET_PROTO: object = Set.prototype;
const DATE_PROTO: object = Date.prototype;
const U8_PROTO: object = Uint8Array.prototype;
const BUFFER_PROTO = Buffer.prototype as object; // typed any by @types/node
const getPrototypeOf = Object.getPrototypeOf;
const objectKeys = Object.keys;
const hasOwn = Object.hasOwn;
// Only ever called as dateGetTime.call(date): a `getTime` set on the Date itself never runs.
// eslint-disable-next-line @typescript-eslint/unbound-method
const dateGetTime = Date.prototype.getTime;

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
