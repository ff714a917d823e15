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
  } catch {}
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  return `node ${process.version}, ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${redis}`;
}
