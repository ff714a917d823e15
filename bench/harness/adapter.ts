/**
 * The one interface every benchmarked system sits behind. A scenario only ever talks to these
 * two shapes, so adding a peer means writing one adapter, never touching a scenario.
 *
 * Each adapter is configured the way its own documentation sets it up, with its defaults; the
 * only settings the harness chooses are the ones a user must choose anyway (where Redis is, a
 * key prefix so systems sharing one server do not collide, a TTL, and in-process tiers sized to
 * hold the working set — the same bound for every one of them).
 */

/** larder itself, a peer library, or an upper bound (no library at all). */
export type Role = 'larder' | 'peer' | 'bound';

export interface SystemInfo {
  /** Stable, unique, shown in tables and charts: `larder (Redis)`, `bentocache (memory+Redis+bus)`. */
  readonly name: string;
  readonly role: Role;
  /** Where a hit is served from: process memory, a Redis round trip, or memory kept coherent with Redis. */
  readonly tier: 'memory' | 'redis' | 'tiered';
}

/** Every set uses this TTL (each system needs one or has a default; one value for all). */
export const TTL_SEC = 3600;

export interface CacheAdapter extends SystemInfo {
  /** Resolves once connections are open (and, for a near cache, its invalidation is active). */
  ready(): Promise<void>;
  /** The value, or `undefined` on a miss. */
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<void>;
  /**
   * Synchronous forms: only the plain `Map` bound has them. A scenario measures them in a tight
   * loop instead of awaiting, since the point of that bound is "no async API at all".
   */
  getSync?: (key: string) => unknown;
  setSync?: (key: string, value: unknown) => void;
  /** Bulk prefill, each system's own bulk write where it has one. Not measured. */
  fill(entries: Array<[string, unknown]>): Promise<void>;
  /** Get-or-compute with the system's stampede protection; absent: the system does not offer it. */
  getOrSet?(key: string, factory: () => Promise<unknown>): Promise<unknown>;
  /**
   * Deletes every key starting with `prefix`; resolves to how many were deleted. Absent: the
   * system offers no pattern delete (the report says "not offered").
   */
  deleteByPrefix?(prefix: string): Promise<number>;
  close(): Promise<void>;
}

export interface LockAdapter extends SystemInfo {
  ready(): Promise<void>;
  /** Acquires `name`, waiting as the library waits by default; resolves to a handle for release. */
  acquire(name: string): Promise<unknown>;
  release(handle: unknown): Promise<void>;
  close(): Promise<void>;
}

/** What an adapter needs to know about the run. */
export interface Setup {
  /** The benchmark's own redis-server (never 6379). */
  redisUrl: string;
  host: string;
  port: number;
  /** Bound of every in-process tier (larder near cache, bentocache L1, …): holds the working set. */
  maxEntries: number;
}

export interface CacheSystem {
  info: SystemInfo;
  create(setup: Setup): Promise<CacheAdapter>;
}

export interface LockSystem {
  info: SystemInfo;
  create(setup: Setup): Promise<LockAdapter>;
}

/**
 * Writes entries with at most `parallel` calls in flight: the prefill of systems without a bulk
 * write, fast enough without flooding a peer's connection.
 */
export async function fillWith(entries: Array<[string, unknown]>, set: (k: string, v: unknown) => Promise<unknown>, parallel = 64): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, entries.length) }, async () => {
      while (next < entries.length) {
        const [k, v] = entries[next++]!;
        await set(k, v);
      }
    }),
  );
}
