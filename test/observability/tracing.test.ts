/**
 * O3: tracing channels. A subscriber to `larder:cache` sees each cache call with its operation,
 * namespace, key, and for reads the layer and outcome; generator runs nest inside the call that
 * missed; `larder:lock` sees acquisitions and their outcome; `larder:store` each round trip.
 * Embedded store, and a real Redis for the near layer.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tracingChannel } from 'node:diagnostics_channel';
import { createCache, createMemoryStore, LockTimeoutError, type Cache } from '../../src/index.js';
import type { CacheTraceContext, LockTraceContext, StoreTraceContext } from '../../src/tracing.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

interface Seen<C> {
  starts: C[];
  ends: C[];
  errors: C[];
}

/** Subscribes to one tracing channel, keeping only the contexts of `cache`. */
function watch<C extends { cacheId: number }>(name: string, cache: Cache): Seen<C> & { stop(): void } {
  const seen: Seen<C> = { starts: [], ends: [], errors: [] };
  const mine = (c: C) => c.cacheId === cache.core.tap.id;
  const keep = (list: C[]) => (c: C) => {
    if (mine(c)) list.push(c);
  };
  const handlers = { start: keep(seen.starts), end: keep([]), asyncStart: keep([]), asyncEnd: keep(seen.ends), error: keep(seen.errors) };
  const ch = tracingChannel<unknown, C>(name);
  ch.subscribe(handlers);
  return { ...seen, stop: () => ch.unsubscribe(handlers) };
}

describe('tracing channels (O3)', () => {
  test('larder:cache carries operation, namespace, key, layer and outcome of each read', async () => {
    const cache = createCache({ store: createMemoryStore(), namespace: 'shop' });
    const w = watch<CacheTraceContext>('larder:cache', cache);
    try {
      await cache.setValue('a', 1);
      assert.equal(await cache.getValue('a'), 1);
      assert.equal(await cache.getValue('nope'), undefined);
      await cache.forNamespace('other-shop').hget('h', 'f');
      const ops = w.ends.map((c) => [c.operation, c.namespace, c.key, c.layer, c.outcome]);
      assert.deepEqual(ops, [
        ['setValue', 'shop', 'a', undefined, undefined],
        ['getValue', 'shop', 'a', 'store', 'hit'],
        ['getValue', 'shop', 'nope', 'store', 'miss'],
        ['hget', 'other-shop', 'h', 'store', 'miss'],
      ]);
      assert.equal(w.ends[1]!.result, 1, "Node's tracing keeps the call's return value in result");
      assert.equal(w.ends[3]!.name, 'f');
    } finally {
      w.stop();
      await cache.close();
    }
  });

  test('a generator run is traced on larder:generator, inside the miss that ran it, and its error too', async () => {
    const cache = createCache({ store: createMemoryStore() });
    const calls = watch<CacheTraceContext>('larder:cache', cache);
    const gens = watch<CacheTraceContext>('larder:generator', cache);
    try {
      await cache.getValue('g', { generator: () => 'made' });
      assert.deepEqual(calls.ends.map((c) => [c.operation, c.outcome]), [['getValue', 'miss']]);
      assert.deepEqual(gens.ends.map((c) => [c.operation, c.key, c.result]), [['generate', 'g', 'made']]);
      const boom = new Error('boom');
      await assert.rejects(cache.getValue('h', { generator: () => { throw boom; } }), /boom/);
      assert.deepEqual(gens.errors.map((c) => [c.operation, c.error]), [['generate', boom]]);
      assert.deepEqual(calls.errors.map((c) => [c.operation, c.error]), [['getValue', boom]]);
    } finally {
      calls.stop();
      gens.stop();
      await cache.close();
    }
  });

  test('larder:lock reports acquisitions, with timeout as the outcome of a wait that ran out', async () => {
    const cache = createCache({ store: createMemoryStore(), namespace: 'ops' });
    const w = watch<LockTraceContext>('larder:lock', cache);
    try {
      const held = await cache.lock('job');
      await assert.rejects(cache.lock('job', { waitMs: 30 }), LockTimeoutError);
      await held.release();
      const sem = cache.semaphore('pool', { permits: 1 });
      const permit = await sem.acquire();
      await permit.release();
      assert.deepEqual(w.ends.map((c) => [c.operation, c.namespace, c.name, c.outcome]), [
        ['lock', 'ops', 'job', 'acquired'],
        ['lock', 'ops', 'job', 'timeout'],
        ['permit', 'ops', 'pool', 'acquired'],
      ]);
      assert.ok(w.errors[0]?.error instanceof LockTimeoutError);
    } finally {
      w.stop();
      await cache.close();
    }
  });

  test('larder:store sees every round trip with its command', async () => {
    const cache = createCache({ store: createMemoryStore() });
    const w = watch<StoreTraceContext>('larder:store', cache);
    try {
      await cache.setValue('k', 'v');
      // A key never read: a GET (the embedded store serves reads of known keys without a round trip).
      await cache.getValue('never-written');
      await cache.getMany(['k', 'l']);
      assert.deepEqual(w.ends.map((c) => c.operation), ['SET', 'GET', 'MGET']);
      assert.ok(w.ends.every((c) => c.store === 'custom'));
    } finally {
      w.stop();
      await cache.close();
    }
  });

  test('an unsubscribed channel builds no context: the cache behaves the same with and without a subscriber', async () => {
    const cache = createCache({ store: createMemoryStore() });
    await cache.setValue('x', { n: 1 });
    const before = await cache.getValue('x');
    const w = watch<CacheTraceContext>('larder:cache', cache);
    const during = await cache.getValue('x');
    w.stop();
    const after = await cache.getValue('x');
    assert.deepEqual([before, during, after], [{ n: 1 }, { n: 1 }, { n: 1 }]);
    assert.equal(w.ends.length, 1, 'only the call made while subscribed was seen');
    assert.equal(tracingChannel('larder:cache').hasSubscribers, false);
    await cache.close();
  });
});

describe('tracing channels on Redis with a near cache (O3)', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- before() may have thrown
    await redis?.stop();
  });

  test('a near-cache hit is traced with layer near', async () => {
    const cache = createCache({ store: redis.url, nearCache: { maxEntries: 100 } });
    const w = watch<CacheTraceContext>('larder:cache', cache);
    const s = watch<StoreTraceContext>('larder:store', cache);
    try {
      await cache.setValue('n', 'v');
      await cache.core.near?.whenActive();
      await cache.getValue('n');
      await cache.getValue('n');
      const reads = w.ends.filter((c) => c.operation === 'getValue').map((c) => [c.layer, c.outcome]);
      assert.deepEqual(reads.at(-1), ['near', 'hit']);
      assert.ok(s.ends.every((c) => c.store === 'redis'));
    } finally {
      w.stop();
      s.stop();
      await cache.close();
    }
  });
});
