/**
 * A Clock (src/clock.ts) that only moves when a test says so. Timers due at or before the new time
 * run in deadline order (ties in the order they were set), each at its own instant, with the
 * microtask queue drained between them, so code awaiting a timer's promise has run before the
 * next timer fires. Nothing here touches real time.
 *
 *   const clock = new FakeClock();
 *   const cache = createCache({ clock });
 *   await clock.advance(10_000);   // every timer due within 10 s has run, in order
 */
import type { Clock, Timer } from '../../src/clock.js';

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
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

  constructor(startWallMs = Date.UTC(2026, 0, 1)) {
    this.#wall = startWallMs;
  }

  now = (): number => this.#wall;

  monotonic = (): number => this.#mono;

  setTimeout = (fn: () => void, ms: number): Timer => {
    const p: Pending = { at: this.#mono + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
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
    await flushMicrotasks();
    for (;;) {
      const next = this.#next();
      if (next === undefined || next.at > end) break;
      this.#step(next.at);
      this.#timers.splice(this.#timers.indexOf(next), 1);
      next.fn();
      await flushMicrotasks();
    }
    this.#step(end);
    await flushMicrotasks();
  }

  /** Runs timers until none is left due within `limitMs` of now (a wait loop, say, to its end). */
  async runAll(limitMs = 3_600_000): Promise<void> {
    await this.advance(limitMs);
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
