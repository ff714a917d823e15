/**
 * Counters (O1) and events (O2). Both cost next to nothing when unused: counters are plain
 * integer fields, and an event's payload is only built when someone listens.
 */

export interface CacheStats {
  near: { hits: number; misses: number };
  store: { hits: number; misses: number };
  generatorRuns: number;
  staleServes: number;
  /** Failures by error code. */
  errors: Record<string, number>;
  locks: { acquired: number; waits: number; timeouts: number };
}

export function emptyStats(): CacheStats {
  return {
    near: { hits: 0, misses: 0 },
    store: { hits: 0, misses: 0 },
    generatorRuns: 0,
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
  error: (err: Error) => void;
  hit: (e: HitEvent) => void;
  miss: (e: MissEvent) => void;
  invalidate: (e: InvalidateEvent) => void;
}

type Listeners = { [E in keyof CacheEvents]: Set<CacheEvents[E]> };

/**
 * A small typed emitter. Unlike Node's EventEmitter, an 'error' with no listener is not thrown:
 * a cache failure must never crash the app that merely did not subscribe.
 */
export class Emitter {
  readonly #listeners: Listeners = { error: new Set(), hit: new Set(), miss: new Set(), invalidate: new Set() };
  /** Fast flags checked on hot paths before building an event payload. */
  wantsHit = false;
  wantsMiss = false;
  wantsInvalidate = false;

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
    this.wantsInvalidate = this.#listeners.invalidate.size > 0;
  }
}
