/**
 * Small benchmark helpers shared by the scripts in bench/: closed-loop throughput at a given
 * concurrency, latency percentiles, medians over alternating rounds, and a plain-text table.
 * Benchmarks are never part of the test suite.
 */
import os from 'node:os';
import { execFileSync } from 'node:child_process';

export interface System {
  name: string;
  /** One operation; `i` is a per-worker counter the op may use to pick a key. */
  op: (i: number) => Promise<unknown>;
}

/** Runs `op` from `concurrency` workers for `durationMs`; returns operations per second. */
export async function throughput(op: (i: number) => Promise<unknown>, concurrency: number, durationMs: number): Promise<number> {
  let ops = 0;
  let stop = false;
  const t0 = performance.now();
  const timer = setTimeout(() => (stop = true), durationMs);
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      let i = w * 7919;
      while (!stop) {
        await op(i++);
        ops++;
      }
    }),
  );
  clearTimeout(timer);
  return ops / ((performance.now() - t0) / 1000);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/**
 * Measures every system at one concurrency, alternating systems within each round so machine
 * noise hits them alike; returns the median ops/s per system.
 */
export async function compare(systems: System[], concurrency: number, opts: { rounds: number; durationMs: number; warmupMs?: number }): Promise<Map<string, number>> {
  for (const s of systems) await throughput(s.op, concurrency, opts.warmupMs ?? 300);
  const results = new Map<string, number[]>(systems.map((s) => [s.name, []]));
  for (let r = 0; r < opts.rounds; r++) {
    const order = r % 2 === 0 ? systems : [...systems].reverse();
    for (const s of order) results.get(s.name)!.push(await throughput(s.op, concurrency, opts.durationMs));
  }
  return new Map([...results].map(([k, v]) => [k, median(v)]));
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => '| ' + r.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ') + ' |';
  return [line(rows[0]!), '| ' + widths.map((w) => '-'.repeat(w)).join(' | ') + ' |', ...rows.slice(1).map(line)].join('\n');
}

export function fmt(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0);
}

export function machine(): string {
  let redis = 'unknown';
  try {
    redis = execFileSync('redis-server', ['--version']).toString().trim().split(' ').slice(0, 3).join(' ');
  } catch {
    // no redis-server on PATH: the line says 'unknown'
  }
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  return `node ${process.version}, ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${redis}`;
}

// ---------------------------------------------------------------------------------------------
// Added for the harness (bench/run.ts). The helpers above keep their signatures.

/** Closed-loop result: successful operations per second, how many threw, how many resolved to `undefined`. */
export interface Measured {
  opsPerSec: number;
  errors: number;
  /** Operations that resolved to `undefined`: misses, where every read should hit. */
  empty: number;
}

/**
 * Like throughput(), but stopped by the clock rather than a timer: a timer never fires while
 * every operation settles in a microtask (a Map lookup, a near-cache hit), so the loop would
 * starve it. The clock is read once per 1,024 operations of all workers together, which costs
 * nothing measurable even for a Map lookup and overshoots by at most one operation per worker.
 * An operation that throws is counted, not fatal: a peer failing under load is a result too.
 * So is one that resolves to `undefined` (a scenario makes every expected outcome something else).
 */
export async function throughputClocked(op: (i: number) => unknown, concurrency: number, durationMs: number): Promise<Measured> {
  let ops = 0;
  let errors = 0;
  let empty = 0;
  let stop = false;
  const t0 = performance.now();
  const end = t0 + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      let i = w * 7919;
      while (!stop) {
        try {
          if ((await op(i++)) === undefined) empty++;
          ops++;
        } catch {
          errors++;
        }
        if (((ops + errors) & 1023) === 0 && performance.now() >= end) stop = true;
      }
    }),
  );
  return { opsPerSec: ops / ((performance.now() - t0) / 1000), errors, empty };
}

/**
 * A synchronous call in a tight loop (the plain `Map` upper bound, which has no async API to
 * await): operations per second. The clock is read every 4,096 calls; results are kept in a sink
 * so the loop cannot be optimised away.
 */
export function throughputSync(fn: (i: number) => unknown, durationMs: number): number {
  let ops = 0;
  let sink = 0;
  const t0 = performance.now();
  const end = t0 + durationMs;
  let i = 0;
  for (;;) {
    for (let k = 0; k < 4096; k++) if (fn(i++) !== undefined) sink++;
    ops += 4096;
    if (performance.now() >= end) break;
  }
  if (sink < 0) console.log(sink);
  return ops / ((performance.now() - t0) / 1000);
}

/**
 * Runs `measure` for every name in `names`, `rounds` times, alternating the order each round
 * (forwards, then backwards) so drift and noise on a shared machine hit every system alike.
 * Returns every sample per name, in round order.
 */
export async function alternate<T>(names: string[], rounds: number, measure: (name: string, round: number) => Promise<T>): Promise<Map<string, T[]>> {
  const out = new Map<string, T[]>(names.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? names : [...names].reverse();
    for (const n of order) out.get(n)!.push(await measure(n, r));
  }
  return out;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  ramGiB: number;
  node: string;
  os: string;
  /** 1-minute load average when the run started: others may share the machine. */
  load: number;
}

export function machineInfo(): MachineInfo {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown cpu',
    cores: os.cpus().length,
    ramGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    load: os.loadavg()[0] ?? 0,
  };
}
