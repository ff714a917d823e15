/**
 * cache-manager 7.2.9 in its two documented set-ups: the default in-memory Keyv store
 * (`createCache()`) and one Keyv store from @keyv/redis 5.1.6 (`createKeyv(url)`, node-redis
 * underneath). Defaults otherwise; `wrap` is its get-or-compute (it coalesces concurrent calls
 * within one cache instance). cache-manager offers no delete by key pattern (`clear` empties all).
 */
import { createKeyv } from '@keyv/redis';
import { createCache, type Cache } from 'cache-manager';
import { TTL_SEC, type CacheAdapter, type CacheSystem, type SystemInfo } from '../adapter.js';

const ttl = TTL_SEC * 1000;

function manager(info: SystemInfo, open: (url: string) => Cache): CacheSystem {
  return {
    info,
    async create(setup) {
      const cache = open(setup.redisUrl);
      const adapter: CacheAdapter = {
        ...info,
        async ready() {
          await cache.get('warm-up'); // opens the connection
        },
        get: (key) => cache.get(key),
        async set(key, value) {
          await cache.set(key, value, ttl);
        },
        async fill(entries) {
          for (let i = 0; i < entries.length; i += 1000) await cache.mset(entries.slice(i, i + 1000).map(([key, value]) => ({ key, value, ttl })));
        },
        getOrSet: (key, factory) => cache.wrap(key, factory, ttl),
        async close() {
          await cache.disconnect();
        },
      };
      return adapter;
    },
  };
}

export const managerMemory = manager({ name: 'cache-manager (memory)', role: 'peer', tier: 'memory' }, () => createCache());
export const managerRedis = manager({ name: 'cache-manager (Redis)', role: 'peer', tier: 'redis' }, (url) => createCache({ stores: [createKeyv(url)] }));
