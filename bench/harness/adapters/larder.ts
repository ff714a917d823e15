/**
 * larder behind the harness interfaces, in its three set-ups: the embedded store, Redis, and
 * Redis with the near cache (`nearCache: { maxEntries }`). Everything else is larder's defaults
 * (codec, command timeout, circuit breaker, degrade-on-error).
 */
import { createCache, createMemoryStore, type Cache, type CacheOptions, type Lock } from '../../../src/index.js';
import { TTL_SEC, type CacheAdapter, type CacheSystem, type LockAdapter, type LockSystem, type Setup, type SystemInfo } from '../adapter.js';

const write = { expiresInSec: TTL_SEC };

function cacheAdapter(info: SystemInfo, cache: Cache, ready: () => Promise<void>, closeStore?: () => Promise<void>): CacheAdapter {
  return {
    ...info,
    ready,
    get: (k) => cache.getValue(k),
    set: (k, v) => cache.setValue(k, v, write),
    async fill(entries) {
      // setMany: one MSET-style round trip per 1,000 entries.
      for (let i = 0; i < entries.length; i += 1000) await cache.setMany(entries.slice(i, i + 1000), write);
    },
    getOrSet: (k, factory) => cache.getValue(k, { generator: factory, ...write }),
    deleteByPrefix: (prefix) => cache.deleteKeys(prefix), // P1: the trailing `*` is implied
    async close() {
      await cache.close();
      await closeStore?.();
    },
  };
}

/**
 * A private embedded store per adapter (createMemoryStore), not the process-wide one: each
 * scenario starts empty, and its bound can hold the pattern-delete scenario's million keys
 * (the default bound is exactly 1,000,000 entries).
 */
function memoryStoreBound(setup: Setup): number {
  return Math.max(1_000_000, setup.maxEntries);
}

export const larderMemory: CacheSystem = {
  info: { name: 'larder (embedded)', role: 'larder', tier: 'memory' },
  async create(setup) {
    const store = createMemoryStore({ maxEntries: memoryStoreBound(setup) });
    const cache = createCache({ store, namespace: 'bench' });
    return cacheAdapter(this.info, cache, async () => {}, () => store.close());
  },
};

export const larderRedis: CacheSystem = {
  info: { name: 'larder (Redis)', role: 'larder', tier: 'redis' },
  async create(setup) {
    const cache = createCache({ store: setup.redisUrl, namespace: 'bench-redis' });
    return cacheAdapter(this.info, cache, async () => {
      await cache.exists('warm-up'); // opens the connection
    });
  },
};

export const larderNear: CacheSystem = {
  info: { name: 'larder (Redis + near cache)', role: 'larder', tier: 'tiered' },
  async create(setup) {
    const options: CacheOptions = { store: setup.redisUrl, namespace: 'bench-near', nearCache: { maxEntries: setup.maxEntries } };
    const cache = createCache(options);
    return cacheAdapter(this.info, cache, async () => {
      await cache.exists('warm-up');
      // Tracking starts once the invalidation connection is up; until then reads bypass L1 (N3).
      await cache.core.near!.whenActive();
    });
  },
};

function lockAdapter(info: SystemInfo, cache: Cache, closeStore?: () => Promise<void>): LockAdapter {
  return {
    ...info,
    async ready() {
      await cache.exists('warm-up');
    },
    acquire: (name) => cache.lock(name), // defaults: ttlMs 30 s, waitMs 10 s, autoExtend
    release: (l) => (l as Lock).release(),
    async close() {
      await cache.close();
      await closeStore?.();
    },
  };
}

export const larderLockRedis: LockSystem = {
  info: { name: 'larder lock (Redis)', role: 'larder', tier: 'redis' },
  async create(setup) {
    return lockAdapter(this.info, createCache({ store: setup.redisUrl, namespace: 'bench-locks' }));
  },
};

/**
 * LK9: the embedded store's locks. Holder and waiter must share one store (one process), so the
 * store is shared by every adapter this system creates in the run.
 */
let embeddedLockStore: ReturnType<typeof createMemoryStore> | undefined;
export const larderLockMemory: LockSystem = {
  info: { name: 'larder lock (embedded)', role: 'larder', tier: 'memory' },
  async create() {
    embeddedLockStore ??= createMemoryStore();
    return lockAdapter(this.info, createCache({ store: embeddedLockStore, namespace: 'bench-locks' }));
  },
};
