// S5 in one process, on the embedded store and on Redis: the lease scripts give the same replies
// on both, caches sharing a store (as processes share Redis) run a generator once, a failing
// holder hands over at once, and an unavailable store means computing without a lease (F2).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCache, type Store } from '../../src/index.js';
import { siblingKey } from '../../src/keys.js';
import { claimLease, landedChannel, releaseLease } from '../../src/flight/lease.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { createRedisStore } from '../../src/stores/redis/index.js';
import { chaosStore } from '../support/chaos-store.js';
import { startCluster, type RedisCluster } from '../support/cluster.js';
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

const envs: Array<{ name: string; make: () => Store }> = [
  { name: 'embedded store', make: () => new MemoryStore() },
  { name: 'Redis store', make: () => createRedisStore(server.url, { commandTimeoutMs: 1000 }) },
  // K5: value key and lease key share a slot; PUBLISH from a script reaches subscribers on any node.
  { name: 'Redis Cluster store', make: () => createRedisStore({ cluster: { nodes: cluster.startupNodes } }, { commandTimeoutMs: 1000 }) },
];

for (const env of envs) {
  describe(`S5 on the ${env.name}`, () => {
    test('S5: claim takes a free lease, reports a held one with its TTL and marks it waited on; release publishes only then', async () => {
      const store = env.make();
      const pk = 'lr:t:{abcd}k-:value';
      const lease = siblingKey(pk, 'S');
      const channel = landedChannel(pk);
      assert.equal(channel, 'lr:t:landed');
      const heard: string[] = [];
      const unsub = await store.subscribe(channel, (m) => heard.push(m.toString()));
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
      for (let i = 0; i < 100 && heard.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(heard, [pk, pk]);
      await unsub();
      await store.close();
    });

    test('S5: two caches on one store (two processes) missing one key at once run the generator once', async () => {
      const store = env.make();
      const a = createCache({ store, namespace: 's5u' });
      const b = createCache({ store, namespace: 's5u' });
      let runs = 0;
      const generator = async () => {
        runs++;
        await new Promise((r) => setTimeout(r, 50));
        return 'v';
      };
      const key = `two-${env.name}`;
      const got = await Promise.all([a, b, a, b].map((c) => c.getValue(key, { generator, expiresInSec: 60 })));
      assert.deepEqual(got, ['v', 'v', 'v', 'v']);
      assert.equal(runs, 1);
      await a.close();
      await b.close();
      await store.close();
    });

    test('S5, M2: a memoised function called at once from two caches on one store (two processes) runs once', async () => {
      const store = env.make();
      const a = createCache({ store, namespace: 's5m' });
      const b = createCache({ store, namespace: 's5m' });
      let runs = 0;
      const body = async (code: string) => {
        runs++;
        await new Promise((r) => setTimeout(r, 50));
        return `rate of ${code}`;
      };
      const name = `rate-${env.name.replace(/ /g, '-')}`;
      const fa = a.memoize(body, { name });
      const fb = b.memoize(body, { name });
      assert.deepEqual(await Promise.all([fa('X'), fb('X'), fa('X'), fb('X')]), Array(4).fill('rate of X'));
      assert.equal(runs, 1);
      await a.close();
      await b.close();
      await store.close();
    });

    test('S5: a holder whose generator throws releases the lease at once: the waiting cache computes without waiting it out', async () => {
      const store = env.make();
      const a = createCache({ store, namespace: 's5u', leaseMs: 60_000 });
      const b = createCache({ store, namespace: 's5u', leaseMs: 60_000 });
      const key = `throws-${env.name}`;
      let started!: () => void;
      const running = new Promise<void>((r) => (started = r));
      const failing = a.getValue(key, {
        generator: async () => {
          started();
          await new Promise((r) => setTimeout(r, 50));
          throw new Error('boom');
        },
      });
      await running;
      const t0 = performance.now();
      const waiting = b.getValue(key, { generator: () => 'from b' });
      await assert.rejects(failing, /boom/);
      assert.equal(await waiting, 'from b');
      assert.ok(performance.now() - t0 < 2000, 'not the 60 s lease');
      await a.close();
      await b.close();
      await store.close();
    });
  });
}

test('S5, F2: with the store down, a miss computes without a lease and writes nothing; the breaker-open path too', async () => {
  const store = chaosStore(new MemoryStore());
  const cache = createCache({ store, commandTimeoutMs: 200 });
  store.mode = 'fail';
  let runs = 0;
  assert.equal(await cache.getValue('down', { generator: () => ++runs }), 1);
  assert.equal(store.calls.get('eval') ?? 0, 0, 'no lease was asked for after the read failed');
  assert.equal(store.calls.get('set') ?? 0, 0, 'no write was attempted');
  store.mode = 'stall';
  const t0 = performance.now();
  assert.equal(await cache.getValue('down', { generator: () => ++runs }), 2);
  // One timeout (200 ms), not one per store call (read, lease, write: 600 ms); anything under two
  // of them tells the two apart, with room for a loaded machine's late timers.
  const took = performance.now() - t0;
  assert.ok(took < 2 * 200, `one timeout, not one per store call (${took.toFixed(0)} ms)`);
  await cache.close();
});
