/**
 * Codec throughput: larder's built-in codec against msgpackr (`useRecords: false`, the mode that
 * writes plain MessagePack) and JSON (stringify + Buffer.from / toString + parse, i.e. to and from
 * the bytes a store holds), encode and decode, on four values:
 *
 * - a short string (22 chars), a small object (10 fields, mixed types), an array of 100 such
 *   objects, a 100 KB ASCII string.
 *
 * Every system runs alternately in the same process, over several rounds (each measurement a
 * closed loop of `MEASURE_MS`), after a warm-up; the table reports the median ops/s per system and
 * larder's ratio to msgpackr (> 1 means larder is faster). Synchronous, CPU only, no store.
 *
 *   node --import tsx bench/codec.ts
 */
import os from 'node:os';
import { Packr, Unpackr } from 'msgpackr';
import { encodeValue, decodeValue } from '../src/codec/index.js';

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const MEASURE_MS = Number(process.env.MEASURE_MS ?? 100);
const MAX = 64 * 1024 * 1024;

const smallObject = (i: number) => ({
  id: 10_000 + i,
  name: `Item ${i} — Standard`,
  sku: 'SKU-000123',
  price: 19.99 + i,
  qty: i % 7,
  active: i % 2 === 0,
  discount: null,
  tags: ['retail', 'taxable'],
  dims: { w: 12, h: 3.5 },
  updatedAt: 1_717_171_717_000 + i,
});

const cases: Array<[string, unknown]> = [
  ['short string', 'Standard Selling Price'],
  ['small object', smallObject(1)],
  ['100 objects', Array.from({ length: 100 }, (_, i) => smallObject(i))],
  ['100 KB string', 'lorem ipsum dolor sit amet '.repeat(4000).slice(0, 100_000)],
];

interface Sys {
  name: string;
  encode: (v: unknown) => Uint8Array;
  decode: (b: Uint8Array) => unknown;
}

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });
const systems: Sys[] = [
  { name: 'larder', encode: (v) => encodeValue(v, MAX), decode: (b) => decodeValue(b) },
  { name: 'msgpackr', encode: (v) => packr.pack(v), decode: (b) => unpackr.unpack(b) as unknown },
  { name: 'JSON', encode: (v) => Buffer.from(JSON.stringify(v)), decode: (b) => JSON.parse((b as Buffer).toString()) as unknown },
];

let sink = 0;

function opsPerSec(fn: () => void): number {
  let n = 0;
  let batch = 1;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < MEASURE_MS) {
    for (let i = 0; i < batch; i++) fn();
    n += batch;
    if (batch < 1024) batch *= 2;
    t = performance.now();
  }
  return n / ((t - t0) / 1000);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(0);
}

const rows: string[][] = [];
for (const [label, value] of cases) {
  const encoded = systems.map((s) => s.encode(value));
  const sizes = encoded.map((b) => b.length);
  for (const op of ['encode', 'decode'] as const) {
    const fns = systems.map((s, i) => (op === 'encode' ? () => (sink += s.encode(value).length) : () => (sink += s.decode(encoded[i]!) === null ? 1 : 0)));
    for (const fn of fns) opsPerSec(fn); // warm-up
    const samples: number[][] = systems.map(() => []);
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate the order too, so no system always runs right after another's garbage.
      const order = r % 2 === 0 ? fns.map((_, i) => i) : fns.map((_, i) => fns.length - 1 - i);
      for (const i of order) samples[i]!.push(opsPerSec(fns[i]!));
    }
    const med = samples.map(median);
    rows.push([`${label} (${op})`, ...med.map(fmt), `${(med[0]! / med[1]!).toFixed(2)}×`, op === 'encode' ? sizes.join(' / ') : '']);
  }
}

const header = ['value (op)', ...systems.map((s) => `${s.name} ops/s`), 'larder ÷ msgpackr', 'bytes (larder / msgpackr / JSON)'];
const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
const line = (r: string[]) => r.map((x, c) => (c === 0 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join('  ');
console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} CPUs), ${ROUNDS} rounds × ${MEASURE_MS} ms, medians`);
console.log(line(header));
for (const r of rows) console.log(line(r));
if (sink === 42) console.log('');
