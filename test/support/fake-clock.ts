/**
 * A Clock (src/clock.ts) that only moves when a test says so. Timers due at or before the new time
 * run in deadline order (ties in the order they were set), each at its own instant, with the
 * microtask queue drained between them, so code awaiting a timer's promise has run before the
 * next timer fires. Nothing here touches real time.
 *
 *   const clock = new FakeClock();
 *   const cache = createCache({ store: createMemoryStore({ clock }), clock });
 *   await clock.advance(10_000);              // every timer due within 10 s has run, in order
 *   const err = await clock.runUntil(p);      // to each next timer until p settles
 *
 * With a store that answers over a real network, draining microtasks is not enough for the code a
 * timer started to reach its next timer: `settle` (see `inFlight`) is awaited after each timer
 * too, so the clock moves on only once the calls in flight have answered.
 */
import type { Clock, Timer } from '../../src/clock.js';

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

export interface FakeClockOptions {
  /** Awaited after every timer (and before the first): resolves once the system is quiet. */
  settle?: () => Promise<void>;
}

/** Lets queued promise callbacks (and the callbacks they queue) run. */
export async function flushMicrotasks(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
  await new Promise<void>((r) => setImmediate(r));
}

export class FakeClock implements Clock {
  #mono = 0;
  #wall: number;
  #seq = 0;
  #timers: Pending[] = [];
  readonly #settle: () => Promise<void>;

  constructor(startWallMs = Date.UTC(2026, 0, 1), options: FakeClockOptions = {}) {
    this.#wall = startWallMs;
    const settle = options.settle;
    this.#settle = settle === undefined ? () => flushMicrotasks() : async () => {
      await flushMicrotasks();
      await settle();
    };
  }

  now = (): number => this.#wall;

  monotonic = (): number => this.#mono;

  setTimeout = <A>(fn: (arg: A) => void, ms: number, _unref?: boolean, arg?: A): Timer => {
    const p: Pending = { at: this.#mono + Math.max(0, ms), seq: this.#seq++, fn: () => fn(arg as A), cancelled: false };
    this.#timers.push(p);
    return { cancel: () => void (p.cancelled = true) };
  };

  /** Timers set and not yet run or cancelled. */
  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /** Moves time on by `ms`, running every timer that falls due on the way. */
  async advance(ms: number): Promise<void> {
    const end = this.#mono + ms;
    await this.#settle();
    for (;;) {
      const next = this.#next();
      if (next === undefined || next.at > end) break;
      await this.#run(next);
    }
    this.#step(end);
    await this.#settle();
  }

  /**
   * Moves time on from one timer to the next until `p` settles, and settles as `p` does: the way to
   * await a call that waits on this clock (a lock wait, a timeout) without saying for how long.
   * Throws if `p` is still pending when no timer is left, or when the next one is more than
   * `limitMs` away from where it started: nothing on this clock could settle it then.
   */
  async runUntil<T>(p: Promise<T>, limitMs = 3_600_000): Promise<T> {
    const state = { done: false }; // set from a callback: an object, so the loop reads it afresh
    const watched = p.finally(() => {
      state.done = true;
    });
    watched.catch(() => {}); // the rejection is the caller's, through the return value
    const end = this.#mono + limitMs;
    await this.#settle();
    while (!state.done) {
      const next = this.#next();
      if (next === undefined) throw new Error('runUntil: no timer left, and the promise is still pending');
      if (next.at > end) throw new Error(`runUntil: still pending after ${limitMs} ms on the fake clock`);
      await this.#run(next);
    }
    return watched;
  }

  /** Runs timers until none is left due within `limitMs` of now (a wait loop, say, to its end). */
  async runAll(limitMs = 3_600_000): Promise<void> {
    await this.advance(limitMs);
  }

  async #run(timer: Pending): Promise<void> {
    this.#step(timer.at);
    this.#timers.splice(this.#timers.indexOf(timer), 1);
    timer.fn();
    await this.#settle();
  }

  #next(): Pending | undefined {
    this.#timers = this.#timers.filter((t) => !t.cancelled);
    let best: Pending | undefined;
    for (const t of this.#timers) if (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    return best;
  }

  #step(to: number): void {
    this.#wall += to - this.#mono;
    this.#mono = to;
  }
}

/**
 * Counts the calls made through a store that are still waiting for their answer, for a FakeClock's
 * `settle`: `const io = inFlight(); const store = io.track(redisStore); new FakeClock(t, { settle:
 * io.settled })`. Track only calls that will answer (not a stalled chaos store's).
 */
export function inFlight(): { track<S extends object>(store: S): S; settled(): Promise<void>; readonly count: number } {
  const pending = new Set<Promise<unknown>>();
  return {
    track<S extends object>(store: S): S {
      return new Proxy(store, {
        get(target, prop, receiver) {
          const v: unknown = Reflect.get(target, prop, receiver);
          if (typeof v !== 'function') return v;
          return (...args: unknown[]): unknown => {
            const r: unknown = (v as (...a: unknown[]) => unknown).apply(target, args);
            if (r instanceof Promise) {
              const settled = r.then(
                () => {},
                () => {},
              );
              pending.add(settled);
              void settled.then(() => pending.delete(settled));
            }
            return r;
          };
        },
      });
    },
    async settled(): Promise<void> {
      while (pending.size > 0) {
        await Promise.all(pending);
        await flushMicrotasks();
      }
    },
    get count() {
      return pending.size;
    },
  };
}
