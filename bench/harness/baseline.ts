/**
 * `--baseline DIR`: larder measured against another checkout of itself in the same run. A change
 * to the core must not make any scenario slower (issue 11: "no harness scenario is more than 5%
 * slower … in the same run"), and figures from two runs on this shared 2-core machine differ by
 * more than that. So every larder system gets a twin loaded from `DIR/src/index.ts`, measured by
 * the same scenario code, in the same alternating rounds, against the same redis-server.
 *
 * A twin's system id is `<id>@<DIR>` (systems.ts), so a child process given that id loads the
 * baseline too; its name is `<name> @<short commit of DIR>`. Each scenario reports, per figure, a
 * Versus: the twin's figure against the current one's.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fmt, table } from '../lib.js';

export interface Baseline {
  /** Absolute path of the checkout; its `src/index.ts` is imported. */
  dir: string;
  /** `git rev-parse --short HEAD` in dir. */
  commit: string;
}

const known = new Map<string, Baseline>();

/** The baseline checkout at `dir` (memoized: children and adapters ask again). Throws if it is not one. */
export function baselineOf(dir: string): Baseline {
  const abs = resolve(dir);
  let b = known.get(abs);
  if (b === undefined) {
    if (!existsSync(join(abs, 'src', 'index.ts'))) throw new Error(`--baseline ${dir}: no src/index.ts there`);
    const commit = execFileSync('git', ['-C', abs, 'rev-parse', '--short', 'HEAD']).toString().trim();
    b = { dir: abs, commit };
    known.set(abs, b);
  }
  return b;
}

export const twinName = (name: string, b: Baseline) => `${name} @${b.commit}`;

/** One figure of a larder system next to the same figure of its baseline twin, same run. */
export interface Versus {
  system: string;
  /** What was measured, e.g. `c=64 ops/s`, `hand-off p99 ms`. */
  metric: string;
  baseline: number;
  current: number;
  /** Whether a higher figure is the better one (throughput) or a lower one (time, bytes). */
  better: 'higher' | 'lower';
}

/**
 * The Versus of every system in `names` whose twin is in `names` too. `value` gives a system's
 * figure; a figure missing on either side (a system not measured for it) is skipped.
 */
export function versus(names: readonly string[], b: Baseline | undefined, metric: string, better: Versus['better'], value: (name: string) => number | undefined): Versus[] {
  if (b === undefined) return [];
  const out: Versus[] = [];
  for (const system of names) {
    const twin = twinName(system, b);
    if (!names.includes(twin)) continue;
    const current = value(system);
    const baseline = value(twin);
    if (current !== undefined && baseline !== undefined) out.push({ system, metric, baseline, current, better });
  }
  return out;
}

/**
 * How much worse the current figure is, as a fraction: 0.05 is "5% slower". For throughput the
 * loss of rate (1 − current/baseline), for times and bytes the growth (current/baseline − 1);
 * negative when the current figure is better.
 */
export function slowdown(v: Versus): number {
  return v.better === 'higher' ? 1 - v.current / v.baseline : v.current / v.baseline - 1;
}

/** The bar: more than this much worse counts as a regression. */
export const TOLERANCE = 0.05;

function verdict(v: Versus): string {
  const s = slowdown(v);
  if (Math.abs(s) <= TOLERANCE) return 'within 5%';
  return s > 0 ? `**slower by ${(s * 100).toFixed(1)}%**` : `better by ${(-s * 100).toFixed(1)}%`;
}

const figure = (x: number, metric: string) => (metric.endsWith('ops/s') ? fmt(x) : x >= 10 ? x.toFixed(0) : x.toPrecision(3));

/** A Markdown table of `vs`, one row per figure: the ratio is always current ÷ baseline. */
export function versusTable(vs: readonly Versus[], b: Baseline): string {
  const rows = [['system', 'figure', `baseline @${b.commit}`, 'current', 'current ÷ baseline', 'verdict']];
  for (const v of vs) rows.push([v.system, `${v.metric} (${v.better} is better)`, figure(v.baseline, v.metric), figure(v.current, v.metric), (v.current / v.baseline).toFixed(3), verdict(v)]);
  return table(rows);
}
