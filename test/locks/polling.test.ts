// LK5's fallback: pub/sub is at-most-once, so a waiter must get the lock without it, by polling at
// least every 100 ms (jittered with the cache's `random`). Run on the embedded store and on Redis.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCache, StoreUnavailableError } from '../../src/index.js';
import { createMemoryStore } from '../../src/stores/memory/index.js';
import { createRedisStore } from '../../src/stores/redis/index.js';
import type { Store } from '../../src/stores/store.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The store, with subscribe() always failing and the times of eval() calls recorded. */
function deaf(store: Store, counter: { evals: number; at: number[] }): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'subscribe') return () => Promise.reject(new StoreUnavailableError('no pub/sub'));
      if (prop === 'eval') {
        return (...args: Parameters<Store['eval']>) => {
          counter.evals++;
          counter.at.push(performance.now());
          return target.eval(...args);
        };
      }
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? (v.bind(target) as unknown) : v;
    },
  });
}

let server: RedisServer;
let redis: Store;
before(async () => {
  server = await startRedis();
  redis = createRedisStore(server.url, { commandTimeoutMs: 1000 });
});
after(async () => {
  await redis.close();
  await server.stop();
});

for (const which of ['the embedded store', 'redis']) {
  test(`LK5 on ${which}: with pub/sub unavailable, a waiter gets the lock by polling, at least every 100 ms, jittered by options.random`, async () => {
    const counter = { evals: 0, at: [] as number[] };
    const store = deaf(which === 'redis' ? redis : createMemoryStore(), counter);
    // random 0: a try every 50 ms; random ~1: every ~100 ms. Timers only run late, never early, so
    // the shortest gap between two tries shows the jitter whatever the machine's load; the count
    // has a ceiling only (a loaded machine lowers it), and the longest gap a loose one.
    for (const [random, shortest, most] of [[() => 0, 45, 12], [() => 0.999, 95, 7]] as const) {
      const cache = createCache({ store, random });
      const held = await cache.lock('deaf', { ttlMs: 10_000 });
      const waiter = cache.lock('deaf', { waitMs: 5000 });
      await sleep(20);
      counter.evals = 0;
      counter.at.length = 0;
      await sleep(500);
      const polls = counter.evals;
      const gaps = counter.at.slice(1).map((t, i) => t - counter.at[i]!);
      const t0 = performance.now();
      await held.release();
      const got = await waiter;
      const took = performance.now() - t0;
      const shown = `${polls} tries in 500 ms with random ${random()}, gaps ${gaps.map((g) => g.toFixed(0)).join(', ')} ms`;
      assert.ok(polls >= 2 && polls <= most, shown);
      assert.ok(Math.min(...gaps) >= shortest, shown);
      assert.ok(Math.max(...gaps) < 400, shown);
      assert.ok(took <= 400, `the release was noticed after ${took} ms without pub/sub`);
      await got.release();
      await cache.close();
    }
  });
}
