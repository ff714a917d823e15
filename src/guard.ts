/**
 * Every store call goes through here: it is bounded by `commandTimeoutMs` (F4), its failure is
 * counted and reported (O1, O2), and the `onStoreError` policy decides what the caller sees (F2).
 *
 *   read    degrade: a failure is a miss (the fallback value); throw: the error
 *   write   degrade: a failure drops the write; throw: the error
 *   strict  always the error (incr, locks: F5, LK7)
 *
 * Only unavailability (StoreUnavailableError, StoreTimeoutError) is degraded. An error the store
 * answered with (a WRONGTYPE, say) is a bug in the call and is always thrown.
 *
 * Timeouts use one shared coarse timer instead of a timer per call: a call costs a Set insert and
 * delete, and a late call is failed within `commandTimeoutMs` plus one tick of the timer.
 */

import { ClosedError, LarderError, StoreError, StoreTimeoutError, StoreUnavailableError, isUnavailability } from './errors.js';
import type { Emitter, CacheStats } from './observability.js';

interface Pending {
  deadline: number;
  expire: () => void;
}

export class Deadlines {
  readonly #pending = new Set<Pending>();
  readonly #timeoutMs: number;
  readonly #tickMs: number;
  #timer: NodeJS.Timeout | undefined;
  #idle = false;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
    this.#tickMs = Math.max(2, Math.min(25, Math.floor(timeoutMs / 10)));
  }

  /** Resolves or rejects as `p` does, or rejects with StoreTimeoutError once the deadline passes. */
  bound<T>(p: Promise<T>, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Pending = {
        deadline: performance.now() + this.#timeoutMs,
        expire: () => reject(new StoreTimeoutError(`${what} did not answer within ${this.#timeoutMs} ms`)),
      };
      this.#pending.add(entry);
      if (this.#timer === undefined) this.#start();
      this.#idle = false;
      p.then(
        (v) => {
          this.#pending.delete(entry);
          resolve(v);
        },
        (e) => {
          this.#pending.delete(entry);
          reject(e);
        },
      );
    });
  }

  #start(): void {
    this.#timer = setInterval(() => {
      const now = performance.now();
      for (const e of this.#pending) {
        if (e.deadline <= now) {
          this.#pending.delete(e);
          e.expire();
        }
      }
      // Stop only after a whole idle tick, so a steady trickle of calls does not create a timer each.
      if (this.#pending.size === 0) {
        if (this.#idle) this.stop();
        this.#idle = true;
      } else this.#idle = false;
    }, this.#tickMs);
    // Not unref()'d: a pending call must end in its answer or its timeout, never in the process
    // exiting under it. The timer stops as soon as nothing is pending.
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

export type StoreErrorPolicy = 'degrade' | 'throw';

export class StoreGuard {
  readonly #deadlines: Deadlines | undefined;
  readonly #policy: StoreErrorPolicy;
  readonly #stats: CacheStats;
  readonly #events: Emitter;
  closed = false;

  /** `bounded: false` for stores that answer synchronously (the embedded one): no timer needed. */
  constructor(opts: { timeoutMs: number; bounded: boolean; policy: StoreErrorPolicy; stats: CacheStats; events: Emitter }) {
    this.#deadlines = opts.bounded ? new Deadlines(opts.timeoutMs) : undefined;
    this.#policy = opts.policy;
    this.#stats = opts.stats;
    this.#events = opts.events;
  }

  /** Runs a read; on unavailability in degrade mode resolves to `fallback`. */
  async read<T, F>(what: string, op: () => Promise<T>, fallback: F): Promise<T | F> {
    try {
      return await this.#run(what, op);
    } catch (err) {
      if (this.#policy === 'degrade' && isUnavailability(err)) return fallback;
      throw err;
    }
  }

  /** Runs a write; on unavailability in degrade mode the write is dropped. */
  async write<T>(what: string, op: () => Promise<T>): Promise<T | undefined> {
    try {
      return await this.#run(what, op);
    } catch (err) {
      if (this.#policy === 'degrade' && isUnavailability(err)) return undefined;
      throw err;
    }
  }

  /** Runs a call that must never be faked (incr, locks): every failure is thrown. */
  strict<T>(what: string, op: () => Promise<T>): Promise<T> {
    return this.#run(what, op);
  }

  /** Counts and emits an error that did not come from a store call (a decode failure, say). */
  report(err: Error): void {
    const code = (err as { code?: string }).code ?? 'E_UNKNOWN';
    this.#stats.errors[code] = (this.#stats.errors[code] ?? 0) + 1;
    this.#events.emit('error', err);
  }

  async #run<T>(what: string, op: () => Promise<T>): Promise<T> {
    if (this.closed) throw new ClosedError();
    try {
      const p = op();
      return await (this.#deadlines ? this.#deadlines.bound(p, what) : p);
    } catch (raw) {
      const err = normalise(raw, what);
      this.report(err);
      throw err;
    }
  }

  close(): void {
    this.closed = true;
    this.#deadlines?.stop();
  }
}

/** Anything a custom store throws becomes a typed error (F1). */
function normalise(err: unknown, what: string): Error {
  if (err instanceof LarderError || err instanceof TypeError) return err;
  if (err instanceof Error && /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|closed|not writeable/i.test(err.message)) {
    return new StoreUnavailableError(`${what}: ${err.message}`, { cause: err });
  }
  return new StoreError(`${what} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
