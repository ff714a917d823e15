/**
 * An estimate of the heap a decoded value holds, for the bounds that count memory (the embedded
 * store's and the near cache's `maxBytes`) once they keep decoded values instead of bytes. The
 * figures are V8's on 64-bit Node without pointer compression (Node's default build): an object
 * header of 24 bytes and 8 per property slot, an array's header and backing store, a string's 16
 * byte header and one or two bytes per character, 16 for a number that is not a small integer.
 * Checked against measured heap in bench/harness/scenarios/max-bytes.ts; an estimate, not a count.
 *
 * Linear in what the value holds, never in what it claims: a sparse array is walked by its own
 * keys once its length is past what a dense walk may cost (SPEC Z1).
 */
const OBJECT = 24;
const SLOT = 8;
const ARRAY = 32 + 16;
const STRING = 16;
const NUMBER = 16;
/** Past this length an array is walked by its own keys (it may be mostly holes). */
const DENSE_WALK = 100_000;

export function heapSize(v: unknown): number {
  switch (typeof v) {
    case 'string':
      return stringSize(v);
    case 'number':
      return Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31 ? 0 : NUMBER;
    case 'bigint':
      return NUMBER + 8 * Math.ceil(v.toString(16).length / 16);
    case 'object':
      if (v === null) return 0;
      return Array.isArray(v) ? arraySize(v as unknown[]) : objectSize(v as Record<string, unknown>);
    default:
      return 0;
  }
}

/** Heap bytes of a flat string. */
export function stringSize(s: string): number {
  // One byte per character unless a character needs two (V8's one-byte and two-byte strings).
  // eslint-disable-next-line no-control-regex -- the test is for anything outside latin1
  const wide = s.length > 0 && /[^\u0000-\u00ff]/.test(s);
  return STRING + align((wide ? 2 : 1) * s.length);
}

function arraySize(a: unknown[]): number {
  let n = ARRAY + SLOT * a.length;
  if (a.length > DENSE_WALK) {
    n = ARRAY;
    for (const k of Object.keys(a)) n += SLOT + heapSize(a[k as unknown as number]);
    return n;
  }
  for (const x of a) n += heapSize(x);
  return n;
}

function objectSize(o: Record<string, unknown>): number {
  let n = OBJECT;
  for (const k of Object.keys(o)) n += SLOT + heapSize(o[k]);
  return n;
}

function align(n: number): number {
  return (n + 7) & ~7;
}
