/**
 * bentocache 1.6.1 in its three documented set-ups: one memory tier, one Redis tier, and the
 * multi-tier stack (memory L1 + Redis L2 + Redis bus keeping the L1s of several processes in
 * step). Its defaults otherwise: JSON serializer, serialized L1, no grace period, its own stampede
 * protection in getOrSet. Each set-up has its own key prefix so they can share the server.
 *
 * The memory driver's default bound is 1,000 items; it is set to the same `maxEntries` larder's
 * near cache gets, so every in-process tier holds the whole working set.
 * bentocache offers no delete by key pattern (namespaces and tags group keys at write time).
 */
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import { fillWith, TTL_SEC, type CacheAdapter, type CacheSystem, type Setup, type SystemInfo } from '../adapter.js';

type Layers = 'memory' | 'redis' | 'tiered';
const ttl = TTL_SEC * 1000;

function build(layers: Layers, setup: Setup): BentoCache<{ cache: ReturnType<typeof bentostore> }> {
  const connection = { host: setup.host, port: setup.port };
  const l1 = () => memoryDriver({ maxItems: setup.maxEntries });
  const store =
    layers === 'memory'
      ? bentostore().useL1Layer(l1())
      : layers === 'redis'
        ? bentostore().useL2Layer(redisDriver({ connection }))
        : bentostore().useL1Layer(l1()).useL2Layer(redisDriver({ connection })).useBus(redisBusDriver({ connection }));
  return new BentoCache({ default: 'cache', prefix: `bento-${layers}`, stores: { cache: store } });
}

function bento(info: SystemInfo, layers: Layers): CacheSystem {
  return {
    info,
    async create(setup) {
      const b = build(layers, setup);
      const set = async (key: string, value: unknown) => {
        await b.set({ key, value, ttl });
      };
      const adapter: CacheAdapter = {
        ...info,
        async ready() {
          await b.has({ key: 'warm-up' }); // connects L2 and subscribes the bus
        },
        get: (key) => b.get({ key }),
        set,
        fill: (entries) => fillWith(entries, set),
        getOrSet: (key, factory) => b.getOrSet({ key, factory, ttl }),
        async close() {
          await b.disconnectAll();
        },
      };
      return adapter;
    },
  };
}

export const bentoMemory = bento({ name: 'bentocache (memory)', role: 'peer', tier: 'memory' }, 'memory');
export const bentoRedis = bento({ name: 'bentocache (Redis)', role: 'peer', tier: 'redis' }, 'redis');
export const bentoTiered = bento({ name: 'bentocache (memory+Redis+bus)', role: 'peer', tier: 'tiered' }, 'tiered');
