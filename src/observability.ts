/**
 * Counters (O1) and events (O2). Both cost next to nothing when unused: counters are plain
 * integer fields, and an event's payload is only built when someone listens.
 */

import type { LarderError } from './errors.js';

export interface CacheStats {
  near: { hits: number; misses: number };
  store: { hits: number; misses: number };
  generatorRuns: number;
  /** Misses answered by another caller's or process's generator run (O2): neither hits nor misses. */
  waited: number;
  staleServes: number;
  /** Failures by error code. */
  errors: Record<string, number>;
  locks: { acquired: number; waits: number; timeouts: number };
}

/**
 * What `cache.nearCacheStats()` answers, as Frappe's client cache reports it: `capacity` and
 * `used` in entries, `utilization` = used / capacity, `hitRatio` = hits / (hits + misses) (0 before
 * any read), `healthy`: invalidations are being received (N3), so kept values are served.
 */
export interface NearCacheStats {
  capacity: number;
  used: number;
  utilization: number;
  bytes: number;
  maxBytes: number | null;
  hits: number;
  misses: number;
  hitRatio: number;
  healthy: boolean;
}

/** Zeroes every counter in place (the cache's parts hold references to these objects). */
export function resetStats(stats: CacheStats): void {
  const zero = emptyStats();
  stats.near.hits = zero.near.hits;
  stats.near.misses = zero.near.misses;
  stats.store.hits = zero.store.hits;
  stats.store.misses = zero.store.misses;
  stats.generatorRuns = zero.generatorRuns;
  stats.waited = zero.waited;
  stats.staleServes = zero.staleServes;
  for (const code of Object.keys(stats.errors)) Reflect.deleteProperty(stats.errors, code);
  stats.locks.acquired = zero.locks.acquired;
  stats.locks.waits = zero.locks.waits;
  stats.locks.timeouts = zero.locks.timeouts;
}

export function emptyStats(): CacheStats {
  return {
    near: { hits: 0, misses: 0 },
    store: { hits: 0, misses: 0 },
    generatorRuns: 0,
    waited: 0,
    staleServes: 0,
    errors: {},
    locks: { acquired: 0, waits: 0, timeouts: 0 },
  };
}

export interface HitEvent {
  key: string;
  layer: 'near' | 'store';
  namespace: string;
}
export interface MissEvent {
  key: string;
  namespace: string;
}
export interface InvalidateEvent {
  /** Logical keys, or a pattern for a pattern delete / clear. */
  keys?: string[];
  pattern?: string;
  /** Tags invalidated by `invalidateTags` (reason `tags`, T1). */
  tags?: string[];
  /** The tenant; `null` for shared keys, and for a remote flush of everything. */
  namespace: string | null;
  /**
   * `delete`, `clear`, `pattern`: made by this cache. `remote`: the near cache heard from Redis that
   * another client changed, deleted or expired these keys, or (pattern `*`, namespace null:
   * FLUSHALL, or Redis's tracking table overflowing) possibly everything.
   */
  reason: 'delete' | 'clear' | 'pattern' | 'remote' | 'tags';
}

export interface CacheEvents {
  /** Every counted failure, always a LarderError with a stable `code` (F1). */
  error: (err: LarderError) => void;
  hit: (e: HitEvent) => void;
  miss: (e: MissEvent) => void;
  /** A miss that another caller's (or process's) generator answered: counted as `waited` (O2). */
  waited: (e: MissEvent) => void;
  invalidate: (e: InvalidateEvent) => void;
}

type Listeners = { [E in keyof CacheEvents]: Set<CacheEvents[E]> };

/**
 * A small typed emitter. Unlike Node's EventEmitter, an 'error' with no listener is not thrown:
 * a cache failure must never crash the app that merely did not subscribe.
 */
export class Emitter {
  readonly #listeners: Listeners = { error: new Set(), hit: new Set(), miss: new Set(), waited: new Set(), invalidate: new Set() };
  /** Fast flags checked on hot paths before building an event payload. */
  wantsHit = false;
  wantsMiss = false;
  wantsWaited = false;
  wantsInvalidate = false;
  /** Whether anyone listens for 'error' (A2: nobody does, so larder warns instead). */
  wantsError = false;

  on<E extends keyof CacheEvents>(event: E, listener: CacheEvents[E]): () => void {
    // A JavaScript caller can name any event, a symbol too: an unknown one has no set.
    const set = this.#listeners[event] as Set<CacheEvents[E]> | undefined;
    if (!set) {
      const name: unknown = event;
      throw new TypeError(`unknown event ${String(name)}`);
    }
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    set.add(listener);
    this.#refresh();
    return () => this.off(event, listener);
  }

  off<E extends keyof CacheEvents>(event: E, listener: CacheEvents[E]): void {
    (this.#listeners[event] as Set<CacheEvents[E]> | undefined)?.delete(listener);
    this.#refresh();
  }

  emit<E extends keyof CacheEvents>(event: E, payload: Parameters<CacheEvents[E]>[0]): void {
    for (const l of this.#listeners[event] as Set<(p: unknown) => void>) {
      try {
        l(payload);
      } catch (err) {
        // A throwing listener must not break the cache call that emitted; report it once, loudly.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  #refresh(): void {
    this.wantsHit = this.#listeners.hit.size > 0;
    this.wantsMiss = this.#listeners.miss.size > 0;
    this.wantsWaited = this.#listeners.waited.size > 0;
    this.wantsInvalidate = this.#listeners.invalidate.size > 0;
    this.wantsError = this.#listeners.error.size > 0;
  }
}
