// SPEC §13, A1-A4, on real servers (a redis-server the test starts, a port nobody listens on).
// Waits here are real: sockets, refused dials and a server's AUTH and SELECT replies.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ClosedError,
  createCache,
  createMemoryStore,
  LarderError,
  StoreError,
  StoreTimeoutError,
  StoreUnavailableError,
} from '../../src/index.js';
import { freePort, startRedis, type RedisServer } from '../support/redis-server.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
let server: RedisServer;
let secured: RedisServer;

before(async () => {
  [server, secured] = await Promise.all([startRedis(), startRedis()]);
  await secured.cli('CONFIG', 'SET', 'requirepass', 'right');
});
after(async () => {
  await Promise.all([server.stop(), secured.stop()]);
});

/** Warnings emitted while `fn` runs (process.emitWarning is delivered on the next tick). */
async function warningsDuring(fn: () => Promise<void>): Promise<Error[]> {
  const seen: Error[] = [];
  const onWarning = (w: Error) => seen.push(w);
  process.on('warning', onWarning);
  try {
    await fn();
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off('warning', onWarning);
  }
  return seen.filter((w) => (w as { code?: string }).code === 'LARDER_STORE_UNAVAILABLE');
}

describe('A1: ping() and health()', () => {
  test('on Redis: ping answers a round trip in ms; health says up, closed, the endpoint without the password', async () => {
    const cache = createCache({ store: `redis://:pw-not-shown@127.0.0.1:${server.port}`.replace(':pw-not-shown@', '') });
    assert.equal(cache.health().store, 'unknown', 'before any call');
    const ms = await cache.ping();
    assert.ok(typeof ms === 'number' && ms >= 0, String(ms));
    assert.deepEqual(cache.health(), { store: 'up', breaker: 'closed', nearCache: 'off', pendingInvalidations: 0, endpoint: `127.0.0.1:${server.port}` });
    await cache.close();
  });

  test('the endpoint never shows the password', async () => {
    const cache = createCache({ store: `redis://:right@127.0.0.1:${secured.port}/0` });
    await cache.ping();
    assert.equal(cache.health().endpoint, `127.0.0.1:${secured.port}`);
    assert.ok(!JSON.stringify(cache.health()).includes('right'));
    await cache.close();
  });

  test('a dead store: ping throws StoreUnavailableError or StoreTimeoutError even in degrade mode; health says down', async () => {
    const port = await freePort();
    const cache = createCache({ store: `redis://127.0.0.1:${port}`, commandTimeoutMs: 300 });
    cache.on('error', () => {});
    await assert.rejects(cache.ping(), (e: unknown) => e instanceof StoreUnavailableError || e instanceof StoreTimeoutError);
    const h = cache.health();
    assert.equal(h.store, 'down');
    assert.equal(h.endpoint, `127.0.0.1:${port}`);
    await cache.close();
    await assert.rejects(cache.ping(), ClosedError);
  });

  test('the embedded store: ping resolves, health is up with the in-process endpoint', async () => {
    const cache = createCache({ store: createMemoryStore() });
    assert.ok((await cache.ping()) >= 0);
    assert.equal(cache.health().store, 'up');
    await cache.close();
  });
});

describe('A2: an unreachable store is never silent', () => {
  test('no error listener: one process warning for the outage, naming host:port; an error listener silences it', async () => {
    const port = await freePort();
    const cache = createCache({ store: `redis://127.0.0.1:${port}`, commandTimeoutMs: 300 });
    const warnings = await warningsDuring(async () => {
      for (let i = 0; i < 5; i++) await cache.getValue(`k${i}`);
    });
    assert.equal(warnings.length, 1, warnings.map((w) => w.message).join('\n'));
    assert.match(warnings[0]!.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    await cache.close();

    const heard = createCache({ store: `redis://127.0.0.1:${port}`, commandTimeoutMs: 300 });
    const errors: LarderError[] = [];
    heard.on('error', (e) => errors.push(e));
    const none = await warningsDuring(async () => {
      await heard.getValue('k');
    });
    assert.equal(none.length, 0);
    assert.ok(errors.length > 0 && errors.every((e) => e instanceof LarderError));
    assert.ok(errors.some((e) => e.message.includes(`127.0.0.1:${port}`)), errors.map((e) => e.message).join('\n'));
    await heard.close();
  });
});

describe('A3: refused databases, passwords and TLS say so', () => {
  test('a database the server refuses (/99) fails with a StoreError naming it, in both modes, and nothing lands in database 0', async () => {
    for (const onStoreError of ['throw', 'degrade'] as const) {
      const cache = createCache({ store: `${server.url}/99`, onStoreError });
      cache.on('error', () => {});
      await assert.rejects(cache.setValue('k', 1), (e: unknown) => e instanceof StoreError && e.message.includes('database'));
      await assert.rejects(cache.getValue('k'), StoreError);
      await cache.close();
    }
    assert.equal((await server.cli('DBSIZE')).trim(), '0', 'database 0 untouched');
  });

  test('a wrong password: the server’s refusal is the cause of what is thrown, and the message says so', async () => {
    const cache = createCache({ store: `redis://:wrong@127.0.0.1:${secured.port}`, onStoreError: 'throw', commandTimeoutMs: 500 });
    cache.on('error', () => {});
    let last: unknown;
    for (let i = 0; i < 3; i++) {
      try {
        await cache.setValue('k', 1);
      } catch (err) {
        last = err;
      }
    }
    assert.ok(last instanceof StoreUnavailableError, String(last));
    assert.match(last.message, /refused the credentials/);
    assert.match(String((last.cause as Error | undefined)?.message), /WRONGPASS|invalid/i);
    assert.ok(!last.message.includes('wrong'), 'no password in the message');
    await cache.close();
  });

  test('TLS against a plain port: the failure hints at redis:// instead of rediss://', async () => {
    const cache = createCache({ store: `rediss://127.0.0.1:${server.port}`, onStoreError: 'throw', commandTimeoutMs: 300 });
    cache.on('error', () => {});
    await assert.rejects(cache.setValue('k', 1), (e: unknown) => e instanceof LarderError && e.message.includes('plain TCP, use redis://'));
    await cache.close();
  });
});

describe('A4: close()', () => {
  for (const kind of ['memory', 'redis'] as const) {
    test(`${kind}: close() releases held locks, read/write locks and permits at once, and aborts their signals`, async () => {
      const store = kind === 'memory' ? createMemoryStore() : server.url;
      const holder = createCache({ store, namespace: 'a4' });
      const lock = await holder.lock('payroll', { ttlMs: 30_000 });
      const write = await holder.readWriteLock('catalog').write({ ttlMs: 30_000 });
      const permit = await holder.semaphore('exports', { permits: 1 }).acquire({ ttlMs: 30_000 });
      await holder.close();
      assert.ok(lock.signal.aborted && write.signal.aborted && permit.signal.aborted);
      const next = createCache({ store, namespace: 'a4' });
      const again = await next.tryLock('payroll');
      assert.ok(again !== null, 'the lock is free at once, not after its 30 s lease');
      const w = await next.readWriteLock('catalog').write({ waitMs: 0 });
      const p = await next.semaphore('exports', { permits: 1 }).tryAcquire();
      assert.ok(p !== null, 'the permit came back');
      await Promise.all([again.release(), w.release(), p.release()]);
      await next.close();
      if (typeof store !== 'string') await store.close();
    });

    test(`${kind}: calls in flight when close() is called reject with ClosedError`, async () => {
      const store = kind === 'memory' ? createMemoryStore() : server.url;
      const cache = createCache({ store });
      await cache.setValue('k', 1);
      // (A read the embedded store answers on the spot, a known key's, has its answer before
      // close() is called: it keeps it. These reach the store after close() began.)
      const calls = [cache.getValue('missing'), cache.getMany(['k', 'missing']), cache.hgetall('h'), cache.getValue('g', { generator: () => 2 })];
      const closing = cache.close();
      await Promise.all(calls.map((c) => assert.rejects(c, ClosedError)));
      await closing;
      if (typeof store !== 'string') await store.close();
    });
  }

  test('close() with the store down leaves no timer behind (the process can exit at once)', async () => {
    const port = await freePort();
    const script = `
      import { createCache } from './src/index.js';
      const cache = createCache({ store: 'redis://127.0.0.1:${port}', commandTimeoutMs: 200 });
      cache.on('error', () => {});
      await cache.getValue('k'); await cache.setValue('k', 1); await cache.lock('x', { waitMs: 0 }).catch(() => {});
      await cache.close();
      await new Promise((r) => setTimeout(r, 0));
      console.log(JSON.stringify(process.getActiveResourcesInfo().filter((r) => r === 'Timeout')));`;
    const r = spawnSync(process.execPath, ['--conditions=larder-source', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').pop(), '[]');
  });
});

describe("nearCacheStats(): Frappe's client-cache statistics", () => {
  test('capacity, used, utilization, hit ratio and healthy, on Redis with a near cache', async () => {
    const cache = createCache({ store: server.url, namespace: 'near-stats', nearCache: { maxEntries: 10 } });
    await cache.exists('warm-up');
    await cache.core.near!.whenActive();
    await cache.setValue('a', 1);
    await cache.getValue('a');
    await cache.getValue('a');
    await cache.getValue('missing');
    const s = cache.nearCacheStats();
    assert.ok(s !== null);
    assert.equal(s.capacity, 10);
    assert.equal(s.used, 1);
    assert.equal(s.utilization, 0.1);
    assert.equal(s.hits, 2);
    assert.equal(s.misses, 1);
    assert.equal(s.hitRatio, 2 / 3);
    assert.equal(s.healthy, true);
    assert.equal(cache.health().nearCache, 'active');
    cache.resetStats();
    assert.equal(cache.nearCacheStats()?.hits, 0);
    await cache.close();
  });
});
