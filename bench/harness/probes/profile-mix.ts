/**
 * Probe for a --baseline regression: one system alone on a throughput scenario's mix, for a CPU
 * profile of it. Run it twice, once with the current system and once with its twin, and compare
 * the profiles' self time (bench/harness/probes/profile-top.ts).
 *
 *   node --cpu-prof --cpu-prof-dir=DIR --conditions=larder-source --import tsx \
 *     bench/harness/probes/profile-mix.ts <system id, e.g. larder-redis or larder-redis@/path> <mix> <concurrency> [seconds=8]
 *
 * mix: hit (hit-heavy: 10k Zipf keys, 5% writes), read (memory-hits: no writes), write
 * (write-heavy: 95% writes), large-read / large-write (large values: 100 keys × 100 KB); or, with
 * a lock system's id (larder-lock, larder-lock-memory), lock: the locks scenario's uncontended
 * loop, each of `concurrency` workers acquiring and releasing a lock of its own.
 */
import { Redis } from 'ioredis';
import { startRedis } from '../../../test/support/redis-server.js';
import { fillWith, type Setup } from '../adapter.js';
import { compareMix } from '../measure.js';
import { isCacheId, openCache, openLock, type LockId } from '../systems.js';
import { fmt } from '../../lib.js';
import { largeValue, mix, smallValue } from '../workload.js';

const [id = '', kind = 'hit', cArg = '64', secArg = '8'] = process.argv.slice(2);
if (kind === 'lock') {
  const server = await startRedis();
  try {
    const a = await openLock(id as LockId, { redisUrl: server.url, host: server.host, port: server.port, maxEntries: 200_000 });
    const loop = async (ms: number) => {
      let ops = 0;
      const end = performance.now() + ms;
      await Promise.all(
        Array.from({ length: Number(cArg) }, async (_, w) => {
          while (performance.now() < end) {
            await a.release(await a.acquire(`solo-${w}`));
            ops++;
          }
        }),
      );
      return ops / (ms / 1000);
    };
    await loop(1000);
    console.log(`${a.name}, lock c=${cArg}: ${fmt(await loop(Number(secArg) * 1000))} acquire+release/s`);
    await a.close();
  } finally {
    await server.stop();
  }
  process.exit(0);
}
if (!isCacheId(id)) throw new Error(`unknown system ${id}`);
const large = kind.startsWith('large-');
const writes = { hit: 0.05, read: 0, write: 0.95, 'large-read': 0, 'large-write': 1 }[kind];
if (writes === undefined) throw new Error(`unknown mix ${kind}`);
const n = large ? 100 : 10_000;
const m = mix(large ? 'big:' : 'item:', n, writes);
const values = Array.from({ length: n }, (_, i) => (large ? largeValue(i) : smallValue(i)));
const server = await startRedis();
try {
  const setup: Setup = { redisUrl: server.url, host: server.host, port: server.port, maxEntries: 200_000 };
  const a = await openCache(id, setup);
  const entries = m.keys.map((k, i) => [k, values[i]] as [string, unknown]);
  await a.fill(entries);
  await fillWith(entries, (k) => a.get(k));
  const admin = new Redis(server.url);
  await admin.config('RESETSTAT');
  const r = await compareMix([a], m, values, Number(cArg), { rounds: 1, durationMs: Number(secArg) * 1000, warmupMs: 1000 });
  const t = r.get(a.name)!;
  console.log(`${a.name}, ${kind} c=${cArg}: ${fmt(t.median)} ops/s (errors ${t.errors}, misses ${t.misses})`);
  // What the server did meanwhile (warm-up included): calls per command.
  const stats = (await admin.info('commandstats')).match(/cmdstat_\w+:calls=\d+/g) ?? [];
  console.log(`  server: ${stats.map((x) => x.replace(/^cmdstat_(\w+):calls=/, '$1 ')).join(', ')}`);
  admin.disconnect();
  await a.close();
} finally {
  await server.stop();
}
