// F2 (circuit breaker), F3 (failed invalidations remembered, retried before reads and every
// 200 ms) and F4 (call deadlines) in one process, over the embedded store wrapped in the chaos
// store, all on the fake clock: a stalled call times out when the clock says so, to the ms.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCache, createMemoryStore, StoreUnavailableError, StoreTimeoutError } from '../../src/index.js';
import { chaosStore } from '../support/chaos-store.js';
import { FakeClock } from '../support/fake-clock.js';

function setup(extra: Record<string, unknown> = {}) {
  const clock = new FakeClock(1_700_000_000_000);
  const inner = createMemoryStore({ clock });
  const store = chaosStore(inner);
  const cache = createCache({ store, clock, commandTimeoutMs: 40, ...extra });
  /** Runs `p` on the fake clock to its end: how long it took there, and how it ended. */
  const timed = async <T>(p: Promise<T>): Promise<{ ms: number; error?: unknown; value?: T }> => {
    const t0 = clock.monotonic();
    try {
      const value = await clock.runUntil(p);
      return { ms: clock.monotonic() - t0, value };
    } catch (error) {
      return { ms: clock.monotonic() - t0, error };
    }
  };
  return { clock, store, inner, cache, timed };
}

describe('F2: circuit breaker', () => {
  test('F2: after 5 timeouts in a row the breaker opens: calls fail at once without calling the store, then one probe per cooldown, closing on success', async () => {
    const { clock, store, cache, timed } = setup({ circuitBreaker: { failures: 5, cooldownMs: 1000 }, onStoreError: 'throw' });
    await cache.setValue('k', 'v');
    store.mode = 'stall';
    for (let i = 0; i < 5; i++) {
      const r = await timed(cache.getValue('k'));
      assert.ok(r.error instanceof StoreTimeoutError, String(r.error));
      assert.equal(r.ms, 40, 'F4: each stalled call waits exactly commandTimeoutMs');
    }
    assert.equal(cache.core.guard.breakerState, 'open');
    const before = store.totalCalls();
    const fast = await timed(cache.getValue('k'));
    assert.ok(fast.error instanceof StoreUnavailableError && fast.error.message.includes('circuit breaker'), String(fast.error));
    assert.equal(fast.ms, 0, 'fails fast, without waiting for the timeout');
    assert.equal(store.totalCalls(), before, 'the store was not called');
    await clock.advance(999);
    assert.equal(cache.core.guard.breakerState, 'open', 'open for the whole cooldown');
    await clock.advance(1);
    assert.equal(cache.core.guard.breakerState, 'half-open');
    // The probe still meets a stalled store: it waits out its timeout, the breaker opens again.
    const probe = timed(cache.getValue('k'));
    await assert.rejects(cache.getValue('k'), /circuit breaker/, 'only one probe at a time');
    const probed = await probe;
    assert.ok(probed.error instanceof StoreTimeoutError, String(probed.error));
    assert.equal(probed.ms, 40);
    assert.equal(cache.core.guard.breakerState, 'open');
    store.mode = 'ok';
    await assert.rejects(cache.getValue('k'), /circuit breaker/, 'still open until the next cooldown ends');
    await clock.advance(999);
    await assert.rejects(cache.getValue('k'), /circuit breaker/, 'the cooldown counts from the failed probe');
    await clock.advance(1);
    assert.equal(await cache.getValue('k'), 'v', 'the probe succeeds');
    assert.equal(cache.core.guard.breakerState, 'closed');
    assert.equal(await cache.getValue('k'), 'v');
  });

  test('F2: a store that refuses at once does not open the breaker, so its recovery is seen by the very next call', async () => {
    const { store, cache } = setup();
    await cache.setValue('k', 'v');
    store.mode = 'fail';
    for (let i = 0; i < 20; i++) assert.equal(await cache.getValue('k'), undefined);
    assert.equal(cache.core.guard.breakerState, 'closed');
    store.mode = 'ok';
    assert.equal(await cache.getValue('k'), 'v');
  });

  test("F2: in 'degrade' mode an open breaker reads as a miss, serves generators and drops writes; incr and locks still ask the store", async () => {
    const { store, cache, timed } = setup({ circuitBreaker: { failures: 2, cooldownMs: 60_000 } });
    store.mode = 'stall';
    assert.deepEqual(await timed(cache.getValue('a')), { ms: 40, value: undefined }, 'a timed-out read is a miss');
    assert.deepEqual(await timed(cache.getValue('a')), { ms: 40, value: undefined });
    assert.equal(cache.core.guard.breakerState, 'open');
    const calls = store.totalCalls();
    assert.equal(await cache.getValue('a', { generator: () => 'gen' }), 'gen');
    await cache.setValue('a', 1);
    assert.equal(store.totalCalls(), calls, 'nothing reached the store');
    store.mode = 'ok';
    assert.equal(await cache.incr('n'), 1, 'strict calls bypass the breaker (F5: never faked, always asked)');
    assert.equal(cache.core.guard.breakerState, 'closed', 'and their success closes it');
  });

  test('F2: circuitBreaker option is validated; false turns the breaker off', () => {
    assert.throws(() => createCache({ circuitBreaker: { failures: 0 } }), /circuitBreaker.failures/);
    assert.throws(() => createCache({ circuitBreaker: { cooldownMs: -1 } }), /circuitBreaker.cooldownMs/);
    assert.throws(() => createCache({ circuitBreaker: { other: 1 } as never }), /circuitBreaker.other/);
    assert.throws(() => createCache({ circuitBreaker: true as never }), /circuitBreaker/);
    const c = createCache({ circuitBreaker: false });
    assert.equal(c.core.options.circuitBreaker, false);
  });
});

describe('F3: failed invalidations', () => {
  test('F3: a deleteValue that could not reach the store is retried when it returns, and the old value is never read meanwhile', async () => {
    const { store, inner, cache } = setup();
    await cache.setValue('price', 100);
    await cache.setValue('other', 1);
    store.mode = 'fail';
    assert.equal(await cache.deleteValue('price'), 0);
    assert.equal(cache.core.invalidations.size, 1);
    store.mode = 'ok';
    // The store is back but the delete has not been retried yet: the old value is still stored…
    assert.equal(await inner.get(cache.key('price', undefined)).then((b) => b !== null), true);
    // …and is not served.
    assert.equal(await cache.getValue('price'), undefined);
    assert.equal(await cache.core.invalidations.flush(), true);
    assert.equal(await inner.get(cache.key('price', undefined)), null, 'the delete was retried');
    assert.equal(await cache.getValue('other'), 1);
    await cache.setValue('price', 200);
    assert.equal(await cache.getValue('price'), 200, 'a new write after the retry is served');
  });

  test("F3: in 'throw' mode the failed delete throws and is still remembered", async () => {
    const { store, cache } = setup({ onStoreError: 'throw' });
    await cache.setValue('k', 1);
    store.mode = 'fail';
    await assert.rejects(cache.deleteValue('k'), StoreUnavailableError);
    store.mode = 'ok';
    assert.equal(await cache.getValue('k'), undefined);
  });

  test('F3: a deleteKeys whose scan failed is remembered as a pattern: matching keys read as misses until a full retry deleted them', async () => {
    const { store, inner, cache } = setup();
    await cache.setMany([['item_price::A', 1], ['item_price::B', 2], ['item_name::A', 'x']]);
    store.mode = 'fail';
    await cache.deleteKeys('item_price::');
    store.mode = 'ok';
    assert.deepEqual(await cache.getMany(['item_price::A', 'item_price::B', 'item_name::A']), [undefined, undefined, 'x']);
    assert.equal(await cache.core.invalidations.flush(), true);
    assert.equal(await inner.get(cache.key('item_price::B', undefined)), null);
    assert.deepEqual(await cache.getKeys('item_'), ['item_name::A']);
  });

  test('F3: a clearCache that failed is retried: memoised results go too, persistent keys and other namespaces stay', async () => {
    const { store, cache } = setup({ persistentKeys: ['keep'] });
    const other = cache.forNamespace('other');
    let runs = 0;
    const memo = cache.memoize(async function rate() {
      return ++runs;
    });
    await memo();
    await cache.setValue('keep', 'k');
    await cache.setValue('drop', 'd');
    await other.setValue('drop', 'o');
    store.mode = 'fail';
    await cache.clearCache();
    store.mode = 'ok';
    assert.equal(await cache.getValue('drop'), undefined);
    assert.equal(await memo(), 2, 'the memoised result is not served');
    assert.equal(await cache.core.invalidations.flush(), true);
    assert.equal(await cache.getValue('keep'), 'k');
    assert.equal(await other.getValue('drop'), 'o');
  });

  test('F3: while a delete is pending it is retried every 200 ms, with no other call to start it', async () => {
    const { clock, store, inner, cache } = setup();
    await cache.setValue('a', 1);
    const pk = cache.key('a', undefined);
    store.mode = 'fail';
    await cache.deleteValue('a');
    await clock.advance(200);
    assert.equal(store.calls.get('delete'), 2, 'the first retry, 200 ms after the failure, also met the outage');
    assert.equal(cache.core.invalidations.size, 1, 'still pending');
    store.mode = 'ok';
    await clock.advance(199);
    assert.equal(store.calls.get('delete'), 2, 'no retry between ticks');
    assert.notEqual(await inner.get(pk), null, 'the old value is still stored');
    await clock.advance(1);
    assert.equal(store.calls.get('delete'), 3, 'the next tick, 400 ms after the failure, retried it');
    assert.equal(cache.core.invalidations.size, 0);
    assert.equal(await inner.get(pk), null, 'the delete reached the store');
    await clock.advance(1000);
    assert.equal(store.calls.get('delete'), 3, 'nothing pending: no more retries');
  });

  test('F3: pending deletes are retried on their own as soon as a store call succeeds again', async () => {
    const { store, inner, cache } = setup();
    await cache.setValue('a', 1);
    store.mode = 'fail';
    await cache.deleteValue('a');
    store.mode = 'ok';
    await cache.exists('unrelated'); // any successful call tells the guard the store is back
    await cache.core.invalidations.flush(); // joins the retry the recovery started
    assert.equal(cache.core.invalidations.size, 0);
    assert.equal(await inner.get(cache.key('a', undefined)), null);
  });
});

describe('F3: every kind of read and write respects a pending delete', () => {
  test('F3: hashes, lists, sets, counters, exists and ttl of a key whose delete failed read as deleted; writes let the delete go first', async () => {
    const { store, inner, cache } = setup();
    await cache.hset('h', 'f', 1);
    await cache.rpush('l', 'a', 'b');
    await cache.sadd('s', 'x');
    await cache.incr('n', 5);
    await cache.setValue('v', 'old', { expiresInSec: 60 });
    store.mode = 'fail';
    await cache.deleteValue(['h', 'l', 's', 'n', 'v']);
    store.mode = 'ok';
    // The old data is still in the store, but no read returns it.
    assert.notEqual(await inner.get(cache.key('v', undefined)), null);
    assert.equal(await cache.hget('h', 'f'), undefined);
    assert.deepEqual(await cache.hgetall('h'), {});
    assert.equal(await cache.hexists('h', 'f'), false);
    assert.deepEqual(await cache.hkeys('h'), []);
    assert.deepEqual(await cache.lrange('l', 0, -1), []);
    assert.equal(await cache.llen('l'), 0);
    assert.deepEqual(await cache.smembers('s'), []);
    assert.equal(await cache.sismember('s', 'x'), false);
    assert.equal(await cache.scard('s'), 0);
    assert.equal(await cache.exists('v'), false);
    assert.equal(await cache.ttl('v'), undefined);
    assert.equal(await cache.expire('v', 10), false);
  });

  test('F3: a write after a failed delete is not undone by the retry, and a counter restarts from zero', async () => {
    const { store, cache } = setup();
    await cache.rpush('q', 'old');
    await cache.incr('c', 7);
    await cache.setValue('k', 'old');
    store.mode = 'fail';
    await cache.deleteValue(['q', 'c', 'k']);
    store.mode = 'ok';
    await cache.rpush('q', 'new');
    assert.equal(await cache.incr('c'), 1);
    await cache.setValue('k', 'new');
    await cache.core.invalidations.flush();
    assert.deepEqual(await cache.lrange('q', 0, -1), ['new']);
    assert.equal(await cache.getValue('c'), 1);
    assert.equal(await cache.getValue('k'), 'new');
  });

  test('F3: past 10,000 pending keys they fold into one clear of the namespace: nothing stale, other namespaces untouched', async () => {
    const { store, cache } = setup();
    const other = cache.forNamespace('elsewhere');
    await cache.setValue('survivor-candidate', 1);
    await other.setValue('other', 2);
    const keys = Array.from({ length: 10_001 }, (_, i) => `bulk:${i}`);
    store.mode = 'fail';
    await cache.deleteValue(keys);
    store.mode = 'ok';
    assert.equal(await cache.getValue('survivor-candidate'), undefined, 'the fold covers the whole namespace');
    assert.equal(await other.getValue('other'), 2);
    assert.equal(await cache.core.invalidations.flush(), true);
    await cache.setValue('after', 3);
    assert.equal(await cache.getValue('after'), 3);
    assert.equal(await other.getValue('other'), 2);
  });
});
