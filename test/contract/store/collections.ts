/** Lists and sets (L1): Redis's index rules, byte-wise membership, and emptied containers vanish. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { b, str, strs, type ContractContext } from './helpers.js';

export function collectionsContract({ withStore }: ContractContext): void {
  describe('lists', () => {
    it('LPUSH pushes values one by one; RPUSH appends; both answer the new length', withStore(async (store, k) => {
      const l = k('l');
      assert.equal(await store.push(l, [b('a'), b('b')], 'left'), 2);
      assert.deepEqual(strs(await store.lrange(l, 0, -1)), ['b', 'a']);
      assert.equal(await store.push(l, [b('c'), b('d')], 'right'), 4);
      assert.equal(await store.push(l, [b('z')], 'left'), 5);
      assert.deepEqual(strs(await store.lrange(l, 0, -1)), ['z', 'b', 'a', 'c', 'd']);
      assert.equal(await store.llen(l), 5);
      assert.equal(await store.push(l, [], 'left'), 5);
      assert.equal(await store.push(l, [], 'right'), 5);
      assert.equal(await store.push(k('empty'), [], 'right'), 0);
      assert.equal(await store.exists(k('empty')), false);
      assert.equal(await store.llen(k('empty')), 0);
    }));

    it('LRANGE follows Redis index rules, negative indices included', withStore(async (store, k) => {
      await store.push(k('l'), ['0', '1', '2', '3', '4'].map(b), 'right');
      const cases: Array<[number, number, string[]]> = [
        [0, -1, ['0', '1', '2', '3', '4']],
        [0, 0, ['0']],
        [1, 3, ['1', '2', '3']],
        [-2, -1, ['3', '4']],
        [-1, -1, ['4']],
        [-100, 1, ['0', '1']],
        [3, 100, ['3', '4']],
        [-1, -2, []],
        [5, 10, []],
        [2, 1, []],
        [-3, 3, ['2', '3']],
        [0, -6, []],
      ];
      for (const [start, stop, want] of cases) {
        assert.deepEqual(strs(await store.lrange(k('l'), start, stop)), want, `lrange ${start} ${stop}`);
      }
      assert.deepEqual(await store.lrange(k('nope'), 0, -1), []);
    }));

    it('LTRIM keeps the range, and an empty range deletes the list', withStore(async (store, k) => {
      const l = k('l');
      await store.push(l, ['0', '1', '2', '3', '4'].map(b), 'right');
      await store.ltrim(l, 1, -2);
      assert.deepEqual(strs(await store.lrange(l, 0, -1)), ['1', '2', '3']);
      await store.ltrim(l, -2, 10);
      assert.deepEqual(strs(await store.lrange(l, 0, -1)), ['2', '3']);
      await store.ltrim(l, 5, 10);
      assert.equal(await store.exists(l), false);
      await store.ltrim(k('nope'), 0, 1);
      assert.equal(await store.exists(k('nope')), false);
    }));

    it('pop takes from either end, null when empty, and the emptied list stops existing', withStore(async (store, k) => {
      const l = k('l');
      await store.push(l, [b('a'), b('b'), b('c')], 'right');
      assert.equal(str(await store.pop(l, 'left')), 'a');
      assert.equal(str(await store.pop(l, 'right')), 'c');
      assert.equal(await store.llen(l), 1);
      assert.equal(str(await store.pop(l, 'right')), 'b');
      assert.equal(await store.pop(l, 'right'), null);
      assert.equal(await store.pop(l, 'left'), null);
      assert.equal(await store.exists(l), false);
    }));
  });

  describe('sets', () => {
    it('sets compare members by bytes; SADD and SREM answer how many changed', withStore(async (store, k) => {
      const s = k('s');
      assert.equal(await store.sadd(s, [b('a'), b('b'), b('a')]), 2);
      assert.equal(await store.sadd(s, [b('b'), b('c')]), 1);
      assert.equal(await store.sadd(s, []), 0);
      assert.equal(await store.scard(s), 3);
      assert.equal(await store.sismember(s, Buffer.from([0x61])), true);
      assert.equal(await store.sismember(s, b('z')), false);
      const bin = [Buffer.from([0xff, 0x00]), Buffer.from([0xc3, 0xbf]), Buffer.from([0xff])];
      assert.equal(await store.sadd(k('bin'), bin), 3, 'non-UTF-8 members stay distinct');
      assert.equal(await store.sismember(k('bin'), Buffer.from([0xff, 0x00])), true);
      assert.deepEqual((await store.smembers(k('bin'))).map((m) => m.toString('hex')).sort(), ['c3bf', 'ff', 'ff00']);
      assert.deepEqual((await store.smembers(s)).map(String).sort(), ['a', 'b', 'c']);
      assert.deepEqual(await store.smembers(k('nope')), []);
      assert.equal(await store.scard(k('nope')), 0);
      assert.equal(await store.sismember(k('nope'), b('a')), false);
      assert.equal(await store.srem(s, [b('a'), b('zz')]), 1);
      assert.equal(await store.srem(k('nope'), [b('a')]), 0);
      assert.equal(await store.srem(s, [b('b'), b('c')]), 2);
      assert.equal(await store.exists(s), false, 'an emptied set stops existing');
      assert.equal(await store.scard(s), 0);
      assert.equal(await store.sadd(k('e'), []), 0);
      assert.equal(await store.exists(k('e')), false);
    }));
  });
}
