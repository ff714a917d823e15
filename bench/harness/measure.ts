/**
 * Throughput of several adapters at one concurrency, in one process run: a warm-up of each, then
 * `rounds` rounds with the order alternating (lib.alternate), medians reported. An adapter with a
 * synchronous form (the plain Map bound) is measured in a tight synchronous loop instead.
 */
import type { CacheAdapter } from './adapter.js';
import { alternate, median, throughputClocked, throughputSync, type Measured } from '../lib.js';
import type { Mix } from './workload.js';

export interface Timing {
  rounds: number;
  durationMs: number;
  warmupMs: number;
}

export interface Throughput {
  median: number;
  samples: number[];
  errors: number;
  /** Reads that missed although every key was prefilled (a miss served as a "success"). */
  misses: number;
}

const WROTE = true;

/**
 * The operation of mix `m` for adapter `a`: a read (must hit) or a write of `value(key index)`.
 * A write resolves to `true` so that an `undefined` result means exactly "a read missed".
 */
function mixOp(a: CacheAdapter, m: Mix, values: unknown[]): (i: number) => unknown {
  const { keys, seq, write, mask } = m;
  if (a.getSync !== undefined && a.setSync !== undefined) {
    const get = a.getSync;
    const set = a.setSync;
    return (i) => {
      const j = i & mask;
      const k = seq[j]!;
      if (write[j] === 1) {
        set(keys[k]!, values[k]);
        return WROTE;
      }
      return get(keys[k]!);
    };
  }
  const done = () => WROTE;
  return (i) => {
    const j = i & mask;
    const k = seq[j]!;
    return write[j] === 1 ? a.set(keys[k]!, values[k]).then(done) : a.get(keys[k]!);
  };
}

/** One measurement of `a` running mix `m` from `concurrency` workers. */
async function once(a: CacheAdapter, m: Mix, values: unknown[], concurrency: number, durationMs: number): Promise<Measured> {
  const op = mixOp(a, m, values);
  if (a.getSync !== undefined) {
    // A synchronous Map has no concurrency: one loop is all of it. Misses are counted by op.
    let misses = 0;
    const opsPerSec = throughputSync((i) => (op(i) === undefined ? misses++ : 1), durationMs);
    return { opsPerSec, errors: 0, empty: misses };
  }
  return throughputClocked(op, concurrency, durationMs);
}

export async function compareMix(adapters: CacheAdapter[], m: Mix, values: unknown[], concurrency: number, t: Timing): Promise<Map<string, Throughput>> {
  for (const a of adapters) await once(a, m, values, concurrency, t.warmupMs);
  const byName = new Map(adapters.map((a) => [a.name, a]));
  const samples = await alternate(
    adapters.map((a) => a.name),
    t.rounds,
    (name) => once(byName.get(name)!, m, values, concurrency, t.durationMs),
  );
  return new Map(
    [...samples].map(([name, xs]) => [
      name,
      {
        median: median(xs.map((x) => x.opsPerSec)),
        samples: xs.map((x) => x.opsPerSec),
        errors: xs.reduce((n, x) => n + x.errors, 0),
        misses: xs.reduce((n, x) => n + x.empty, 0),
      },
    ]),
  );
}
