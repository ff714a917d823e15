// S5 in one process, on the embedded store and on Redis: the lease scripts give the same replies
// on both, caches sharing a store (as processes share Redis) run a generator once, a failing
// holder hands over at once, and an unavailable store means computing without a lease (F2).
//
// No sleeps: a generator holds its lease until the other cache has been refused it twice (its
// first claim, and its claim again once subscribed), so the other is waiting when the value
// lands. The embedded store runs on the fake clock, where "at once" is exact: no time passes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { createCache, createMemoryStore, type Cache, type CacheOptions, type Store } from '../../src/index.js';
import { siblingKey } from '../../src/keys.js';
import { claimLease, landedChannel, releaseLease } from '../../src/flight/lease.js';
import { createRedisStore } from '../../src/stores/redis/index.js';
import { chaosStore } from '../support/chaos-store.js';
import { startCluster, type RedisCluster } from '../support/cluster.js';
import { FakeClock } from '../support/fake-clock.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

let server: RedisServer;
let cluster: RedisCluster;
before(async () => {
  // One after the other: if the cluster fails to start, the server is still stopped by after().
  server = await startRedis();
  cluster = await startCluster();
});
after(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- before() may have thrown before assigning it
  await Promise.all([server?.stop(), cluster?.stop()]);
});

/** A store, and the fake clock it runs on if it can (the embedded store: Redis keeps its own time). */
interface Env {
  store: Store;
  clock?: FakeClock;
}

const envs: Array<{ name: string; make: () => Env }> = [
  {
    name: 'embedded store',
    make: () => {
      const clock = new FakeClock();
      return { store: createMemoryStore({ clock }), clock };
    },
  },
  { name: 'Redis store', make: () => ({ store: createRedisStore(server.url, { commandTimeoutMs: 1000 }) }) },
  // K5: value key and lease key share a slot; PUBLISH from a script reaches subscribers on any node.
  { name: 'Redis Cluster store', make: () => ({ store: createRedisStore({ cluster: { nodes: cluster.startupNodes } }, { commandTimeoutMs: 1000 }) }) },
];

/** A cache on the env's store and clock. */
function cacheOn(env: Env, opts: Omit<CacheOptions, 'store' | 'clock'>): Cache {
  return createCache({ ...opts, store: env.store, ...(env.clock ? { clock: env.clock } : {}) });
}

/**
 * `store`, with `refused` resolving once claims of a lease held by another were refused `times`
 * times through it: the caches on it then have a waiter (whichever cache took the lease).
 */
function refusals(store: Store, times = 2): { store: Store; refused: Promise<void> } {
  let seen = 0;
  let resolve!: () => void;
  const refused = new Promise<void>((r) => (resolve = r));
  const watched = new Proxy(store, {
    get(target, prop) {
      if (prop === 'eval') {
        return async (...args: Parameters<Store['eval']>) => {
          const reply = await target.eval(...args);
          if (args[0] === claimLease && Array.isArray(reply) && reply[0] === 0 && ++seen === times) resolve();
          return reply;
        };
      }
      const v: unknown = Reflect.get(target, prop);
      return typeof v === 'function' ? (v.bind(target) as unknown) : v;
    },
  });
  return { store: watched, refused };
}

/** Runs `p` to its end (on the env's fake clock, if any) and says how long it took there. */
async function timed<T>(env: Env, p: Promise<T>): Promise<{ value: T; ms: number }> {
  const clock = env.clock;
  const t0 = clock ? clock.monotonic() : performance.now();
  const value = clock ? await clock.runUntil(p) : await p;
  return { value, ms: (clock ? clock.monotonic() : performance.now()) - t0 };
}

for (const env of envs) {
  describe(`S5 on the ${env.name}`, () => {
    test('S5: claim takes a free lease, reports a held one with its TTL and marks it waited on; release publishes only then', async () => {
      const { store } = env.make();
      const pk = 'lr:t:{abcd}k-:value';
      const lease = siblingKey(pk, 'S');
      const channel = landedChannel(pk);
      assert.equal(channel, 'lr:t:landed');
      const heard: string[] = [];
      let heardTwo!: () => void;
      const two = new Promise<void>((r) => (heardTwo = r));
      const unsub = await store.subscribe(channel, (m) => {
        if (heard.push(m.toString()) === 2) heardTwo();
      });
      assert.deepEqual(await store.eval(claimLease, [pk, lease], ['tokenA', 5000, '1']), [2]);
      // Uncontended: released without a message.
      assert.equal(await store.eval(releaseLease, [lease], ['tokenA', channel, pk]), 1);
      assert.deepEqual(await store.eval(claimLease, [pk, lease], ['tokenA', 5000, '1']), [2]);
      const held = (await store.eval(claimLease, [pk, lease], ['tokenB', 5000, '1'])) as number[];
      assert.equal(held[0], 0);
      assert.ok(held[1]! > 4000 && held[1]! <= 5000, `pttl ${held[1]}`);
      assert.equal((await store.get(lease))?.toString(), 'tokenAw', 'marked as waited on, once');
      await store.eval(claimLease, [pk, lease], ['tokenC', 5000, '1']);
      assert.equal((await store.get(lease))?.toString(), 'tokenAw');
      assert.equal(await store.eval(releaseLease, [lease], ['tokenB', channel, pk]), 0, 'not B\'s to release');
      assert.equal(await store.eval(releaseLease, [lease], ['tokenA', channel, pk]), 1);
      assert.equal(await store.get(lease), null);
      await store.set(pk, Buffer.from('v'));
      assert.deepEqual(await store.eval(claimLease, [pk, lease], ['tokenA', 5000, '1']), [1], 'the value is there');
      assert.deepEqual(await store.eval(claimLease, [pk, lease], ['tokenA', 5000, '0']), [2], 'unless told to ignore it');
      // Deliveries are asynchronous: wait for the one expected (B's refused release also published).
      await two;
      assert.deepEqual(heard, [pk, pk]);
      await unsub();
      await store.close();
    });

    test('S5: two caches on one store (two processes) missing one key at once run the generator once', async () => {
      const e = env.make();
      const { store, refused } = refusals(e.store);
      const a = cacheOn({ ...e, store }, { namespace: 's5u' });
      const b = cacheOn({ ...e, store }, { namespace: 's5u' });
      let runs = 0;
      const generator = async () => {
        runs++;
        await refused; // the other cache is waiting for this run
        return 'v';
      };
      const key = `two-${env.name}`;
      const { value: got, ms } = await timed(e, Promise.all([a, b, a, b].map((c) => c.getValue(key, { generator, expiresInSec: 60 }))));
      assert.deepEqual(got, ['v', 'v', 'v', 'v']);
      assert.equal(runs, 1);
      if (e.clock) assert.equal(ms, 0, 'the waiting cache was woken by the landing, not by a poll');
      await a.close();
      await b.close();
      await e.store.close();
    });

    test('S5, M2: a memoised function called at once from two caches on one store (two processes) runs once', async () => {
      const e = env.make();
      const { store, refused } = refusals(e.store);
      const a = cacheOn({ ...e, store }, { namespace: 's5m' });
      const b = cacheOn({ ...e, store }, { namespace: 's5m' });
      let runs = 0;
      const body = async (code: string) => {
        runs++;
        await refused; // the other cache is waiting for this run
        return `rate of ${code}`;
      };
      const name = `rate-${env.name.replace(/ /g, '-')}`;
      const fa = a.memoize(body, { name });
      const fb = b.memoize(body, { name });
      const { value: got, ms } = await timed(e, Promise.all([fa('X'), fb('X'), fa('X'), fb('X')]));
      assert.deepEqual(got, Array(4).fill('rate of X'));
      assert.equal(runs, 1);
      if (e.clock) assert.equal(ms, 0, 'the waiting cache was woken by the landing, not by a poll');
      await a.close();
      await b.close();
      await e.store.close();
    });

    test('S5: a holder whose generator throws releases the lease at once: the waiting cache computes without waiting it out', async () => {
      const e = env.make();
      const { store, refused } = refusals(e.store);
      const a = cacheOn({ ...e, store }, { namespace: 's5u', leaseMs: 60_000 });
      const b = cacheOn({ ...e, store }, { namespace: 's5u', leaseMs: 60_000 });
      const key = `throws-${env.name}`;
      let started!: () => void;
      const running = new Promise<void>((r) => (started = r));
      const failing = a.getValue(key, {
        generator: async () => {
          started();
          await refused; // b is waiting on this lease
          throw new Error('boom');
        },
      });
      await running;
      const waiting = b.getValue(key, { generator: () => 'from b' });
      await assert.rejects(failing, /boom/);
      const { value, ms } = await timed(e, waiting);
      assert.equal(value, 'from b');
      if (e.clock) assert.equal(ms, 0, 'woken by the release itself: no poll, not the 60 s lease');
      // On Redis the hand-off is a PUBLISH and a round trip, in real time.
      else assert.ok(ms < 2000, 'not the 60 s lease');
      await a.close();
      await b.close();
      await e.store.close();
    });
  });
}

test('S5, F2: with the store down, a miss computes without a lease and writes nothing; the breaker-open path too', async () => {
  const clock = new FakeClock();
  const store = chaosStore(createMemoryStore({ clock }));
  const cache = createCache({ store, clock, commandTimeoutMs: 200 });
  store.mode = 'fail';
  let runs = 0;
  assert.equal(await cache.getValue('down', { generator: () => ++runs }), 1);
  assert.equal(store.calls.get('eval') ?? 0, 0, 'no lease was asked for after the read failed');
  assert.equal(store.calls.get('set') ?? 0, 0, 'no write was attempted');
  store.mode = 'stall';
  const t0 = clock.monotonic();
  assert.equal(await clock.runUntil(cache.getValue('down', { generator: () => ++runs })), 2);
  // One timeout (200 ms), not one per store call (read, lease, write: 600 ms).
  assert.equal(clock.monotonic() - t0, 200, 'one timeout, not one per store call');
  await cache.close();
});
