/**
 * Memory per cached entry: 100,000 distinct small records, each system in a fresh child process
 * (--expose-gc), heap after two full GCs before and after writing and reading every entry
 * once; the keys and values are created after the first reading and not kept by the harness, so
 * the difference is what the cache itself retains (its keys, its values in its own form, its
 * bookkeeping). For systems that keep data in Redis, also Redis `used_memory` before and after,
 * on a server of its own flushed between systems.
 *
 * Target (issues 7 and 12): larder ≤ 1.2× a plain Map's heap bytes per entry (Map<key, value>).
 */
import { Redis } from 'ioredis';
import type { Setup } from '../adapter.js';
import { spawnChild } from '../children.js';
import { startBenchRedis, usedMemory } from '../redis.js';
import type { Chart, Scenario, Summary } from '../scenario.js';
import { ratio } from '../scenario.js';
import { alternate, median } from '../../lib.js';
import { versus } from '../baseline.js';
import { withTwins, type CacheId } from '../systems.js';

const SYSTEMS: Array<{ id: CacheId; name: string; role: 'larder' | 'peer' | 'bound'; heap: boolean; redis: boolean }> = [
  { id: 'map', name: 'Map<key, value>', role: 'bound', heap: true, redis: false },
  { id: 'larder-memory', name: 'larder (embedded)', role: 'larder', heap: true, redis: false },
  { id: 'larder-near', name: 'larder (Redis + near cache)', role: 'larder', heap: true, redis: true },
  { id: 'bento-memory', name: 'bentocache (memory)', role: 'peer', heap: true, redis: false },
  { id: 'bento-tiered', name: 'bentocache (memory+Redis+bus)', role: 'peer', heap: true, redis: true },
  { id: 'cm-memory', name: 'cache-manager (memory)', role: 'peer', heap: true, redis: false },
  { id: 'ioredis', name: 'raw ioredis (larder codec)', role: 'bound', heap: false, redis: true },
  { id: 'larder-redis', name: 'larder (Redis)', role: 'larder', heap: false, redis: true },
  { id: 'bento-redis', name: 'bentocache (Redis)', role: 'peer', heap: false, redis: true },
  { id: 'cm-redis', name: 'cache-manager (Redis)', role: 'peer', heap: false, redis: true },
];

interface Sample {
  /** V8 heap + ArrayBuffer bytes per entry */
  heap: number;
  /** of which ArrayBuffer bytes (Buffer contents, outside the V8 heap) */
  buffers: number;
  redis: number;
}

export const memory: Scenario = {
  id: 'memory',
  title: 'Memory per 100k cached entries',
  async run(ctx) {
    const entries = ctx.quick ? 20_000 : 100_000;
    const rounds = ctx.quick ? 1 : 3;
    const systems = withTwins(SYSTEMS, ctx.baseline);
    const server = await startBenchRedis();
    const admin = new Redis(server.url);
    try {
      const setup: Setup = { ...ctx.setup, redisUrl: server.url, host: server.host, port: server.port };
      const samples = await alternate(
        systems.map((s) => s.name),
        rounds,
        async (name): Promise<Sample> => {
          const s = systems.find((x) => x.name === name)!;
          await admin.flushall();
          const child = spawnChild(['memory', s.id, JSON.stringify(setup), String(entries)], { exposeGc: true });
          try {
            await child.next(); // ready: connected and warmed up
            const before = await usedMemory(admin);
            child.send({ type: 'fill' });
            const { heapPerEntry, buffersPerEntry } = await child.next<{ heapPerEntry: number; buffersPerEntry: number }>();
            const after = await usedMemory(admin);
            return { heap: heapPerEntry + buffersPerEntry, buffers: buffersPerEntry, redis: (after - before) / entries };
          } finally {
            await child.exit();
          }
        },
      );
      const heapOf = (name: string) => median(samples.get(name)!.map((x) => x.heap));
      const redisOf = (name: string) => median(samples.get(name)!.map((x) => x.redis));
      const buffersOf = (name: string) => median(samples.get(name)!.map((x) => x.buffers));
      const mapHeap = heapOf('Map<key, value>');
      const rawRedis = redisOf('raw ioredis (larder codec)');
      const rows = [['system', 'process bytes / entry (heap + buffers)', 'of which buffers', 'vs Map', 'Redis used_memory bytes / entry', 'vs raw SET']];
      for (const s of systems) {
        rows.push([
          s.role === 'bound' ? `${s.name} (bound)` : s.name,
          s.heap ? heapOf(s.name).toFixed(0) : '—',
          s.heap ? buffersOf(s.name).toFixed(0) : '—',
          s.heap ? ratio(heapOf(s.name) / mapHeap) : '—',
          s.redis ? redisOf(s.name).toFixed(0) : '—',
          s.redis ? ratio(redisOf(s.name) / rawRedis) : '—',
        ]);
        ctx.log(`    ${s.name.padEnd(32)} heap ${heapOf(s.name).toFixed(0)} B, redis ${redisOf(s.name).toFixed(0)} B per entry`);
      }
      const bars = (pick: (s: (typeof systems)[number]) => boolean, of: (n: string) => number) =>
        systems.filter(pick).map((s) => ({ label: s.name, value: of(s.name), role: s.role, text: `${of(s.name).toFixed(0)} B` }));
      const chart: Chart = {
        file: 'memory.svg',
        title: `Memory per cached entry (${entries / 1000}k small records) — lower is better`,
        axis: 'bytes per entry, median of the rounds',
        log: false,
        groups: [
          { label: 'process memory (V8 heapUsed + ArrayBuffers, after GC)', bars: bars((s) => s.heap, heapOf) },
          { label: 'Redis used_memory', bars: bars((s) => s.redis, redisOf) },
        ],
      };
      const summary: Summary[] = ['larder (embedded)', 'larder (Redis + near cache)'].map((n) => ({
        scenario: `heap per entry, ${n}`,
        larder: `${heapOf(n).toFixed(0)} B`,
        peer: `Map<key, value>: ${mapHeap.toFixed(0)} B`,
        ratio: ratio(heapOf(n) / mapHeap),
        target: '≤ 1.2×',
        met: heapOf(n) / mapHeap <= 1.2,
      }));
      summary.push({
        scenario: 'Redis used_memory per entry, larder (Redis)',
        larder: `${redisOf('larder (Redis)').toFixed(0)} B`,
        peer: `raw SET: ${rawRedis.toFixed(0)} B`,
        ratio: ratio(redisOf('larder (Redis)') / rawRedis),
        target: '—',
        met: null,
      });
      return {
        method:
          `${entries.toLocaleString('en')} keys \`item:<n>\`, each a distinct small record (the hit-heavy value), written with each system's bulk ` +
          `write and then read once (so every tier holds it). One fresh child process per system and round (${rounds} round${rounds > 1 ? 's' : ''}, ` +
          `median), memory measured after \`gc()\` twice as V8 \`heapUsed\` plus \`arrayBuffers\` (Buffer contents live outside the V8 heap). The \`Map\` bound holds the caller's key strings and value objects as they are; ` +
          `larder's embedded store and its near cache both hold deep-frozen decoded values under physical keys (the embedded store drops a value's bytes once it was read). Redis figures ` +
          `come from a redis-server of this scenario's own, flushed between systems; the raw bound is SET of the larder-encoded bytes under a short key, with a TTL.`,
        tables: [{ caption: 'bytes per entry (median); ratios against the bound of the same column', rows }],
        charts: [chart],
        summary,
        notes: [],
        versus: [
          ...versus(systems.filter((s) => s.heap).map((s) => s.name), ctx.baseline, 'process bytes / entry', 'lower', heapOf),
          ...versus(systems.filter((s) => s.redis).map((s) => s.name), ctx.baseline, 'Redis used_memory bytes / entry', 'lower', redisOf),
        ],
      };
    } finally {
      admin.disconnect();
      await server.stop();
    }
  },
};
