/**
 * Every default larder applies, in one place, each with what it means. Imported by the room that
 * applies it; nothing here imports anything, so any layer may use it.
 *
 * Conventions: a TTL of `null` means no expiry; a bound of `Infinity` means no bound.
 */
export const DEFAULTS = Object.freeze({
  // ---- createCache options (options.ts)
  /** The tenant of every non-shared key. */
  namespace: 'default',
  /** TTL of writes that give none: `null`, no expiry. */
  defaultTtlSec: null,
  /** Every store call that takes longer fails with StoreTimeoutError (F4). */
  commandTimeoutMs: 1000,
  /** A store failure degrades reads to misses and drops writes (F2). */
  onStoreError: 'degrade',
  /** Largest encoded value accepted (C5): 64 MiB. */
  maxValueBytes: 64 * 1024 * 1024,
  /** Lease of a cross-process generator run (S5). */
  leaseMs: 10_000,
  /** After this many unavailability failures in a row the breaker opens for `cooldownMs` (F2). */
  breaker: Object.freeze({ failures: 5, cooldownMs: 250 }),

  // ---- the embedded store (stores/memory)
  /** Most keys the embedded store holds before LRU eviction; bytes are unbounded unless given. */
  memoryMaxEntries: 1_000_000,
  /** How often the embedded store sweeps expired keys; `0`: never (expiry is then lazy only). */
  memorySweepIntervalMs: 1000,

  // ---- features
  /** memoize / @cached: seconds a result lives, as Frappe's redis_cache. */
  memoTtlSec: 3600,
  /** processCached: results kept per function in this process. */
  processMaxEntries: 1000,
  /** documents(): seconds a cached doc lives. */
  docTtlSec: 3600,
  /** Locks: the lease, how long to wait for it, and renewal while held (LK4, LK5). */
  lock: Object.freeze({ ttlMs: 30_000, waitMs: 10_000, autoExtend: true }),
  /** Locks with waitReplicas: how long WAIT may take. */
  lockWaitTimeoutMs: 250,
});
