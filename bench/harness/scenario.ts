/**
 * What a scenario is and what it hands to the report. A scenario measures; it never formats
 * Markdown beyond its own tables, and never writes files: report.ts and svg.ts do that.
 */
import type { Role, Setup } from './adapter.js';
import type { Baseline, Versus } from './baseline.js';
import type { Timing } from './measure.js';
import type { RedisServer } from '../../test/support/redis-server.js';

export interface Context {
  quick: boolean;
  /** The shared server every Redis system of the scenario uses; flushed before each scenario. */
  redis: RedisServer;
  setup: Setup;
  /** Throughput timing for this run (quick or full). */
  timing: Timing;
  /** --baseline: every larder system also runs as a twin loaded from this checkout. */
  baseline?: Baseline;
  log(line: string): void;
}

export interface Bar {
  label: string;
  /** null: the system does not offer this (drawn as "not offered"). */
  value: number | null;
  role: Role;
  /** Printed at the end of the bar; default: the value formatted. */
  text?: string;
}

export interface Chart {
  /** File name under bench/charts/. */
  file: string;
  title: string;
  /** What the axis measures, e.g. "ops/s (log scale)". */
  axis: string;
  /** Logarithmic axis: upper bounds can be 100× the Redis systems on the same chart. */
  log: boolean;
  groups: Array<{ label: string; bars: Bar[] }>;
}

/** One line of the summary table (bench/charts/summary.md, pasted into the README). */
export interface Summary {
  scenario: string;
  larder: string;
  /** The best peer (or the bound a target is set against), with its figure. */
  peer: string;
  ratio: string;
  target: string;
  /** null: no target for this line. */
  met: boolean | null;
  /** When missed: the measured figure and what limits it (shown in BENCHMARKS.md). */
  why?: string;
}

export interface Table {
  caption: string;
  rows: string[][];
}

export interface Result {
  id: string;
  title: string;
  /** What was measured, against what, configured how (Markdown). */
  method: string;
  tables: Table[];
  charts: Chart[];
  summary: Summary[];
  notes: string[];
  /** With --baseline: each larder figure against its twin's (baseline.ts); empty or absent without. */
  versus?: Versus[];
  seconds: number;
}

export interface Scenario {
  id: string;
  title: string;
  run(ctx: Context): Promise<Omit<Result, 'id' | 'title' | 'seconds'>>;
}

export const ratio = (x: number) => (x >= 10 ? `${x.toFixed(0)}×` : `${x.toFixed(2)}×`);
