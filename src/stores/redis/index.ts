/**
 * The Redis store: what the rest of larder (and the public API) may use of it. store.ts says
 * where each part of it lives.
 */
import type { RedisStoreOptions, RedisStoreSpec } from './connect.js';
import { RedisStore } from './store.js';

export { RedisStore } from './store.js';
export type { IoredisClientLike, RedisKind, RedisStoreOptions, RedisStoreSpec, SentinelSpec } from './connect.js';

/**
 * A Redis store of its own, for what takes stores rather than a cache: `createRedlock` over
 * independent servers, or one store shared by several caches (`createCache({ store })`).
 * `spec` is any Redis form of the `store` option; `commandTimeoutMs` defaults to 1000, as for a
 * cache; `clock` to the system clock. The caller closes it (`store.close()`): a cache never closes a store it was given.
 */
export function createRedisStore(spec: RedisStoreSpec, opts: Partial<RedisStoreOptions> = {}): RedisStore {
  return new RedisStore(spec, { commandTimeoutMs: opts.commandTimeoutMs ?? 1000, clock: opts.clock });
}
