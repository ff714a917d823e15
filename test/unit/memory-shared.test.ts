// The embedded store keeps the decoded value of each string beside its bytes and hands the same
// deep-frozen value to every reader (N5's rule, on the embedded store): a hit decodes nothing.
// These tests pin what that must never change: a caller's mutation never reaches the next caller,
// writes, deletes, expiry and eviction drop the shared value at once, values that cannot be
// frozen are copies, and caches with different codecs never see each other's decoded forms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCache, type Codec } from '../../src/index.js';
import { createMemoryStore, MemoryStore } from '../../src/stores/memory/index.js';
import { FakeClock } from '../support/fake-clock.js';

test('a hit returns one deep-frozen value to every reader; mutating it throws and changes nothing (N5)', async () => {
  const cache = createCache({ store: createMemoryStore() });
  const original = { name: 'ITEM-1', tags: ['a', 'b'], nested: { rate: 1.5 } };
  await cache.setValue('item', original);
  original.tags.push('c'); // the caller's own object was copied on write
  const first = await cache.getValue<typeof original>('item');
  const second = await cache.getValue<typeof original>('item');
  assert.ok(first !== undefined);
  assert.equal(first, second, 'the same object: decoded once');
  assert.ok(Object.isFrozen(first) && Object.isFrozen(first.tags) && Object.isFrozen(first.nested));
  assert.throws(() => {
    first.tags.push('x');
  }, TypeError);
  assert.deepEqual(await cache.getValue('item'), { name: 'ITEM-1', tags: ['a', 'b'], nested: { rate: 1.5 } });
  await cache.close();
});

test('a write, an incr, a delete and a delete by pattern replace the shared value at once', async () => {
  const cache = createCache({ store: createMemoryStore() });
  await cache.setValue('k', { v: 1 });
  const before = await cache.getValue('k');
  await cache.setValue('k', { v: 2 });
  const after = await cache.getValue('k');
  assert.deepEqual(after, { v: 2 });
  assert.notEqual(before, after);
  await cache.deleteValue('k');
  assert.equal(await cache.getValue('k'), undefined, 'a delete is seen by the next read through the remembered entry');
  await cache.setValue('k', { v: 3 });
  assert.deepEqual(await cache.getValue('k'), { v: 3 }, 'a new entry under the same key is found again');
  await cache.deleteKeys('k*');
  assert.equal(await cache.getValue('k'), undefined);
  await cache.setValue('n', 1);
  assert.equal(await cache.getValue('n'), 1);
  await cache.incr('n', 5);
  assert.equal(await cache.getValue('n'), 6, 'an incr replaces the decoded counter too');
  await cache.clearCache();
  assert.equal(await cache.getValue('n'), undefined);
  await cache.close();
});

test('expiry on the fake clock: a shared value is never served past its TTL (S1)', async () => {
  const clock = new FakeClock();
  const cache = createCache({ store: createMemoryStore({ clock }), clock });
  await cache.setValue('k', { v: 1 }, { expiresInSec: 1 });
  assert.deepEqual(await cache.getValue('k'), { v: 1 });
  await clock.advance(1000);
  assert.deepEqual(await cache.getValue('k'), { v: 1 }, 'still there at its deadline');
  await clock.advance(1);
  assert.equal(await cache.getValue('k'), undefined, 'gone a millisecond later');
  await cache.close();
});

test('eviction drops the shared value with its entry (memory.maxEntries)', async () => {
  const store = new MemoryStore({ maxEntries: 2 });
  const cache = createCache({ store });
  await cache.setValue('a', { v: 'a' });
  assert.deepEqual(await cache.getValue('a'), { v: 'a' });
  await cache.setValue('b', { v: 'b' });
  await cache.setValue('c', { v: 'c' });
  await cache.setValue('d', { v: 'd' });
  assert.equal(await cache.getValue('a'), undefined, 'evicted, though a read remembered its entry');
  assert.ok(store.stats().evictions >= 1);
  await cache.close();
});

test('values holding a Map, Set, Date or bytes are fresh copies for each reader, as before', async () => {
  const cache = createCache({ store: createMemoryStore() });
  await cache.setValue('m', { when: new Date(0), seen: new Set([1]), by: new Map([['a', 1]]), raw: new Uint8Array([1]) });
  const one = await cache.getValue<{ seen: Set<number>; when: Date }>('m');
  const two = await cache.getValue<{ seen: Set<number>; when: Date }>('m');
  assert.ok(one !== undefined && two !== undefined);
  assert.notEqual(one, two);
  one.seen.add(2);
  one.when.setTime(5);
  assert.deepEqual([...two.seen], [1]);
  assert.deepEqual([...(await cache.getValue<{ seen: Set<number> }>('m'))!.seen], [1], 'the next reader is unaffected');
  await cache.close();
});

test('a generator miss returns the value frozen as every later reader gets it (S3)', async () => {
  const cache = createCache({ store: createMemoryStore() });
  const filled = await cache.getValue('g', { generator: () => ({ rows: [1, 2] }) });
  assert.ok(Object.isFrozen(filled));
  assert.deepEqual(filled, { rows: [1, 2] });
  let runs = 0;
  const hit = await cache.getValue('g', {
    generator: () => {
      runs++;
      return { rows: [] };
    },
  });
  assert.equal(runs, 0);
  assert.deepEqual(hit, { rows: [1, 2] });
  await cache.close();
});

test('caches with different codecs on one store never share a decoded value', async () => {
  const store = createMemoryStore();
  const upper: Codec = {
    encode: (v) => Buffer.from(JSON.stringify(v)),
    decode: (b) => {
      const v = JSON.parse(b.toString()) as unknown;
      return typeof v === 'string' ? v.toUpperCase() : v;
    },
  };
  const plain: Codec = { encode: (v) => Buffer.from(JSON.stringify(v)), decode: (b) => JSON.parse(b.toString()) as unknown };
  const a = createCache({ store, codec: upper, namespace: 'n' });
  const b = createCache({ store, codec: plain, namespace: 'n' });
  await a.setValue('k', 'word');
  assert.equal(await a.getValue('k'), 'WORD');
  assert.equal(await b.getValue('k'), 'word', 'decoded with its own codec');
  assert.equal(await a.getValue('k'), 'WORD');
  await a.close();
  await b.close();
});

test('bad options are refused on the fast path exactly as on the slow one (Z3)', async () => {
  const cache = createCache({ store: createMemoryStore() });
  await cache.setValue('k', 1);
  await cache.getValue('k'); // remembered: the next read takes the fast path
  await assert.rejects(cache.getValue('k', { expiresInSec: -1 }), TypeError);
  await assert.rejects(cache.getValue('k', { generator: 5 as unknown as () => number }), TypeError);
  await assert.rejects(cache.getValue('', undefined), TypeError);
  await cache.close();
});
