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
 * Timeouts use the clock's one deadline queue (clock.ts), not a timer per call, and only for stores
 * that do not bound their own calls.
 *
 * A circuit breaker (breaker.ts) sits in front of every call: after repeated unavailability it
 * fails calls at once, without touching the store, and lets one probe through per cooldown. The
 * guard also remembers whether the last call failed (`healthy`), so that one cache call that has
 * already met a dead store does not pay the timeout again on its next store call (a generator
 * fill after a failed read, say), and tells `onRecovered` when the store answers again (F3: failed
 * invalidations are retried then).
 */

import { DeadlineQueue, type Clock } from '../clock.js';
import { CircuitBreaker, type BreakerOptions } from './breaker.js';
import { ClosedError, LarderError, StoreError, StoreTimeoutError, StoreUnavailableError, isUnavailability } from '../errors.js';
import type { MetricsTap } from '../metrics/tap.js';
import type { Emitter, CacheStats } from '../observability.js';

export type StoreErrorPolicy = 'degrade' | 'throw';

export class StoreGuard {
  readonly #deadlines: DeadlineQueue | undefined;
  readonly #clock: Clock;
  readonly #policy: StoreErrorPolicy;
  readonly #stats: CacheStats;
  readonly #events: Emitter;
  readonly #breaker: CircuitBreaker | undefined;
  readonly #slowMs: number;
  readonly #tap: MetricsTap | undefined;
  #failing = 0;
  closed = false;
  /** Called when a store call succeeds after one or more unavailability failures (F3 retries). */
  onRecovered: (() => void) | undefined;

  /**
   * `bounded: false` for stores that bound their own calls or answer synchronously: no timer needed.
   * `breaker: false` turns the circuit breaker off.
   */
  constructor(opts: {
    timeoutMs: number;
    bounded: boolean;
    policy: StoreErrorPolicy;
    stats: CacheStats;
    events: Emitter;
    breaker?: BreakerOptions | false;
    clock: Clock;
    /** Store call timings and the `larder:store` channel (O3–O5), when anyone wants them. */
    tap?: MetricsTap;
  }) {
    this.#tap = opts.tap;
    this.#clock = opts.clock;
    // Not unref'd: with a store of unknown make, nothing else may keep the process alive while a
    // call is pending, and a call must end in its answer or its timeout.
    this.#deadlines = opts.bounded ? new DeadlineQueue(opts.clock, opts.timeoutMs, false) : undefined;
    this.#policy = opts.policy;
    this.#stats = opts.stats;
    this.#events = opts.events;
    this.#breaker = opts.breaker ? new CircuitBreaker(opts.breaker, () => opts.clock.now()) : undefined;
    this.#slowMs = opts.timeoutMs / 2;
  }

  /** The policy calls that fail for unavailability follow (F2). */
  get policy(): StoreErrorPolicy {
    return this.#policy;
  }

  /** False from an unavailability failure until the next call that reaches the store. */
  get healthy(): boolean {
    return this.#failing === 0;
  }

  /** 'closed', 'open' or 'half-open'; 'closed' when the breaker is off. */
  get breakerState(): 'closed' | 'open' | 'half-open' {
    return this.#breaker?.state ?? 'closed';
  }

  /** Runs a read; on unavailability in degrade mode resolves to `fallback`. */
  read<T, F>(what: string, op: () => Promise<T>, fallback: F): Promise<T | F> {
    const p = this.#run(what, op);
    if (this.#policy !== 'degrade') return p;
    return p.catch((err: unknown) => {
      if (isUnavailability(err)) return fallback;
      throw err;
    });
  }

  /** Runs a write; on unavailability in degrade mode the write is dropped. */
  write<T>(what: string, op: () => Promise<T>): Promise<T | undefined> {
    const p = this.#run(what, op);
    if (this.#policy !== 'degrade') return p;
    return p.catch(degradeWrite);
  }

  /**
   * Runs a call through the breaker (an open one fails it at once) and throws every failure: for
   * callers that apply their own policy (a delete remembered for a retry, a stampede lease).
   */
  call<T>(what: string, op: () => Promise<T>): Promise<T> {
    return this.#run(what, op, true);
  }

  /** Runs a call that must never be faked (incr, locks): every failure is thrown. */
  strict<T>(what: string, op: () => Promise<T>): Promise<T> {
    return this.#run(what, op, false);
  }

  /** Counts and emits an error that did not come from a store call (a decode failure, say). */
  report(err: Error): void {
    const code = (err as { code?: string }).code ?? 'E_UNKNOWN';
    this.#stats.errors[code] = (this.#stats.errors[code] ?? 0) + 1;
    this.#events.emit('error', err);
  }

  /**
   * `admit: false` (strict calls: incr, locks, retried invalidations) bypasses the open breaker:
   * those calls must give the store's true answer and are never degraded, so they always ask the
   * store (bounded by the timeout); their outcomes still count, and a success closes the breaker.
   */
  #run<T>(what: string, op: () => Promise<T>, admit = true): Promise<T> {
    if (this.closed) return Promise.reject(new ClosedError());
    let probe = false;
    if (admit && this.#breaker !== undefined) {
      const admitted = this.#breaker.admit();
      if (admitted instanceof StoreUnavailableError) {
        this.report(admitted);
        return Promise.reject(admitted);
      }
      probe = admitted.probe;
    }
    const started = this.#breaker === undefined ? 0 : this.#clock.monotonic();
    let p: Promise<T>;
    const tap = this.#tap;
    if (tap?.observesStore === true) p = tap.storeCall(what, op);
    else {
      try {
        p = op();
      } catch (raw) {
        p = Promise.reject(raw);
      }
    }
    const deadlines = this.#deadlines;
    if (deadlines) p = deadlines.track(p, () => new StoreTimeoutError(`${what} did not answer within ${deadlines.timeoutMs} ms`));
    return p.then(
      (value) => {
        this.#answered(probe);
        return value;
      },
      (raw: unknown) => {
        throw this.#failed(raw, what, probe, started);
      },
    );
  }

  #failed(raw: unknown, what: string, probe: boolean, started: number): Error {
    const err = normalise(raw, what);
    if (isUnavailability(err)) {
      this.#failing++;
      // Only failures that made the caller wait count toward opening the breaker: a store that
      // refuses at once (a Redis client reconnecting) costs nothing to ask, and asking it is
      // how recovery is noticed at once. A failed probe always re-opens.
      if (probe || err instanceof StoreTimeoutError || this.#clock.monotonic() - started >= this.#slowMs) this.#breaker?.failure(probe);
    } else if (err instanceof ClosedError) {
      this.#breaker?.release(probe);
    } else {
      // The store answered (with an error of its own): it is there.
      this.#answered(probe);
    }
    this.report(err);
    return err;
  }

  #answered(probe: boolean): void {
    this.#breaker?.success(probe);
    if (this.#failing !== 0) {
      this.#failing = 0;
      this.onRecovered?.();
    }
  }

  close(): void {
    this.closed = true;
    this.#deadlines?.stop();
  }
}

function degradeWrite(err: unknown): undefined {
  if (isUnavailability(err)) return undefined;
  throw err;
}

/** Anything a custom store throws becomes a typed error (F1). */
function normalise(err: unknown, what: string): Error {
  if (err instanceof LarderError || err instanceof TypeError) return err;
  if (err instanceof Error && /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|closed|not writeable/i.test(err.message)) {
    return new StoreUnavailableError(`${what}: ${err.message}`, { cause: err });
  }
  return new StoreError(`${what} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
