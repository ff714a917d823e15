/**
 * Batching order: calls made in one tick without awaiting each other (the Redis store coalesces and
 * corks them) run in call order and each gets its own reply, as on a store that runs them one by
 * one. How the Redis store batches them on the wire is in its unit tests.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { b, str, type ContractContext } from './helpers.js';

export function batchingContract({ withStore }: ContractContext): void {
  describe('batching order', () => {
    it('the calls of one tick run in call order, each with its own reply', withStore(async (store, k) => {
      const counter = k('ord');
      const flag = k('ordf');
      const calls: Array<Promise<unknown>> = [];
      for (let i = 0; i < 50; i++) {
        calls.push(store.incrBy(counter, 1, null));
        if (i === 24) calls.push(store.set(flag, b('x')), store.exists(flag), store.delete([flag]), store.exists(flag));
      }
      const replies = await Promise.all(calls);
      const counts = [...replies.slice(0, 25), ...replies.slice(29)];
      assert.deepEqual(counts, Array.from({ length: 50 }, (_, i) => i + 1));
      assert.deepEqual(replies.slice(25, 29), [true, true, 1, false]);
    }));

    it('writes and other calls of one tick reach the store in call order', withStore(async (store, k) => {
      const [k1, k2, k3] = [k('o1'), k('o2'), k('o3')];
      const results = await Promise.all([
        store.set(k1, b('a')),
        store.set(k2, b('b')),
        store.delete([k2]),
        store.exists(k2),
        store.set(k3, b('c'), { ttlMs: 60_000 }),
        store.set(k3, b('c')),
        store.ttl(k3),
        store.get(k1),
        store.set(k1, b('d'), { ifAbsent: true }),
        store.getMany([k1, k2, k3]),
      ]);
      assert.deepEqual(results.slice(0, 7), [true, true, 1, false, true, true, null]);
      assert.equal(str(results[7]), 'a');
      assert.equal(results[8], false);
      assert.deepEqual(results[9].map(str), ['a', null, 'c']);
      assert.deepEqual((await store.getMany([k1, k2, k3])).map(str), ['a', null, 'c']);
    }));

    // The Redis store holds single gets back to the end of the tick (to coalesce them into one
    // MGET); a write made later in the tick sends them first, so they read in call order.
    it(
      'a get made before a write of the same key in one tick reads what was there before the write',
      withStore(async (store, k) => {
        await store.setMany([
          [k('s'), b('before'), null],
          [k('d'), b('before'), null],
          [k('c'), b('1'), null],
        ]);
        const [s, , d, , c] = await Promise.all([
          store.get(k('s')),
          store.set(k('s'), b('after')),
          store.get(k('d')),
          store.delete([k('d')]),
          store.get(k('c')),
          store.incrBy(k('c'), 1, null),
        ]);
        assert.deepEqual([s, d, c].map(str), ['before', 'before', '1']);
      }),
    );
  });
}
