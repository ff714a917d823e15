/**
 * Large values: 100 keys holding a 100 KB record each (102,400 characters of pseudo-random
 * base-64 text plus a name), read-only and write-only, every system. The cost here is the bytes:
 * encoding, copying through the socket, and on Redis the transfer itself.
 */
import type { Versus } from '../baseline.js';
import type { Scenario, Summary, Table } from '../scenario.js';
import { ratio } from '../scenario.js';
import { largeValue, mix } from '../workload.js';
import { runThroughput } from './throughput.js';
import { fmt } from '../../lib.js';

const KEYS = 100;
const SYSTEMS = ['larder-memory', 'larder-redis', 'larder-near', 'ioredis', 'map', 'async-map', 'bento-memory', 'bento-redis', 'bento-tiered', 'cm-memory', 'cm-redis'] as const;

export const largeValues: Scenario = {
  id: 'large-values',
  title: 'Large values (100 KB)',
  async run(ctx) {
    // One concurrency: 100 KB transfers dominate and c=1 adds minutes to the run without a new finding.
    const concurrencies = [16];
    const values = Array.from({ length: KEYS }, (_, i) => largeValue(i));
    const tables: Table[] = [];
    const charts = [];
    const summary: Summary[] = [];
    const versus: Versus[] = [];
    for (const [label, writes] of [
      ['reads', 0],
      ['writes', 1],
    ] as const) {
      ctx.log(` ${label}`);
      const run = await runThroughput(ctx, {
        systems: SYSTEMS,
        mix: mix('big:', KEYS, writes),
        values,
        concurrencies,
        chart: { file: `large-values-${label}.svg`, title: `Large values: 100 keys × 100 KB, 100% ${label}` },
        caption: `100 KB ${label}: ops/s (median); "larder ÷ it": larder of the same tier divided by the system`,
        label: `${label} `,
      });
      versus.push(...run.versus);
      tables.push(run.table);
      charts.push(run.chart);
      const c = concurrencies[concurrencies.length - 1]!;
      const peers = ['bentocache (Redis)', 'cache-manager (Redis)'];
      const best = peers.reduce((a, b) => (run.ops(a, c) >= run.ops(b, c) ? a : b));
      const l = run.ops('larder (Redis)', c);
      summary.push({
        scenario: `100 KB ${label}, Redis (c=${c})`,
        larder: `${fmt(l)} ops/s`,
        peer: `${best}: ${fmt(run.ops(best, c))} ops/s`,
        ratio: ratio(l / run.ops(best, c)),
        target: '—',
        met: null,
      });
    }
    return {
      method: `${KEYS} keys, uniform-ish (Zipf over 100 keys), each value a record with a 100 KB string body; one table and chart for reads (all hits) and one for writes.`,
      tables,
      charts,
      summary,
      notes: [],
      versus,
    };
  },
};
