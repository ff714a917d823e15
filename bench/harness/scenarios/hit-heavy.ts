/**
 * Hit-heavy reads: 10,000 keys, Zipf-distributed (s = 0.99), 95% reads / 5% writes, every key
 * prefilled so every read hits; concurrency 1, 64 and 1,024 closed-loop workers. Every system.
 *
 * Targets (issue 7): larder on Redis without near cache ≥ 0.85× raw ioredis at c=1 and ≥ 1.5× at
 * c=64 (larder coalesces the reads of one tick into one MGET; raw ioredis sends one GET each),
 * and ≥ 1.5× bentocache and cache-manager on the same Redis at c=64.
 */
import type { Scenario, Summary } from '../scenario.js';
import { ratio } from '../scenario.js';
import { mix, smallValue } from '../workload.js';
import { runThroughput } from './throughput.js';
import { fmt } from '../../lib.js';

const KEYS = 10_000;

export const hitHeavy: Scenario = {
  id: 'hit-heavy',
  title: 'Hit-heavy reads (Zipf, 95% reads)',
  async run(ctx) {
    const concurrencies = [1, 64, 1024];
    const run = await runThroughput(ctx, {
      systems: ['larder-memory', 'larder-redis', 'larder-near', 'ioredis', 'map', 'async-map', 'bento-memory', 'bento-redis', 'bento-tiered', 'cm-memory', 'cm-redis'],
      mix: mix('item:', KEYS, 0.05),
      values: Array.from({ length: KEYS }, (_, i) => smallValue(i)),
      concurrencies,
      chart: { file: 'hit-heavy.svg', title: 'Hit-heavy: 10k keys, Zipf 0.99, 95% reads / 5% writes' },
      caption: 'ops/s (median of the rounds); "larder ÷ it": larder of the same tier divided by the system (> 1: larder is faster)',
    });
    const L = 'larder (Redis)';
    const line = (label: string, c: number, other: string, goal: number): Summary => {
      const l = run.ops(L, c);
      const o = run.ops(other, c);
      return {
        scenario: `${label} (c=${c})`,
        larder: `${fmt(l)} ops/s`,
        peer: `${other}: ${fmt(o)} ops/s`,
        ratio: ratio(l / o),
        target: `≥ ${goal}×`,
        met: l / o >= goal,
      };
    };
    const summary: Summary[] = [
      line('Redis hits vs raw ioredis', 1, 'raw ioredis', 0.85),
      line('Redis hits vs raw ioredis', 64, 'raw ioredis', 1.5),
      line('Redis hits vs bentocache', 64, 'bentocache (Redis)', 1.5),
      line('Redis hits vs cache-manager', 64, 'cache-manager (Redis)', 1.5),
    ];
    // At c=1024 there is no target; the best Redis-tier peer for the record.
    const peers = ['bentocache (Redis)', 'cache-manager (Redis)'];
    const best = peers.reduce((a, b) => (run.ops(a, 1024) >= run.ops(b, 1024) ? a : b));
    summary.push({ ...line('Redis hits vs best Redis peer', 1024, best, 0), target: '—', met: null });
    return {
      method:
        `${fmt(KEYS)} keys \`item:<n>\` holding a small record (~80 bytes encoded), all prefilled; the operation sequence ` +
        `(Zipf s = 0.99 over a shuffled rank→key map, 5% of operations writes of the same value) is precomputed from a fixed seed ` +
        `and replayed identically by every system; \`c\` closed-loop workers each await one operation after another. ` +
        `The plain \`Map\` is read synchronously in a tight loop (no concurrency applies); the async \`Map\` is an \`async\` function ` +
        `returning a \`Map\` lookup, awaited.`,
      tables: [run.table],
      charts: [run.chart],
      summary,
      notes: [],
      versus: run.versus,
    };
  },
};
