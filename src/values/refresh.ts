/**
 * Early refresh (S6, XFetch) and stale serving (S7) for `getValue` with a generator.
 *
 * Entries written this way carry their logical expiry and last compute time (entry.ts) and live in
 * the store for `max(staleWhileRevalidateSec, staleIfErrorSec)` past their logical expiry. A read
 * then decides, on the cache's clock (`options.now`) and randomness (`options.random`):
 *
 *   before expiry        the value; with `earlyRefresh`, XFetch may start one background refresh
 *   expiry + SWR window  the old value at once (a stale serve) and one background refresh
 *   expiry + SIE window  compute now, as a miss (with the cross-process lease, S5); if the
 *                        generator throws or the store is unavailable, the old value instead of
 *                        the error (a stale serve)
 *   later                a miss
 *
 * A background refresh runs at most once per key at a time in a process (its own single flight)
 * and across processes (it takes the key's lease without waiting, and gives up if someone holds
 * it); it recomputes only if the stored entry is still the one the reader saw.
 *
 * Limits: stale data is only served if the read reached the store. With the store down, the read
 * is a miss (F2) and the generator's result is served; if the generator throws too, so does the call.
 */
import type { CacheCore } from '../core.js';
import { isTagged } from '../tags/envelope.js';
import { ClosedError, ValueError } from '../errors.js';
import { isObject } from '../input.js';
import { readEntry, xfetchDue } from '../codec/entry.js';
import type { Load } from '../flight/stampede.js';
import { quote } from '../options-check.js';

export interface StaleOptions {
  staleWhileRevalidateSec?: number | undefined;
  staleIfErrorSec?: number | undefined;
  earlyRefresh?: { beta: number } | undefined;
}

/** Resolved per call: windows in ms, `beta` or undefined. */
export interface StalePolicy {
  swrMs: number;
  sieMs: number;
  beta: number | undefined;
  /** How long past the logical expiry the entry is kept in the store. */
  graceMs: number;
}

function nonNegativeSeconds(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new TypeError(`${what} must be a non-negative finite number of seconds, got ${quote(v)}`);
  }
  return v;
}

/** Validates the S6/S7 options of one call (TypeError before any I/O); undefined when none is set. */
export function stalePolicy(opts: StaleOptions | undefined): StalePolicy | undefined {
  if (opts === undefined) return undefined;
  const { staleWhileRevalidateSec: swr, staleIfErrorSec: sie, earlyRefresh } = opts;
  if (swr === undefined && sie === undefined && earlyRefresh === undefined) return undefined;
  const swrMs = swr === undefined ? 0 : Math.round(nonNegativeSeconds(swr, 'staleWhileRevalidateSec') * 1000);
  const sieMs = sie === undefined ? 0 : Math.round(nonNegativeSeconds(sie, 'staleIfErrorSec') * 1000);
  let beta: number | undefined;
  if (earlyRefresh !== undefined) {
    if (!isObject(earlyRefresh)) throw new TypeError('earlyRefresh must be { beta }');
    const b = earlyRefresh.beta;
    if (typeof b !== 'number' || !Number.isFinite(b) || b <= 0) throw new TypeError(`earlyRefresh.beta must be a positive finite number, got ${quote(b)}`);
    beta = b;
  }
  return { swrMs, sieMs, beta, graceMs: Math.max(swrMs, sieMs) };
}

/**
 * One getValue with a generator and a stale policy. `read` is the raw, counted store read of the
 * key (null on a miss), `decode` the cache's decoding of stored bytes ignoring the logical expiry
 * (undefined-able: `miss` when undecodable or blocked by a pending invalidation), `load` the miss.
 */
export async function readWithPolicy<T>(
  core: CacheCore,
  policy: StalePolicy,
  bytes: Buffer | null,
  decodeStale: (bytes: Buffer) => { value: unknown } | null,
  load: Load<T>,
): Promise<T | undefined> {
  const { flights, stampede, stats, options } = core;
  const miss = () => flights.run(load.pk, () => stampede.load(load)) as Promise<T | undefined>;
  if (bytes === null) return miss();
  const found = decodeStale(bytes);
  if (found === null) return miss();
  const entry = readEntry(bytes);
  if (entry === null) return found.value as T; // a plain value: no metadata, nothing to refresh
  const now = options.now();
  const isCurrent = async () => {
    const again = await core.guard.read('GET', () => core.values.get(load.pk), null);
    if (again === null) return false;
    // A tagged entry holds `bytes` behind its tag header (tags/envelope.ts).
    return again.equals(bytes) || (isTagged(again) && again.length > bytes.length && again.subarray(again.length - bytes.length).equals(bytes));
  };
  if (now < entry.exp) {
    if (policy.beta !== undefined && xfetchDue(now, entry, policy.beta, options.random)) stampede.refresh(load, isCurrent);
    return found.value as T;
  }
  if (now < entry.exp + policy.swrMs) {
    stats.staleServes++;
    core.tap.stale(load.pk);
    stampede.refresh(load, isCurrent);
    return found.value as T;
  }
  if (now < entry.exp + policy.sieMs) {
    try {
      return (await flights.run(load.pk, () => stampede.load(load, false))) as T | undefined;
    } catch (err) {
      // The generator threw, or the store is unavailable ('throw' mode): the old value instead.
      // A value the codec refuses, or a closed cache, is a bug or a shutdown, not an outage.
      if (err instanceof ValueError || err instanceof ClosedError) throw err;
      stats.staleServes++;
      core.tap.stale(load.pk);
      return found.value as T;
    }
  }
  return miss();
}
