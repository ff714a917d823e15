/**
 * Z1, N5, M1: a sparse array of any declared length costs what it holds, not its length — in
 * near-cache copies (written by this process or read from bytes anyone put in Redis), in memo
 * argument digests, and in caller lists of keys, fields or entries. Before the fix each of these
 * walked every index of `a.length = 2 ** 32 - 1` (minutes of a blocked event loop); the test's
 * timeout is the bound.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createCache, createMemoryStore, type Cache } from '../../src/index.js';
import { encodeValue } from '../../src/codec/index.js';
import { physicalKey } from '../../src/keys.js';
import { argumentDigest } from '../../src/memo/digest.js';
import { forEachElement } from '../../src/elements.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

function sparse(value: unknown = 1): unknown[] {
  const a: unknown[] = [];
  a[7] = value;
  a.length = 2 ** 32 - 1;
  return a;
}

const BOUND = { timeout: 30_000 };

test('forEachElement visits own elements in index order, holes skipped, other properties ignored', () => {
  const a: unknown[] = [1, undefined, 3];
  a[10] = 'x';
  a[2 ** 32 - 2] = 'last';
  (a as unknown as Record<string, unknown>).extra = 'no';
  const seen: Array<[number, unknown]> = [];
  forEachElement(a, (v, i) => seen.push([i, v]));
  assert.deepEqual(seen, [[0, 1], [1, undefined], [2, 3], [10, 'x'], [2 ** 32 - 2, 'last']]);
});

test('Z1/M1: a memo argument digest of a sparse array is computed from its elements', BOUND, () => {
  const d = argumentDigest([sparse({ b: 1, a: 2 })]);
  assert.equal(d, argumentDigest([sparse({ a: 2, b: 1 })]), 'objects inside still compare by value');
  assert.notEqual(d, argumentDigest([sparse({ a: 2 })]));
  const shorter = sparse({ a: 2, b: 1 });
  shorter.length = 9;
  assert.notEqual(d, argumentDigest([shorter]), 'the declared length is part of the argument');
});

test('Z1: caller lists with holes fail at the first hole, whatever their declared length', BOUND, async () => {
  const cache = createCache({ store: createMemoryStore() });
  try {
    const keys = sparse('k') as string[];
    await assert.rejects(cache.getMany(keys), { code: 'E_KEY' });
    await assert.rejects(cache.deleteValue(keys), { code: 'E_KEY' });
    await assert.rejects(cache.setMany(keys as unknown as Array<[string, unknown]>), TypeError);
    await assert.rejects(cache.hdel('h', keys), TypeError);
    const docs = cache.documents({ load: () => ({ a: 1 }) });
    await assert.rejects(docs.getCachedValue('Item', 'x', keys), TypeError);
    assert.throws(() => createCache({ store: createMemoryStore(), persistentKeys: keys }), TypeError);
    // A memoised function given one as an argument runs (the codec stores it compactly).
    const f = cache.memoize(async (a: unknown[]) => a.length, { name: 'sparse-len' });
    assert.equal(await f(sparse()), 2 ** 32 - 1);
    assert.equal(await f(sparse()), 2 ** 32 - 1);
  } finally {
    await cache.close();
  }
});

test('Z1/N5: the embedded store keeps a sparse array it shares with readers, frozen, at once', BOUND, async () => {
  const cache = createCache({ store: createMemoryStore() });
  try {
    await cache.setValue('s', sparse({ deep: true }));
    const got = (await cache.getValue<Array<{ deep: boolean }>>('s'))!;
    assert.equal(got.length, 2 ** 32 - 1);
    assert.deepEqual(got[7], { deep: true });
    const again = (await cache.getValue<Array<{ deep: boolean }>>('s'))!;
    assert.deepEqual(again[7], { deep: true });
    assert.ok(!Object.isFrozen(got) || Object.isFrozen(got[7]), 'frozen all the way down when shared');
  } finally {
    await cache.close();
  }
});

describe('near cache (Redis)', () => {
  let server: RedisServer;
  const open: Cache[] = [];
  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    for (const c of open) await c.close();
    await server.stop();
  });

  async function nearCache(): Promise<Cache> {
    const c = createCache({ store: server.url, namespace: 'sparse', nearCache: { maxEntries: 100 } });
    open.push(c);
    await c.exists('warm-up');
    await c.core.near!.whenActive();
    return c;
  }

  test('Z1/N5: setValue of a sparse array with a near cache keeps a frozen copy at once', BOUND, async () => {
    const c = await nearCache();
    await c.setValue('s1', sparse({ deep: true }));
    const got = (await c.getValue<Array<{ deep: boolean }>>('s1'))!;
    assert.equal(got.length, 2 ** 32 - 1);
    assert.deepEqual(got[7], { deep: true });
    assert.ok(Object.isFrozen(got) && Object.isFrozen(got[7]), 'N5: the near copy is deep-frozen');
    const again = (await c.getValue<unknown[]>('s1'))!;
    assert.equal(again[7], got[7]);
  });

  test('Z1: twelve hostile bytes written into Redis by anyone are read and kept at once', BOUND, async () => {
    const c = await nearCache();
    const bytes = encodeValue(sparse());
    assert.ok(bytes.length <= 32, `the codec stores it compactly (${bytes.length} bytes)`);
    const raw = new Redis(server.port, { lazyConnect: true });
    try {
      await raw.set(physicalKey({ namespace: 'sparse', user: null, shared: false }, 'k', 's2'), bytes);
    } finally {
      raw.disconnect();
    }
    const got = (await c.getValue<unknown[]>('s2'))!;
    assert.equal(got.length, 2 ** 32 - 1);
    assert.equal(got[7], 1);
    assert.equal(c.stats().near.hits, 0);
    assert.equal((await c.getValue<unknown[]>('s2'))![7], 1);
    assert.equal(c.stats().near.hits, 1, 'the second read is a near hit');
  });
});
