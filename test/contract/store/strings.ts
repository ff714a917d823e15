/** Strings and counters: get/set, SET NX, getMany/setMany, delete, incrBy (S1, S8). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NotIntegerError, WrongTypeError } from '../../../src/index.js';
import { b, str, type ContractContext } from './helpers.js';

export function stringsContract({ withStore }: ContractContext): void {
  describe('strings', () => {
    it('set and get round-trip any bytes; an empty value is a value; a missing key reads as null', withStore(async (store, k) => {
      assert.equal(await store.set(k('k'), b('v1')), true);
      assert.equal(str(await store.get(k('k'))), 'v1');
      assert.equal(await store.set(k('k'), b('v2')), true);
      assert.equal(str(await store.get(k('k'))), 'v2');
      const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      assert.equal(await store.set(k('bytes'), bytes), true);
      assert.deepEqual(await store.get(k('bytes')), bytes);
      await store.set(k('empty'), Buffer.alloc(0));
      assert.deepEqual(await store.get(k('empty')), Buffer.alloc(0));
      assert.equal(await store.exists(k('empty')), true);
      assert.equal(await store.get(k('nope')), null);
      assert.equal(await store.exists(k('k')), true);
      assert.equal(await store.exists(k('nope')), false);
    }));

    it('a caller mutating the buffer it wrote does not change what is stored', withStore(async (store, k) => {
      const v = b('abc');
      await store.set(k('k'), v);
      v[0] = 0x7a;
      assert.equal(str(await store.get(k('k'))), 'abc');
    }));

    it('SET NX (ifAbsent) writes only when the key is absent, whatever type holds it', withStore(async (store, k) => {
      assert.equal(await store.set(k('k'), b('1'), { ifAbsent: true }), true);
      assert.equal(await store.set(k('k'), b('2'), { ifAbsent: true }), false);
      assert.equal(str(await store.get(k('k'))), '1');
      await store.hset(k('h'), 'f', b('x'));
      assert.equal(await store.set(k('h'), b('2'), { ifAbsent: true }), false);
      assert.equal(await store.hexists(k('h'), 'f'), true);
      assert.equal(await store.set(k('nx'), b('x'), { ifAbsent: true, ttlMs: 2000 }), true);
      const t = await store.ttl(k('nx'));
      assert.ok(typeof t === 'number' && t > 1000 && t <= 2000, `ttl ${t}`);
    }));

    it('getMany answers in order, with null for missing keys, duplicates answered; setMany gives each entry its TTL', withStore(async (store, k) => {
      await store.setMany([
        [k('a'), b('1'), null],
        [k('b'), b('2'), 60_000],
        [k('c'), b('3'), null],
      ]);
      assert.deepEqual((await store.getMany([k('a'), k('b'), k('x'), k('c'), k('a')])).map(str), ['1', '2', null, '3', '1']);
      assert.deepEqual(await store.getMany([]), []);
      assert.equal(await store.ttl(k('a')), null);
      const t = await store.ttl(k('b'));
      assert.ok(typeof t === 'number' && t > 50_000 && t <= 60_000, `ttl ${t}`);
      await store.setMany([]);
    }));

    it('MGET reads keys of other types as null; SET overwrites a key of any type', withStore(async (store, k) => {
      await store.set(k('s'), b('1'));
      await store.hset(k('h'), 'f', b('v'));
      await store.push(k('l'), [b('v')], 'left');
      assert.deepEqual((await store.getMany([k('h'), k('l'), k('nope'), k('s')])).map(str), [null, null, null, '1']);
      const [x, y] = await Promise.all([store.get(k('s')), store.get(k('nope'))]);
      assert.deepEqual([str(x), y], ['1', null]);
      await store.set(k('h'), b('now a string'));
      assert.equal(str(await store.get(k('h'))), 'now a string');
      await assert.rejects(store.hexists(k('h'), 'f'), WrongTypeError, 'the hash is gone');
    }));

    it('S8: delete removes keys of any type and resolves to how many existed', withStore(async (store, k) => {
      await store.set(k('s'), b('1'));
      await store.hset(k('h'), 'f', b('1'));
      await store.push(k('l'), [b('1')], 'right');
      await store.sadd(k('x'), [b('1')]);
      assert.equal(await store.delete([k('s'), k('h'), k('l'), k('x'), k('s'), k('missing')]), 4);
      for (const name of ['s', 'h', 'l', 'x']) assert.equal(await store.exists(k(name)), false, name);
      assert.equal(await store.delete([k('s')]), 0);
      assert.equal(await store.delete([]), 0);
    }));

    it('getMany, setMany and delete handle thousands of keys spread over slots', withStore(async (store, k) => {
      const keys = Array.from({ length: 2500 }, (_, i) => k(`bulk${i}`));
      await store.setMany(keys.map((key, i) => [key, b(String(i)), i % 2 ? 60_000 : null] as const));
      const values = await store.getMany([...keys, k('none')]);
      assert.equal(values.length, keys.length + 1);
      assert.deepEqual(values.map(str), [...keys.map((_, i) => String(i)), null]);
      assert.equal(await store.delete([...keys, k('none')]), 2500);
      assert.deepEqual(await store.getMany(keys.slice(0, 3)), [null, null, null]);
    }));
  });

  describe('counters', () => {
    it('incrBy starts a missing key at 0 and counts in decimal bytes', withStore(async (store, k) => {
      assert.equal(await store.incrBy(k('c'), 1, null), 1);
      assert.equal(await store.incrBy(k('c'), 5, null), 6);
      assert.equal(await store.incrBy(k('c'), -10, null), -4);
      assert.equal(str(await store.get(k('c'))), '-4');
      await store.set(k('s'), b('41'));
      assert.equal(await store.incrBy(k('s'), 1, null), 42);
      assert.equal(str(await store.get(k('s'))), '42');
    }));

    it('incrBy is exact across the whole 64-bit range and refuses overflow with NotIntegerError', withStore(async (store, k) => {
      await store.set(k('c'), b('9007199254740993'));
      await store.incrBy(k('c'), 1, null);
      assert.equal(str(await store.get(k('c'))), '9007199254740994', 'exact beyond 2^53 in the stored bytes');
      await store.set(k('c'), b('9223372036854775806'));
      await store.incrBy(k('c'), 1, null);
      assert.equal(str(await store.get(k('c'))), '9223372036854775807');
      await assert.rejects(store.incrBy(k('c'), 1, null), NotIntegerError);
      await assert.rejects(store.incrBy(k('c'), 1, 1000), NotIntegerError);
      assert.equal(str(await store.get(k('c'))), '9223372036854775807');
      await store.set(k('c'), b('-9223372036854775808'));
      await assert.rejects(store.incrBy(k('c'), -1, null), NotIntegerError);
    }));
  });
}
