/**
 * One measurement of the max-bytes scenario, in a process of its own (run with --expose-gc):
 *
 *   max-bytes-child.ts <memory|near> <small|large> <limit bytes> [redis url]
 *
 * Opens one larder cache whose bound is `limit` bytes (`memory.maxBytes` on a private embedded
 * store, or `nearCache.maxBytes` in front of Redis), writes and then reads far more distinct keys
 * than fit (so the bound evicts all along and what is kept is what reads keep: decoded values),
 * and prints one JSON line: the process memory the cache holds (V8 heap + ArrayBuffers, after
 * full GCs, minus the same reading taken after the cache was opened and warmed up), its own
 * accounted bytes and its entry count. The keys and values are made inside a function and not
 * kept by this script, so what stays is what the cache holds.
 */
import { createCache } from '../../src/index.js';
import { createMemoryStore } from '../../src/stores/memory/index.js';
import { largeValue, smallValue } from './workload.js';

const [kind, size, limitArg, url] = process.argv.slice(2) as [string, string, string, string | undefined];
const limit = Number(limitArg);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');
const held = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

const store = kind === 'memory' ? createMemoryStore({ maxBytes: limit, maxEntries: 10_000_000 }) : undefined;
const cache =
  store !== undefined
    ? createCache({ store, namespace: 'mb' })
    : createCache({ store: url!, namespace: 'mb', nearCache: { maxEntries: 10_000_000, maxBytes: limit } });
// Warm-up: connections, tracking, code paths; then the baseline reading.
await cache.setValue('warm', smallValue(0));
await cache.getValue('warm');
if (cache.core.near !== null) await cache.core.near.whenActive();
await cache.deleteValue('warm');
const before = held();

/** Writes then reads `n` distinct keys, each value made here and dropped by this function. */
async function fill(n: number): Promise<void> {
  const value = size === 'small' ? smallValue : (i: number) => ({ ...largeValue(i), body: (largeValue(i).body as string).slice(0, 2000) + String(i) });
  const batch = 200;
  for (let i = 0; i < n; i += batch) {
    const keys = Array.from({ length: Math.min(batch, n - i) }, (_, j) => `item:${i + j}`);
    await Promise.all(keys.map((k, j) => cache.setValue(k, value(i + j))));
    await Promise.all(keys.map((k) => cache.getValue(k)));
  }
}
const per = size === 'small' ? 400 : 2300; // roughly what one entry counts, to write ~4× the bound
await fill(Math.ceil((4 * limit) / per));
const after = held();
const near = cache.core.near;
const stats = store !== undefined ? (store as unknown as { stats(): { bytes: number; entries: number } }).stats() : { bytes: near!.bytes, entries: near!.size };
process.stdout.write(`${JSON.stringify({ held: after - before, accounted: stats.bytes, entries: stats.entries })}\n`);
await cache.close();
process.exit(0);
