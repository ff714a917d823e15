/**
 * The embedded store: larder's default backend, in this process, answering every Store call as
 * Redis answers the command behind it (the contract suite runs the same tests against both).
 *
 * Rooms: index.ts (this: the public entry points, the process-shared store), options.ts (options,
 * defaults, their checks), store.ts (MemoryStore: the async Store methods, thin), keyspace.ts (the
 * entries, their TTLs and bounds, the string commands, Redis semantics kept), collections.ts
 * (hashes, lists, sets, sorted sets: with keyspace.ts, the LocalData of script twins), entry.ts
 * (one key and its size), lru.ts (recency), sweep.ts (active expiry), scan.ts, pubsub.ts, rules.ts
 * (Redis's errors, TTL checks and INCRBY arithmetic).
 *
 * Time: TTLs, `LocalData.now()` and the sweep's timer run on one injected Clock (../../clock.ts),
 * the system clock by default, so tests drive expiry with a fake clock instead of sleeping.
 *
 * Byte strings are copied on the way in (unless `copyBuffers: false`) and handed out as stored:
 * callers must treat every Buffer this store returns as read-only (the cache layer only decodes
 * them). Copies come from Node's shared Buffer pool, like every small Buffer: a copy costs ~60 ns,
 * and retaining many of them adds GC work (~200 ns per write of a 100-byte value, measured), while
 * copying on read as well would triple the cost of a hit, so reads are not copied.
 *
 * Bounds: `maxEntries` (default 1,000,000) and `maxBytes` (default none), approximate bytes as
 * counted by `ENTRY_OVERHEAD`/`ELEMENT_OVERHEAD` (entry.ts). Past either, least recently used
 * entries are evicted, never the entry just written: a single value larger than `maxBytes` is kept,
 * and everything else goes. Expired entries leave on access, on eviction, or by a periodic sweep
 * that examines a bounded number of entries per tick (like Redis's active expiry).
 */

import { systemClock, type Clock } from '../../clock.js';
import type { Store } from '../store.js';
import { resolveLimits, type MemoryLimits } from './options.js';
import { MemoryStore } from './store.js';

export { DEFAULT_MAX_ENTRIES, type MemoryLimits, type MemoryStoreOptions } from './options.js';
export { ELEMENT_OVERHEAD, ENTRY_OVERHEAD } from './entry.js';
export { MemoryStore, type MemoryStats } from './store.js';

/**
 * A private embedded store (SPEC §0), with its own data, bounds and pub/sub; `clock` (default the
 * system clock) is where its TTLs read the time and its expiry sweep runs.
 */
export function createMemoryStore(opts?: MemoryLimits & { clock?: Clock }): Store {
  return new MemoryStore(opts === undefined ? {} : { maxEntries: opts.maxEntries, maxBytes: opts.maxBytes, clock: opts.clock });
}

interface Shared {
  readonly store: MemoryStore;
  readonly limits: string;
  readonly warned: Set<string>;
}

/**
 * The shared stores, one per clock. Weak: a fake clock a test dropped takes its store with it (the
 * system clock's lives as long as the process).
 */
const shared = new WeakMap<Clock, Shared>();

function limitsId(limits: MemoryLimits | undefined): string {
  const { maxEntries, maxBytes } = resolveLimits(limits);
  return `${maxEntries}/${maxBytes}`;
}

/**
 * The process-wide embedded store every `store: 'memory'` cache uses, as processes share one Redis
 * (SPEC §0). The first call's limits win; a later call with different limits gets the same store
 * and one process warning per distinct limits (`undefined` means "no preference" and never warns).
 * Caches must never close it; if something does, the next call creates a fresh one.
 *
 * One per clock (by identity): caches on the same clock share a store, and a cache on a fake clock
 * never shares one with caches on real time, whose entries would expire on another timeline.
 */
export function sharedMemoryStore(limits: MemoryLimits | undefined, clock: Clock = systemClock): MemoryStore {
  const current = shared.get(clock);
  if (current !== undefined && !current.store.isClosed) {
    if (limits !== undefined) {
      const id = limitsId(limits);
      if (id !== current.limits && !current.warned.has(id)) {
        current.warned.add(id);
        process.emitWarning(
          `larder: the shared memory store already exists with limits ${current.limits.replace('/', ' entries / ')} bytes; ` +
            `the memory option ${JSON.stringify(limits)} is ignored (use createMemoryStore for a private store)`,
          { code: 'LARDER_MEMORY_LIMITS' },
        );
      }
    }
    return current.store;
  }
  const store = new MemoryStore(limits === undefined ? { clock } : { maxEntries: limits.maxEntries, maxBytes: limits.maxBytes, clock });
  shared.set(clock, { store, limits: limitsId(limits), warned: new Set() });
  return store;
}
