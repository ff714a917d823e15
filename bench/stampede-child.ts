/**
 * One process of the stampede benchmark (bench/stampede.ts): one system's cache, configured the
 * documented way, on the given Redis; on 'go', `concurrency` concurrent get-or-compute calls of one
 * key whose generator takes `genMs`. Reports how many times the generator ran here and how long
 * the slowest caller waited.
 *   args: <system> <redis url> <key> <concurrency> <genMs>
 */
import { createCache } from '../src/index.js';

const [system, url, key, concurrency, genMs] = process.argv.slice(2) as [string, string, string, string, string];
let runs = 0;
const generator = async () => {
  runs++;
  await new Promise((r) => setTimeout(r, Number(genMs)));
  return { by: process.pid, at: Date.now() };
};

interface Adapter {
  warm(): Promise<unknown>;
  getOrSet(): Promise<unknown>;
  close(): Promise<unknown>;
}

async function adapter(): Promise<Adapter> {
  const { hostname, port } = new URL(url);
  if (system === 'larder') {
    const cache = createCache({ store: url, namespace: 'bench' });
    return {
      warm: () => cache.exists('warm'),
      getOrSet: () => cache.getValue(key, { generator, expiresInSec: 60 }),
      close: () => cache.close(),
    };
  }
  if (system === 'bentocache') {
    // bentocache's documented multi-tier set-up: memory L1, Redis L2, Redis bus.
    const { BentoCache, bentostore } = await import('bentocache');
    const { memoryDriver } = await import('bentocache/drivers/memory');
    const { redisDriver, redisBusDriver } = await import('bentocache/drivers/redis');
    const connection = { host: hostname, port: Number(port) };
    const bento = new BentoCache({
      default: 'multitier',
      stores: {
        multitier: bentostore()
          .useL1Layer(memoryDriver({ maxSize: '10mb' }))
          .useL2Layer(redisDriver({ connection }))
          .useBus(redisBusDriver({ connection })),
      },
    });
    return {
      warm: () => bento.has({ key: 'warm' }),
      getOrSet: () => bento.getOrSet({ key, factory: generator, ttl: '1m' }),
      close: () => bento.disconnectAll(),
    };
  }
  if (system === 'cache-manager') {
    // cache-manager 7's documented Redis set-up: a Keyv store from @keyv/redis.
    const { createCache: createManager } = await import('cache-manager');
    const { createKeyv } = await import('@keyv/redis');
    const cache = createManager({ stores: [createKeyv(url)] });
    return {
      warm: () => cache.get('warm'),
      getOrSet: () => cache.wrap(key, generator, 60_000),
      close: () => cache.disconnect(),
    };
  }
  throw new Error(`unknown system ${system}`);
}

const a = await adapter();
await a.warm();
process.send!({ type: 'ready' });
await new Promise<void>((resolve) => process.once('message', () => resolve()));
const t0 = performance.now();
let errors = 0;
let slowest = 0;
await Promise.all(
  Array.from({ length: Number(concurrency) }, async () => {
    try {
      await a.getOrSet();
    } catch {
      errors++;
    }
    slowest = Math.max(slowest, performance.now() - t0);
  }),
);
process.send!({ type: 'done', runs, errors, slowest });
await a.close();
process.disconnect();
