/**
 * Probe behind the tag hit figures (issue 15): larder getValue of 10,000 untagged and 10,000
 * tagged keys (two tags each) at concurrency 64, 3 alternating rounds, on Redis with or without
 * the near cache; then the near/store hit counters (a tagged entry must stay near: no misses).
 *
 *   node --conditions=larder-source --import tsx bench/harness/probes/tag-hits.ts [redis|near] [u,t]
 * Add --cpu-prof to the node flags (with `t` as second argument to profile tagged reads alone).
 */
import { createCache } from '../../../src/index.js';
import { startRedis } from '../../../test/support/redis-server.js';
import { throughputClocked } from '../../lib.js';
const server = await startRedis();
const N = 10000;
const mode = process.argv[2] ?? 'redis';
const c = createCache({ store: server.url, namespace: 'p', ...(mode === 'near' ? { nearCache: { maxEntries: 100000 } } : {}) });
const value = (i: number) => ({ code: `ITEM-${i}`, rate: i * 1.5, uom: 'Nos', groups: ['a', 'b'] });
for (let i = 0; i < N; i++) { await c.setValue(`u${i}`, value(i)); await c.setValue(`t${i}`, value(i), { tags: [`g:${i % 100}`, 'doctype:Item'] }); }
if (mode === 'near') { await c.core.near!.whenActive(); }
for (let i = 0; i < N; i++) { await c.getValue(`u${i}`); await c.getValue(`t${i}`); }
const s0 = c.stats();
for (let r = 0; r < 3; r++) for (const p of (process.argv[3] ?? 'u,t').split(',')) {
  const m = await throughputClocked((i) => c.getValue(`${p}${i % N}`), 64, 1000);
  console.log(p, Math.round(m.opsPerSec));
}
const s1 = c.stats();
console.log('near hits', s1.near.hits - s0.near.hits, 'near misses', s1.near.misses - s0.near.misses, 'store hits', s1.store.hits - s0.store.hits);
await c.close(); await server.stop(); process.exit(0);
