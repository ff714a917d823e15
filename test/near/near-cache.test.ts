/**
 * The near cache (SPEC §8, N1–N5) on a real redis-server, Frappe's client-cache tests translated:
 * store reads are counted with INFO commandstats (GET and MGET calls), invalidations are awaited
 * with a latch (nextInvalidation), never a sleep.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createCache, createRedisStore, type Cache } from '../../src/index.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { FakeClock } from '../support/fake-clock.js';
import { percentile } from '../../bench/lib.js';

let server: RedisServer;
const open: Cache[] = [];

async function reads(): Promise<number> {
  const info = await server.cli('INFO', 'commandstats');
  let n = 0;
  for (const m of info.matchAll(/^cmdstat_(get|mget):calls=(\d+)/gm)) n += Number(m[2]);
  return n;
}

/** A cache with a near cache whose tracking is up. */
async function nearCache(opts: Record<string, unknown> = {}, url = server.url): Promise<Cache> {
  const c = createCache({ store: url, nearCache: { maxEntries: 1000 }, ...opts });
  open.push(c);
  await c.exists('warm-up'); // the store connects lazily; tracking starts with it
  await c.core.near!.whenActive();
  return c;
}

function plainCache(): Cache {
  const c = createCache({ store: server.url });
  open.push(c);
  return c;
}

/** Runs `write` and resolves once `cache` received the invalidation it causes. */
async function landed(cache: Cache, write: () => Promise<unknown>): Promise<void> {
  const inv = cache.core.near!.nextInvalidation();
  await write();
  await inv;
}

before(async () => {
  server = await startRedis();
});
after(async () => {
  for (const c of open) await c.close();
  await server.stop();
});

describe('near cache (N1–N5)', () => {
  test('N1: repeated reads of an unchanged key make no store call', async () => {
    const a = await nearCache();
    await plainCache().setValue('n1:k', { rate: 120 });
    assert.deepEqual(await a.getValue('n1:k'), { rate: 120 });
    const before = await reads();
    for (let i = 0; i < 50; i++) assert.deepEqual(await a.getValue('n1:k'), { rate: 120 });
    assert.equal(await reads(), before);
    assert.equal(a.stats().near.hits, 50);
    const layers: string[] = [];
    a.on('hit', (e) => layers.push(e.layer));
    await a.getValue('n1:k');
    assert.deepEqual(layers, ['near']); // O2
    await assert.rejects(a.getValue(''), { code: 'E_KEY' }); // the fast path validates as before (K4)
  });

  test('N1: an own write is visible at once with no store read, and an own delete at once', async () => {
    const a = await nearCache();
    await a.setValue('n1:own', 'v1');
    const before = await reads();
    assert.equal(await a.getValue('n1:own'), 'v1');
    assert.equal(await reads(), before);
    await a.deleteValue('n1:own');
    assert.equal(await a.getValue('n1:own'), undefined);
  });

  test('N2: another client\'s write, once it lands, costs exactly one store read and gives the new value', async () => {
    const a = await nearCache();
    const b = plainCache();
    await b.setValue('n2:w', 1);
    assert.equal(await a.getValue('n2:w'), 1);
    await landed(a, () => b.setValue('n2:w', 2));
    const before = await reads();
    assert.equal(await a.getValue('n2:w'), 2);
    assert.equal(await a.getValue('n2:w'), 2);
    assert.equal(await reads(), before + 1);
  });

  test('N2: a key this process wrote is still tracked: another client\'s later write invalidates it', async () => {
    const a = await nearCache();
    await a.setValue('n2:own-then-other', 'mine');
    assert.equal(await a.getValue('n2:own-then-other'), 'mine');
    await landed(a, () => plainCache().setValue('n2:own-then-other', 'theirs'));
    assert.equal(await a.getValue('n2:own-then-other'), 'theirs');
  });

  test('N2: another client\'s delete, FLUSHALL and clearCache each invalidate', async () => {
    const a = await nearCache({ namespace: 'acme' });
    const b = createCache({ store: server.url, namespace: 'acme' });
    open.push(b);
    await b.setValue('n2:d', 'x');
    assert.equal(await a.getValue('n2:d'), 'x');
    await landed(a, () => b.deleteValue('n2:d'));
    assert.equal(await a.getValue('n2:d'), undefined);

    await b.setValue('n2:c', 'x');
    assert.equal(await a.getValue('n2:c'), 'x');
    await landed(a, () => b.clearCache());
    assert.equal(await a.getValue('n2:c'), undefined);

    await b.setValue('n2:f', 'x');
    assert.equal(await a.getValue('n2:f'), 'x');
    await landed(a, () => server.cli('FLUSHALL'));
    assert.equal(a.core.near!.size, 0);
    assert.equal(await a.getValue('n2:f'), undefined);
  });

  test('N2: a key expiring in the store is invalidated', async () => {
    const a = await nearCache();
    await plainCache().setValue('n2:exp', 'short', { expiresInSec: 0.05 });
    assert.equal(await a.getValue('n2:exp'), 'short');
    await a.core.near!.nextInvalidation(); // Redis' active expiry reports it
    assert.equal(await a.getValue('n2:exp'), undefined);
  });

  test('N2: own deleteKeys and clearCache drop matching kept entries at once', async () => {
    const a = await nearCache({ namespace: 'n2own' });
    await a.setValue('item_price::A', 1);
    await a.setValue('other', 2);
    await a.deleteKeys('item_price::');
    assert.equal(a.core.near!.has(a.key('item_price::A', undefined)), false);
    assert.equal(await a.getValue('other'), 2);
    await a.clearCache();
    assert.equal(a.core.near!.size, 0);
    assert.equal(await a.getValue('other'), undefined);
  });

  test('N2: a read that raced another client\'s write never caches the old value', async () => {
    const proxy = await startFaultProxy({ targetPort: server.port });
    try {
      const b = plainCache();
      await b.setValue('n2:race', 'OLD-VALUE-7f3');
      const a = await nearCache({}, proxy.url);
      proxy.holdServerToClient((chunk) => chunk.includes('OLD-VALUE-7f3'));
      const read = a.getValue('n2:race');
      await proxy.held(); // the GET ran, its reply is held back
      await landed(a, () => b.setValue('n2:race', 'NEW')); // the invalidation overtakes the reply
      proxy.release();
      assert.equal(await read, 'OLD-VALUE-7f3'); // returned to its caller...
      assert.equal(a.core.near!.size, 0); // ...but not kept
      assert.equal(await a.getValue('n2:race'), 'NEW');
    } finally {
      proxy.release();
      await proxy.close();
    }
  });

  test('N2: every one of 100 writes by another client is invalidated here', async (t) => {
    const a = await nearCache();
    const b = plainCache();
    const lags: number[] = [];
    for (let i = 0; i < 100; i++) {
      await b.setValue('n2:lag', i);
      assert.equal(await a.getValue('n2:lag'), i);
      const inv = a.core.near!.nextInvalidation();
      const t0 = performance.now();
      await b.setValue('n2:lag', i + 1);
      // Real time: the invalidation comes from the server over a real connection.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        inv,
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`write ${i + 1}: no invalidation within 2 s`)), 2000))),
      ]).finally(() => clearTimeout(timer));
      lags.push(performance.now() - t0);
      assert.equal(await a.getValue('n2:lag'), i + 1);
    }
    // The 100 ms p99 of N2 is a benchmark figure (bench/near-cache.ts), not asserted on shared CI.
    t.diagnostic(`invalidation lag p50 ${percentile(lags, 50).toFixed(2)} ms, p99 ${percentile(lags, 99).toFixed(2)} ms`);
  });

  test('N3: invalidation connection killed → emptied and bypassed, then back once tracking is', async () => {
    const a = await nearCache();
    await a.setValue('n3:k', 'v');
    assert.equal(a.core.near!.size, 1);
    await server.cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
    // The kill is seen when the connection closes: wait for the near cache to go inactive.
    while (a.core.near!.active) await new Promise((r) => setImmediate(r));
    assert.equal(a.core.near!.size, 0);
    const before = await reads();
    assert.equal(await a.getValue('n3:k'), 'v');
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the near cache may have reconnected during the awaits above
    if (!a.core.near!.active) {
      assert.equal(await a.getValue('n3:k'), 'v');
      assert.ok((await reads()) >= before + 1);
    }
    await a.core.near!.whenActive();
    assert.equal(await a.getValue('n3:k'), 'v');
    const r = await reads();
    assert.equal(await a.getValue('n3:k'), 'v');
    assert.equal(await reads(), r);
  });

  test('N3: redis-server restarted → emptied, and coherent again after it is back', async () => {
    const own = await startRedis();
    try {
      const a = createCache({ store: own.url, nearCache: { maxEntries: 100 }, commandTimeoutMs: 300 });
      open.push(a);
      await a.setValue('n3:r', 'before');
      await a.core.near!.whenActive();
      await a.setValue('n3:r', 'before');
      assert.equal(a.core.near!.size, 1);
      await own.restart();
      while (a.core.near!.active) await new Promise((r) => setImmediate(r));
      assert.equal(a.core.near!.size, 0);
      await a.core.near!.whenActive();
      assert.equal(await a.getValue('n3:r'), undefined); // the restart lost the data (no persistence)
      await own.cli('SET', 'x', 'y'); // other clients keep working
      const b = createCache({ store: own.url });
      open.push(b);
      await b.setValue('n3:r', 'after');
      assert.equal(await a.getValue('n3:r'), 'after');
      await landed(a, () => b.setValue('n3:r', 'later'));
      assert.equal(await a.getValue('n3:r'), 'later');
    } finally {
      await own.stop();
    }
  });

  test('N4: ttlSec caps how long an entry is trusted (fake clock)', async () => {
    // The near copy's expiry runs on the cache's clock; the value in Redis has no TTL to reach.
    const clock = new FakeClock();
    const a = await nearCache({ nearCache: { maxEntries: 100, ttlSec: 10 }, clock });
    await plainCache().setValue('n4:ttl', 'v');
    assert.equal(await a.getValue('n4:ttl'), 'v');
    const r0 = await reads();
    await clock.advance(9_999);
    assert.equal(await a.getValue('n4:ttl'), 'v');
    assert.equal(await reads(), r0);
    await clock.advance(2);
    assert.equal(await a.getValue('n4:ttl'), 'v');
    assert.equal(await reads(), r0 + 1);
  });

  test('N4: maxEntries and maxBytes are hard bounds', async () => {
    const a = await nearCache({ nearCache: { maxEntries: 10 } });
    const b = plainCache();
    await b.setMany(Array.from({ length: 40 }, (_, i) => [`n4:e${i}`, 'x'.repeat(100)] as [string, unknown]));
    for (let i = 0; i < 40; i++) {
      await a.getValue(`n4:e${i}`);
      assert.ok(a.core.near!.size <= 10);
    }
    assert.equal(a.core.near!.size, 10);
    // Each entry counts its value's heap, its key and about 240 B of bookkeeping: ~400 B here.
    const c = await nearCache({ nearCache: { maxEntries: 1000, maxBytes: 4000 } });
    for (let i = 0; i < 40; i++) {
      await c.getValue(`n4:e${i}`);
      assert.ok(c.core.near!.bytes <= 4000);
    }
    assert.ok(c.core.near!.size > 5 && c.core.near!.size < 40);
  });

  test('N4: eviction keeps recently read entries (second chance)', async () => {
    const a = await nearCache({ nearCache: { maxEntries: 4 } });
    const b = plainCache();
    await b.setMany(Array.from({ length: 8 }, (_, i) => [`n4:l${i}`, i] as [string, unknown]));
    for (let i = 0; i < 4; i++) await a.getValue(`n4:l${i}`);
    await a.getValue('n4:l0'); // hot
    await a.getValue('n4:l4'); // evicts one cold entry, not l0
    assert.equal(a.core.near!.has(a.key('n4:l0', undefined)), true);
  });

  test('N5: values from the near cache cannot be changed by callers', async () => {
    'use strict';
    const a = await nearCache();
    await plainCache().setValue('n5:obj', { items: [{ qty: 1 }], when: new Date(0), tags: new Set(['a']) });
    await plainCache().setValue('n5:plain', { items: [{ qty: 1 }] });
    await a.getValue('n5:plain');
    const p = (await a.getValue<{ items: Array<{ qty: number }> }>('n5:plain'))!;
    assert.throws(() => {
      p.items[0]!.qty = 2;
    }, TypeError);
    await a.getValue('n5:obj');
    const o = (await a.getValue<{ when: Date; tags: Set<string> }>('n5:obj'))!;
    o.when.setTime(5);
    o.tags.add('b');
    const again = (await a.getValue<{ when: Date; tags: Set<string> }>('n5:obj'))!;
    assert.equal(again.when.getTime(), 0);
    assert.deepEqual([...again.tags], ['a']);
  });

  test('N1: getMany serves kept keys from memory and reads only the others', async () => {
    const a = await nearCache();
    const b = plainCache();
    await b.setMany([['gm:a', 1], ['gm:b', 2]]);
    assert.deepEqual(await a.getMany(['gm:a', 'gm:b', 'gm:c']), [1, 2, undefined]);
    const r = await reads();
    assert.deepEqual(await a.getMany(['gm:a', 'gm:b']), [1, 2]);
    assert.equal(await reads(), r);
    await landed(a, () => b.setValue('gm:b', 3));
    assert.deepEqual(await a.getMany(['gm:a', 'gm:b']), [1, 3]);
    assert.equal(await reads(), r + 1);
  });

  test('N1, N2: shared keys are kept and invalidated across namespaces', async () => {
    const a = await nearCache({ namespace: 'one' });
    const b = createCache({ store: server.url, namespace: 'two' });
    open.push(b);
    await b.setValue('rates', { eur: 1 }, { shared: true });
    assert.deepEqual(await a.getValue('rates', { shared: true }), { eur: 1 });
    const r = await reads();
    assert.deepEqual(await a.getValue('rates', { shared: true }), { eur: 1 });
    assert.equal(await reads(), r);
    await landed(a, () => b.setValue('rates', { eur: 2 }, { shared: true }));
    assert.deepEqual(await a.getValue('rates', { shared: true }), { eur: 2 });
  });

  test('N1: peek answers synchronously from the near cache only, and namespaces stay apart (K1)', async () => {
    const a = await nearCache({ namespace: 'pk1' });
    const other = a.forNamespace('pk2');
    await a.setValue('p', 'one');
    await other.setValue('p', 'two');
    assert.equal(a.peek('p'), 'one');
    assert.equal(other.peek('p'), 'two');
    assert.equal(await a.getValue('p'), 'one');
    assert.equal(await other.getValue('p'), 'two');
    assert.equal(await a.runInContext({ namespace: 'pk2' }, () => a.getValue('p')), 'two'); // the context's namespace
    assert.equal(await a.runInContext({ namespace: 'pk1' }, () => other.getValue('p')), 'two'); // the view's wins
    assert.equal(a.peek('never-read'), undefined);
    await landed(a, () => plainCache().forNamespace('pk1').setValue('p', 'changed'));
    assert.equal(a.peek('p'), undefined);
  });

  test('N3: a server that refuses client tracking (ACL) leaves the near cache bypassed, reported once', async () => {
    await server.cli('ACL', 'SETUSER', 'notrack', 'on', '>pw', '~*', '&*', '+@all', '-client');
    const c = createCache({ store: `redis://notrack:pw@127.0.0.1:${server.port}`, nearCache: { maxEntries: 10 } });
    open.push(c);
    const errors: Error[] = [];
    const refused = new Promise<void>((resolve) =>
      c.on('error', (e) => {
        errors.push(e);
        if (e.message.includes('refused client tracking')) resolve();
      }),
    );
    await c.setValue('acl:k', 1);
    await refused;
    assert.equal(c.core.near!.active, false);
    const r = await reads();
    assert.equal(await c.getValue('acl:k'), 1);
    assert.equal(await c.getValue('acl:k'), 1);
    assert.equal(await reads(), r + 2);
    assert.equal(errors.filter((e) => e.message.includes('refused client tracking')).length, 1);
  });

  test('N1: a cache given an existing ioredis client keeps a near cache on its own duplicate', async () => {
    const client = new Redis(server.port, server.host, { lazyConnect: true });
    const c = createCache({ store: client, nearCache: { maxEntries: 100 } });
    open.push(c);
    await c.setValue('n1:client', { v: 1 });
    await c.core.near!.whenActive();
    await c.getValue('n1:client');
    const before = await reads();
    assert.deepEqual(await c.getValue('n1:client'), { v: 1 });
    assert.equal(await reads(), before);
    assert.equal(client.status, 'wait', 'the caller\'s client is left alone');
  });

  test('O2: remote invalidations are reported as invalidate events with the logical key and namespace', async () => {
    const a = await nearCache({ namespace: 'o2-site' });
    const b = createCache({ store: server.url, namespace: 'o2-site' });
    open.push(b);
    const seen: unknown[] = [];
    a.on('invalidate', (e) => seen.push(e));
    await b.setValue('o2:k|*{x}', 1);
    await a.getValue('o2:k|*{x}');
    await landed(a, () => b.setValue('o2:k|*{x}', 2));
    assert.deepEqual(seen, [{ keys: ['o2:k|*{x}'], namespace: 'o2-site', reason: 'remote' }]);
    await landed(a, () => server.cli('FLUSHALL'));
    assert.deepEqual(seen[1], { pattern: '*', namespace: null, reason: 'remote' });
  });

  test('a store passed in as an object gets no near cache, and a process warning says so', async () => {
    const warned = new Promise<Error>((resolve) => {
      const on = (w: Error & { code?: string }) => {
        if (w.code !== 'LARDER_NEAR_CACHE_OFF') return;
        process.off('warning', on);
        resolve(w);
      };
      process.on('warning', on);
    });
    const store = createRedisStore(server.url);
    const c = createCache({ store, nearCache: { maxEntries: 10 } });
    assert.equal(c.core.near, null);
    assert.match((await warned).message, /nearCache is ignored/);
    await c.close();
    await store.close();
  });

  test('on the embedded store the near cache is a no-op, not a second copy', async () => {
    const m = createCache({ store: 'memory', nearCache: { maxEntries: 10 } });
    assert.equal(m.core.near, null);
    await m.setValue('k', 1);
    assert.equal(await m.getValue('k'), 1);
    await m.close();
  });
});
