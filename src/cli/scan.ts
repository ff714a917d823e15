/**
 * The command line's one way of walking a keyspace (OP1): SCAN with a bounded COUNT on every
 * master, paced to at most `rate` keys a second, with a progress bar on stderr once the walk
 * has taken more than a second. Never KEYS. Each batch may be followed by one pipeline of
 * per-key reads (PTTL, MEMORY USAGE, TYPE) on the same master, so a scan costs the server a
 * few cheap commands per key, spread out in time.
 */
import type { Redis } from 'ioredis';
import { SingleBar } from 'cli-progress';
import type { Writable } from 'node:stream';

export interface ScanLimits {
  /** SCAN's COUNT hint per call. */
  count: number;
  /** At most this many keys a second, over all masters together. */
  rate: number;
}

export const DEFAULT_LIMITS: ScanLimits = { count: 200, rate: 20_000 };

export interface ScanIo {
  stderr: Writable;
  /** No progress bar (`--quiet`). */
  quiet: boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A progress bar that appears only once the work has run for a second (OP1), on stderr, so
 * stdout stays a clean table or JSON document.
 */
export class Progress {
  readonly #io: ScanIo;
  readonly #label: string;
  readonly #started = Date.now();
  #bar: SingleBar | null = null;
  #total = 0;
  #done = 0;

  constructor(io: ScanIo, label: string, total: number) {
    this.#io = io;
    this.#label = label;
    this.#total = Math.max(total, 1);
  }

  update(done: number): void {
    this.#done = done;
    if (this.#io.quiet) return;
    if (this.#bar === null) {
      if (Date.now() - this.#started < 1000) return;
      this.#bar = new SingleBar({
        stream: this.#io.stderr,
        format: `${this.#label} [{bar}] {percentage}% | {value}/{total} keys | {duration}s`,
        noTTYOutput: true,
        notTTYSchedule: 1000,
        hideCursor: false,
        etaBuffer: 50,
      });
      this.#bar.start(this.#total, 0);
    }
    if (this.#done > this.#total) this.#bar.setTotal((this.#total = this.#done));
    this.#bar.update(this.#done);
  }

  stop(): void {
    if (this.#bar !== null) {
      this.#bar.update(this.#done);
      this.#bar.stop();
    }
  }
}

/** DBSIZE of every master: the progress bar's total (an upper bound on what a MATCH scan sees). */
async function sizeOf(masters: Redis[]): Promise<number> {
  let total = 0;
  for (const m of masters) {
    try {
      total += await m.dbsize();
    } catch {
      // A user refused DBSIZE still scans; the bar then grows as it goes.
    }
  }
  return total;
}

/**
 * Scans `match` on every master, batch by batch, paced and with progress. `onBatch` gets each
 * batch with the master it came from (for follow-up reads on that node).
 */
export async function scanAll(
  masters: Redis[],
  match: string,
  limits: ScanLimits,
  io: ScanIo,
  label: string,
  onBatch: (keys: string[], node: Redis) => Promise<void>,
): Promise<number> {
  const progress = new Progress(io, label, await sizeOf(masters));
  const started = Date.now();
  let seen = 0;
  try {
    for (const node of masters) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', limits.count);
        cursor = next;
        if (keys.length > 0) {
          await onBatch(keys, node);
          seen += keys.length;
        }
        progress.update(seen);
        // Pace: `seen` keys should have taken seen / rate seconds at least.
        const ahead = (seen / limits.rate) * 1000 - (Date.now() - started);
        if (ahead > 0) await sleep(ahead);
      } while (cursor !== '0');
    }
  } finally {
    progress.stop();
  }
  return seen;
}
