/**
 * Probe behind the near-cache hit figures: larder getValue served by the near cache against the
 * awaited async Map bound and a synchronous cache.peek() wrapped in an async function, on the
 * harness' 10,000 Zipf keys, all hits; 3 alternating rounds.
 *
 *   node --conditions=larder-source --import tsx bench/harness/probes/near-hit.ts [concurrency=1] [ms=800]
 * Add --cpu-prof to the node flags for a profile of the hit path.
 */
import { createCache } from '../../../src/index.js';
import { startRedis } from '../../../test/support/redis-server.js';
import { fmt, throughputClocked } from '../../lib.js';
import { mix, smallValue } from '../workload.js';

const c = Number(process.argv[2] ?? 1);
const ms = Number(process.argv[3] ?? 800);
const server = await startRedis();
try {
  const cache = createCache({ store: server.url, namespace: 'probe', nearCache: { maxEntries: 200_000 } });
  await cache.exists('warm-up');
  await cache.core.near!.whenActive();
  const m = mix('item:', 10_000, 0);
  for (let i = 0; i < m.keys.length; i++) await cache.setValue(m.keys[i]!, smallValue(i), { expiresInSec: 3600 }); // kept near (N1)
  const map = new Map(m.keys.map((k, i) => [k, Object.freeze(smallValue(i))]));
  const key = (i: number) => m.keys[m.seq[i & m.mask]!]!;
  const systems: Array<[string, (i: number) => unknown]> = [
    ['async Map (awaited)', async (i) => map.get(key(i))],
    ['larder getValue (near hit)', (i) => cache.getValue(key(i))],
    ['larder peek in an async fn', async (i) => cache.peek(key(i))],
  ];
  for (let r = 0; r < 3; r++) {
    for (const [n, op] of r % 2 ? [...systems].reverse() : systems) console.log(`round ${r}  ${n.padEnd(28)} ${fmt((await throughputClocked(op, c, ms)).opsPerSec)}`);
  }
  // CPU time of a fixed count of sequential awaited calls, best of 7 alternating rounds (steadier
  // than wall-clock throughput on a loaded machine; see memory-hit.ts).
  const N = 200_000;
  const best = new Map<string, number>();
  for (let r = 0; r < 7; r++) {
    for (const [n, op] of r % 2 ? [...systems].reverse() : systems) {
      const t0 = process.cpuUsage();
      for (let i = 0; i < N; i++) await op(i);
      const t = process.cpuUsage(t0);
      best.set(n, Math.min(best.get(n) ?? Infinity, ((t.user + t.system) * 1000) / N));
    }
  }
  const bound = best.get('async Map (awaited)')!;
  for (const [n, ns] of best) console.log(`cpu  ${n.padEnd(28)} ${ns.toFixed(0)} ns/op  bound ÷ it ${(bound / ns).toFixed(2)}×`);
  const s = cache.stats();
  console.log(`near hits ${s.near.hits}, store reads ${s.store.hits + s.store.misses}`);
  await cache.close();
} finally {
  await server.stop();
}
process.exit(0);
