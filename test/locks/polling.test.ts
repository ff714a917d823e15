// LK5's fallback: pub/sub is at-most-once, so a waiter must get the lock without it, by polling at
// least every 100 ms (jittered with the cache's `random`). Run on the embedded store and on Redis,
// both on the fake clock: the clock waits for each poll's answer (inFlight) before it moves on, so
// on Redis too the tries come exactly when the wait loop asks for them.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCache, StoreUnavailableError } from '../../src/index.js';
import { createMemoryStore } from '../../src/stores/memory/index.js';
import { createRedisStore } from '../../src/stores/redis/index.js';
import type { Store } from '../../src/stores/store.js';
import { FakeClock, inFlight } from '../support/fake-clock.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

/** The store, with subscribe() always failing and the times of eval() calls recorded on `clock`. */
function deaf(store: Store, clock: FakeClock, counter: { evals: number; at: number[] }): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'subscribe') return () => Promise.reject(new StoreUnavailableError('no pub/sub'));
      if (prop === 'eval') {
        return (...args: Parameters<Store['eval']>) => {
          counter.evals++;
          counter.at.push(clock.monotonic());
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
    // random 0: a try every 50 ms; random 0.999: every 99.95 ms. On the fake clock, exactly.
    for (const [random, gap] of [[() => 0, 50], [() => 0.999, 99.95]] as const) {
      const io = inFlight();
      const clock = new FakeClock(undefined, { settle: () => io.settled() });
      const counter = { evals: 0, at: [] as number[] };
      const store = deaf(io.track(which === 'redis' ? redis : createMemoryStore({ clock })), clock, counter);
      const cache = createCache({ store, random, clock });
      const held = await cache.lock('deaf', { ttlMs: 10_000 });
      const waiter = cache.lock('deaf', { waitMs: 5000 });
      await clock.advance(20);
      counter.evals = 0;
      counter.at.length = 0;
      const from = clock.monotonic();
      await clock.advance(500);
      const gaps = counter.at.slice(1).map((t, i) => t - counter.at[i]!);
      const shown = `${counter.evals} tries in 500 ms with random ${random()}, gaps ${gaps.map((g) => g.toFixed(2)).join(', ')} ms`;
      // Tries at every multiple of the gap since the refused first try (at 0), none in between.
      assert.equal(counter.evals, Math.floor((from + 500) / gap) - Math.floor(from / gap), shown);
      for (const g of gaps) assert.ok(Math.abs(g - gap) < 1e-9, shown);
      const lastTry = counter.at.at(-1)!;
      const t0 = clock.monotonic();
      await held.release();
      const got = await clock.runUntil(waiter);
      const took = clock.monotonic() - t0;
      // The release is noticed by the next try: one gap after the last, never a gap more.
      assert.ok(Math.abs(took - (lastTry + gap - t0)) < 1e-9, `the release was noticed after ${took} ms without pub/sub (${shown})`);
      assert.ok(took <= gap);
      await got.release();
      await cache.close();
    }
  });
}
