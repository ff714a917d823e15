/**
 * Errors (F1): the typed errors of errors.ts, the same on every store: WrongTypeError for data of
 * another type, NotIntegerError for counters that are not Redis integers, TypeError for bad
 * arguments, ClosedError after close (A4), always as rejected promises.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClosedError, NotIntegerError, WrongTypeError } from '../../../src/index.js';
import type { Store } from '../../../src/stores/store.js';
import { b, collect, str, twin, type ContractContext, type Keys } from './helpers.js';
import { zsetScripts } from './scripts.js';

const { zadd, zrange, zcard } = zsetScripts;

/** One key of each type, in one slot (the sorted set is written by a script). */
async function oneOfEach(store: Store, k: Keys, tag: string): Promise<Record<string, string>> {
  const keys = { s: k.slot(`${tag}s`), h: k.slot(`${tag}h`), l: k.slot(`${tag}l`), x: k.slot(`${tag}x`), z: k.slot(`${tag}z`) };
  await store.set(keys.s, b('1'));
  await store.hset(keys.h, 'f', b('v'));
  await store.push(keys.l, [b('v')], 'right');
  await store.sadd(keys.x, [b('v')]);
  await store.eval(zadd, [keys.z], ['1', 'm']);
  return keys;
}

export function errorsContract({ withStore }: ContractContext): void {
  describe('errors', () => {
    it('F1: every call against a key of another type rejects with WrongTypeError', withStore(async (store, k) => {
      // Each call, with the type of key it takes: on every other type it must be refused.
      const calls: Array<[name: string, type: string, call: (key: string) => Promise<unknown>]> = [
        ['get', 's', (key) => store.get(key)],
        ['incrBy', 's', (key) => store.incrBy(key, 1, null)],
        ['incrBy with a TTL', 's', (key) => store.incrBy(key, 1, 1000)],
        ['hset', 'h', (key) => store.hset(key, 'f', b('v'))],
        ['hset with a TTL', 'h', (key) => store.hset(key, 'f', b('v'), 1000)],
        ['hget', 'h', (key) => store.hget(key, 'f')],
        ['hgetall', 'h', (key) => store.hgetall(key)],
        ['hdel', 'h', (key) => store.hdel(key, ['f'])],
        ['hexists', 'h', (key) => store.hexists(key, 'f')],
        ['hkeys', 'h', (key) => store.hkeys(key)],
        ['push', 'l', (key) => store.push(key, [b('v')], 'left')],
        ['pop', 'l', (key) => store.pop(key, 'right')],
        ['llen', 'l', (key) => store.llen(key)],
        ['lrange', 'l', (key) => store.lrange(key, 0, -1)],
        ['ltrim', 'l', (key) => store.ltrim(key, 0, 1)],
        ['sadd', 'x', (key) => store.sadd(key, [b('v')])],
        ['srem', 'x', (key) => store.srem(key, [b('v')])],
        ['smembers', 'x', (key) => store.smembers(key)],
        ['sismember', 'x', (key) => store.sismember(key, b('v'))],
        ['scard', 'x', (key) => store.scard(key)],
        ['ZADD in a script', 'z', (key) => store.eval(zadd, [key], ['1', 'm'])],
        ['ZRANGE in a script', 'z', (key) => store.eval(zrange, [key], ['0', '-1'])],
        ['ZCARD in a script', 'z', (key) => store.eval(zcard, [key], [])],
      ];
      let round = 0;
      for (const [name, type, call] of calls) {
        // Fresh keys per call: the calls that succeed change what they touch.
        const keys = await oneOfEach(store, k, `${++round}`);
        for (const [t, key] of Object.entries(keys)) {
          if (t === type) await call(key);
          else await assert.rejects(call(key), WrongTypeError, `${name} on type ${t}`);
        }
      }
      // Reading several keys at once is not refused: MGET answers null for other types.
      const keys = await oneOfEach(store, k, 'mget');
      assert.deepEqual((await store.getMany(Object.values(keys))).map(str), ['1', null, null, null, null]);
    }));

    it('F1: incrBy refuses a value that is not a Redis integer with NotIntegerError, and leaves it alone', withStore(async (store, k) => {
      for (const bad of ['abc', '1.5', '01', '+1', ' 1', '1 ', '-0', '', '9223372036854775808', '-9223372036854775809']) {
        await store.set(k('c'), b(bad));
        await assert.rejects(store.incrBy(k('c'), 1, null), NotIntegerError, JSON.stringify(bad));
        await assert.rejects(store.incrBy(k('c'), 1, 1000), NotIntegerError, `${JSON.stringify(bad)} with a TTL`);
        assert.equal(str(await store.get(k('c'))), bad, 'a refused incr leaves the value alone');
        assert.equal(await store.ttl(k('c')), null);
      }
    }));

    it('F1: an increment that is not a safe integer is a TypeError, before any write', withStore(async (store, k) => {
      for (const by of [1.5, 2 ** 60, Number.NaN, Number.POSITIVE_INFINITY]) {
        await assert.rejects(store.incrBy(k('d'), by, null), TypeError, String(by));
      }
      assert.equal(await store.exists(k('d')), false);
    }));

    it('errors are rejected promises, never synchronous throws', withStore(async (store, k) => {
      await store.hset(k('h'), 'f', b('v'));
      await store.set(k('s'), b('text'));
      const failing: Array<() => Promise<unknown>> = [
        () => store.get(k('h')),
        () => store.incrBy(k('s'), 1, null),
        () => store.incrBy(k('s'), 1.5, null),
        () => store.set(k('s'), b('v'), { ttlMs: -1 }),
        () => store.expire(k('s'), 0),
        () => store.hset(k('h'), 'f', b('v'), Number.NaN),
        () => store.eval(twin('boom', `return redis.call('GET', KEYS[1])`, (data, [key]) => data.get(key!)), [k('h')], []),
      ];
      for (const call of failing) {
        let p: Promise<unknown> | undefined;
        assert.doesNotThrow(() => {
          p = call();
        });
        await assert.rejects(p!);
      }
    }));

    it('A4: after close every call rejects with ClosedError; close is idempotent', withStore(async (store, k) => {
      await store.set(k('k'), b('v'));
      await store.subscribe(k('ch'), () => {});
      await store.close();
      await store.close();
      const calls: Record<string, () => Promise<unknown>> = {
        get: () => store.get(k('k')),
        getMany: () => store.getMany([k('k')]),
        set: () => store.set(k('k'), b('v')),
        setMany: () => store.setMany([[k('k'), b('v'), null]]),
        delete: () => store.delete([k('k')]),
        'delete of no keys': () => store.delete([]),
        exists: () => store.exists(k('k')),
        expire: () => store.expire(k('k'), 1000),
        ttl: () => store.ttl(k('k')),
        incrBy: () => store.incrBy(k('c'), 1, null),
        hset: () => store.hset(k('h'), 'f', b('v')),
        hget: () => store.hget(k('h'), 'f'),
        hgetall: () => store.hgetall(k('h')),
        hdel: () => store.hdel(k('h'), ['f']),
        hexists: () => store.hexists(k('h'), 'f'),
        hkeys: () => store.hkeys(k('h')),
        push: () => store.push(k('l'), [b('v')], 'right'),
        pop: () => store.pop(k('l'), 'left'),
        llen: () => store.llen(k('l')),
        lrange: () => store.lrange(k('l'), 0, -1),
        ltrim: () => store.ltrim(k('l'), 0, 1),
        sadd: () => store.sadd(k('x'), [b('v')]),
        srem: () => store.srem(k('x'), [b('v')]),
        smembers: () => store.smembers(k('x')),
        sismember: () => store.sismember(k('x'), b('v')),
        scard: () => store.scard(k('x')),
        scan: () => collect(store.scan('*')),
        eval: () => store.eval(twin('one', 'return 1', () => 1), [], []),
        publish: () => store.publish(k('ch'), b('x')),
        subscribe: () => store.subscribe(k('ch'), () => {}),
      };
      for (const [name, call] of Object.entries(calls)) await assert.rejects(call(), ClosedError, name);
    }));

    it('A4: a scan in progress when its store closes rejects with ClosedError', withStore(async (store, k) => {
      for (let i = 0; i < 30; i++) await store.set(k(`k${i}`), b('v'));
      const it = store.scan(`${k.prefix}*`, 10)[Symbol.asyncIterator]();
      const first = await it.next();
      assert.ok(first.done !== true && first.value.length > 0 && first.value.length < 30, 'a first batch, not all of them');
      await store.close();
      await assert.rejects(it.next(), ClosedError);
    }));
  });
}
