/**
 * Z4, F2: a Redis that refuses writes (`maxmemory` reached under `noeviction`, Redis's default
 * policy) degrades as an unavailable one does in 'degrade' mode: generator reads serve the computed
 * value, memoised calls and documents answer, writes are dropped, clearCache deletes what it can
 * and resolves; every refusal is counted and emitted with a code. F5: incr still fails (never
 * faked), and 'throw' mode throws. A real redis-server started with --maxmemory 2mb.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createCache, StoreUnavailableError, type Cache } from '../../src/index.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

let server: RedisServer;
const open: Cache[] = [];

/** Fills the server until it refuses even a small write (used memory stays over the limit). */
async function fill(): Promise<void> {
  const raw = new Redis(server.port);
  try {
    for (const size of [64 * 1024, 4096, 256, 16, 1]) {
      const blob = Buffer.alloc(size, 1);
      for (;;) {
        try {
          await raw.set(`filler:${size}:${Math.random()}`, blob);
        } catch (err) {
          if (String(err).includes('OOM')) break;
          throw err;
        }
      }
    }
  } finally {
    raw.disconnect();
  }
}

before(async () => {
  server = await startRedis({ args: ['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction'] });
});
after(async () => {
  for (const c of open) await c.close();
  await server.stop();
});

function make(opts: Record<string, unknown> = {}): { cache: Cache; errors: Error[] } {
  const cache = createCache({ store: server.url, namespace: 'full', ...opts });
  open.push(cache);
  const errors: Error[] = [];
  cache.on('error', (e) => errors.push(e));
  return { cache, errors };
}

test('Z4: with Redis full, degrade mode serves generators, memoised calls and documents, drops writes', async () => {
  const { cache, errors } = make();
  // Some entries written before the server filled up: reads of them still work.
  await cache.setValue('before', 'kept');
  await cache.hset('h-before', 'f', 1);
  let loads = 0;
  const docs = cache.documents({
    load: (doctype, name) => {
      loads++;
      return { doctype, name, loads };
    },
  });
  assert.equal((await docs.getCachedDoc('Item', 'cached')).loads, 1);
  await fill();

  assert.equal(await cache.getValue('before'), 'kept', 'reads still work');
  assert.equal(await cache.getValue('g', { generator: () => 'computed' }), 'computed');
  assert.equal(await cache.hget('h', 'f', { generator: () => 'field' }), 'field');
  let runs = 0;
  const price = cache.memoize(async (code: string) => `${code}:${++runs}`, { name: 'price' });
  assert.equal(await price('A'), 'A:1');
  assert.equal((await docs.getCachedDoc('Item', 'X')).name, 'X');
  assert.equal((await docs.getCachedDoc('Item', 'cached')).loads, 1, 'cached before the server filled up');
  // An invalidation is never lost to a full store: the doc goes even if its version bump cannot.
  await docs.clearDocumentCache('Item', 'cached');
  assert.equal((await docs.getCachedDoc('Item', 'cached')).loads, 3, 'reloaded, not served stale');

  // Writes are dropped (F2), never thrown in degrade mode.
  await cache.setValue('w', 1);
  await cache.setMany([['w1', 1], ['w2', 2]]);
  await cache.hset('h2', 'f', 1);
  await cache.rpush('l', 1);
  await cache.sadd('s', 1);
  await docs.clearDocumentCache('Item', 'X');
  await docs.clearDocumentCache('Item');
  // clearCache deletes (Redis allows deletes when full) and resolves.
  assert.ok((await cache.clearCache()) >= 1);
  assert.equal(await cache.getValue('before'), undefined, 'deleted');

  // F5: a counter is never faked.
  await assert.rejects(cache.incr('n'), StoreUnavailableError);

  assert.ok(errors.length > 0, 'every refusal is emitted');
  for (const e of errors) assert.equal((e as { code?: string }).code, 'E_STORE_FULL', String(e));
  assert.ok((cache.stats().errors.E_STORE_FULL ?? 0) >= errors.length - 1);
  assert.equal(cache.core.guard.breakerState, 'closed', 'a full store still answers: the breaker stays closed');
});

test("Z4: with onStoreError: 'throw', a refused write throws StoreUnavailableError (code E_STORE_FULL)", async () => {
  const { cache } = make({ onStoreError: 'throw' });
  await fill();
  await assert.rejects(cache.setValue('t', 1), (e: unknown) => e instanceof StoreUnavailableError && (e as { code: string }).code === 'E_STORE_FULL');
  await assert.rejects(cache.getValue('t2', { generator: () => 1 }), StoreUnavailableError);
});
