// The watchdog (LK4) against a real redis-server that is killed and restarted, and what a restart
// does to fencing counters with and without persistence (LK3).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCache, LockLostError, LockNotOwnedError, StoreUnavailableError, type Cache, type Lock } from '../../src/index.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

// Real time: a real redis-server is restarted under a held lock, and Redis expires the lease on its clock.
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retries `fn` while the store is still coming back (calls fail fast during a reconnect). */
async function whenBack<T>(fn: () => Promise<T>, ms = 5000): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof StoreUnavailableError) || performance.now() > deadline) throw err;
      await sleep(50);
    }
  }
}

const servers: RedisServer[] = [];
const caches: Cache[] = [];
let keepAlive: NodeJS.Timeout;
before(() => {
  keepAlive = setInterval(() => {}, 1000);
});
after(async () => {
  clearInterval(keepAlive);
  await Promise.all(caches.map((c) => c.close()));
  await Promise.all(servers.map((s) => s.stop()));
});

async function setup(args: string[] = []): Promise<[RedisServer, Cache]> {
  const server = await startRedis({ args });
  servers.push(server);
  const cache = createCache({ store: server.url, commandTimeoutMs: 500 });
  caches.push(cache);
  return [server, cache];
}

test('LK4: a 1 s lease held for 3 s stays held; after a Redis restart (state lost) the signal aborts, release() throws LockNotOwnedError, and a new lock works', async () => {
  const [server, cache] = await setup();
  const other = createCache({ store: server.url });
  caches.push(other);
  const lock = await cache.lock('watched', { ttlMs: 1000 });
  await sleep(3000);
  assert.ok(lock.held && !lock.signal.aborted);
  assert.equal(await other.tryLock('watched'), null, 'still held after three leases');
  const ttl = await cache.core.store.ttl(cache.key('watched', undefined, 'L'));
  assert.ok(typeof ttl === 'number' && ttl > 0 && ttl <= 1000, `PTTL ${ttl}`);

  await server.restart(); // SIGKILL and start again: no persistence, the lock is gone
  const reason = await new Promise<unknown>((resolve) => {
    if (lock.signal.aborted) resolve(lock.signal.reason);
    lock.signal.addEventListener('abort', () => resolve(lock.signal.reason));
  });
  assert.ok(reason instanceof LockLostError, String(reason));
  await assert.rejects(whenBack(() => lock.release()), LockNotOwnedError);
  const next: Lock = await whenBack(() => other.lock('watched', { waitMs: 0 }));
  assert.ok(next.held);
  await next.release();
});

test('LK3 limit: a Redis restarted without persistence starts the fencing counter again', async () => {
  const [server, cache] = await setup();
  for (let i = 0; i < 3; i++) await (await cache.lock('fc')).release();
  await server.restart();
  const after = await whenBack(() => cache.lock('fc'));
  // This is why production locks need AOF (next test) or a counter seeded above any past value.
  assert.equal(after.fencingToken, 1);
  await after.release();
});

test('LK3: with AOF (appendfsync always) the fencing counter survives a Redis restart', async () => {
  const [server, cache] = await setup(['--appendonly', 'yes', '--appendfsync', 'always']);
  let last = 0;
  for (let i = 0; i < 3; i++) {
    const l = await cache.lock('fc');
    last = l.fencingToken;
    await l.release();
  }
  await server.restart();
  const after = await whenBack(() => cache.lock('fc'));
  assert.ok(after.fencingToken > last, `${after.fencingToken} after ${last}`);
  await after.release();
});

test('LK7: with the Redis server down, lock() fails with StoreUnavailableError and the failure is counted and emitted', async () => {
  const [server, cache] = await setup();
  await (await cache.lock('down')).release(); // connected
  const errors: Error[] = [];
  cache.on('error', (e) => errors.push(e));
  await server.kill();
  try {
    await assert.rejects(cache.lock('down', { waitMs: 0 }), StoreUnavailableError);
    await assert.rejects(cache.lock('down', { waitMs: 500 }), StoreUnavailableError);
    assert.ok(errors.length >= 2);
    assert.ok((cache.stats().errors.E_STORE_UNAVAILABLE ?? 0) >= 2);
  } finally {
    await server.restart();
  }
  const l = await whenBack(() => cache.lock('down'));
  await l.release();
  await cache.close();
  await assert.rejects(cache.lock('down'), (e: unknown) => (e as { code?: string }).code === 'E_CLOSED');
});
