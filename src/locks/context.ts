/**
 * The lock family's view of a cache: its store, its guard (every lock call is `strict`, LK7), its
 * lock counters and its randomness (poll jitter). Built once per cache core.
 */
import type { CacheCore } from '../cache.js';
import type { LockContext } from './acquisition.js';
import { RedisStore } from '../stores/redis.js';

const contexts = new WeakMap<CacheCore, LockContext>();

export function lockContext(core: CacheCore): LockContext {
  let ctx = contexts.get(core);
  if (ctx === undefined) {
    ctx = { store: core.store, guard: core.guard, stats: core.stats, random: core.options.random, direct: core.store instanceof RedisStore };
    contexts.set(core, ctx);
  }
  return ctx;
}
