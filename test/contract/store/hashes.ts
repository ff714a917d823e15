/** Hashes (H1): fields are strings, values bytes; an emptied hash stops existing. TTLs are in ttl.ts. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { b, str, type ContractContext } from './helpers.js';

const byName = (x: string[], y: string[]) => (x[0]! < y[0]! ? -1 : x[0]! > y[0]! ? 1 : 0);

export function hashesContract({ withStore }: ContractContext): void {
  describe('hashes', () => {
    it('hset, hget, hgetall, hdel, hexists and hkeys; hdel counts the fields it removed', withStore(async (store, k) => {
      const h = k('h');
      await store.hset(h, 'a', b('1'));
      await store.hset(h, 'b', b('2'));
      await store.hset(h, 'a', b('3'));
      await store.hset(h, '__proto__', b('4'));
      await store.hset(h, 'ünï', b('5'));
      assert.equal(str(await store.hget(h, 'a')), '3');
      assert.equal(str(await store.hget(h, '__proto__')), '4');
      assert.equal(await store.hget(h, 'zz'), null);
      assert.equal(await store.hget(k('nope'), 'a'), null);
      const all = await store.hgetall(h);
      assert.deepEqual(
        [...all].map(([f, v]) => [f, v.toString()]).sort(byName),
        [['__proto__', '4'], ['a', '3'], ['b', '2'], ['ünï', '5']],
      );
      all.delete('a');
      assert.equal(await store.hexists(h, 'a'), true, 'hgetall hands out a copy of the field map');
      assert.deepEqual((await store.hkeys(h)).sort(), ['__proto__', 'a', 'b', 'ünï']);
      assert.equal(await store.hexists(h, 'zz'), false);
      assert.deepEqual(await store.hgetall(k('nope')), new Map());
      assert.deepEqual(await store.hkeys(k('nope')), []);
      assert.equal(await store.hexists(k('nope'), 'a'), false);
      assert.equal(await store.hdel(h, ['a', 'zz', 'a']), 1);
      assert.equal(await store.hdel(h, []), 0);
      assert.equal(await store.hdel(k('nope'), ['a']), 0);
      assert.equal(await store.hexists(h, 'a'), false);
    }));

    it('a hash whose last field is deleted stops existing', withStore(async (store, k) => {
      await store.hset(k('h'), 'a', b('1'));
      await store.hset(k('h'), 'b', b('2'));
      assert.equal(await store.hdel(k('h'), ['a', 'b']), 2);
      assert.equal(await store.exists(k('h')), false);
      assert.equal(await store.ttl(k('h')), undefined);
      assert.equal(await store.set(k('h'), b('s'), { ifAbsent: true }), true, 'the name is free again');
    }));
  });
}
