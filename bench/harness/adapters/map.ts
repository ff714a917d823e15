/**
 * The upper bounds for a cache in process memory: a plain `Map` read synchronously (what no
 * async API can beat) and the same `Map` behind an `async` function, awaited (what any API that
 * returns a promise can at best reach). Same keys, same value objects, no TTL, no bound, no copy.
 */
import type { CacheAdapter, CacheSystem } from '../adapter.js';

function mapAdapter(name: string, sync: boolean): CacheSystem {
  return {
    info: { name, role: 'bound', tier: 'memory' },
    async create() {
      const map = new Map<string, unknown>();
      const adapter: CacheAdapter = {
        ...this.info,
        async ready() {},
        get: async (k) => map.get(k),
        set: async (k, v) => {
          map.set(k, v);
        },
        async fill(entries) {
          for (const [k, v] of entries) map.set(k, v);
        },
        /** The in-process pattern-delete bound: one pass over every key, no index, no escaping. */
        async deleteByPrefix(prefix) {
          let n = 0;
          for (const k of map.keys()) if (k.startsWith(prefix) && map.delete(k)) n++;
          return n;
        },
        async close() {
          map.clear();
        },
      };
      if (sync) {
        adapter.getSync = (k) => map.get(k);
        adapter.setSync = (k, v) => {
          map.set(k, v);
        };
      }
      return adapter;
    },
  };
}

export const plainMap = mapAdapter('Map (sync)', true);
export const asyncMap = mapAdapter('async Map (awaited)', false);
