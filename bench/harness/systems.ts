/**
 * The registry of benchmarked systems, by a short id. Modules are imported on first use, so a
 * child process (stampede, heap measurement) loads only the one library it measures: another
 * library's module state must not sit in the heap being measured.
 */
import type { CacheAdapter, CacheSystem, LockAdapter, LockSystem, Setup } from './adapter.js';

const cacheSystems = {
  'larder-memory': async () => (await import('./adapters/larder.js')).larderMemory,
  'larder-redis': async () => (await import('./adapters/larder.js')).larderRedis,
  'larder-near': async () => (await import('./adapters/larder.js')).larderNear,
  ioredis: async () => (await import('./adapters/ioredis.js')).rawIoredis,
  map: async () => (await import('./adapters/map.js')).plainMap,
  'async-map': async () => (await import('./adapters/map.js')).asyncMap,
  'bento-memory': async () => (await import('./adapters/bentocache.js')).bentoMemory,
  'bento-redis': async () => (await import('./adapters/bentocache.js')).bentoRedis,
  'bento-tiered': async () => (await import('./adapters/bentocache.js')).bentoTiered,
  'cm-memory': async () => (await import('./adapters/cache-manager.js')).managerMemory,
  'cm-redis': async () => (await import('./adapters/cache-manager.js')).managerRedis,
} satisfies Record<string, () => Promise<CacheSystem>>;

const lockSystems = {
  'larder-lock': async () => (await import('./adapters/larder.js')).larderLockRedis,
  'larder-lock-memory': async () => (await import('./adapters/larder.js')).larderLockMemory,
  'raw-lock': async () => (await import('./adapters/ioredis.js')).rawLock,
  'raw-handoff': async () => (await import('./adapters/ioredis.js')).rawHandoff,
  redlock: async () => (await import('./adapters/redlock.js')).redlock,
  'redis-semaphore': async () => (await import('./adapters/redis-semaphore.js')).redisSemaphore,
} satisfies Record<string, () => Promise<LockSystem>>;

export type CacheId = keyof typeof cacheSystems;
export type LockId = keyof typeof lockSystems;

export function isCacheId(id: string): id is CacheId {
  return Object.hasOwn(cacheSystems, id);
}

/** Creates the adapter and waits until it is ready to be measured. */
export async function openCache(id: CacheId, setup: Setup): Promise<CacheAdapter> {
  const a = await (await cacheSystems[id]()).create(setup);
  await a.ready();
  return a;
}

export async function openLock(id: LockId, setup: Setup): Promise<LockAdapter> {
  const a = await (await lockSystems[id]()).create(setup);
  await a.ready();
  return a;
}

/** Opens several cache systems, closing the ones already open if a later one fails. */
export async function openCaches(ids: readonly CacheId[], setup: Setup): Promise<CacheAdapter[]> {
  const out: CacheAdapter[] = [];
  try {
    for (const id of ids) out.push(await openCache(id, setup));
    return out;
  } catch (err) {
    await closeAll(out);
    throw err;
  }
}

export async function closeAll(adapters: Array<{ close(): Promise<void> }>): Promise<void> {
  await Promise.allSettled(adapters.map((a) => a.close()));
}
