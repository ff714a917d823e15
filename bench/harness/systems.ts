/**
 * The registry of benchmarked systems, by a short id. Modules are imported on first use, so a
 * child process (stampede, heap measurement) loads only the one library it measures: another
 * library's module state must not sit in the heap being measured.
 *
 * A larder system's id may name a checkout after an `@`: `larder-near@/path/to/checkout` is the
 * same set-up with larder loaded from that checkout's src/ (the --baseline twin, baseline.ts).
 * The id is all a child process is given, so it loads the same module as the parent meant.
 */
import type { CacheAdapter, CacheSystem, LockAdapter, LockSystem, Setup } from './adapter.js';
import { baselineOf, twinName, type Baseline } from './baseline.js';

const larder = async (dir: string | undefined) => (await import('./adapters/larder.js')).larderSystems(dir === undefined ? undefined : baselineOf(dir));

const cacheSystems = {
  'larder-memory': async (dir?: string) => (await larder(dir)).memory,
  'larder-memory-goc': async (dir?: string) => (await larder(dir)).memoryGoc,
  'larder-redis': async (dir?: string) => (await larder(dir)).redis,
  'larder-near': async (dir?: string) => (await larder(dir)).near,
  ioredis: async () => (await import('./adapters/ioredis.js')).rawIoredis,
  map: async () => (await import('./adapters/map.js')).plainMap,
  'async-map': async () => (await import('./adapters/map.js')).asyncMap,
  'bento-memory': async () => (await import('./adapters/bentocache.js')).bentoMemory,
  'bento-redis': async () => (await import('./adapters/bentocache.js')).bentoRedis,
  'bento-tiered': async () => (await import('./adapters/bentocache.js')).bentoTiered,
  'cm-memory': async () => (await import('./adapters/cache-manager.js')).managerMemory,
  'cm-redis': async () => (await import('./adapters/cache-manager.js')).managerRedis,
} satisfies Record<string, (dir?: string) => Promise<CacheSystem>>;

const lockSystems = {
  'larder-lock': async (dir?: string) => (await larder(dir)).lock,
  'larder-lock-memory': async (dir?: string) => (await larder(dir)).lockMemory,
  'raw-lock': async () => (await import('./adapters/ioredis.js')).rawLock,
  'raw-handoff': async () => (await import('./adapters/ioredis.js')).rawHandoff,
  redlock: async () => (await import('./adapters/redlock.js')).redlock,
  'redis-semaphore': async () => (await import('./adapters/redis-semaphore.js')).redisSemaphore,
} satisfies Record<string, (dir?: string) => Promise<LockSystem>>;

type LarderId = 'larder-memory' | 'larder-memory-goc' | 'larder-redis' | 'larder-near' | 'larder-lock' | 'larder-lock-memory';
const LARDER: readonly string[] = ['larder-memory', 'larder-memory-goc', 'larder-redis', 'larder-near', 'larder-lock', 'larder-lock-memory'] satisfies LarderId[];
type CacheBase = keyof typeof cacheSystems;
type LockBase = keyof typeof lockSystems;
export type CacheId = CacheBase | `${CacheBase & LarderId}@${string}`;
export type LockId = LockBase | `${LockBase & LarderId}@${string}`;

/** [registry id, checkout dir or undefined for this one]. */
function parse(id: string): [string, string | undefined] {
  const at = id.indexOf('@');
  return at < 0 ? [id, undefined] : [id.slice(0, at), id.slice(at + 1)];
}

export function isCacheId(id: string): id is CacheId {
  const [base, dir] = parse(id);
  return Object.hasOwn(cacheSystems, base) && (dir === undefined || LARDER.includes(base));
}

/** Creates the adapter and waits until it is ready to be measured. */
export async function openCache(id: CacheId, setup: Setup): Promise<CacheAdapter> {
  const [base, dir] = parse(id);
  const a = await (await cacheSystems[base as CacheBase](dir)).create(setup);
  await a.ready();
  return a;
}

export async function openLock(id: LockId, setup: Setup): Promise<LockAdapter> {
  const [base, dir] = parse(id);
  const a = await (await lockSystems[base as LockBase](dir)).create(setup);
  await a.ready();
  return a;
}

/** `ids` with each larder system followed by its baseline twin (just `ids` without --baseline). */
export function withTwinIds<T extends CacheId | LockId>(ids: readonly T[], b: Baseline | undefined): T[] {
  return withTwins(ids.map((id) => ({ id })), b).map((e) => e.id);
}

/**
 * Entries naming a system (`id`, and a display `name` where the scenario keeps one), each larder
 * one followed by its baseline twin; `more` overrides fields of a twin (a Redis database of its own).
 */
export function withTwins<E extends { id: CacheId | LockId; name?: string }>(list: readonly E[], b: Baseline | undefined, more: (e: E) => Partial<E> = () => ({})): E[] {
  if (b === undefined) return [...list];
  return list.flatMap((e) => {
    if (!LARDER.includes(e.id)) return [e];
    const twin: E = { ...e, id: `${e.id}@${b.dir}`, ...more(e) };
    if (e.name !== undefined) twin.name = twinName(e.name, b);
    return [e, twin];
  });
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
