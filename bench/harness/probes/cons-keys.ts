/**
 * Probe behind the memory figures: bytes per entry (V8 heapUsed + arrayBuffers after GC) of
 * 100,000 small records held in different ways, each in a fresh process (this file re-runs itself
 * with --expose-gc and the kind as argument):
 *   map-object        Map<caller's key, value object>        (the harness' bound)
 *   map-bytes-flat    Map<physical key, flat copy, encoded bytes>
 *   map-bytes-cons    Map<physicalKey() as returned, encoded bytes>   (a cons string: a tree of its parts)
 *   store-written     larder's embedded store after setMany only
 *   store-read        the same after every key was read once with getValue
 * The difference between the cons and flat rows is what an unflattened physical key costs.
 *
 *   node --conditions=larder-source --import tsx bench/harness/probes/cons-keys.ts
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createCache, createMemoryStore, defaultCodec } from '../../../src/index.js';
import { physicalKey } from '../../../src/keys.js';
import { smallValue } from '../workload.js';

const N = 100_000;
const KINDS = ['map-object', 'map-bytes-flat', 'map-bytes-cons', 'store-written', 'store-read'];
const kind = process.argv[2];
if (kind === undefined) {
  for (const k of KINDS) {
    const out = execFileSync(process.execPath, ['--expose-gc', '--conditions=larder-source', '--import', 'tsx', fileURLToPath(import.meta.url), k]);
    process.stdout.write(out);
  }
  process.exit(0);
}
const gc = (globalThis as { gc?: () => void }).gc!;
const bytes = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const scope = { namespace: 'bench', user: null, shared: false };
const keep: unknown[] = [];
const fill = async () => {
  if (kind === 'map-object') keep.push(new Map(Array.from({ length: N }, (_, i) => [`item:${i}`, smallValue(i)])));
  if (kind === 'map-bytes-flat') keep.push(new Map(Array.from({ length: N }, (_, i) => [Buffer.from(physicalKey(scope, 'k', `item:${i}`)).toString(), defaultCodec.encode(smallValue(i))])));
  if (kind === 'map-bytes-cons') keep.push(new Map(Array.from({ length: N }, (_, i) => [physicalKey(scope, 'k', `item:${i}`), defaultCodec.encode(smallValue(i))])));
  if (kind === 'store-written' || kind === 'store-read') {
    const store = createMemoryStore({ maxEntries: 1_000_000 });
    const cache = createCache({ store, namespace: 'bench' });
    for (let i = 0; i < N; i += 1000) await cache.setMany(Array.from({ length: 1000 }, (_, j) => [`item:${i + j}`, smallValue(i + j)] as [string, unknown]), { expiresInSec: 3600 });
    if (kind === 'store-read') for (let i = 0; i < N; i++) await cache.getValue(`item:${i}`);
    keep.push(store, cache);
  }
};
const b0 = bytes();
await fill();
console.log(`${kind.padEnd(16)} ${((bytes() - b0) / N).toFixed(0)} bytes / entry${keep.length > 0 ? '' : ''}`);
