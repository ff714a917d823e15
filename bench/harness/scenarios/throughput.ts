/**
 * The shared body of the throughput scenarios (hit-heavy, memory hits, write-heavy, large values):
 * open every system, prefill the same keys with the same values, measure the same operation mix
 * at each concurrency (alternating rounds, medians), close everything, and lay the result out as
 * one table and one chart. Ratios compare larder with each system of the same tier.
 */
import { fillWith, type CacheAdapter, type SystemInfo } from '../adapter.js';
import { versus, type Versus } from '../baseline.js';
import { compareMix, type Throughput } from '../measure.js';
import { closeAll, openCaches, withTwinIds, type CacheId } from '../systems.js';
import type { Chart, Context, Table } from '../scenario.js';
import { ratio } from '../scenario.js';
import { fmt } from '../../lib.js';
import type { Mix } from '../workload.js';

export interface ThroughputSpec {
  systems: readonly CacheId[];
  mix: Mix;
  /** values[k]: the value of key k (prefill and writes). */
  values: unknown[];
  concurrencies: number[];
  chart: { file: string; title: string };
  /** Caption of the table. */
  caption: string;
  /** Put before `c=<n> ops/s` in the --baseline figures, where a scenario runs several mixes. */
  label?: string;
}

export interface ThroughputRun {
  /** by concurrency, then system name */
  results: Map<number, Map<string, Throughput>>;
  systems: SystemInfo[];
  table: Table;
  chart: Chart;
  /** The figure of a system at a concurrency. */
  ops(name: string, c: number): number;
  /** --baseline: each larder system's figure at each concurrency against its twin's. */
  versus: Versus[];
}

/** The larder set-up each system is compared with: the one serving hits from the same tier. */
export function larderOf(info: SystemInfo): string {
  return info.tier === 'memory' ? 'larder (embedded)' : info.tier === 'redis' ? 'larder (Redis)' : 'larder (Redis + near cache)';
}

export async function runThroughput(ctx: Context, spec: ThroughputSpec): Promise<ThroughputRun> {
  const adapters: CacheAdapter[] = await openCaches(withTwinIds(spec.systems, ctx.baseline), ctx.setup);
  const results = new Map<number, Map<string, Throughput>>();
  try {
    const entries = spec.mix.keys.map((k, i) => [k, spec.values[i]] as [string, unknown]);
    for (const a of adapters) await a.fill(entries);
    // Read every key once: a bulk fill does not populate every tier (larder's near cache keeps
    // what is read or written one by one, not what setMany wrote), and a cold tail of the Zipf
    // distribution would otherwise be measured as Redis round trips.
    for (const a of adapters) await fillWith(entries, (k) => a.get(k));
    for (const c of spec.concurrencies) {
      ctx.log(`  concurrency ${c}`);
      const r = await compareMix(adapters, spec.mix, spec.values, c, ctx.timing);
      results.set(c, r);
      for (const a of adapters) ctx.log(`    ${a.name.padEnd(36)} ${fmt(r.get(a.name)!.median).padStart(8)} ops/s   rounds: ${r.get(a.name)!.samples.map(fmt).join(' ')}`);
      // A heap that keeps growing from one concurrency to the next would slow every later system.
      ctx.log(`    (process heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB)`);
    }
  } finally {
    await closeAll(adapters);
  }
  const systems: SystemInfo[] = adapters.map(({ name, role, tier }) => ({ name, role, tier }));
  const ops = (name: string, c: number) => results.get(c)!.get(name)!.median;

  const header = ['system', 'tier'];
  for (const c of spec.concurrencies) header.push(`c=${c} ops/s`, `larder ÷ it`);
  header.push('errors / misses');
  const rows = [header];
  for (const s of systems) {
    const row = [s.role === 'bound' ? `${s.name} (upper bound)` : s.name, s.tier];
    let errors = 0;
    let misses = 0;
    for (const c of spec.concurrencies) {
      const t = results.get(c)!.get(s.name)!;
      const ref = larderOf(s);
      row.push(fmt(t.median), s.name === ref ? '—' : ratio(ops(ref, c) / t.median));
      errors += t.errors;
      misses += t.misses;
    }
    row.push(`${errors} / ${misses}`);
    rows.push(row);
  }
  const chart: Chart = {
    file: spec.chart.file,
    title: spec.chart.title,
    axis: 'operations per second, median (log scale)',
    log: true,
    groups: spec.concurrencies.map((c) => ({
      label: `concurrency ${c}`,
      bars: systems.map((s) => ({ label: s.name, value: ops(s.name, c), role: s.role })),
    })),
  };
  const names = systems.map((s) => s.name);
  const vs = spec.concurrencies.flatMap((c) => versus(names, ctx.baseline, `${spec.label ?? ''}c=${c} ops/s`, 'higher', (n) => results.get(c)?.get(n)?.median));
  return { results, systems, table: { caption: spec.caption, rows }, chart, ops, versus: vs };
}
