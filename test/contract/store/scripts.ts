/**
 * Scripts: one Script, two bodies (Lua for Redis, a function over LocalData for the embedded
 * store), one expected reply on every target. These pin the reply shapes of the Script contract
 * (store.ts: nil/false → null, numbers truncated to integers, strings → Buffers, arrays of these)
 * and that LocalData behaves as the Redis commands it stands for. Every script's keys share one
 * slot (K5): `k.slot(...)`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NotIntegerError, StoreError, WrongTypeError } from '../../../src/index.js';
import type { ScriptArg, ScriptReply } from '../../../src/stores/store.js';
import { arg, b, str, twin, type ContractContext } from './helpers.js';

const bytes = (a: ScriptArg | undefined): Buffer => (Buffer.isBuffer(a) ? a : Buffer.from(arg(a)));
const score = (a: ScriptArg | undefined): number => {
  const s = arg(a);
  return s === '+inf' ? Infinity : s === '-inf' ? -Infinity : Number(s);
};
const OK = b('OK');

const compareAndDelete = twin(
  'compare-and-delete',
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
  (data, [key], [token]) => {
    const current = data.get(key!);
    return current?.equals(bytes(token)) ? (data.del(key!) ? 1 : 0) : 0;
  },
);

const incrTwice = twin(
  'incr-twice',
  `local a = redis.call('INCR', KEYS[1])
return redis.call('INCR', KEYS[1]) - a`,
  (data, [key]) => {
    const a = data.incrBy(key!, 1);
    return data.incrBy(key!, 1) - a;
  },
);

/** Single replies of every shape, each with what JavaScript receives. */
const shapes: Array<[lua: string, expected: ScriptReply]> = [
  ['return 7', 7],
  ['return 3.9', 3],
  ['return -3.9', -3],
  ["return 'x'", b('x')],
  ['return false', null],
  ['return nil', null],
  ['return true', 1],
  ['return {}', []],
  ["return redis.status_reply('OK')", OK],
  ["return {1, 'a', false, {2, 'b'}, redis.status_reply('OK'), true, 3.9}", [1, b('a'), null, [2, b('b')], OK, 1, 3]],
];

const echo = twin(
  'echo',
  `redis.call('SET', KEYS[1], ARGV[1])
return {redis.call('GET', KEYS[1]), ARGV[2], redis.call('GET', KEYS[2])}`,
  (data, [k1, k2], [value, n]) => {
    data.set(k1!, bytes(value), null);
    return [data.get(k1!), bytes(n), data.get(k2!)];
  },
);

const get = twin('get', `return redis.call('GET', KEYS[1])`, (data, [key]) => data.get(key!));
const hsetX = twin('hset-x', `return redis.call('HSET', KEYS[1], 'f', 'x')`, (data, [key]) => data.hset(key!, 'f', b('x')));
const setPlain = twin('set', `return redis.call('SET', KEYS[1], ARGV[1])`, (data, [key], [v]) => (data.set(key!, bytes(v), null), OK));
const setPx = twin('set-px', `return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])`, (data, [key], [v, ms]) => (data.set(key!, bytes(v), Number(arg(ms))), OK));
const setKeepTtl = twin('set-keepttl', `return redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')`, (data, [key], [v]) => (data.set(key!, bytes(v), 'keep'), OK));
const pttl = twin('pttl', `return redis.call('PTTL', KEYS[1])`, (data, [key]) => data.pttl(key!));
const pexpire = twin('pexpire', `return redis.call('PEXPIRE', KEYS[1], ARGV[1])`, (data, [key], [ms]) => (data.pexpire(key!, Number(arg(ms))) ? 1 : 0));
const exists = twin('exists', `return redis.call('EXISTS', KEYS[1])`, (data, [key]) => (data.exists(key!) ? 1 : 0));
const hincrBy = twin('hincrby', `return redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])`, (data, [key], [f, by]) => data.hincrBy(key!, arg(f), Number(arg(by))));
const hlen = twin('hlen', `return redis.call('HLEN', KEYS[1])`, (data, [key]) => data.hlen(key!));
const now = twin(
  'now',
  `local t = redis.call('TIME')
return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`,
  (data) => data.now(),
);

const zadd = twin('zadd', `return redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])`, (data, [key], [s, m]) => data.zadd(key!, score(s), arg(m)));
const zrem = twin('zrem', `return redis.call('ZREM', KEYS[1], ARGV[1])`, (data, [key], [m]) => data.zrem(key!, arg(m)));
const zcard = twin('zcard', `return redis.call('ZCARD', KEYS[1])`, (data, [key]) => data.zcard(key!));
const zrange = twin('zrange', `return redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2])`, (data, [key], [start, stop]) =>
  data.zrange(key!, Number(arg(start)), Number(arg(stop))).map((m) => Buffer.from(m)),
);
const zscore = twin(
  'zscore',
  `local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s then return tonumber(s) end
return false`,
  (data, [key], [m]) => data.zscore(key!, arg(m)),
);
const zremRangeByScore = twin('zremrangebyscore', `return redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2])`, (data, [key], [lo, hi]) =>
  data.zremRangeByScore(key!, score(lo), score(hi)),
);

/** For errors.ts: sorted-set calls, which only scripts can make. */
export const zsetScripts = { zadd, zrange, zcard };

export function scriptsContract({ withStore }: ContractContext): void {
  describe('scripts', () => {
    it('eval runs a script with its keys and args: compare-and-delete deletes only on a match', withStore(async (store, k) => {
      const lock = k.slot('lock');
      await store.set(lock, b('token-1'));
      assert.equal(await store.eval(compareAndDelete, [lock], [b('token-2')]), 0);
      assert.equal(await store.exists(lock), true);
      assert.equal(await store.eval(compareAndDelete, [lock], [b('token-1')]), 1);
      assert.equal(await store.exists(lock), false);
      assert.equal(await store.eval(compareAndDelete, [lock], [b('token-1')]), 0);
    }));

    it('two scripts never interleave: each sees its own two increments', withStore(async (store, k) => {
      const c = k.slot('c');
      const replies = await Promise.all([store.eval(incrTwice, [c], []), store.eval(incrTwice, [c], [])]);
      assert.deepEqual(replies, [1, 1]);
      assert.equal(str(await store.get(c)), '4');
    }));

    it('replies reach JavaScript as integers, Buffers, null and arrays: false and nil are null, true is 1, numbers truncate', withStore(async (store) => {
      for (const [lua, expected] of shapes) {
        const s = twin(`shape ${lua}`, lua, () => expected);
        assert.deepEqual(await store.eval(s, [], []), expected, lua);
      }
    }));

    it('keys and args reach the script; Buffer args stay bytes and numbers arrive as decimal text', withStore(async (store, k) => {
      const [k1, k2] = [k.slot('a'), k.slot('b')];
      const raw = Buffer.from([0, 255, 10, 13]);
      assert.deepEqual(await store.eval(echo, [k1, k2], [raw, 42]), [raw, b('42'), null]);
      assert.deepEqual(await store.get(k1), raw);
    }));

    it('an error inside a script rejects the eval, never throws synchronously: a wrong-type call is WrongTypeError', withStore(async (store, k) => {
      await store.hset(k.slot('h'), 'f', b('v'));
      await store.set(k.slot('s'), b('1'));
      let p: Promise<ScriptReply> | undefined;
      assert.doesNotThrow(() => {
        p = store.eval(get, [k.slot('h')], []);
      });
      await assert.rejects(p!, WrongTypeError);
      await assert.rejects(store.eval(hsetX, [k.slot('s')], []), WrongTypeError);
      assert.equal(str(await store.get(k.slot('s'))), '1', 'the failed call changed nothing');
    }));

    it('in a script, PEXPIRE with a TTL <= 0 deletes the key, and SET PX <= 0 is refused with StoreError', withStore(async (store, k) => {
      const key = k.slot('k');
      for (const ms of ['0', '-5']) {
        assert.deepEqual(await store.eval(setPlain, [key], [b('v')]), OK);
        assert.equal(await store.eval(pexpire, [key], [ms]), 1, `PEXPIRE ${ms}`);
        assert.equal(await store.eval(exists, [key], []), 0);
        await assert.rejects(store.eval(setPx, [key], [b('v'), ms]), StoreError, `SET PX ${ms}`);
        assert.equal(await store.exists(key), false);
      }
      assert.deepEqual(await store.eval(setPx, [key], [b('v'), '60000']), OK);
      const t = await store.ttl(key);
      assert.ok(typeof t === 'number' && t > 50_000 && t <= 60_000, `ttl ${t}`);
    }));

    it('in a script, SET KEEPTTL keeps the TTL; PTTL answers -2 missing, -1 none, else ms; PEXPIRE of a missing key is 0', withStore(async (store, k) => {
      const key = k.slot('k');
      await store.set(key, b('a'), { ttlMs: 60_000 });
      assert.deepEqual(await store.eval(setKeepTtl, [key], [b('b')]), OK);
      const t = await store.eval(pttl, [key], []);
      assert.ok(typeof t === 'number' && t > 50_000 && t <= 60_000, `pttl ${String(t)}`);
      assert.equal(str(await store.get(key)), 'b');
      await store.eval(setPlain, [key], [b('c')]);
      assert.equal(await store.eval(pttl, [key], []), -1, 'a plain SET clears the TTL');
      await store.eval(setKeepTtl, [k.slot('new')], [b('x')]);
      assert.equal(await store.eval(pttl, [k.slot('new')], []), -1, 'KEEPTTL on a new key: no TTL');
      assert.equal(await store.eval(pttl, [k.slot('missing')], []), -2);
      assert.equal(await store.eval(pexpire, [k.slot('missing')], ['10']), 0);
      assert.equal(await store.exists(k.slot('missing')), false);
    }));

    it('in a script, HINCRBY counts in a hash field and refuses a non-integer field with NotIntegerError', withStore(async (store, k) => {
      const h = k.slot('h');
      assert.equal(await store.eval(hincrBy, [h], ['n', '3']), 3);
      assert.equal(await store.eval(hincrBy, [h], ['n', '-1']), 2);
      assert.equal(str(await store.hget(h, 'n')), '2');
      await store.hset(h, 'x', b('nope'));
      await assert.rejects(store.eval(hincrBy, [h], ['x', '1']), NotIntegerError);
      assert.equal(str(await store.hget(h, 'x')), 'nope');
      assert.equal(await store.eval(hlen, [h], []), 2);
    }));

    it('in a script, sorted sets: ZADD adds or updates, ZRANGE orders by score then member, range removal, and an emptied set vanishes', withStore(async (store, k) => {
      const z = k.slot('z');
      assert.equal(await store.eval(zadd, [z], ['3', 'c']), 1);
      assert.equal(await store.eval(zadd, [z], ['1', 'b']), 1);
      assert.equal(await store.eval(zadd, [z], ['1', 'a']), 1);
      assert.equal(await store.eval(zadd, [z], ['2', 'c']), 0, 'an update is not new');
      assert.deepEqual(await store.eval(zrange, [z], ['0', '-1']), [b('a'), b('b'), b('c')]);
      assert.deepEqual(await store.eval(zrange, [z], ['-1', '-1']), [b('c')]);
      assert.deepEqual(await store.eval(zrange, [z], ['1', '10']), [b('b'), b('c')]);
      assert.deepEqual(await store.eval(zrange, [k.slot('nope')], ['0', '-1']), []);
      assert.equal(await store.eval(zscore, [z], ['c']), 2);
      assert.equal(await store.eval(zscore, [z], ['x']), null);
      assert.equal(await store.eval(zcard, [z], []), 3);
      assert.equal(await store.eval(zremRangeByScore, [z], ['1', '1']), 2);
      assert.deepEqual(await store.eval(zrange, [z], ['0', '-1']), [b('c')]);
      assert.equal(await store.eval(zrem, [z], ['x']), 0);
      assert.equal(await store.eval(zrem, [z], ['c']), 1);
      assert.equal(await store.exists(z), false);
      const inf = k.slot('inf');
      await store.eval(zadd, [inf], ['-inf', 'lo']);
      await store.eval(zadd, [inf], ['+inf', 'hi']);
      await store.eval(zadd, [inf], ['0', 'mid']);
      assert.deepEqual(await store.eval(zrange, [inf], ['0', '-1']), [b('lo'), b('mid'), b('hi')]);
      assert.equal(await store.eval(zremRangeByScore, [inf], ['-inf', '+inf']), 3);
      assert.equal(await store.exists(inf), false);
    }));

    it("a script's clock is the store's, in ms since the epoch", withStore(async (store, _k, { clock }) => {
      if (clock !== undefined) {
        // The embedded store on a fake clock: exactly its wall time, which moves only with it.
        assert.equal(await store.eval(now, [], []), clock.now());
        await clock.advance(1234);
        assert.equal(await store.eval(now, [], []), clock.now());
        return;
      }
      const before = Date.now();
      const t = await store.eval(now, [], []);
      const after = Date.now();
      // Redis answers with its server's clock (same machine here).
      assert.ok(typeof t === 'number' && t >= before - 1000 && t <= after + 1000, `now ${String(t)} vs [${before}, ${after}]`);
    }));
  });
}
