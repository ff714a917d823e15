import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import {
  MemoryStore,
  createMemoryStore,
  sharedMemoryStore,
  ENTRY_OVERHEAD,
  ELEMENT_OVERHEAD,
  type MemoryStoreOptions,
} from '../../src/stores/memory.js';
import { globMatch, compileGlob } from '../../src/stores/glob.js';
import { ClosedError, NotIntegerError, StoreError, WrongTypeError } from '../../src/errors.js';
import type { LocalData, Script, ScriptArg, ScriptReply } from '../../src/stores/store.js';

const b = (s: string): Buffer => Buffer.from(s);
const str = (x: Buffer | null): string | null => (x === null ? null : x.toString());
const strs = (xs: Buffer[]): string[] => xs.map((x) => x.toString());

/** A store on a fake clock with no sweep timer: time only moves when the test says so. */
function fixture(opts: MemoryStoreOptions = {}) {
  let t = 1_000_000;
  const clock = {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
  const store = new MemoryStore({ now: clock.now, sweepIntervalMs: 0, ...opts });
  return { store, clock, data: store.data };
}

const stringSize = (key: string, value: string) => ENTRY_OVERHEAD + key.length * 2 + Buffer.byteLength(value);

function script(name: string, local: (data: LocalData, keys: string[], args: ScriptArg[]) => ScriptReply): Script {
  return { name, lua: '-- not used by the embedded store', local };
}

async function collect(it: AsyncIterable<string[]>): Promise<string[][]> {
  const out: string[][] = [];
  for await (const batch of it) out.push(batch);
  return out;
}

// --- strings ---------------------------------------------------------------------------------

test('set and get round-trip bytes; a missing key reads as null', async () => {
  const { store } = fixture();
  assert.equal(await store.set('k', b('v1')), true);
  assert.equal(str(await store.get('k')), 'v1');
  assert.equal(await store.set('k', b('v2')), true);
  assert.equal(str(await store.get('k')), 'v2');
  assert.equal(await store.get('nope'), null);
  assert.equal(await store.exists('k'), true);
  assert.equal(await store.exists('nope'), false);
});

test('a caller mutating the buffer it wrote does not change what is stored', async () => {
  const { store } = fixture();
  const v = b('abc');
  await store.set('k', v);
  v[0] = 0x7a;
  assert.equal(str(await store.get('k')), 'abc');
});

test('SET NX writes only when the key is absent, whatever type holds it', async () => {
  const { store } = fixture();
  assert.equal(await store.set('k', b('1'), { ifAbsent: true }), true);
  assert.equal(await store.set('k', b('2'), { ifAbsent: true }), false);
  assert.equal(str(await store.get('k')), '1');
  await store.hset('h', 'f', b('x'));
  assert.equal(await store.set('h', b('2'), { ifAbsent: true }), false);
  assert.equal(await store.hexists('h', 'f'), true);
});

test('TTLs: ttl() answers ms left, null without expiry, undefined when missing', async () => {
  const { store, clock } = fixture();
  await store.set('k', b('v'), { ttlMs: 1000 });
  assert.equal(await store.ttl('k'), 1000);
  clock.advance(400);
  assert.equal(await store.ttl('k'), 600);
  await store.set('p', b('v'));
  assert.equal(await store.ttl('p'), null);
  assert.equal(await store.ttl('nope'), undefined);
});

test('a key expires once the clock is past its deadline (PTTL 0 at the deadline itself)', async () => {
  const { store, clock, data } = fixture();
  await store.set('k', b('v'), { ttlMs: 1000 });
  clock.advance(1000);
  assert.equal(data.pttl('k'), 0);
  assert.equal(str(await store.get('k')), 'v');
  clock.advance(1);
  assert.equal(await store.get('k'), null);
  assert.equal(await store.exists('k'), false);
  assert.equal(await store.ttl('k'), undefined);
  assert.equal(store.stats().entries, 0);
});

test('SET without a TTL clears an existing one, as Redis does', async () => {
  const { store, clock } = fixture();
  await store.set('k', b('v'), { ttlMs: 1000 });
  await store.set('k', b('w'));
  assert.equal(await store.ttl('k'), null);
  clock.advance(5000);
  assert.equal(str(await store.get('k')), 'w');
});

test('expire sets, replaces and (with null) removes a TTL; false for a missing key', async () => {
  const { store, clock } = fixture();
  await store.set('k', b('v'));
  assert.equal(await store.expire('k', 500), true);
  assert.equal(await store.ttl('k'), 500);
  assert.equal(await store.expire('k', null), true);
  assert.equal(await store.ttl('k'), null);
  assert.equal(await store.expire('k', null), true, 'PERSIST on a key without TTL still reports the key exists');
  assert.equal(await store.expire('nope', 500), false);
  assert.equal(await store.expire('nope', null), false);
  clock.advance(10_000);
  assert.equal(str(await store.get('k')), 'v');
});

test('in a script, PEXPIRE with a TTL <= 0 deletes the key and SET with one is refused, as in Lua', () => {
  const { data } = fixture();
  data.set('k', b('v'), null);
  assert.equal(data.pexpire('k', 0), true);
  assert.equal(data.exists('k'), false);
  assert.throws(() => data.set('k', b('v'), 0), StoreError);
  assert.throws(() => data.set('k', b('v'), NaN), StoreError);
  assert.equal(data.exists('k'), false);
});

test('fractional TTLs round up, so a positive TTL never becomes 0', async () => {
  const { store } = fixture();
  await store.set('k', b('v'), { ttlMs: 0.2 });
  assert.equal(await store.ttl('k'), 1);
  await store.set('k', b('v'), { ttlMs: 1500.5 });
  assert.equal(await store.ttl('k'), 1501);
});

test('a TTL that is not a positive finite number is a TypeError, before any write', async () => {
  const { store } = fixture();
  for (const ttlMs of [0, -5, NaN, Infinity]) {
    await assert.rejects(store.set('k', b('v'), { ttlMs }), TypeError);
  }
  await store.set('e', b('v'));
  await assert.rejects(store.expire('e', NaN), TypeError);
  await assert.rejects(store.expire('e', 0), TypeError);
  assert.equal(await store.exists('e'), true);
  await assert.rejects(store.incrBy('c', 1, 0), TypeError);
  await assert.rejects(store.hset('h', 'f', b('v'), -1), TypeError);
  assert.equal(await store.exists('k'), false);
  assert.equal(await store.exists('c'), false);
  assert.equal(await store.exists('h'), false);
});

test('LocalData.set with "keep" keeps the TTL (SET KEEPTTL); now() is the injected clock', () => {
  const { data, clock } = fixture();
  assert.equal(data.now(), 1_000_000);
  clock.advance(5);
  assert.equal(data.now(), 1_000_005);
  data.set('k', b('a'), 1000);
  data.set('k', b('b'), 'keep');
  assert.equal(data.pttl('k'), 1000);
  assert.equal(str(data.get('k')), 'b');
  data.set('k', b('c'), null);
  assert.equal(data.pttl('k'), -1);
  data.set('n', b('x'), 'keep');
  assert.equal(data.pttl('n'), -1);
  assert.equal(data.pttl('missing'), -2);
  assert.equal(data.pexpire('missing', 10), false);
});

// --- counters --------------------------------------------------------------------------------

test('incrBy starts a missing key at 0 and counts in decimal bytes', async () => {
  const { store } = fixture();
  assert.equal(await store.incrBy('c', 1, null), 1);
  assert.equal(await store.incrBy('c', 5, null), 6);
  assert.equal(await store.incrBy('c', -10, null), -4);
  assert.equal(str(await store.get('c')), '-4');
  await store.set('s', b('41'));
  assert.equal(await store.incrBy('s', 1, null), 42);
});

test('incrBy gives ttlMsIfNew only to a key it creates, and keeps an existing TTL', async () => {
  const { store, clock } = fixture();
  assert.equal(await store.incrBy('c', 1, 1000), 1);
  assert.equal(await store.ttl('c'), 1000);
  clock.advance(600);
  assert.equal(await store.incrBy('c', 1, 1000), 2);
  assert.equal(await store.ttl('c'), 400, 'the second incr does not renew the TTL');
  await store.set('p', b('7'));
  assert.equal(await store.incrBy('p', 1, 1000), 8);
  assert.equal(await store.ttl('p'), null, 'an existing key does not get ttlMsIfNew');
  clock.advance(401);
  assert.equal(await store.incrBy('c', 1, 1000), 1, 'an expired counter starts again');
  assert.equal(await store.ttl('c'), 1000);
});

test('incrBy refuses values that are not Redis integers with NotIntegerError', async () => {
  const { store } = fixture();
  for (const bad of ['abc', '1.5', '01', '+1', ' 1', '1 ', '-0', '', '9223372036854775808', '-9223372036854775809']) {
    await store.set('c', b(bad));
    await assert.rejects(store.incrBy('c', 1, null), NotIntegerError, JSON.stringify(bad));
    assert.equal(str(await store.get('c')), bad, 'a refused incr leaves the value alone');
  }
  await assert.rejects(store.incrBy('d', 1.5, null), TypeError);
  await assert.rejects(store.incrBy('d', 2 ** 60, null), TypeError);
  assert.equal(await store.exists('d'), false);
});

test('incrBy works across the whole 64-bit range and refuses overflow', async () => {
  const { store } = fixture();
  await store.set('c', b('9007199254740993'));
  await store.incrBy('c', 1, null);
  assert.equal(str(await store.get('c')), '9007199254740994', 'exact beyond 2^53 in the stored bytes');
  await store.set('c', b('9223372036854775806'));
  await store.incrBy('c', 1, null);
  assert.equal(str(await store.get('c')), '9223372036854775807');
  await assert.rejects(store.incrBy('c', 1, null), NotIntegerError);
  await store.set('c', b('-9223372036854775808'));
  await assert.rejects(store.incrBy('c', -1, null), NotIntegerError);
});

test('hincrBy counts in a hash field, refusing non-integers', () => {
  const { data } = fixture();
  assert.equal(data.hincrBy('h', 'n', 3), 3);
  assert.equal(data.hincrBy('h', 'n', -1), 2);
  assert.equal(str(data.hget('h', 'n')), '2');
  data.hset('h', 'x', b('nope'));
  assert.throws(() => data.hincrBy('h', 'x', 1), NotIntegerError);
  assert.equal(data.hlen('h'), 2);
});

// --- types -----------------------------------------------------------------------------------

test('an operation against a key of another type rejects with WrongTypeError', async () => {
  let { store, data } = fixture();
  async function fresh() {
    ({ store, data } = fixture());
    await store.set('s', b('1'));
    await store.hset('h', 'f', b('v'));
    await store.push('l', [b('v')], 'right');
    await store.sadd('x', [b('v')]);
    data.zadd('z', 1, 'm');
  }
  const ops: Record<string, (k: string) => Promise<unknown>> = {
    get: (k) => store.get(k),
    incrBy: (k) => store.incrBy(k, 1, null),
    hset: (k) => store.hset(k, 'f', b('v')),
    hget: (k) => store.hget(k, 'f'),
    hgetall: (k) => store.hgetall(k),
    hdel: (k) => store.hdel(k, ['f']),
    hexists: (k) => store.hexists(k, 'f'),
    hkeys: (k) => store.hkeys(k),
    push: (k) => store.push(k, [b('v')], 'left'),
    pop: (k) => store.pop(k, 'right'),
    llen: (k) => store.llen(k),
    lrange: (k) => store.lrange(k, 0, -1),
    ltrim: (k) => store.ltrim(k, 0, 1),
    sadd: (k) => store.sadd(k, [b('v')]),
    srem: (k) => store.srem(k, [b('v')]),
    smembers: (k) => store.smembers(k),
    sismember: (k) => store.sismember(k, b('v')),
    scard: (k) => store.scard(k),
    zadd: async (k) => data.zadd(k, 1, 'm'),
    zrange: async (k) => data.zrange(k, 0, -1),
    zcard: async (k) => data.zcard(k),
  };
  const typeOf: Record<string, string> = {
    get: 's', incrBy: 's', hset: 'h', hget: 'h', hgetall: 'h', hdel: 'h', hexists: 'h', hkeys: 'h',
    push: 'l', pop: 'l', llen: 'l', lrange: 'l', ltrim: 'l',
    sadd: 'x', srem: 'x', smembers: 'x', sismember: 'x', scard: 'x',
    zadd: 'z', zrange: 'z', zcard: 'z',
  };
  for (const [name, op] of Object.entries(ops)) {
    await fresh();
    for (const key of ['s', 'h', 'l', 'x', 'z']) {
      if (typeOf[name] === key) await op(key);
      else await assert.rejects(op(key), WrongTypeError, `${name} on ${key}`);
    }
  }
});

test('SET and DEL take a key of any type; MGET reads other types as null', async () => {
  const { store } = fixture();
  await store.hset('h', 'f', b('v'));
  await store.push('l', [b('v')], 'left');
  assert.deepEqual(await store.getMany(['h', 'l', 'nope']), [null, null, null]);
  await store.set('h', b('now a string'));
  assert.equal(str(await store.get('h')), 'now a string');
  assert.equal(await store.delete(['l', 'h', 'nope']), 2);
});

test('errors are rejected promises, never synchronous throws', async () => {
  const { store } = fixture();
  await store.hset('h', 'f', b('v'));
  let p: Promise<unknown> | undefined;
  assert.doesNotThrow(() => {
    p = store.get('h');
  });
  await assert.rejects(p!, WrongTypeError);
});

// --- many ------------------------------------------------------------------------------------

test('getMany, setMany and delete count what existed', async () => {
  const { store, clock } = fixture();
  await store.setMany([
    ['a', b('1'), null],
    ['b', b('2'), 1000],
    ['c', b('3'), null],
  ]);
  assert.deepEqual((await store.getMany(['a', 'b', 'x', 'c'])).map(str), ['1', '2', null, '3']);
  assert.equal(await store.ttl('b'), 1000);
  clock.advance(1001);
  assert.deepEqual((await store.getMany(['a', 'b'])).map(str), ['1', null]);
  assert.equal(await store.delete(['a', 'b', 'c', 'c', 'zz']), 2);
  assert.equal(await store.delete([]), 0);
});

test('setMany with one bad TTL writes nothing', async () => {
  const { store } = fixture();
  await assert.rejects(
    store.setMany([
      ['a', b('1'), null],
      ['b', b('2'), -1],
    ]),
    TypeError,
  );
  assert.equal(await store.exists('a'), false);
});

// --- hashes ----------------------------------------------------------------------------------

test('hashes: set, get, getall, del counts, exists, keys', async () => {
  const { store } = fixture();
  await store.hset('h', 'a', b('1'));
  await store.hset('h', 'b', b('2'));
  await store.hset('h', 'a', b('3'));
  assert.equal(str(await store.hget('h', 'a')), '3');
  assert.equal(await store.hget('h', 'zz'), null);
  assert.equal(await store.hget('nope', 'a'), null);
  const all = await store.hgetall('h');
  assert.deepEqual([...all].map(([k, v]) => [k, v.toString()]), [['a', '3'], ['b', '2']]);
  all.delete('a');
  assert.equal(await store.hexists('h', 'a'), true, 'hgetall hands out a copy of the field map');
  assert.deepEqual(await store.hkeys('h'), ['a', 'b']);
  assert.deepEqual(await store.hgetall('nope'), new Map());
  assert.deepEqual(await store.hkeys('nope'), []);
  assert.equal(await store.hdel('h', ['a', 'zz', 'a']), 1);
  assert.equal(await store.hexists('h', 'a'), false);
});

test('hset with a TTL sets the TTL of the whole hash; without one it keeps it; null clears it', async () => {
  const { store, clock } = fixture();
  await store.hset('h', 'a', b('1'), 1000);
  assert.equal(await store.ttl('h'), 1000);
  clock.advance(100);
  await store.hset('h', 'b', b('2'));
  assert.equal(await store.ttl('h'), 900);
  await store.hset('h', 'c', b('3'), null);
  assert.equal(await store.ttl('h'), null);
  await store.hset('h', 'd', b('4'), 50);
  clock.advance(51);
  assert.equal(await store.hget('h', 'a'), null);
  assert.equal(await store.exists('h'), false);
});

test('a hash whose last field is deleted stops existing', async () => {
  const { store } = fixture();
  await store.hset('h', 'a', b('1'));
  assert.equal(await store.hdel('h', ['a']), 1);
  assert.equal(await store.exists('h'), false);
  assert.equal(store.stats().entries, 0);
  assert.equal(store.stats().bytes, 0);
});

// --- lists -----------------------------------------------------------------------------------

test('LPUSH pushes values one by one; RPUSH appends; both answer the new length', async () => {
  const { store } = fixture();
  assert.equal(await store.push('l', [b('a'), b('b')], 'left'), 2);
  assert.deepEqual(strs(await store.lrange('l', 0, -1)), ['b', 'a']);
  assert.equal(await store.push('l', [b('c'), b('d')], 'right'), 4);
  assert.equal(await store.push('l', [b('z')], 'left'), 5);
  assert.deepEqual(strs(await store.lrange('l', 0, -1)), ['z', 'b', 'a', 'c', 'd']);
  assert.equal(await store.llen('l'), 5);
  assert.equal(await store.push('l', [], 'left'), 5);
  assert.equal(await store.push('empty', [], 'right'), 0);
  assert.equal(await store.exists('empty'), false);
});

test('LRANGE index rules, negative indices included', async () => {
  const { store } = fixture();
  await store.push('l', ['0', '1', '2', '3', '4'].map(b), 'right');
  const cases: Array<[number, number, string[]]> = [
    [0, -1, ['0', '1', '2', '3', '4']],
    [0, 0, ['0']],
    [1, 3, ['1', '2', '3']],
    [-2, -1, ['3', '4']],
    [-100, 1, ['0', '1']],
    [3, 100, ['3', '4']],
    [-1, -2, []],
    [5, 10, []],
    [2, 1, []],
    [-3, 3, ['2', '3']],
    [0, -6, []],
  ];
  for (const [start, stop, want] of cases) {
    assert.deepEqual(strs(await store.lrange('l', start, stop)), want, `lrange ${start} ${stop}`);
  }
  assert.deepEqual(await store.lrange('nope', 0, -1), []);
});

test('LTRIM keeps the range, and an empty range deletes the list', async () => {
  const { store } = fixture();
  await store.push('l', ['0', '1', '2', '3', '4'].map(b), 'right');
  await store.ltrim('l', 1, -2);
  assert.deepEqual(strs(await store.lrange('l', 0, -1)), ['1', '2', '3']);
  await store.ltrim('l', -2, 10);
  assert.deepEqual(strs(await store.lrange('l', 0, -1)), ['2', '3']);
  await store.ltrim('l', 5, 10);
  assert.equal(await store.exists('l'), false);
  await store.ltrim('nope', 0, 1);
  assert.equal(store.stats().bytes, 0);
});

test('pop takes from either end and the emptied list stops existing', async () => {
  const { store } = fixture();
  await store.push('l', [b('a'), b('b'), b('c')], 'right');
  assert.equal(str(await store.pop('l', 'left')), 'a');
  assert.equal(str(await store.pop('l', 'right')), 'c');
  assert.equal(str(await store.pop('l', 'right')), 'b');
  assert.equal(await store.pop('l', 'right'), null);
  assert.equal(await store.exists('l'), false);
  assert.equal(store.stats().bytes, 0);
});

// --- sets ------------------------------------------------------------------------------------

test('sets compare members by bytes; SADD answers how many were new', async () => {
  const { store } = fixture();
  assert.equal(await store.sadd('s', [b('a'), b('b'), b('a')]), 2);
  assert.equal(await store.sadd('s', [b('b'), b('c')]), 1);
  assert.equal(await store.sadd('s', []), 0);
  assert.equal(await store.scard('s'), 3);
  assert.equal(await store.sismember('s', Buffer.from([0x61])), true);
  assert.equal(await store.sismember('s', b('z')), false);
  const bin = [Buffer.from([0xff, 0x00]), Buffer.from([0xc3, 0xbf]), Buffer.from([0xff])];
  assert.equal(await store.sadd('bin', bin), 3, 'non-UTF-8 members stay distinct');
  assert.equal(await store.sismember('bin', Buffer.from([0xff, 0x00])), true);
  assert.deepEqual((await store.smembers('s')).map(String).sort(), ['a', 'b', 'c']);
  assert.deepEqual(await store.smembers('nope'), []);
  assert.equal(await store.srem('s', [b('a'), b('zz')]), 1);
  assert.equal(await store.srem('s', [b('b'), b('c')]), 2);
  assert.equal(await store.exists('s'), false);
  assert.equal(await store.scard('s'), 0);
  assert.equal(await store.sadd('e', []), 0);
  assert.equal(await store.exists('e'), false);
});

// --- sorted sets (LocalData) -----------------------------------------------------------------

test('sorted sets: zadd new/update, zrange by score then member, range removal, vanishing', () => {
  const { data } = fixture();
  assert.equal(data.zadd('z', 3, 'c'), 1);
  assert.equal(data.zadd('z', 1, 'b'), 1);
  assert.equal(data.zadd('z', 1, 'a'), 1);
  assert.equal(data.zadd('z', 2, 'c'), 0);
  assert.deepEqual(data.zrange('z', 0, -1), ['a', 'b', 'c']);
  assert.deepEqual(data.zrange('z', -1, -1), ['c']);
  assert.deepEqual(data.zrange('z', 1, 10), ['b', 'c']);
  assert.deepEqual(data.zrange('nope', 0, -1), []);
  assert.equal(data.zscore('z', 'c'), 2);
  assert.equal(data.zscore('z', 'x'), null);
  assert.equal(data.zcard('z'), 3);
  assert.equal(data.zremRangeByScore('z', 1, 1), 2);
  assert.deepEqual(data.zrange('z', 0, -1), ['c']);
  assert.equal(data.zrem('z', 'x'), 0);
  assert.equal(data.zrem('z', 'c'), 1);
  assert.equal(data.exists('z'), false);
  data.zadd('inf', -Infinity, 'lo');
  data.zadd('inf', Infinity, 'hi');
  data.zadd('inf', 0, 'mid');
  assert.deepEqual(data.zrange('inf', 0, -1), ['lo', 'mid', 'hi']);
  assert.equal(data.zremRangeByScore('inf', -Infinity, Infinity), 3);
  assert.equal(data.exists('inf'), false);
});

// --- bounds and accounting -------------------------------------------------------------------

test('past maxEntries the least recently used entry is evicted; reads and writes count as use', async () => {
  const { store } = fixture({ maxEntries: 3 });
  await store.set('a', b('1'));
  await store.set('b', b('2'));
  await store.set('c', b('3'));
  await store.get('a');
  await store.set('d', b('4'));
  assert.deepEqual(await store.getMany(['a', 'b', 'c', 'd']).then((r) => r.map(str)), ['1', null, '3', '4']);
  // getMany above touched a, c, d in that order; a write to c makes a the oldest.
  await store.set('c', b('33'));
  await store.hset('e', 'f', b('5'));
  assert.equal(await store.exists('a'), false);
  assert.equal(store.stats().entries, 3);
  assert.equal(store.stats().evictions, 2);
});

test('the entry just written is never evicted, even when it alone exceeds maxBytes', async () => {
  const { store } = fixture({ maxBytes: 200 });
  await store.set('a', b('x'));
  await store.set('b', b('y'));
  await store.set('big', Buffer.alloc(500));
  assert.equal(await store.exists('a'), false);
  assert.equal(await store.exists('b'), false);
  assert.equal((await store.get('big'))?.length, 500);
  assert.equal(store.stats().bytes, stringSize('big', 'x'.repeat(500)));
  await store.set('c', b('z'));
  assert.equal(await store.exists('big'), false, 'the next write evicts it');
  assert.equal(store.stats().bytes, stringSize('c', 'z'));
});

test('maxBytes bounds the accounted bytes, which stay exact through overwrite, delete and expiry', async () => {
  const { store, clock } = fixture({ maxBytes: 600 });
  const v100 = 'v'.repeat(100);
  const one = stringSize('k0', v100); // 168
  for (let i = 0; i < 3; i++) await store.set(`k${i}`, b(v100));
  assert.equal(store.stats().bytes, 3 * one);
  await store.set('k3', b(v100));
  assert.equal(store.stats().bytes, 3 * one, 'a fourth would pass 600 bytes: k0 went');
  assert.equal(await store.exists('k0'), false);
  await store.set('k1', b('short'));
  assert.equal(store.stats().bytes, 2 * one + stringSize('k1', 'short'));
  await store.delete(['k2']);
  assert.equal(store.stats().bytes, one + stringSize('k1', 'short'));
  await store.expire('k3', 10);
  clock.advance(11);
  assert.equal(await store.get('k3'), null);
  assert.equal(store.stats().bytes, stringSize('k1', 'short'));
  assert.ok(store.stats().bytes <= 600);
});

test('container accounting follows every element written and removed', async () => {
  const { store, data } = fixture();
  await store.hset('h', 'ab', b('xyz'));
  assert.equal(store.stats().bytes, ENTRY_OVERHEAD + 2 + (4 + 3 + ELEMENT_OVERHEAD));
  await store.hset('h', 'ab', b('x'));
  assert.equal(store.stats().bytes, ENTRY_OVERHEAD + 2 + (4 + 1 + ELEMENT_OVERHEAD));
  await store.delete(['h']);
  await store.push('l', [b('aa'), b('b')], 'left');
  assert.equal(store.stats().bytes, ENTRY_OVERHEAD + 2 + (2 + 1 + 2 * ELEMENT_OVERHEAD));
  await store.ltrim('l', 0, 0);
  assert.equal(store.stats().bytes, ENTRY_OVERHEAD + 2 + (1 + ELEMENT_OVERHEAD));
  await store.delete(['l']);
  await store.sadd('s', [b('abc'), b('abc')]);
  assert.equal(store.stats().bytes, ENTRY_OVERHEAD + 2 + (6 + ELEMENT_OVERHEAD));
  await store.delete(['s']);
  data.zadd('z', 1, 'm');
  assert.equal(store.stats().bytes, ENTRY_OVERHEAD + 2 + (2 + 8 + ELEMENT_OVERHEAD));
  data.zadd('z', 2, 'm');
  assert.equal(store.stats().bytes, ENTRY_OVERHEAD + 2 + (2 + 8 + ELEMENT_OVERHEAD));
  data.zrem('z', 'm');
  await store.incrBy('c', 9, null);
  await store.incrBy('c', 1, null);
  assert.equal(store.stats().bytes, stringSize('c', '10'));
  await store.set('c', b('x'), { ttlMs: 5 });
  data.pexpire('c', 0);
  assert.deepEqual([store.stats().entries, store.stats().bytes], [0, 0]);
});

test('a script evicts only after it ends, and never the keys it was given', async () => {
  const { store } = fixture({ maxEntries: 2 });
  await store.set('old', b('o'));
  const twoWrites = script('two-writes', (data, keys) => {
    data.set(keys[0]!, b('1'), null);
    data.set(keys[1]!, b('2'), null);
    return data.exists(keys[0]!) && data.exists(keys[1]!) ? 1 : 0;
  });
  assert.equal(await store.eval(twoWrites, ['x', 'y'], []), 1);
  assert.equal(await store.exists('old'), false);
  assert.equal(store.stats().entries, 2);
});

// --- sweep -----------------------------------------------------------------------------------

test('a sweep of a mostly expired store removes at least a full slice per tick, and the rest on the next ones', async () => {
  const { store, clock } = fixture();
  for (let i = 0; i < 30_000; i++) await store.set(`k${i}`, b('v'), { ttlMs: 10 });
  clock.advance(11);
  // At least the minimum slice (10,000), more within the time budget; the rest on later ticks.
  assert.ok(store.sweep() >= 10_000);
  for (let i = 0; i < 3; i++) store.sweep();
  assert.equal(store.stats().entries, 0);
  assert.equal(store.stats().bytes, 0);
});

test('the sweep removes expired keys without their being accessed', async () => {
  const { store, clock } = fixture();
  for (let i = 0; i < 50; i++) await store.set(`t${i}`, b('v'), { ttlMs: 100 });
  for (let i = 0; i < 10; i++) await store.set(`p${i}`, b('v'));
  clock.advance(101);
  assert.equal(store.stats().entries, 60, 'nothing was touched yet');
  assert.equal(store.sweep(), 50);
  assert.equal(store.stats().entries, 10);
  assert.equal(store.stats().expirations, 50);
  assert.equal(store.stats().bytes, 10 * stringSize('p0', 'v'));
});

test('the sweep runs on its timer, examining a bounded slice of a large store per tick', async () => {
  mock.timers.enable({ apis: ['setInterval'] });
  try {
    let t = 0;
    const store = new MemoryStore({ now: () => t, sweepIntervalMs: 1000 });
    // One key in eight expires: few enough that the sweep does not speed up (Redis's 25% rule).
    const n = 40_000;
    for (let i = 0; i < n; i++) await store.set(`k${i}`, b('v'), { ttlMs: i % 8 === 0 ? 10 : 1_000_000 });
    t = 100;
    mock.timers.tick(1000);
    const afterOne = store.stats().entries;
    assert.ok(afterOne < n, 'the tick removed expired keys');
    assert.ok(afterOne > n - n / 8, 'a tick examines a bounded slice, not the whole store');
    for (let i = 0; i < 10; i++) mock.timers.tick(1000);
    assert.equal(store.stats().entries, n - n / 8);
    await store.close();
  } finally {
    mock.timers.reset();
  }
});

// --- glob ------------------------------------------------------------------------------------

test('glob: Redis SCAN MATCH semantics', () => {
  const table: Array<[pattern: string, key: string, matches: boolean]> = [
    ['*', '', true],
    ['*', 'anything', true],
    ['a*', 'a', true],
    ['a*', 'ba', false],
    ['*a', 'ba', true],
    ['a**b', 'ab', true],
    ['a*b*c', 'a1b2c', true],
    ['a*b*c', 'a1b2', false],
    ['h?llo', 'hello', true],
    ['h?llo', 'hllo', false],
    ['h[ae]llo', 'hallo', true],
    ['h[ae]llo', 'hillo', false],
    ['h[^e]llo', 'hallo', true],
    ['h[^e]llo', 'hello', false],
    ['h[a-c]llo', 'hbllo', true],
    ['h[a-c]llo', 'hdllo', false],
    ['h[c-a]llo', 'hbllo', true],
    ['[kumd]', 'm', true],
    ['[kumd]', 'K', false],
    ['[\\]]', ']', true],
    ['[a\\-z]', '-', true],
    ['[a\\-z]', 'b', false],
    ['[]', '', false],
    ['[]a', 'a', false],
    ['[^]', 'x', true],
    ['[abc', 'b', true],
    ['[abc', 'b]', false],
    ['\\*', '*', true],
    ['\\*', 'x', false],
    ['a\\?', 'a?', true],
    ['a\\?', 'ab', false],
    ['\\[a]', '[a]', true],
    ['a\\', 'a\\', true],
    ['{*}', '{abcd}', true],
    ['{*}', 'abcd', false],
    ['lr:acme:{*}[kumd]-:item*', 'lr:acme:{1f2e}k-:item_price', true],
    ['lr:acme:{*}[kumd]-:item*', 'lr:acme:{1f2e}L-:item_price', false],
    ['lr:acme:{*}[kumd]-:item*', 'lr:acme:x:{1f2e}k-:item_price', false],
    ['lr:acme:{*}[kumd]-:item*', 'lr:acme2:{1f2e}k-:item', false],
    ['a.b', 'axb', false],
    ['(a|b)', '(a|b)', true],
    ['a+', 'aa', false],
    ['$^', '$^', true],
    ['ü?', 'üx', true],
    ['line\nbreak*', 'line\nbreak!', true],
    ['x', 'xx', false],
  ];
  for (const [pattern, key, want] of table) {
    assert.equal(globMatch(pattern, key), want, `${JSON.stringify(pattern)} vs ${JSON.stringify(key)}`);
  }
  assert.equal(compileGlob('lr:acme:{*}k').prefix, 'lr:acme:{');
  assert.equal(compileGlob('a\\*b*').prefix, 'a*b');
});

// --- scan ------------------------------------------------------------------------------------

test('scan yields matching keys in batches of count, skipping expired ones', async () => {
  const { store, clock } = fixture();
  for (let i = 0; i < 25; i++) await store.set(`item:${i}`, b('v'));
  await store.set('other', b('v'));
  await store.set('item:expiring', b('v'), { ttlMs: 10 });
  clock.advance(11);
  const batches = await collect(store.scan('item:*', 10));
  assert.deepEqual(batches.map((x) => x.length), [10, 10, 5]);
  assert.deepEqual(batches.flat().sort(), Array.from({ length: 25 }, (_, i) => `item:${i}`).sort());
  assert.deepEqual(await collect(store.scan('none*')), []);
});

test('scan sees every key present for the whole scan while others write, and ends', async () => {
  const { store } = fixture();
  for (let i = 0; i < 100; i++) await store.set(`k${i}`, b('v'));
  const seen = new Set<string>();
  let n = 0;
  for await (const batch of store.scan('k*', 10)) {
    for (const k of batch) seen.add(k);
    // Writers during the scan: overwrite, delete, re-create, read (LRU reorder) and add new keys.
    await store.set(`k${99 - n}`, b('overwritten'));
    await store.get(`k${n}`);
    await store.delete([`k${50 + n}`]);
    await store.set(`k${50 + n}`, b('recreated'));
    for (let j = 0; j < 20; j++) await store.set(`k-new-${n}-${j}`, b('v'));
    n++;
  }
  for (let i = 0; i < 100; i++) {
    if (i >= 50 && i < 50 + n) continue; // deleted during the scan: may or may not be seen
    assert.ok(seen.has(`k${i}`), `k${i} was present throughout`);
  }
  assert.ok(n < 100, 'the scan did not chase the keys written during it');
});

test('a scan of a closed store rejects with ClosedError', async () => {
  const { store } = fixture();
  for (let i = 0; i < 30; i++) await store.set(`k${i}`, b('v'));
  const it = store.scan('*', 10)[Symbol.asyncIterator]();
  assert.equal(((await it.next()).value as string[]).length, 10);
  await store.close();
  await assert.rejects(it.next(), ClosedError);
});

// --- pub/sub ---------------------------------------------------------------------------------

test('publish delivers asynchronously to every subscriber and counts them', async () => {
  const { store } = fixture();
  const got: string[] = [];
  await store.subscribe('ch', (m) => got.push(`1:${m.toString()}`));
  await store.subscribe('ch', (m) => got.push(`2:${m.toString()}`));
  await store.subscribe('other', (m) => got.push(`x:${m.toString()}`));
  const p = store.publish('ch', b('hi'));
  assert.deepEqual(got, [], 'nothing is delivered during the publish call');
  assert.equal(await p, 2);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(got.sort(), ['1:hi', '2:hi']);
  assert.equal(await store.publish('nobody', b('x')), 0);
});

test('each subscriber gets its own copy of the message, in publish order', async () => {
  const { store } = fixture();
  const got: Buffer[] = [];
  await store.subscribe('ch', (m) => {
    got.push(m);
    m[0] = 0x21;
  });
  await store.subscribe('ch', (m) => got.push(m));
  const msg = b('ab');
  await store.publish('ch', msg);
  await store.publish('ch', b('cd'));
  msg[0] = 0x3f;
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(got.map(String), ['!b', 'ab', '!d', 'cd']);
});

test('unsubscribing stops delivery, even of a message already published', async () => {
  const { store } = fixture();
  const got: string[] = [];
  const off = await store.subscribe('ch', (m) => got.push(m.toString()));
  await store.publish('ch', b('1'));
  await new Promise((r) => setImmediate(r));
  const p = store.publish('ch', b('2'));
  await off();
  assert.equal(await p, 1);
  await off();
  assert.equal(await store.publish('ch', b('3')), 0);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(got, ['1']);
});

test('LocalData.publish (from a script) delivers after the script', async () => {
  const { store } = fixture();
  const got: string[] = [];
  await store.subscribe('ch', (m) => got.push(m.toString()));
  const pub = script('pub', (data, keys, args) => {
    const n = data.publish(keys[0]!, args[0] as Buffer);
    return [n, got.length];
  });
  assert.deepEqual(await store.eval(pub, ['ch'], [b('m')]), [1, 0]);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(got, ['m']);
});

test('a throwing subscriber is reported through watch(error) and others still receive', async () => {
  const { store } = fixture();
  const errors: Error[] = [];
  const unwatch = store.watch({ error: (e) => errors.push(e) });
  const got: string[] = [];
  await store.subscribe('ch', () => {
    throw new Error('boom');
  });
  await store.subscribe('ch', (m) => got.push(m.toString()));
  await store.publish('ch', b('x'));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(got, ['x']);
  assert.equal(errors[0]?.message, 'boom');
  unwatch();
});

// --- eval ------------------------------------------------------------------------------------

test('eval runs the local twin atomically with the given keys and args', async () => {
  const { store } = fixture();
  await store.set('lock', b('token-1'));
  const compareAndDelete = script('cad', (data, keys, args) => {
    const current = data.get(keys[0]!);
    if (current !== null && Buffer.isBuffer(args[0]) && current.equals(args[0])) return data.del(keys[0]!) ? 1 : 0;
    return 0;
  });
  assert.equal(await store.eval(compareAndDelete, ['lock'], [b('token-2')]), 0);
  assert.equal(await store.eval(compareAndDelete, ['lock'], [b('token-1')]), 1);
  assert.equal(await store.exists('lock'), false);
  const numbers = script('numbers', (_data, _keys, args) => [args[0] as number, typeof args[1] === 'number' ? 1 : 0]);
  assert.deepEqual(await store.eval(numbers, [], [42, 7]), [42, 1], 'number args arrive as given');
  // Interleaving cannot split a script: two concurrent increments in scripts both land.
  const incrTwice = script('incr2', (data, keys) => {
    const a = data.incrBy(keys[0]!, 1);
    return data.incrBy(keys[0]!, 1) - a;
  });
  const replies = await Promise.all([store.eval(incrTwice, ['c'], []), store.eval(incrTwice, ['c'], [])]);
  assert.deepEqual(replies, [1, 1]);
  assert.equal(str(await store.get('c')), '4');
});

test('an error thrown by a script rejects the eval', async () => {
  const { store } = fixture();
  await store.hset('h', 'f', b('v'));
  const readString = script('read', (data, keys) => data.get(keys[0]!));
  let p: Promise<ScriptReply> | undefined;
  assert.doesNotThrow(() => {
    p = store.eval(readString, ['h'], []);
  });
  await assert.rejects(p!, WrongTypeError);
});

// --- shared store, close ---------------------------------------------------------------------

test('the shared store is one per process; the first limits win, different ones warn once', async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  try {
    const a = sharedMemoryStore({ maxEntries: 10 });
    assert.equal(a.stats().maxEntries, 10);
    assert.equal(sharedMemoryStore({ maxEntries: 10 }), a);
    assert.equal(sharedMemoryStore(undefined), a);
    assert.equal(sharedMemoryStore({ maxEntries: 20 }), a);
    assert.equal(sharedMemoryStore({ maxEntries: 20 }), a);
    await new Promise((r) => setImmediate(r));
    const ours = warnings.filter((w) => (w as { code?: string }).code === 'LARDER_MEMORY_LIMITS');
    assert.equal(ours.length, 1);
    assert.equal(a.stats().maxEntries, 10);
    const priv = createMemoryStore({ maxEntries: 5 });
    assert.notEqual(priv, a);
    await priv.set('k', b('v'));
    assert.equal(await a.exists('k'), false, 'a private store has its own data');
    await priv.close();
  } finally {
    process.off('warning', onWarning);
  }
});

test('after close every call rejects with ClosedError; close is idempotent', async () => {
  const { store } = fixture();
  await store.set('k', b('v'));
  await store.subscribe('ch', () => {});
  await store.close();
  await store.close();
  await assert.rejects(store.get('k'), ClosedError);
  await assert.rejects(store.set('k', b('v')), ClosedError);
  await assert.rejects(store.delete(['k']), ClosedError);
  await assert.rejects(store.publish('ch', b('x')), ClosedError);
  await assert.rejects(store.subscribe('ch', () => {}), ClosedError);
  await assert.rejects(store.eval(script('s', () => 1), [], []), ClosedError);
  await assert.rejects(collect(store.scan('*')), ClosedError);
  assert.throws(() => store.sweep(), ClosedError);
});

test('bad limits throw a TypeError naming the option', () => {
  assert.throws(() => new MemoryStore({ maxEntries: 0 }), /memory\.maxEntries/);
  assert.throws(() => new MemoryStore({ maxEntries: 1.5 }), /memory\.maxEntries/);
  assert.throws(() => new MemoryStore({ maxBytes: -1 }), /memory\.maxBytes/);
  const unbounded = new MemoryStore({ maxEntries: Infinity, sweepIntervalMs: 0 });
  assert.equal(unbounded.stats().maxEntries, Infinity);
});
