/**
 * TTLs in milliseconds (S1: ms precision): set, expire, ttl, ttlMsIfNew, hset's whole-hash TTL.
 * Short TTLs and waits on the store's time (helpers.ts): on the fake clock a TTL read right after it
 * was set is exact and a key expires at its very millisecond; on Redis, bounded polls in real time.
 * A key that must outlive a TTL it no longer has is checked against a witness key given the same
 * TTL just after it, so "long enough" is whenever the witness is gone, not a sleep sized for a
 * loaded machine.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { b, str, type ContractContext } from './helpers.js';

export function ttlContract({ withStore }: ContractContext): void {
  describe('TTLs', () => {
    it('S1: ttl() answers the whole ms left, counting down; null without expiry; undefined for a missing key', withStore(async (store, k, { until, within }) => {
      await store.set(k('k'), b('v'), { ttlMs: 60_000 });
      const first = await store.ttl(k('k'));
      within(first, 59_000, 60_000);
      await until(async () => (await store.ttl(k('k')))! < first!, 'the ttl counts down');
      await store.set(k('p'), b('v'));
      assert.equal(await store.ttl(k('p')), null);
      assert.equal(await store.ttl(k('nope')), undefined);
    }));

    it('a key whose TTL ran out is gone: reads miss, exists is false, ttl is undefined, delete does not count it', withStore(async (store, k, { expired }) => {
      await store.set(k('d'), b('v'), { ttlMs: 30 });
      await store.set(k('k'), b('v'), { ttlMs: 30 });
      await store.set(k('m'), b('v'), { ttlMs: 30 });
      await store.set(k('e'), b('v'));
      assert.equal(await store.expire(k('e'), 30), true);
      await expired(store, k('k'));
      assert.equal(await store.get(k('k')), null);
      assert.equal(await store.ttl(k('k')), undefined);
      assert.equal(await store.delete([k('d'), k('k')]), 0, 'nothing read d since its TTL ran out');
      await expired(store, k('e'));
      assert.equal(await store.get(k('e')), null);
      assert.deepEqual(await store.getMany([k('m'), k('e')]), [null, null]);
      assert.equal(await store.exists(k('m')), false);
    }));

    it('SET without a TTL clears an existing one, as Redis SET does; ttlMs: null too', withStore(async (store, k, { expired, within }) => {
      await store.set(k('k'), b('1'), { ttlMs: 5000 });
      within(await store.ttl(k('k')), 3000, 5000);
      await store.set(k('k'), b('2'));
      assert.equal(await store.ttl(k('k')), null);
      await store.set(k('k'), b('3'), { ttlMs: 60_000 });
      await store.set(k('k'), b('4'), { ttlMs: null });
      assert.equal(await store.ttl(k('k')), null);
      // And the key outlives the TTL it had.
      await store.set(k('short'), b('v'), { ttlMs: 30 });
      await store.set(k('witness'), b('w'), { ttlMs: 30 });
      await store.set(k('short'), b('w'));
      await expired(store, k('witness'));
      assert.equal(str(await store.get(k('short'))), 'w');
    }));

    it('expire sets, replaces and (with null) removes a TTL; it answers whether the key exists', withStore(async (store, k, { expired, within }) => {
      assert.equal(await store.expire(k('nope'), 1000), false);
      assert.equal(await store.expire(k('nope'), null), false);
      assert.equal(await store.exists(k('nope')), false, 'expire creates nothing');
      await store.set(k('k'), b('v'));
      assert.equal(await store.ttl(k('k')), null);
      assert.equal(await store.expire(k('k'), null), true, 'PERSIST on a key without TTL still reports the key exists');
      assert.equal(await store.expire(k('k'), 3000), true);
      within(await store.ttl(k('k')), 2000, 3000);
      assert.equal(await store.expire(k('k'), 60_000), true);
      within(await store.ttl(k('k')), 50_000, 60_000);
      assert.equal(await store.expire(k('k'), null), true);
      assert.equal(await store.ttl(k('k')), null);
      // A TTL removed is gone for good: the key outlives it.
      assert.equal(await store.expire(k('k'), 30), true);
      await store.set(k('witness'), b('w'), { ttlMs: 30 });
      assert.equal(await store.expire(k('k'), null), true);
      await expired(store, k('witness'));
      assert.equal(str(await store.get(k('k'))), 'v');
    }));

    it('fractional TTLs round up to whole ms, so a positive TTL never becomes 0 or none', withStore(async (store, k, { expired, within }) => {
      await store.set(k('k'), b('v'), { ttlMs: 1500.5 });
      within(await store.ttl(k('k')), 1000, 1501);
      assert.equal(await store.expire(k('k'), 2500.5), true);
      within(await store.ttl(k('k')), 2000, 2501);
      assert.equal(await store.set(k('tiny'), b('v'), { ttlMs: 0.2 }), true);
      const t = await store.ttl(k('tiny'));
      assert.ok(t === undefined || (typeof t === 'number' && t <= 1), `ttl ${t}: at most 1 ms, never none`);
      await expired(store, k('tiny'));
    }));

    it('S1: a TTL that is not a positive finite number is a TypeError, before any write', withStore(async (store, k) => {
      await store.set(k('e'), b('v'));
      for (const ttlMs of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
        await assert.rejects(store.set(k('k'), b('v'), { ttlMs }), TypeError, `set ${ttlMs}`);
        await assert.rejects(store.setMany([[k('m'), b('v'), ttlMs]]), TypeError, `setMany ${ttlMs}`);
        await assert.rejects(store.expire(k('e'), ttlMs), TypeError, `expire ${ttlMs}`);
        await assert.rejects(store.incrBy(k('c'), 1, ttlMs), TypeError, `incrBy ${ttlMs}`);
        await assert.rejects(store.hset(k('h'), 'f', b('v'), ttlMs), TypeError, `hset ${ttlMs}`);
      }
      await assert.rejects(
        store.setMany([
          [k('a'), b('1'), null],
          [k('b'), b('2'), -1],
        ]),
        TypeError,
      );
      for (const name of ['k', 'm', 'c', 'h', 'a', 'b']) assert.equal(await store.exists(k(name)), false, `${name} was not written`);
      assert.equal(await store.exists(k('e')), true);
      assert.equal(await store.ttl(k('e')), null, 'a refused expire leaves the key alone');
    }));

    it('incrBy gives ttlMsIfNew only to a key it creates, and never renews it', withStore(async (store, k, { expired, within }) => {
      assert.equal(await store.incrBy(k('c'), 5, 60_000), 5);
      within(await store.ttl(k('c')), 50_000, 60_000);
      assert.equal(await store.incrBy(k('c'), 1, 600_000), 6);
      within(await store.ttl(k('c')), 50_000, 60_000); // not the longer TTL of the second call
      await store.expire(k('c'), null);
      assert.equal(await store.incrBy(k('c'), -7, 4000), -1);
      assert.equal(await store.ttl(k('c')), null, 'an existing counter keeps having no TTL');
      await store.set(k('p'), b('7'));
      assert.equal(await store.incrBy(k('p'), 1, 1000), 8);
      assert.equal(await store.ttl(k('p')), null, 'an existing key does not get ttlMsIfNew');
      assert.equal(await store.incrBy(k('plain'), 1, null), 1);
      assert.equal(await store.ttl(k('plain')), null);
      // A counter whose TTL ran out starts again, with a new TTL.
      assert.equal(await store.incrBy(k('e'), 1, 30), 1);
      assert.equal(await store.incrBy(k('e'), 1, 30), 2);
      await expired(store, k('e'));
      assert.equal(await store.incrBy(k('e'), 1, 60_000), 1, 'an expired counter starts again');
      within(await store.ttl(k('e')), 50_000, 60_000);
    }));

    it('H1: hset with a TTL sets the TTL of the whole hash; without one it keeps it; null clears it', withStore(async (store, k, { expired, within }) => {
      await store.hset(k('h'), 'a', b('1'), 5000);
      within(await store.ttl(k('h')), 4000, 5000);
      await store.hset(k('h'), 'b', b('2'));
      within(await store.ttl(k('h')), 4000, 5000);
      await store.hset(k('h'), 'c', b('3'), null);
      assert.equal(await store.ttl(k('h')), null);
      await store.hset(k('fresh'), 'f', b('x'), 3000);
      within(await store.ttl(k('fresh')), 2000, 3000);
      // The TTL covers every field: when it runs out, the whole hash is gone.
      await store.hset(k('h'), 'd', b('4'), 30);
      await expired(store, k('h'));
      assert.equal(await store.hget(k('h'), 'a'), null);
      assert.deepEqual(await store.hgetall(k('h')), new Map());
    }));
  });
}
