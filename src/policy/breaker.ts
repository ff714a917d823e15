/**
 * The circuit breaker in front of the store (F2): stop waiting on a store that keeps failing, and
 * probe it again after a while.
 *
 *   closed     calls go through; `failures` slow unavailability failures in a row open the
 *              circuit: timeouts (StoreTimeoutError), or StoreUnavailableError after waiting at
 *              least half of `commandTimeoutMs` (the guard decides what is slow). A store that
 *              refuses at once (a Redis client that is reconnecting) makes nobody wait, so it does
 *              not open the circuit, and its recovery is seen by the very next call.
 *   open       calls fail at once with StoreUnavailableError, without touching the store, for
 *              `cooldownMs`.
 *   half-open  after the cooldown, the next call is let through as the probe; others still fail
 *              fast while it runs. The probe's success closes the circuit, its failure opens it
 *              for another cooldown.
 *
 * Why it matters: a store that stalls (accepts, never answers: a frozen server, a black-holed
 * network) makes every call wait `commandTimeoutMs`. With the breaker, only `failures` calls and then one probe per
 * cooldown pay that wait. The cooldown is short by default (250 ms) so that recovery after the
 * store comes back costs at most one cooldown plus the client's reconnect delay.
 *
 * Time comes from the cache's injectable clock (`options.now`), so tests can drive it.
 */
import { StoreUnavailableError } from '../errors.js';

export interface BreakerOptions {
  /** Unavailability failures in a row that open the circuit. */
  failures: number;
  /** How long the circuit stays open before one probe call is let through. */
  cooldownMs: number;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  readonly #opts: BreakerOptions;
  readonly #now: () => number;
  #state: BreakerState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #probing = false;

  constructor(opts: BreakerOptions, now: () => number) {
    this.#opts = opts;
    this.#now = now;
  }

  get state(): BreakerState {
    if (this.#state === 'open' && this.#now() - this.#openedAt >= this.#opts.cooldownMs) return 'half-open';
    return this.#state;
  }

  /**
   * Before a call: `{ probe }` to go ahead (`probe` true if this call is the half-open probe), or
   * the error to fail fast with.
   */
  admit(): { probe: boolean } | StoreUnavailableError {
    if (this.#state === 'closed') return NOT_PROBE;
    if (this.state === 'half-open' && !this.#probing) {
      this.#probing = true;
      return PROBE;
    }
    return new StoreUnavailableError(
      `the circuit breaker is open after ${this.#failures} store failures in a row; the store is probed again every ${this.#opts.cooldownMs} ms`,
    );
  }

  /** A call went through and the store answered (even with an error of its own). Returns true if this closed the circuit. */
  success(probe: boolean): boolean {
    if (!probe && this.#failures === 0 && this.#state === 'closed') return false;
    if (probe) this.#probing = false;
    const wasOpen = this.#state !== 'closed';
    this.#failures = 0;
    this.#state = 'closed';
    return wasOpen;
  }

  /** A call failed because the store was unavailable. Returns true if this opened the circuit. */
  failure(probe: boolean): boolean {
    if (probe) this.#probing = false;
    this.#failures++;
    if (probe || (this.#state === 'closed' && this.#failures >= this.#opts.failures)) {
      const opened = this.#state === 'closed';
      this.#state = 'open';
      this.#openedAt = this.#now();
      return opened;
    }
    return false;
  }

  /** A call admitted as the probe ended without telling us anything about the store (a bug in the call). */
  release(probe: boolean): void {
    if (probe) this.#probing = false;
  }
}

const PROBE = Object.freeze({ probe: true });
const NOT_PROBE = Object.freeze({ probe: false });
