/**
 * Write-heavy: the hit-heavy key sequence with the proportions turned round, 95% writes / 5%
 * reads, every system. No target: it shows what a write costs in each set-up (on larder's near
 * cache a write also re-tracks the key so the writer sees it at once, N1; on bentocache's tiered
 * stack it also publishes on the bus).
 */
import type { Scenario, Summary } from '../scenario.js';
import { ratio } from '../scenario.js';
import { mix, smallValue } from '../workload.js';
import { runThroughput } from './throughput.js';
import { fmt } from '../../lib.js';

const KEYS = 10_000;

export const writeHeavy: Scenario = {
  id: 'write-heavy',
  title: 'Write-heavy (Zipf, 95% writes)',
  async run(ctx) {
    const concurrencies = ctx.quick ? [64] : [1, 64];
    const run = await runThroughput(ctx, {
      systems: ['larder-memory', 'larder-redis', 'larder-near', 'ioredis', 'map', 'async-map', 'bento-memory', 'bento-redis', 'bento-tiered', 'cm-memory', 'cm-redis'],
      mix: mix('item:', KEYS, 0.95),
      values: Array.from({ length: KEYS }, (_, i) => smallValue(i)),
      concurrencies,
      chart: { file: 'write-heavy.svg', title: 'Write-heavy: 10k keys, Zipf 0.99, 95% writes / 5% reads' },
      caption: 'ops/s (median); "larder ÷ it": larder of the same tier divided by the system',
    });
    const c = 64;
    const summary: Summary[] = [];
    for (const [l, peers] of [
      ['larder (Redis)', ['bentocache (Redis)', 'cache-manager (Redis)']],
      ['larder (Redis + near cache)', ['bentocache (memory+Redis+bus)']],
    ] as const) {
      const best = peers.reduce((a, b) => (run.ops(a, c) >= run.ops(b, c) ? a : b));
      summary.push({
        scenario: `write-heavy, ${l} vs best peer of its tier (c=${c})`,
        larder: `${fmt(run.ops(l, c))} ops/s`,
        peer: `${best}: ${fmt(run.ops(best, c))} ops/s`,
        ratio: ratio(run.ops(l, c) / run.ops(best, c)),
        target: '—',
        met: null,
      });
    }
    return {
      method: `As hit-heavy, with 95% of the operations writes (a \`set\` with a 1 h TTL on every system that takes one) and 5% reads.`,
      tables: [run.table],
      charts: [run.chart],
      summary,
      notes: [],
      versus: run.versus,
    };
  },
};
