/**
 * What only the embedded store has: its injected clock (TTL arithmetic exact to the ms), LRU and
 * byte bounds with their accounting, the expiry sweep, the glob matcher behind its scan, the
 * process-wide shared store, and a few LocalData details no Lua script can express. Every
 * behaviour it shares with Redis is in the Store contract (test/contract/store), run against both.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MemoryStore,
  createMemoryStore,
  sharedMemoryStore,
  ELEMENT_OVERHEAD,
  type MemoryStoreOptions,
} from '../../src/stores/memory/index.js';
import { keyBytes, stringBytes } from '../../src/stores/memory/entry.js';
import { globMatch, compileGlob } from '../../src/stores/glob.js';
import { FakeClock } from '../support/fake-clock.js';
import { ClosedError, StoreError } from '../../src/errors.js';
import type { LocalData, Script, ScriptArg, ScriptReply } from '../../src/stores/store.js';
import { GLOB_CASES } from '../contract/store/glob-cases.js';

const b = (s: string): Buffer => Buffer.from(s);
const str = (x: Buffer | null): string | null => (x === null ? null : x.toString());

/** A store on a fake clock with no sweep timer: time only moves when the test says so. */
function fixture(opts: MemoryStoreOptions = {}) {
  const clock = new FakeClock(1_000_000);
  const store = new MemoryStore({ clock, sweepIntervalMs: 0, ...opts });
  return { store, clock, data: store.data };
}

const stringSize = (key: string, value: string) => keyBytes(key) + stringBytes(Buffer.from(value));

function script(name: string, local: (data: LocalData, keys: string[], args: ScriptArg[]) => ScriptReply): Script {
  return { name, lua: '-- not used by the embedded store', local };
}

async function collect(it: AsyncIterable<string[]>): Promise<string[][]> {
  const out: string[][] = [];
  for await (const batch of it) out.push(batch);
  return out;
}

const tick = () => new Promise((r) => setImmediate(r));

// --- the injected clock: TTL arithmetic to the millisecond -----------------------------------

test('on the injected clock, TTLs count down to the ms: set, setMany, expire and hset', async () => {
  const { store, clock } = fixture();
  await store.set('k', b('v'), { ttlMs: 1000 });
  assert.equal(await store.ttl('k'), 1000);
  await clock.advance(400);
  assert.equal(await store.ttl('k'), 600);
  await store.setMany([
    ['a', b('1'), null],
    ['m', b('2'), 1000],
  ]);
  assert.equal(await store.ttl('m'), 1000);
  await clock.advance(1001);
  assert.deepEqual((await store.getMany(['a', 'm'])).map(str), ['1', null]);
  await store.set('e', b('v'));
  assert.equal(await store.expire('e', 500), true);
  assert.equal(await store.ttl('e'), 500);
  await store.hset('h', 'a', b('1'), 1000);
  await clock.advance(100);
  await store.hset('h', 'b', b('2'));
  assert.equal(await store.ttl('h'), 900, 'hset without a TTL keeps the hash\'s, to the ms');
  await store.hset('h', 'd', b('4'), 50);
  await clock.advance(51);
  assert.equal(await store.exists('h'), false);
});

test('a key expires once the clock is past its deadline (PTTL 0 at the deadline itself)', async () => {
  const { store, clock, data } = fixture();
  await store.set('k', b('v'), { ttlMs: 1000 });
  await clock.advance(1000);
  assert.equal(data.pttl('k'), 0);
  assert.equal(str(await store.get('k')), 'v');
  await clock.advance(1);
  assert.equal(await store.get('k'), null);
  assert.equal(await store.exists('k'), false);
  assert.equal(await store.ttl('k'), undefined);
  assert.equal(store.stats().entries, 0);
});

test('on the injected clock, fractional TTLs round up exactly: 0.2 ms is 1, 1500.5 is 1501', async () => {
  const { store } = fixture();
  await store.set('k', b('v'), { ttlMs: 0.2 });
  assert.equal(await store.ttl('k'), 1);
  await store.set('k', b('v'), { ttlMs: 1500.5 });
  assert.equal(await store.ttl('k'), 1501);
});

test('on the injected clock, incrBy gives ttlMsIfNew exactly, never renews it, and an expired counter starts again', async () => {
  const { store, clock } = fixture();
  assert.equal(await store.incrBy('c', 1, 1000), 1);
  assert.equal(await store.ttl('c'), 1000);
  await clock.advance(600);
  assert.equal(await store.incrBy('c', 1, 1000), 2);
  assert.equal(await store.ttl('c'), 400, 'the second incr does not renew the TTL');
  await clock.advance(401);
  assert.equal(await store.incrBy('c', 1, 1000), 1, 'an expired counter starts again');
  assert.equal(await store.ttl('c'), 1000);
});

test('the deprecated now option still sets the time TTLs read; with clock as well it is a TypeError', async () => {
  let t = 5_000;
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- the alias is what this test is about
  const store = new MemoryStore({ now: () => t, sweepIntervalMs: 0 });
  await store.set('k', b('v'), { ttlMs: 100 });
  t += 100;
  assert.equal(await store.ttl('k'), 0);
  t += 1;
  assert.equal(await store.get('k'), null);
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- the alias is what this test is about
  assert.throws(() => new MemoryStore({ now: () => t, clock: new FakeClock() }), TypeError);
});

// --- LocalData details no Lua script can express ---------------------------------------------

test('LocalData.now() is the injected clock, and SET "keep" keeps the exact deadline', async () => {
  const { data, clock } = fixture();
  assert.equal(data.now(), 1_000_000);
  await clock.advance(5);
  assert.equal(data.now(), 1_000_005);
  data.set('k', b('a'), 1000);
  data.set('k', b('b'), 'keep');
  assert.equal(data.pttl('k'), 1000);
});

test('LocalData.set refuses a TTL of 0 or NaN with StoreError, writing nothing', () => {
  const { data } = fixture();
  assert.throws(() => data.set('k', b('v'), 0), StoreError);
  assert.throws(() => data.set('k', b('v'), NaN), StoreError);
  assert.equal(data.exists('k'), false);
});

test('script args reach the local twin as given: numbers stay numbers', async () => {
  const { store } = fixture();
  const numbers = script('numbers', (_data, _keys, args) => [args[0] as number, typeof args[1] === 'number' ? 1 : 0]);
  assert.deepEqual(await store.eval(numbers, [], [42, 7]), [42, 1]);
});

test('LocalData.publish (from a script) delivers only after the script', async () => {
  const { store } = fixture();
  const got: string[] = [];
  await store.subscribe('ch', (m) => got.push(m.toString()));
  const pub = script('pub', (data, keys, args) => {
    const n = data.publish(keys[0]!, args[0] as Buffer);
    return [n, got.length];
  });
  assert.deepEqual(await store.eval(pub, ['ch'], [b('m')]), [1, 0]);
  await tick();
  assert.deepEqual(got, ['m']);
});

// --- what the memory store answers where stores may differ -----------------------------------

test('publish counts the handlers subscribed when it is called, even one that leaves before delivery', async () => {
  const { store } = fixture();
  const got: string[] = [];
  const off1 = await store.subscribe('ch', (m) => got.push(`1:${m.toString()}`));
  await store.subscribe('ch', (m) => got.push(`2:${m.toString()}`));
  await store.subscribe('other', (m) => got.push(`x:${m.toString()}`));
  assert.equal(await store.publish('ch', b('hi')), 2);
  await tick();
  assert.deepEqual(got.sort(), ['1:hi', '2:hi']);
  const p = store.publish('ch', b('late'));
  await off1();
  assert.equal(await p, 2);
  await tick();
  assert.deepEqual(got.sort(), ['1:hi', '2:hi', '2:late']);
});

test('hgetall and hkeys list fields in insertion order', async () => {
  const { store } = fixture();
  await store.hset('h', 'b', b('1'));
  await store.hset('h', 'a', b('2'));
  await store.hset('h', 'b', b('3'));
  assert.deepEqual([...(await store.hgetall('h'))].map(([k, v]) => [k, v.toString()]), [['b', '3'], ['a', '2']]);
  assert.deepEqual(await store.hkeys('h'), ['b', 'a']);
});

test('scan yields batches of exactly count, the rest in the last', async () => {
  const { store, clock } = fixture();
  for (let i = 0; i < 25; i++) await store.set(`item:${i}`, b('v'));
  await store.set('other', b('v'));
  await store.set('item:expiring', b('v'), { ttlMs: 10 });
  await clock.advance(11);
  const batches = await collect(store.scan('item:*', 10));
  assert.deepEqual(batches.map((x) => x.length), [10, 10, 5]);
  assert.deepEqual(batches.flat().sort(), Array.from({ length: 25 }, (_, i) => `item:${i}`).sort());
});

test('scan stops at the first key created after it began, so writers cannot make it chase them', async () => {
  const { store } = fixture();
  for (let i = 0; i < 100; i++) await store.set(`k${i}`, b('v'));
  let n = 0;
  for await (const _batch of store.scan('k*', 10)) {
    await store.set(`k${99 - n}`, b('overwritten'));
    await store.get(`k${n}`);
    await store.delete([`k${50 + n}`]);
    await store.set(`k${50 + n}`, b('recreated'));
    for (let j = 0; j < 20; j++) await store.set(`k-new-${n}-${j}`, b('v'));
    n++;
  }
  assert.ok(n < 100, 'the scan did not chase the keys written during it');
});

test('after close, sweep() throws ClosedError too', async () => {
  const { store } = fixture();
  await store.close();
  assert.throws(() => store.sweep(), ClosedError);
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
  const { store } = fixture({ maxBytes: stringSize('a', 'x') + stringSize('b', 'y') });
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
  const v100 = 'v'.repeat(100);
  const one = stringSize('k0', v100);
  const max = 3 * one + 50;
  const { store, clock } = fixture({ maxBytes: max });
  for (let i = 0; i < 3; i++) await store.set(`k${i}`, b(v100));
  assert.equal(store.stats().bytes, 3 * one);
  await store.set('k3', b(v100));
  assert.equal(store.stats().bytes, 3 * one, 'a fourth would pass maxBytes: k0 went');
  assert.equal(await store.exists('k0'), false);
  await store.set('k1', b('short'));
  assert.equal(store.stats().bytes, 2 * one + stringSize('k1', 'short'));
  await store.delete(['k2']);
  assert.equal(store.stats().bytes, one + stringSize('k1', 'short'));
  await store.expire('k3', 10);
  await clock.advance(11);
  assert.equal(await store.get('k3'), null);
  assert.equal(store.stats().bytes, stringSize('k1', 'short'));
  assert.ok(store.stats().bytes <= max);
});

test('container accounting follows every element written and removed', async () => {
  const { store, data } = fixture();
  await store.hset('h', 'ab', b('xyz'));
  assert.equal(store.stats().bytes, keyBytes('h') + (4 + 3 + ELEMENT_OVERHEAD));
  await store.hset('h', 'ab', b('x'));
  assert.equal(store.stats().bytes, keyBytes('h') + (4 + 1 + ELEMENT_OVERHEAD));
  await store.delete(['h']);
  await store.push('l', [b('aa'), b('b')], 'left');
  assert.equal(store.stats().bytes, keyBytes('l') + (2 + 1 + 2 * ELEMENT_OVERHEAD));
  await store.ltrim('l', 0, 0);
  assert.equal(store.stats().bytes, keyBytes('l') + (1 + ELEMENT_OVERHEAD));
  await store.delete(['l']);
  await store.sadd('s', [b('abc'), b('abc')]);
  assert.equal(store.stats().bytes, keyBytes('s') + (6 + ELEMENT_OVERHEAD));
  await store.delete(['s']);
  data.zadd('z', 1, 'm');
  assert.equal(store.stats().bytes, keyBytes('z') + (2 + 8 + ELEMENT_OVERHEAD));
  data.zadd('z', 2, 'm');
  assert.equal(store.stats().bytes, keyBytes('z') + (2 + 8 + ELEMENT_OVERHEAD));
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

test('a container emptied by hdel, ltrim or pop gives back its entry and all its bytes', async () => {
  const { store } = fixture();
  await store.hset('h', 'a', b('1'));
  assert.equal(await store.hdel('h', ['a']), 1);
  assert.deepEqual([store.stats().entries, store.stats().bytes], [0, 0]);
  await store.push('l', ['0', '1', '2'].map(b), 'right');
  await store.ltrim('l', 5, 10);
  await store.ltrim('nope', 0, 1);
  assert.deepEqual([store.stats().entries, store.stats().bytes], [0, 0]);
  await store.push('l', [b('a'), b('b')], 'right');
  await store.pop('l', 'left');
  await store.pop('l', 'right');
  assert.deepEqual([store.stats().entries, store.stats().bytes], [0, 0]);
});

// --- sweep -----------------------------------------------------------------------------------

test('a sweep of a mostly expired store removes at least a full slice per tick, and the rest on the next ones', async () => {
  const { store, clock } = fixture();
  for (let i = 0; i < 30_000; i++) await store.set(`k${i}`, b('v'), { ttlMs: 10 });
  await clock.advance(11);
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
  await clock.advance(101);
  assert.equal(store.stats().entries, 60, 'nothing was touched yet');
  assert.equal(store.sweep(), 50);
  assert.equal(store.stats().entries, 10);
  assert.equal(store.stats().expirations, 50);
  assert.equal(store.stats().bytes, 10 * stringSize('p0', 'v'));
});

test('the sweep runs on its timer, examining a bounded slice of a large store per tick', async () => {
  const clock = new FakeClock(0);
  const store = new MemoryStore({ clock, sweepIntervalMs: 1000 });
  // One key in eight expires: few enough that the sweep does not speed up (Redis's 25% rule).
  const n = 40_000;
  for (let i = 0; i < n; i++) await store.set(`k${i}`, b('v'), { ttlMs: i % 8 === 0 ? 10 : 1_000_000 });
  await clock.advance(1000);
  const afterOne = store.stats().entries;
  assert.ok(afterOne < n, 'the tick removed expired keys');
  assert.ok(afterOne > n - n / 8, 'a tick examines a bounded slice, not the whole store');
  await clock.advance(10 * 1000);
  assert.equal(store.stats().entries, n - n / 8);
  await store.close();
});

// --- glob ------------------------------------------------------------------------------------

test('glob: Redis SCAN MATCH semantics', () => {
  // The same table the Store contract checks every store's scan against (real Redis included).
  for (const [pattern, key, want] of GLOB_CASES) {
    assert.equal(globMatch(pattern, key), want, `${JSON.stringify(pattern)} vs ${JSON.stringify(key)}`);
  }
  assert.equal(compileGlob('lr:acme:{*}k').prefix, 'lr:acme:{');
  assert.equal(compileGlob('a\\*b*').prefix, 'a*b');
});

// --- shared store, limits ---------------------------------------------------------------------

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

test('bad limits throw a TypeError naming the option', () => {
  assert.throws(() => new MemoryStore({ maxEntries: 0 }), /memory\.maxEntries/);
  assert.throws(() => new MemoryStore({ maxEntries: 1.5 }), /memory\.maxEntries/);
  assert.throws(() => new MemoryStore({ maxBytes: -1 }), /memory\.maxBytes/);
  const unbounded = new MemoryStore({ maxEntries: Infinity, sweepIntervalMs: 0 });
  assert.equal(unbounded.stats().maxEntries, Infinity);
});
