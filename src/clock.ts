/**
 * Time, in one place. Everything in larder that reads the time or waits for it takes a `Clock`:
 * TTLs of the embedded store, near-cache expiry, lease and lock waits, polling, renewals, backoff,
 * the circuit breaker, XFetch, processCached TTLs and call deadlines. Tests drive all of it with
 * the fake clock of test/support/fake-clock.ts instead of sleeping.
 *
 * Two readings, because they answer different questions:
 *  - `now()` is wall time in epoch milliseconds: expiries written into stored entries, which other
 *    processes read (S6, S7).
 *  - `monotonic()` never goes back: deadlines and waits, which a wall-clock step must not stretch.
 *
 * What a Clock cannot govern: Redis expires keys on its own clock, and ioredis keeps timers of its
 * own (connect, retry). Tests of those still wait for real time, for as short as they can.
 */

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Wall time, epoch ms. */
  now(): number;
  /** Ms from an arbitrary origin, never decreasing. */
  monotonic(): number;
  /**
   * Runs `fn(arg)` once, `ms` from now on this clock. `unref`: the timer alone does not keep the
   * process alive (a deadline whose call already holds a socket open, a linger). `arg` lets a hot
   * caller pass its object to a shared function instead of making a closure per timer.
   */
  setTimeout<A = undefined>(fn: (arg: A) => void, ms: number, unref?: boolean, arg?: A): Timer;
}

/** setTimeout takes at most 2^31-1 ms (more becomes 1 ms): longer waits are capped, never spun. */
const MAX_TIMER_MS = 0x7fffffff;

// The system's readings as plain functions: clockWithNow shares them without binding anything.
const systemMonotonic = (): number => performance.now();

/** A Node timer as a Timer: a class, not a closure per timer (a lock arms one per acquire). */
class SystemTimer implements Timer {
  readonly #t: NodeJS.Timeout;

  constructor(t: NodeJS.Timeout) {
    this.#t = t;
  }

  cancel(): void {
    clearTimeout(this.#t);
  }
}

function systemSetTimeout<A>(fn: (arg: A) => void, ms: number, unref = false, arg?: A): Timer {
  const t = setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_MS), arg as A);
  if (unref) t.unref();
  return new SystemTimer(t);
}

export const systemClock: Clock = Object.freeze({ now: Date.now, monotonic: systemMonotonic, setTimeout: systemSetTimeout });

/**
 * Wall time for hot read paths that only compare it with deadlines (the embedded store's hits):
 * the system clock read at most once per 64 calls and at least once per millisecond of event-loop
 * time (a timer forgets it), so a read may see a time up to about a millisecond old. Reading the
 * system clock costs 50–80 ns on the VMs we measured, a quarter of an embedded hit. An injected
 * clock is read on every call: the coarseness is only ever the system clock's.
 */
export function coarseNow(clock: Clock): () => number {
  return clock === systemClock ? systemCoarseNow : () => clock.now();
}

const COARSE_READS = 64;
let coarseTime = 0;
let coarseLeft = 0;
let coarseTimer = false;
const forgetCoarse = (): void => {
  coarseLeft = 0;
  coarseTimer = false;
};

function systemCoarseNow(): number {
  if (coarseLeft <= 0) {
    coarseTime = Date.now();
    coarseLeft = COARSE_READS;
    if (!coarseTimer) {
      coarseTimer = true;
      setTimeout(forgetCoarse, 1).unref();
    }
  }
  coarseLeft--;
  return coarseTime;
}

const withNow = new WeakMap<() => number, Clock>();

/**
 * A clock whose wall time comes from `now` (the `now` option) and whose timers are the system's.
 * One per `now` function, so caches given the same `now` share what is shared per clock (the
 * embedded store).
 */
export function clockWithNow(now: () => number): Clock {
  let clock = withNow.get(now);
  if (clock === undefined) {
    clock = { now, monotonic: systemMonotonic, setTimeout: systemSetTimeout };
    withNow.set(now, clock);
  }
  return clock;
}

/** Whether `v` has what a Clock needs (a caller without types may pass anything). */
export function isClock(v: unknown): v is Clock {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Partial<Record<keyof Clock, unknown>>;
  return typeof c.now === 'function' && typeof c.monotonic === 'function' && typeof c.setTimeout === 'function';
}

/**
 * The clock of a set of options: `clock`, else one on `now` (wall time only), else the system
 * clock. A malformed clock, or both given, is a TypeError naming the option (`prefix` + name).
 */
export function resolveClock(clock: unknown, now: (() => number) | undefined, prefix = 'larder: option '): Clock {
  if (clock === undefined) return now === undefined ? systemClock : clockWithNow(now);
  if (!isClock(clock)) throw new TypeError(`${prefix}clock must have now(), monotonic() and setTimeout()`);
  if (now !== undefined) throw new TypeError(`${prefix}now cannot be given with clock (the clock has its own now())`);
  return clock;
}

/** Resolves after `ms` on `clock`. */
export function delay(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(() => resolve(), ms));
}

interface Deadline {
  readonly at: number;
  done: boolean;
  readonly fail: (err: Error) => void;
  readonly onExpire: () => Error;
}

/**
 * Bounds pending calls by one fixed timeout with a single timer. Every call gets the same timeout,
 * so deadlines increase in the order calls are made: the queue is sorted by construction, settled
 * calls are dropped from its head, and the timer only watches the head. A call costs one small
 * object and one clock read; no timer is created or cleared per call.
 */
export class DeadlineQueue {
  #items: Deadline[] = [];
  #head = 0;
  #timer: Timer | null = null;
  readonly #clock: Clock;
  readonly #ms: number;
  readonly #unref: boolean;

  /**
   * `unref: false` when nothing else keeps the process alive while a call is pending (a store of
   * unknown make): a pending call must end in its answer or its timeout, never in the process
   * exiting under it.
   */
  constructor(clock: Clock, ms: number, unref: boolean) {
    this.#clock = clock;
    this.#ms = ms;
    this.#unref = unref;
  }

  get timeoutMs(): number {
    return this.#ms;
  }

  /**
   * Settles as `p` does (its rejection passed through `mapError`), or rejects with `onExpire()`'s
   * error once the deadline passes.
   */
  track<T>(p: Promise<T>, onExpire: () => Error, mapError?: (e: unknown) => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const d: Deadline = { at: this.#clock.monotonic() + this.#ms, done: false, fail: reject, onExpire };
      this.#items.push(d);
      this.#timer ??= this.#clock.setTimeout(this.#expire, this.#ms, this.#unref);
      p.then(
        (v) => {
          if (d.done) return;
          d.done = true;
          this.#trim();
          resolve(v);
        },
        (e: unknown) => {
          if (d.done) return;
          d.done = true;
          this.#trim();
          reject(mapError === undefined ? e : mapError(e));
        },
      );
    });
  }

  /** Rejects everything still pending with `err` (close). */
  failAll(err: Error): void {
    this.#timer?.cancel();
    this.#timer = null;
    const items = this.#items;
    this.#items = [];
    for (let i = this.#head; i < items.length; i++) {
      const d = items[i]!;
      if (!d.done) {
        d.done = true;
        d.fail(err);
      }
    }
    this.#head = 0;
  }

  /** Stops the timer; pending calls then settle only by their own answer. */
  stop(): void {
    this.#timer?.cancel();
    this.#timer = null;
  }

  #trim(): void {
    const items = this.#items;
    while (this.#head < items.length && items[this.#head]!.done) this.#head++;
    if (this.#head === items.length) {
      items.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= items.length) {
      this.#items = items.slice(this.#head);
      this.#head = 0;
    }
  }

  readonly #expire = (): void => {
    this.#timer = null;
    const now = this.#clock.monotonic();
    for (;;) {
      this.#trim();
      const d = this.#items[this.#head];
      if (d === undefined) return;
      if (d.at > now) {
        this.#timer = this.#clock.setTimeout(this.#expire, Math.max(1, Math.ceil(d.at - now)), this.#unref);
        return;
      }
      d.done = true;
      this.#head++;
      d.fail(d.onExpire());
    }
  };
}
