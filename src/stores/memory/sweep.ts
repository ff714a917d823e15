/**
 * The active expiry sweep: lazy expiry (Keyspace.lookup) removes an expired key when something
 * touches it, and this removes the ones nothing touches again, a bounded slice per tick as Redis's
 * active expiry does. Ticks run on the store's Clock (unref: the sweep alone never keeps the
 * process alive). The time budget of one tick (SWEEP_MAX_MS) is read on `performance.now()` on
 * purpose: it bounds how long the sweep holds the event loop, which is real time on any clock.
 */

import type { Timer } from '../../clock.js';
import { NO_EXPIRY, type Entry } from './entry.js';
import type { Keyspace } from './keyspace.js';

/** The sweep examines entries in rounds of this many... */
const SWEEP_ROUND = 1000;
/** ...at least this many rounds per tick... */
const SWEEP_MIN_ROUNDS = 10;
/** ...and goes on while a round found over a quarter expired, for at most this long (ms). */
const SWEEP_MAX_MS = 10;

export class ExpirySweep {
  /** Where the last tick stopped: the next resumes there. */
  private iter: Iterator<Entry> | undefined;
  private timer: Timer | undefined;

  /** `intervalMs` 0: no timer, the sweep runs only when `step()` is called. */
  constructor(
    private readonly ks: Keyspace,
    intervalMs: number,
  ) {
    if (intervalMs > 0) {
      const clock = ks.clock;
      // Re-armed before each step, so ticks keep the interval's cadence (as setInterval would).
      const tick = (): void => {
        this.timer = clock.setTimeout(tick, intervalMs, true);
        this.step();
      };
      this.timer = clock.setTimeout(tick, intervalMs, true);
    }
  }

  /**
   * Removes expired entries without their being accessed: rounds of SWEEP_ROUND entries, at least
   * SWEEP_MIN_ROUNDS, more while over a quarter of a round was expired and SWEEP_MAX_MS have not
   * passed, never more than one pass over the store. Resumes where the last sweep stopped.
   * Returns how many entries it removed.
   */
  step(): number {
    const started = performance.now();
    const now = this.ks.now();
    const limit = this.ks.map.size;
    let examined = 0;
    let removed = 0;
    let rounds = 0;
    let wrapped = false;
    while (examined < limit) {
      let expiredInRound = 0;
      let inRound = 0;
      while (inRound < SWEEP_ROUND && examined < limit) {
        this.iter ??= this.ks.map.values();
        const r = this.iter.next();
        if (r.done === true) {
          this.iter = undefined;
          if (wrapped) return removed;
          wrapped = true;
          continue;
        }
        examined++;
        inRound++;
        const e = r.value;
        if (e.exp !== NO_EXPIRY && e.exp < now) {
          this.ks.remove(e);
          this.ks.expirations++;
          removed++;
          expiredInRound++;
        }
      }
      rounds++;
      if (rounds >= SWEEP_MIN_ROUNDS && (expiredInRound * 4 <= inRound || performance.now() - started > SWEEP_MAX_MS)) {
        break;
      }
    }
    return removed;
  }

  /** Cancels the timer and forgets the position (close). */
  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.iter = undefined;
  }
}
