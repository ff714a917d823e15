/**
 * Stable argument digests for memoised functions (M1, M5).
 *
 * The same arguments must give the same key in every process and every run, so the digest is
 * computed from bytes, never from object identity or insertion order:
 *
 *   1. The argument list is checked by the value codec first. Whatever it refuses (functions,
 *      symbols, class instances, cycles: C2) throws `ValueError` — a `TypeError` — naming the
 *      argument (`$[1].fn`), before the memoised function runs.
 *   2. The list is rewritten into a canonical form: plain objects get their keys sorted (so
 *      `{ a, b }` and `{ b, a }` are one argument), Map entries and Set members are sorted by their
 *      encoded bytes (a Map or Set is compared as a collection, not as a sequence), and trailing
 *      `undefined` arguments are dropped (`f(1)` and `f(1, undefined)` are one call in JavaScript).
 *   3. The canonical list is encoded with the codec (deterministic: same value, same bytes) and
 *      hashed with SHA-256; the first 128 bits, base64url, are the digest (22 characters, no `/`).
 *
 * JavaScript has one number type, so `f(120.0, 23)` and `f(120, 23)` are the same call (Frappe's
 * request_cache test). `-0` and `0` differ (the codec keeps `-0`), as do `1` and `1n`.
 */
import { createHash } from 'node:crypto';
import { isDate, isMap, isSet, isUint8Array } from 'node:util/types';
import { encodeValue } from '../codec/index.js';
import { forEachElement, setOwn } from '../elements.js';

/** Digest inputs are small; refuse absurd ones rather than hash megabytes per call. */
const MAX_ARGUMENT_BYTES = 1024 * 1024;

/** The canonical encoded bytes of an argument list (throws ValueError for refused arguments). */
export function canonicalArgumentBytes(args: readonly unknown[]): Buffer {
  let end = args.length;
  while (end > 0 && args[end - 1] === undefined) end--;
  const list = end === args.length ? args : args.slice(0, end);
  // Validate first: the codec detects cycles and excessive depth, so canonicalise() below can
  // recurse without guards, and the error names the offending argument's path.
  const plain = encodeValue(list, MAX_ARGUMENT_BYTES);
  if (!needsCanonicalForm(list)) return plain;
  return encodeValue(canonicalise(list), MAX_ARGUMENT_BYTES);
}

/** The stable digest of an argument list: 22 base64url characters. */
export function argumentDigest(args: readonly unknown[]): string {
  return createHash('sha256').update(canonicalArgumentBytes(args)).digest('base64url').slice(0, 22);
}

/** Fast path: lists of primitives (the common case) are already canonical. */
function needsCanonicalForm(list: readonly unknown[]): boolean {
  for (const v of list) if (typeof v === 'object' && v !== null) return true;
  return false;
}

function compareBytes(a: [Buffer, unknown], b: [Buffer, unknown]): number {
  return Buffer.compare(a[0], b[0]);
}

function canonicalise(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    // Holes stay holes, so `[, 1]` and `[undefined, 1]` differ as the codec says they do. Walked by
    // own elements (Z1): `Array#map` would visit every index of a sparse array's declared length.
    const out = new Array<unknown>(v.length);
    forEachElement(v, (x, i) => {
      out[i] = canonicalise(x);
    });
    return out;
  }
  if (isDate(v) || isUint8Array(v)) return v;
  if (isMap(v)) {
    const entries = [...v].map(([k, val]) => {
      const ck = canonicalise(k);
      return [encodeValue([ck], MAX_ARGUMENT_BYTES), [ck, canonicalise(val)]] as [Buffer, [unknown, unknown]];
    });
    entries.sort(compareBytes);
    return new Map(entries.map((e) => e[1]));
  }
  if (isSet(v)) {
    const members = [...v].map((m) => {
      const cm = canonicalise(m);
      return [encodeValue([cm], MAX_ARGUMENT_BYTES), cm] as [Buffer, unknown];
    });
    members.sort(compareBytes);
    return new Set(members.map((m) => m[1]));
  }
  // A plain object (the codec accepted it): own enumerable string keys, sorted by code unit.
  const out: Record<string, unknown> = {};
  // setOwn: a setter on Object.prototype must neither run nor swallow a key (Z2), or `{ k: 1 }`
  // and `{}` would share a digest.
  for (const k of Object.keys(v).sort()) setOwn(out, k, canonicalise((v as Record<string, unknown>)[k]));
  return out;
}
