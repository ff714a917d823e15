/**
 * Probe behind the pattern-delete figures: larder deleteKeys against raw SCAN + UNLINK on the
 * same 1,000,000-key set-up as the scenario (10,000 matching, each side in its own database),
 * with the server's per-command counters for one run of each, 3 alternating rounds.
 *
 *   node --conditions=larder-source --import tsx bench/harness/probes/delete-keys.ts [keys=1000000]
 */
import { startRedis } from '../../../test/support/redis-server.js';
import type { CacheAdapter, Setup } from '../adapter.js';
import { closeAll, openCache } from '../systems.js';
import { median } from '../../lib.js';

const total = Number(process.argv[2] ?? 1_000_000);
const matching = total / 100;
const server = await startRedis();
try {
  const base: Setup = { redisUrl: server.url, host: server.host, port: server.port, maxEntries: 200_000 };
  const adapters: CacheAdapter[] = [await openCache('larder-redis', { ...base, redisUrl: `${server.url}/1` }), await openCache('ioredis', { ...base, redisUrl: `${server.url}/2` })];
  for (const a of adapters) {
    for (let i = 0; i < total - matching; i += 10_000) await a.fill(Array.from({ length: 10_000 }, (_, j) => [`bg:${i + j}`, j] as [string, unknown]));
  }
  const stats = async () => {
    const info = await server.cli('INFO', 'commandstats');
    return new Map([...info.matchAll(/cmdstat_(\w+):calls=(\d+),usec=(\d+)/g)].map((m) => [m[1]!, { calls: Number(m[2]), usec: Number(m[3]) }]));
  };
  const out = new Map<string, number[]>(adapters.map((a) => [a.name, []]));
  for (let r = 0; r < 3; r++) {
    for (const a of r % 2 ? [...adapters].reverse() : adapters) {
      await a.fill(Array.from({ length: matching }, (_, i) => [`del:${i}`, i] as [string, unknown]));
      const s0 = await stats();
      const t = performance.now();
      const n = await a.deleteByPrefix!('del:');
      const ms = performance.now() - t;
      const s1 = await stats();
      out.get(a.name)!.push(ms);
      const diff = [...s1].map(([cmd, v]) => [cmd, v.calls - (s0.get(cmd)?.calls ?? 0), v.usec - (s0.get(cmd)?.usec ?? 0)] as const).filter(([cmd, c]) => c > 0 && cmd !== 'info');
      console.log(`round ${r} ${a.name.padEnd(16)} ${ms.toFixed(0).padStart(5)} ms, ${n} deleted; server: ${diff.map(([cmd, c, us]) => `${cmd} ${c} calls ${(us / 1000).toFixed(0)} ms`).join(', ')}`);
    }
  }
  for (const [n, xs] of out) console.log(`${n.padEnd(16)} median ${median(xs).toFixed(0)} ms`);
  await closeAll(adapters);
} finally {
  await server.stop();
}
process.exit(0);
