/**
 * Pattern delete: 10,000 keys `del:<n>` among 1,000,000 (the rest `bg:<n>`), deleted by prefix.
 * On Redis: larder's `deleteKeys('del:')` (SCAN MATCH COUNT 1000, every scanned key parsed and
 * matched exactly against the pattern, P1/P2, then UNLINK) against the raw bound (SCAN MATCH
 * COUNT 1000 + UNLINK of each batch, no exact check). Each system has a Redis database of its
 * own, so each SCAN walks exactly one million keys. In process: larder's embedded store against
 * one pass over a plain Map. bentocache and cache-manager offer no pattern delete.
 */
import type { CacheAdapter, Setup } from '../adapter.js';
import type { Chart, Scenario, Summary } from '../scenario.js';
import { ratio } from '../scenario.js';
import { alternate, fmt, median } from '../../lib.js';
import { versus } from '../baseline.js';
import { closeAll, openCache, withTwins, type CacheId } from '../systems.js';

const SYSTEMS: Array<{ id: CacheId; db: number; pair: 'redis' | 'memory' }> = [
  { id: 'larder-redis', db: 1, pair: 'redis' },
  { id: 'ioredis', db: 2, pair: 'redis' },
  { id: 'larder-memory', db: 0, pair: 'memory' },
  { id: 'map', db: 0, pair: 'memory' },
];
const count = (n: number) => n.toLocaleString('en');
const NOT_OFFERED = ['bentocache (any set-up)', 'cache-manager (any store)'];

export const patternDelete: Scenario = {
  id: 'pattern-delete',
  title: 'Pattern delete: 10k keys among 1M',
  async run(ctx) {
    const total = ctx.quick ? 100_000 : 1_000_000;
    const matching = total / 100;
    const rounds = ctx.quick ? 2 : 3;
    const adapters: CacheAdapter[] = [];
    // A baseline twin on Redis gets a database of its own too: every SCAN walks one million keys.
    const systems = withTwins(SYSTEMS, ctx.baseline, (s) => ({ db: s.pair === 'redis' ? 3 : 0 }));
    try {
      for (const s of systems) {
        const setup: Setup = { ...ctx.setup, redisUrl: `${ctx.setup.redisUrl}/${s.db}` };
        const a = await openCache(s.id, setup);
        adapters.push(a);
        const t = performance.now();
        for (let i = 0; i < total - matching; i += 10_000) {
          await a.fill(Array.from({ length: Math.min(10_000, total - matching - i) }, (_, j) => [`bg:${i + j}`, i + j] as [string, unknown]));
        }
        ctx.log(`  ${a.name}: ${count(total - matching)} background keys in ${((performance.now() - t) / 1000).toFixed(1)} s`);
      }
      const byName = new Map(adapters.map((a) => [a.name, a]));
      const targets = Array.from({ length: matching }, (_, i) => [`del:${i}`, i] as [string, unknown]);
      const samples = await alternate(
        adapters.map((a) => a.name),
        rounds,
        async (name) => {
          const a = byName.get(name)!;
          await a.fill(targets);
          const t = performance.now();
          const n = await a.deleteByPrefix!('del:');
          const ms = performance.now() - t;
          if (n !== matching) throw new Error(`${name} deleted ${n} of ${matching}`);
          return ms;
        },
      );
      const ms = (name: string) => median(samples.get(name)!);
      const rows = [['system', `delete ${count(matching)} of ${count(total)} keys, ms (median)`, 'keys deleted / s', 'each round, ms', 'larder speed ÷ it']];
      const pairOf = new Map(adapters.map((a, i) => [a.name, systems[i]!.pair]));
      const larderOf = (name: string) => (pairOf.get(name) === 'redis' ? 'larder (Redis)' : 'larder (embedded)');
      for (const a of adapters) {
        const ref = larderOf(a.name);
        rows.push([a.role === 'bound' ? `${a.name} (upper bound)` : a.name, ms(a.name).toFixed(0), fmt(matching / (ms(a.name) / 1000)), samples.get(a.name)!.map((x) => x.toFixed(0)).join(' '), a.name === ref ? '—' : ratio(ms(a.name) / ms(ref))]);
        ctx.log(`    ${a.name.padEnd(32)} ${ms(a.name).toFixed(0)} ms`);
      }
      for (const n of NOT_OFFERED) rows.push([n, 'not offered', '—', '—', '—']);
      const bar = (a: CacheAdapter) => ({ label: a.name, value: ms(a.name), role: a.role, text: `${ms(a.name).toFixed(0)} ms` });
      const chart: Chart = {
        file: 'pattern-delete.svg',
        title: `Pattern delete: ${count(matching)} keys among ${count(total)} — time, lower is better`,
        axis: 'milliseconds, median of the rounds',
        log: false,
        groups: [
          {
            label: 'Redis (SCAN over every key)',
            bars: [...adapters.filter((a) => pairOf.get(a.name) === 'redis').map(bar), ...NOT_OFFERED.map((n) => ({ label: n, value: null, role: 'peer' as const }))],
          },
          { label: 'in process', bars: adapters.filter((a) => pairOf.get(a.name) === 'memory').map(bar) },
        ],
      };
      const summary: Summary[] = [
        {
          scenario: `pattern delete ${count(matching)} among ${count(total)}, Redis`,
          larder: `${ms('larder (Redis)').toFixed(0)} ms`,
          peer: `raw SCAN+UNLINK: ${ms('raw ioredis').toFixed(0)} ms (peers: not offered)`,
          ratio: ratio(ms('raw ioredis') / ms('larder (Redis)')),
          target: '—',
          met: null,
        },
      ];
      return {
        method:
          `${count(total)} keys per system (${count(total - matching)} \`bg:<n>\` and ${count(matching)} \`del:<n>\`, small values), the ${count(matching)} ` +
          `\`del:\` keys rewritten before each of ${rounds} rounds (not timed), systems alternating; time to delete them by prefix, checked to ` +
          `be exactly ${count(matching)}. "larder speed ÷ it" > 1 means larder is faster.`,
        tables: [{ caption: 'time to delete by pattern', rows }],
        charts: [chart],
        summary,
        notes: [],
        versus: versus(adapters.map((a) => a.name), ctx.baseline, `delete ${count(matching)} of ${count(total)} ms`, 'lower', ms),
      };
    } finally {
      await closeAll(adapters);
    }
  },
};
