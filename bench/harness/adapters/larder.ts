/**
 * larder behind the harness interfaces, in its three set-ups: the embedded store, Redis, and
 * Redis with the near cache (`nearCache: { maxEntries }`), and its locks on Redis and on the
 * embedded store. Everything else is larder's defaults (codec, command timeout, circuit breaker,
 * degrade-on-error).
 *
 * One implementation, parameterised by the larder module: this checkout's src/, or for a
 * --baseline twin (baseline.ts) another checkout's `src/index.ts`, imported by file URL. A twin
 * differs from its current system in the module, the name suffix and its namespace: `basis…`
 * for `bench…`, the same length, so the two never read each other's keys, nor does one's write
 * send the other's near cache an invalidation (Redis tracks key names across databases).
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Larder from '../../../src/index.js';
import type { Cache, CacheOptions, Lock } from '../../../src/index.js';
import { TTL_SEC, type CacheAdapter, type CacheSystem, type LockAdapter, type LockSystem, type Setup, type SystemInfo } from '../adapter.js';
import type { Baseline } from '../baseline.js';

/** The public API both versions share (issue 11 kept it unchanged). */
type Module = typeof Larder;

export interface LarderSystems {
  memory: CacheSystem;
  /** The embedded store read through getValue with a generator (get-or-compute), all hits. */
  memoryGoc: CacheSystem;
  redis: CacheSystem;
  near: CacheSystem;
  lock: LockSystem;
  lockMemory: LockSystem;
}

const loaded = new Map<string, Promise<LarderSystems>>();

/** larder's systems from this checkout, or from the baseline checkout `b` (loaded once per process). */
export function larderSystems(b?: Baseline): Promise<LarderSystems> {
  const key = b?.dir ?? '';
  let systems = loaded.get(key);
  if (systems === undefined) {
    systems = (b === undefined ? import('../../../src/index.js') : (import(pathToFileURL(join(b.dir, 'src', 'index.ts')).href) as Promise<Module>)).then((m) =>
      b === undefined ? systemsOf(m, '', 'bench') : systemsOf(m, ` @${b.commit}`, 'basis'),
    );
    loaded.set(key, systems);
  }
  return systems;
}

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

/**
 * A private embedded store per adapter (createMemoryStore), not the process-wide one: each
 * scenario starts empty, and its bound can hold the pattern-delete scenario's million keys
 * (the default bound is exactly 1,000,000 entries).
 */
function memoryStoreBound(setup: Setup): number {
  return Math.max(1_000_000, setup.maxEntries);
}

/** `suffix` is appended to every name; namespaces start with `ns` (5 characters). */
function systemsOf({ createCache, createMemoryStore }: Module, suffix: string, ns: string): LarderSystems {
  const info = (name: string, tier: SystemInfo['tier']): SystemInfo => ({ name: `${name}${suffix}`, role: 'larder', tier });
  /**
   * LK9: the embedded store's locks. Holder and waiter must share one store (one process), so the
   * store is shared by every adapter this system creates in the run.
   */
  let embeddedLockStore: ReturnType<typeof createMemoryStore> | undefined;
  return {
    memory: {
      info: info('larder (embedded)', 'memory'),
      async create(setup) {
        const store = createMemoryStore({ maxEntries: memoryStoreBound(setup) });
        const cache = createCache({ store, namespace: ns });
        return cacheAdapter(this.info, cache, async () => {}, () => store.close());
      },
    },
    memoryGoc: {
      info: info('larder (embedded, getValue + generator)', 'memory'),
      async create(setup) {
        const store = createMemoryStore({ maxEntries: memoryStoreBound(setup) });
        const cache = createCache({ store, namespace: ns });
        const adapter = cacheAdapter(this.info, cache, async () => {}, () => store.close());
        const generator = () => {
          throw new Error('get-or-compute: every read here is a hit, the generator never runs');
        };
        const opts = { generator, ...write };
        return { ...adapter, get: (k: string) => cache.getValue(k, opts) };
      },
    },
    redis: {
      info: info('larder (Redis)', 'redis'),
      async create(setup) {
        const cache = createCache({ store: setup.redisUrl, namespace: `${ns}-redis` });
        return cacheAdapter(this.info, cache, async () => {
          await cache.exists('warm-up'); // opens the connection
        });
      },
    },
    near: {
      info: info('larder (Redis + near cache)', 'tiered'),
      async create(setup) {
        const options: CacheOptions = { store: setup.redisUrl, namespace: `${ns}-near`, nearCache: { maxEntries: setup.maxEntries } };
        const cache = createCache(options);
        return cacheAdapter(this.info, cache, async () => {
          await cache.exists('warm-up');
          // Tracking starts once the invalidation connection is up; until then reads bypass L1 (N3).
          // `core.near.whenActive()` is internal, and present in the baseline (ce2ad44) too.
          await cache.core.near!.whenActive();
        });
      },
    },
    lock: {
      info: info('larder lock (Redis)', 'redis'),
      async create(setup) {
        return lockAdapter(this.info, createCache({ store: setup.redisUrl, namespace: `${ns}-locks` }));
      },
    },
    lockMemory: {
      info: info('larder lock (embedded)', 'memory'),
      async create() {
        embeddedLockStore ??= createMemoryStore();
        return lockAdapter(this.info, createCache({ store: embeddedLockStore, namespace: `${ns}-locks` }));
      },
    },
  };
}
