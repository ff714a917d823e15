/**
 * The embedded store's options, their defaults and their checks, resolved once at construction.
 */

import { resolveClock, type Clock } from '../../clock.js';
import { DEFAULTS } from '../../defaults.js';
import { quote } from '../../options-check.js';

export interface MemoryLimits {
  /** Most keys held; past it, LRU eviction. Default 1,000,000; `Infinity`: no bound. */
  maxEntries?: number | undefined;
  /** Most approximate bytes held; past it, LRU eviction. Default (or `Infinity`): no bound. */
  maxBytes?: number | undefined;
}

export interface MemoryStoreOptions extends MemoryLimits {
  /**
   * Where TTLs read the time (`clock.now()`, also what script twins see as `LocalData.now()`) and
   * where the expiry sweep's timer runs. Default the system clock; tests pass a fake one.
   */
  clock?: Clock | undefined;
  /** @deprecated Use `clock`. Wall time in ms only; timers stay the system's. Not with `clock`. */
  now?: (() => number) | undefined;
  /** How often the expiry sweep runs. Default 1000; `0`: never (expiry is then lazy only). */
  sweepIntervalMs?: number | undefined;
  /**
   * Default true: values are copied on the way in, so a caller reusing its Buffer never changes what
   * is stored. `false` adopts the caller's Buffers (faster writes; the caller must never mutate a
   * Buffer it passed). Returned Buffers are never copied and must not be mutated either way.
   */
  copyBuffers?: boolean | undefined;
}

export const DEFAULT_MAX_ENTRIES = DEFAULTS.memoryMaxEntries;
export const DEFAULT_SWEEP_INTERVAL_MS = DEFAULTS.memorySweepIntervalMs;

export function resolveLimits(limits: MemoryLimits | undefined): { maxEntries: number; maxBytes: number } {
  const maxEntries = limits?.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const maxBytes = limits?.maxBytes ?? Infinity;
  if (typeof maxEntries !== 'number' || !(maxEntries >= 1) || (maxEntries !== Infinity && !Number.isInteger(maxEntries))) {
    throw new TypeError(`larder: option memory.maxEntries must be a positive integer or Infinity, got ${quote(maxEntries)}`);
  }
  if (typeof maxBytes !== 'number' || !(maxBytes > 0)) {
    throw new TypeError(`larder: option memory.maxBytes must be a positive number or Infinity, got ${quote(maxBytes)}`);
  }
  return { maxEntries, maxBytes };
}

/** The clock of the options: `clock`, else one on the deprecated `now`, else the system clock. */
export function clockOf(opts: Pick<MemoryStoreOptions, 'clock' | 'now'>): Clock {
  // Reading the deprecated `now` is this function's job: it keeps the alias working.
  // eslint-disable-next-line @typescript-eslint/no-deprecated
  const { clock, now } = opts;
  return resolveClock(clock, now);
}
