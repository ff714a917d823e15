/**
 * The lock family's view of a cache: its store, its guard (every lock call is `strict`, LK7), its
 * lock counters and its randomness (poll jitter). Built once per cache core.
 */
import type { CacheCore } from '../cache.js';
import type { LockContext } from './acquisition.js';

const contexts = new WeakMap<CacheCore, LockContext>();

export function lockContext(core: CacheCore): LockContext {
  let ctx = contexts.get(core);
  if (ctx === undefined) {
    ctx = { store: core.store, guard: core.guard, stats: core.stats, random: core.options.random };
    contexts.set(core, ctx);
  }
  return ctx;
}
