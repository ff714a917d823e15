/**
 * Probe behind the Redis hit figures: larder getValue/setValue against raw ioredis on the
 * harness' hit-heavy mix (10,000 Zipf keys) with 5% writes and with none, at one concurrency,
 * 5 alternating rounds; larder's store command counters show how many reads one MGET carried.
 *
 *   node --conditions=larder-source --import tsx bench/harness/probes/redis-hits.ts [concurrency=64]
 * Add --cpu-prof to the node flags (with `larder` as second argument to run larder alone).
 */
import { startRedis } from '../../../test/support/redis-server.js';
import type { Setup } from '../adapter.js';
import { compareMix } from '../measure.js';
import { closeAll, openCaches } from '../systems.js';
import { fmt } from '../../lib.js';
import { mix, smallValue } from '../workload.js';
import { fillWith } from '../adapter.js';

const c = Number(process.argv[2] ?? 64);
const only = process.argv[3];
const server = await startRedis();
try {
  const setup: Setup = { redisUrl: server.url, host: server.host, port: server.port, maxEntries: 200_000 };
  const adapters = await openCaches(only === 'larder' ? ['larder-redis'] : ['larder-redis', 'ioredis'], setup);
  const values = Array.from({ length: 10_000 }, (_, i) => smallValue(i));
  for (const writes of [0.05, 0]) {
    const m = mix('item:', 10_000, writes);
    const entries = m.keys.map((k, i) => [k, values[i]] as [string, unknown]);
    for (const a of adapters) {
      await a.fill(entries);
      await fillWith(entries, (k) => a.get(k));
    }
    const info0 = await server.cli('INFO', 'commandstats');
    const r = await compareMix(adapters, m, values, c, { rounds: 5, durationMs: only ? 4000 : 1000, warmupMs: 300 });
    const info1 = await server.cli('INFO', 'commandstats');
    const calls = (info: string, cmd: string) => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
    console.log(`writes ${writes * 100}%, concurrency ${c}: ${[...r].map(([n, t]) => `${n} ${fmt(t.median)}`).join(', ')}` +
      ` — server: ${calls(info1, 'mget') - calls(info0, 'mget')} MGET, ${calls(info1, 'get') - calls(info0, 'get')} GET, ${calls(info1, 'set') - calls(info0, 'set')} SET`);
  }
  await closeAll(adapters);
} finally {
  await server.stop();
}
process.exit(0);
