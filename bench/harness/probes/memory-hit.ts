/**
 * Probe behind the embedded-store hit figures: larder getValue on the embedded store (plain, and
 * with a generator that never runs) against the awaited async Map bound, on the harness' 10,000
 * Zipf keys, all hits; 3 alternating rounds.
 *
 *   node --conditions=larder-source --import tsx bench/harness/probes/memory-hit.ts [concurrency=1] [ms=800]
 * Add --cpu-prof to the node flags for a profile of the hit path (profile-top.ts reads it), and
 * PROBE_ONLY=embedded to run one system alone.
 */
import { createCache } from '../../../src/index.js';
import { fmt, throughputClocked } from '../../lib.js';
import { mix, smallValue } from '../workload.js';

const c = Number(process.argv[2] ?? 1);
const ms = Number(process.argv[3] ?? 800);
const cache = createCache({ store: 'memory', namespace: 'probe' });
const m = mix('item:', 10_000, 0);
for (let i = 0; i < m.keys.length; i++) await cache.setValue(m.keys[i]!, smallValue(i), { expiresInSec: 3600 });
const map = new Map(m.keys.map((k, i) => [k, Object.freeze(smallValue(i))]));
const key = (i: number) => m.keys[m.seq[i & m.mask]!]!;
const never = () => {
  throw new Error('a hit must not call the generator');
};
const systems: Array<[string, (i: number) => unknown]> = [
  ['async Map (awaited)', async (i) => map.get(key(i))],
  ['larder getValue (embedded)', (i) => cache.getValue(key(i))],
  ['larder getValue + generator', (i) => cache.getValue(key(i), { generator: never, expiresInSec: 3600 })],
];
const only = process.env.PROBE_ONLY; // a substring of one system's name: profile that one alone
const run = only === undefined ? systems : systems.filter(([n]) => n.includes(only));
for (let r = 0; r < 3; r++) {
  for (const [n, op] of r % 2 ? [...run].reverse() : run) console.log(`round ${r}  ${n.padEnd(28)} ${fmt((await throughputClocked(op, c, ms)).opsPerSec)}`);
}
// CPU time of a fixed count of sequential awaited calls, best of 7 alternating rounds: on a
// loaded shared machine the minimum of process CPU time is steadier than wall-clock throughput.
const N = 200_000;
const best = new Map<string, number>();
for (let r = 0; r < 7; r++) {
  for (const [n, op] of r % 2 ? [...run].reverse() : run) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < N; i++) await op(i);
    const t = process.cpuUsage(t0);
    const ns = ((t.user + t.system) * 1000) / N;
    best.set(n, Math.min(best.get(n) ?? Infinity, ns));
  }
}
const bound = best.get('async Map (awaited)');
for (const [n, ns] of best) console.log(`cpu  ${n.padEnd(28)} ${ns.toFixed(0)} ns/op${bound === undefined ? '' : `  bound ÷ it ${(bound / ns).toFixed(2)}×`}`);
const s = cache.stats();
console.log(`store hits ${s.store.hits}, misses ${s.store.misses}, generator runs ${s.generatorRuns}`);
await cache.close();
process.exit(0);
