/**
 * Workloads: which key each operation touches, whether it reads or writes, and the values.
 * Everything is precomputed from a fixed seed, so every system replays exactly the same sequence
 * and generating it costs nothing inside the measured loop.
 */

/** mulberry32: a small, fast, seeded PRNG (reproducible sequences, no dependency). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Zipf-distributed ranks in [0, n): rank r is drawn with probability ∝ 1/(r+1)^s, by inverting the
 * cumulative distribution with a binary search. s = 0.99 is YCSB's default skew: a few keys take
 * most reads, a long tail gets the rest — the shape of a real cache's traffic.
 */
export function zipf(n: number, length: number, s: number, random: () => number): Uint32Array {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let r = 0; r < n; r++) cdf[r] = sum += 1 / Math.pow(r + 1, s);
  const out = new Uint32Array(length);
  for (let i = 0; i < length; i++) {
    const u = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    out[i] = lo;
  }
  return out;
}

export interface Mix {
  keys: string[];
  /** seq[j]: index into keys of operation j (j = i & mask). */
  seq: Uint32Array;
  /** write[j] = 1: operation j writes, else it reads. */
  write: Uint8Array;
  mask: number;
}

/**
 * A read/write mix over `n` keys named `<prefix><i>`, Zipf-distributed, `writeFraction` of the
 * operations writes. Hot ranks are scattered over the key names (a shuffled rank→key map), so the
 * hottest keys are not also the lexically first ones.
 */
export function mix(prefix: string, n: number, writeFraction: number, seed = 7): Mix {
  const random = rng(seed);
  const LENGTH = 1 << 16;
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  const ranks = zipf(n, LENGTH, 0.99, random);
  const seq = new Uint32Array(LENGTH);
  const write = new Uint8Array(LENGTH);
  for (let j = 0; j < LENGTH; j++) {
    seq[j] = perm[ranks[j]!]!;
    write[j] = random() < writeFraction ? 1 : 0;
  }
  return { keys: Array.from({ length: n }, (_, i) => `${prefix}${i}`), seq, write, mask: LENGTH - 1 };
}

/** A typical small cached record (~80 bytes encoded): the values of every throughput scenario. */
export function smallValue(i: number): Record<string, unknown> {
  return { name: `ITEM-${String(i).padStart(5, '0')}`, rate: 120.5, uom: 'Nos', tags: ['a', 'b'], disabled: false };
}

/**
 * A 100 KB value: a record whose body is 102,400 characters of pseudo-random base-64 text (no
 * run a serializer could shortcut; JSON needs no escaping, so every system carries the same bytes).
 */
export function largeValue(i: number): Record<string, unknown> {
  largeBody ??= randomText(102_400);
  return { name: `DOC-${i}`, body: largeBody };
}
let largeBody: string | undefined;

function randomText(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const random = rng(99);
  let s = '';
  for (let i = 0; i < length; i++) s += alphabet[Math.floor(random() * 64)]!;
  return s;
}
