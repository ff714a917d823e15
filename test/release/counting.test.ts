// O2 (issue 13): events and stats() agree; a call another caller's generator answered counts as
// `waited`, not as a miss; every LockTimeoutError counts in locks.timeouts. Embedded store: the
// counting is above the store.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCache, createMemoryStore, LockTimeoutError, type Cache } from '../../src/index.js';

function open(): Cache {
  return createCache({ store: createMemoryStore() });
}

/** Counts events by kind. */
function listen(cache: Cache): Record<'hit' | 'miss' | 'waited', number> {
  const seen = { hit: 0, miss: 0, waited: 0 };
  cache.on('hit', () => seen.hit++);
  cache.on('miss', () => seen.miss++);
  cache.on('waited', () => seen.waited++);
  return seen;
}

describe('O2: events and stats agree', () => {
  test('memoised calls emit hit and miss as they count them', async () => {
    const cache = open();
    const seen = listen(cache);
    const f = cache.memoize(async function square(x: number) {
      return x * x;
    });
    await f(3);
    await f(3);
    await f(3);
    assert.deepEqual(seen, { hit: 2, miss: 1, waited: 0 });
    assert.equal(cache.stats().store.hits, 2);
    assert.equal(cache.stats().store.misses, 1);
  });

  test('ten concurrent misses of one key: one miss (the generator run), nine waited', async () => {
    const cache = open();
    const seen = listen(cache);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const calls = Array.from({ length: 10 }, () => cache.getValue('k', { generator: async () => { await gate; return 1; } }));
    release();
    assert.deepEqual(await Promise.all(calls), Array(10).fill(1));
    const s = cache.stats();
    assert.deepEqual({ misses: s.store.misses, waited: s.waited, runs: s.generatorRuns }, { misses: 1, waited: 9, runs: 1 });
    assert.deepEqual(seen, { hit: 0, miss: 1, waited: 9 });
  });

  test('hget with a generator and cached documents count the same way, with events', async () => {
    const cache = open();
    const seen = listen(cache);
    await Promise.all([cache.hget('h', 'f', { generator: () => 1 }), cache.hget('h', 'f', { generator: () => 1 })]);
    await cache.hget('h', 'f');
    const docs = cache.documents({ load: (_dt, name) => ({ name }) });
    await Promise.all([docs.getCachedDoc('Item', 'A'), docs.getCachedDoc('Item', 'A')]);
    await docs.getCachedDoc('Item', 'A');
    assert.deepEqual(seen, { hit: 2, miss: 2, waited: 2 });
    const s = cache.stats();
    assert.deepEqual({ hits: s.store.hits, misses: s.store.misses, waited: s.waited }, { hits: 2, misses: 2, waited: 2 });
  });

  test('a LockTimeoutError from waitMs: 0 counts in locks.timeouts; a tryLock that answers null does not', async () => {
    const cache = open();
    const held = await cache.lock('l');
    await assert.rejects(cache.lock('l', { waitMs: 0 }), LockTimeoutError);
    assert.equal(cache.stats().locks.timeouts, 1);
    assert.equal(await cache.tryLock('l'), null);
    const sem = cache.semaphore('s', { permits: 1 });
    const p = await sem.acquire();
    assert.equal(await sem.tryAcquire(), null);
    assert.equal(cache.stats().locks.timeouts, 1);
    await Promise.all([held.release(), p.release()]);
  });
});

describe('resetStats(), nearCacheStats() and peek() (issue 13)', () => {
  test('resetStats() zeroes every counter, and counting goes on afterwards', async () => {
    const cache = open();
    await cache.getValue('k', { generator: () => 1 });
    await cache.getValue('k');
    cache.resetStats();
    const s = cache.stats();
    assert.deepEqual([s.store.hits, s.store.misses, s.generatorRuns, s.waited, s.locks.acquired], [0, 0, 0, 0, 0]);
    await cache.getValue('k');
    assert.equal(cache.stats().store.hits, 1);
  });

  test('nearCacheStats() is null without a near cache', () => {
    assert.equal(open().nearCacheStats(), null);
  });

  test('Z3: peek() refuses a bad key or option without a near cache, as it does with one', () => {
    const cache = open();
    assert.throws(() => cache.peek(''), TypeError);
    assert.throws(() => cache.peek('k', { user: true }), /context/i);
    assert.equal(cache.peek('k'), undefined);
  });
});
