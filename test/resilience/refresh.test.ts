// S6 (XFetch early refresh) and S7 (stale-while-revalidate, stale-if-error), deterministic: the
// cache and its embedded store run on the fake clock, randomness is injected, and background
// refreshes are awaited through core.stampede.settled(), never slept for.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCache, createMemoryStore, StoreUnavailableError, type Cache, type Store } from '../../src/index.js';
import { readEntry, writeEntry, xfetchDue } from '../../src/codec/entry.js';
import { chaosStore } from '../support/chaos-store.js';
import { FakeClock } from '../support/fake-clock.js';

function clocked(extra: Record<string, unknown> = {}) {
  const clock = new FakeClock(1_700_000_000_000);
  const random = { r: 0.5 };
  const store = (extra.store as Store | undefined) ?? createMemoryStore({ clock });
  const cache = createCache({ store, clock, random: () => random.r, ...extra });
  return { clock, random, cache, store };
}

const settled = (cache: Cache) => cache.core.stampede.settled();

describe('S7: stale-while-revalidate', () => {
  test('S7: after expiry, within the window, the old value is served at once and one background refresh runs', async () => {
    const { clock, cache } = clocked();
    let runs = 0;
    const generator = async () => `v${++runs}`;
    const opts = { generator, expiresInSec: 10, staleWhileRevalidateSec: 30 };
    assert.equal(await cache.getValue('swr', opts), 'v1');
    await clock.advance(11_000); // past the logical expiry, inside the window
    const reads = await Promise.all(Array.from({ length: 20 }, () => cache.getValue('swr', opts)));
    assert.ok(reads.every((v) => v === 'v1'), 'every reader gets the old value at once');
    assert.equal(cache.stats().staleServes, 20);
    await settled(cache);
    assert.equal(runs, 2, 'one background refresh for 20 stale reads');
    assert.equal(await cache.getValue('swr', opts), 'v2');
    assert.equal(cache.stats().staleServes, 20, 'the refreshed value is fresh');
  });

  test('S7: past the window, the read is a miss and the generator runs in the foreground', async () => {
    const { clock, cache } = clocked();
    let runs = 0;
    const opts = { generator: async () => `v${++runs}`, expiresInSec: 10, staleWhileRevalidateSec: 5 };
    await cache.getValue('swr-past', opts);
    await clock.advance(16_000);
    assert.equal(await cache.getValue('swr-past', opts), 'v2');
    assert.equal(cache.stats().staleServes, 0);
  });

  test('S7: plain reads honour the logical expiry: getValue without options and getMany miss once it passed', async () => {
    const { clock, cache } = clocked();
    await cache.getValue('plain', { generator: () => ({ a: 1 }), expiresInSec: 10, staleWhileRevalidateSec: 60 });
    assert.deepEqual(await cache.getValue('plain'), { a: 1 });
    assert.deepEqual(await cache.getMany(['plain']), [{ a: 1 }]);
    await clock.advance(10_000);
    assert.equal(await cache.getValue('plain'), undefined);
    assert.deepEqual(await cache.getMany(['plain']), [undefined]);
    assert.equal(await cache.exists('plain'), true, 'the entry is kept for the stale window');
    const ttl = await cache.ttl('plain');
    assert.equal(ttl, 60, 'the physical TTL is the stale window, to the ms');
  });

  test('S7, S5: two caches on one store (two processes) refresh a stale key once between them', async () => {
    const clock = new FakeClock(1_700_000_000_000);
    const store = createMemoryStore({ clock });
    const a = createCache({ store, clock });
    const b = createCache({ store, clock });
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const generator = async () => {
      runs++;
      if (runs > 1) await gate;
      return `v${runs}`;
    };
    const opts = { generator, expiresInSec: 10, staleWhileRevalidateSec: 30 };
    await a.getValue('shared-swr', opts);
    await clock.advance(11_000);
    assert.equal(await a.getValue('shared-swr', opts), 'v1');
    assert.equal(await b.getValue('shared-swr', opts), 'v1');
    release();
    await Promise.all([settled(a), settled(b)]);
    assert.equal(runs, 2, 'the second cache found the lease taken and did not refresh');
    assert.equal(await b.getValue('shared-swr', opts), 'v2');
  });
});

describe('S7: stale-if-error', () => {
  test('S7: if the generator throws within the window, the old value is served instead of the error; past it, the error', async () => {
    const { clock, cache } = clocked();
    let fail = false;
    const opts = {
      generator: async () => {
        if (fail) throw new Error('database down');
        return 'good';
      },
      expiresInSec: 10,
      staleIfErrorSec: 60,
    };
    assert.equal(await cache.getValue('sie', opts), 'good');
    fail = true;
    await clock.advance(30_000);
    assert.equal(await cache.getValue('sie', opts), 'good');
    assert.equal(cache.stats().staleServes, 1);
    await clock.advance(41_000); // 71 s after the write: past expiry + 60 s
    await assert.rejects(cache.getValue('sie', opts), /database down/);
  });

  test("S7: in 'throw' mode, a store that goes down while refreshing serves the old value instead of StoreUnavailableError", async () => {
    const clock = new FakeClock(1_700_000_000_000);
    const store = chaosStore(createMemoryStore({ clock }));
    const cache = createCache({ store, clock, onStoreError: 'throw' });
    let runs = 0;
    const opts = {
      generator: async () => {
        if (++runs > 1) store.mode = 'fail'; // the store dies under the refresh
        return `v${runs}`;
      },
      expiresInSec: 10,
      staleIfErrorSec: 60,
    };
    assert.equal(await cache.getValue('sie-store', opts), 'v1');
    await clock.advance(20_000);
    assert.equal(await cache.getValue('sie-store', opts), 'v1');
    assert.equal(cache.stats().staleServes, 1);
    await assert.rejects(cache.getValue('sie-store', opts), StoreUnavailableError, 'the read itself throws: nothing stale to serve');
  });

  test('S7: a fresh value is served as it is, and a generator success past expiry replaces the stale one', async () => {
    const { clock, cache } = clocked();
    let runs = 0;
    const opts = { generator: async () => ++runs, expiresInSec: 10, staleIfErrorSec: 60 };
    assert.equal(await cache.getValue('sie-ok', opts), 1);
    await clock.advance(5_000);
    assert.equal(await cache.getValue('sie-ok', opts), 1);
    await clock.advance(6_000);
    assert.equal(await cache.getValue('sie-ok', opts), 2);
    assert.equal(cache.stats().staleServes, 0);
  });
});

describe('S6: early refresh (XFetch)', () => {
  test('S6: XFetch recomputes early when now − delta·beta·ln(random) ≥ expiry, in the background, serving the current value', async () => {
    const { clock, random, cache } = clocked();
    let runs = 0;
    const generator = async () => {
      runs++;
      await clock.advance(1000); // the generator takes 1 s: delta = 1000 ms
      return `v${runs}`;
    };
    const opts = { generator, expiresInSec: 10, earlyRefresh: { beta: 1 } };
    assert.equal(await cache.getValue('xf', opts), 'v1');
    // 500 ms before expiry: refresh iff -1000·ln(r) ≥ 500, i.e. r ≤ e^-0.5 ≈ 0.607.
    await clock.advance(9_500);
    random.r = 0.9;
    assert.equal(await cache.getValue('xf', opts), 'v1');
    await settled(cache);
    assert.equal(runs, 1, 'r = 0.9: not yet');
    random.r = 0.1;
    assert.equal(await cache.getValue('xf', opts), 'v1', 'the current value is served while refreshing');
    await settled(cache);
    assert.equal(runs, 2, 'r = 0.1: one early refresh');
    assert.equal(await cache.getValue('xf', opts), 'v2');
  });

  test('S6: the rule itself, and a larger beta refreshing earlier', () => {
    const entry = { exp: 10_000, delta: 1000 };
    assert.equal(xfetchDue(9_000, entry, 1, () => 0.5), false); // 9000 + 693 < 10000
    assert.equal(xfetchDue(9_000, entry, 2, () => 0.5), true); // 9000 + 1386 ≥ 10000
    assert.equal(xfetchDue(10_000, entry, 1, () => 0.999), true, 'at expiry, always');
    assert.equal(xfetchDue(0, entry, 1, () => 0), true, 'random() = 0: ln(0) = -∞, always');
  });

  test('S6: an entry computed instantly (delta 0) is not refreshed before its expiry', async () => {
    const { clock, random, cache } = clocked();
    let runs = 0;
    const opts = { generator: async () => ++runs, expiresInSec: 10, earlyRefresh: { beta: 5 } };
    await cache.getValue('xf0', opts);
    await clock.advance(9_999);
    random.r = 0.000001;
    await cache.getValue('xf0', opts);
    await settled(cache);
    assert.equal(runs, 1);
  });
});

describe('entry envelope', () => {
  test('S6, S7: the envelope round-trips expiry, delta and the value bytes; plain bytes are not an envelope', () => {
    const inner = Buffer.from([0xc1, 0x01, 0x85, 0x68, 0x65, 0x6c, 0x6c, 0x6f]);
    const e = readEntry(writeEntry(inner, 1_700_000_123_456.5, 250))!;
    assert.equal(e.exp, 1_700_000_123_456.5);
    assert.equal(e.delta, 250);
    assert.deepEqual(e.value, inner);
    assert.equal(readEntry(inner), null);
    assert.equal(readEntry(Buffer.from('42')), null);
  });

  test('S6, S7: bad stale options throw TypeError before any I/O; without an expiry the value is written plain', async () => {
    const { cache, store } = clocked();
    const g = () => 1;
    await assert.rejects(cache.getValue('x', { generator: g, staleWhileRevalidateSec: -1 }), TypeError);
    await assert.rejects(cache.getValue('x', { generator: g, staleIfErrorSec: Number.NaN }), TypeError);
    await assert.rejects(cache.getValue('x', { generator: g, earlyRefresh: { beta: 0 } }), TypeError);
    await assert.rejects(cache.getValue('x', { generator: g, earlyRefresh: null as never }), TypeError);
    await cache.getValue('forever', { generator: () => 'v', expiresInSec: null, staleWhileRevalidateSec: 10 });
    const keys: string[] = [];
    for await (const batch of store.scan('*forever*')) keys.push(...batch);
    assert.equal(readEntry((await store.get(keys[0]!))!), null);
  });
});

describe('S6, S7 on Redis with the near cache on', () => {
  test('S7, N1: entries with metadata are never kept near: stale serving, refresh and logical expiry behave as without it', async () => {
    const { startRedis } = await import('../support/redis-server.js');
    const server = await startRedis();
    // The logical expiry runs on the fake clock; Redis's own (the stale window's physical TTL) is never reached.
    const clock = new FakeClock(1_700_000_000_000);
    const cache = createCache({ store: server.url, nearCache: { maxEntries: 100 }, clock });
    try {
      let runs = 0;
      const opts = { generator: async () => `v${++runs}`, expiresInSec: 10, staleWhileRevalidateSec: 30 };
      assert.equal(await cache.getValue('near-swr', opts), 'v1');
      assert.equal(await cache.getValue('near-swr'), 'v1');
      await clock.advance(11_000);
      assert.equal(await cache.getValue('near-swr'), undefined, 'a plain read honours the logical expiry, also through the near cache');
      assert.equal(await cache.getValue('near-swr', opts), 'v1');
      await settled(cache);
      assert.equal(await cache.getValue('near-swr', opts), 'v2');
      assert.equal(await cache.getValue('near-swr'), 'v2');
      assert.equal(runs, 2);
      assert.equal(cache.stats().staleServes, 1);
    } finally {
      await cache.close();
      await server.stop();
    }
  });
});
