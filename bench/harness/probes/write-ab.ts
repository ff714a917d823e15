/**
 * setValue on the embedded store, this checkout against another (a baseline's src/index.ts), in
 * one process: process CPU time of 100,000 sequential awaited writes, best of 7 alternating rounds.
 *
 *   node --conditions=larder-source --import tsx bench/harness/probes/write-ab.ts /path/to/baseline [redis url: Redis + near cache]
 * PROBE_ONLY=current|base runs one (for --cpu-prof).
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as current from '../../../src/index.js';
import { mix, smallValue } from '../workload.js';

const dir = process.argv[2]!;
const base = (await import(pathToFileURL(join(dir, 'src', 'index.ts')).href)) as typeof current;
const m = mix('item:', 10_000, 0);
const values = m.keys.map((_, i) => smallValue(i));
const url = process.argv[3];
const near = { maxEntries: 100_000 };
const systems = [
  ['current', current.createCache(url === undefined ? { store: current.createMemoryStore({ maxEntries: 100_000 }), namespace: 'a' } : { store: url, nearCache: near, namespace: 'a' })],
  ['base', base.createCache(url === undefined ? { store: base.createMemoryStore({ maxEntries: 100_000 }), namespace: 'b' } : { store: url, nearCache: near, namespace: 'b' })],
] as const;
for (const [, c] of systems) await c.exists('warm-up');
const only = process.env.PROBE_ONLY;
const run = only === undefined ? systems : systems.filter(([n]) => n === only);
const opts = { expiresInSec: 3600 };
const N = url === undefined ? 100_000 : 10_000;
const best = new Map<string, number>();
for (let r = 0; r < 7; r++) {
  for (const [n, cache] of r % 2 ? [...run].reverse() : run) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < N; i++) {
      const k = m.seq[i & m.mask]!;
      await cache.setValue(m.keys[k]!, values[k], opts);
    }
    const t = process.cpuUsage(t0);
    best.set(n, Math.min(best.get(n) ?? Infinity, ((t.user + t.system) * 1000) / N));
  }
}
for (const [n, ns] of best) console.log(`cpu  ${n.padEnd(10)} ${ns.toFixed(0)} ns/op`);
process.exit(0);
