// The lock family's core rules, written once and run unchanged against every store configuration:
// the embedded store (LK9) and a real redis-server (core.test.ts), a Redis Cluster (cluster.test.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCache, LarderError, LockLostError, LockNotOwnedError, LockTimeoutError, StoreUnavailableError, type Cache } from '../../src/index.js';
import type { Store } from '../../src/stores/store.js';
import { chaosStore } from '../support/chaos-store.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Config {
  name: string;
  setup(): Promise<void>;
  makeStore(): Store;
  teardown(): Promise<void>;
}

export function lockSuite(cfg: Config) {
  describe(`locks on ${cfg.name}`, () => {
    let store: Store;
    let cache: Cache;
    let n = 0;
    /** A fresh lock name per test, so tests never see each other's state. */
    const fresh = (what: string) => `${what}-${++n}-${Math.random().toString(36).slice(2, 8)}`;
    // Lock timers are unref'd (a held lock must not keep a process alive); this keeps the test alive.
    let keepAlive: NodeJS.Timeout;
    before(async () => {
      keepAlive = setInterval(() => {}, 1000);
      await cfg.setup();
      store = cfg.makeStore();
      cache = createCache({ store });
    });
    after(async () => {
      await cache.close();
      await cfg.teardown();
      clearInterval(keepAlive);
    });

    test('LK1: 20 concurrent contenders × 25 acquisitions: no overlap, exact read-modify-write count', async () => {
      const name = fresh('lk1');
      let inside = 0;
      let overlaps = 0;
      let counter = 0;
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          for (let i = 0; i < 25; i++) {
            await cache.withLock(name, async () => {
              if (++inside !== 1) overlaps++;
              const seen = counter;
              await sleep(0);
              counter = seen + 1;
              inside--;
            }, { ttlMs: 5000, waitMs: 20_000 });
          }
        }),
      );
      assert.equal(overlaps, 0);
      assert.equal(counter, 500);
    });

    test('LK2: the lease is set in the same step as the acquire', async () => {
      const name = fresh('lk2');
      const lock = await cache.lock(name, { ttlMs: 2000, autoExtend: false });
      const ttl = await store.ttl(cache.key(name, undefined, 'L'));
      assert.ok(typeof ttl === 'number' && ttl > 1500 && ttl <= 2000, `ttl ${ttl}`);
      await lock.release();
    });

    test('LK2: releasing a lock no longer owned throws LockNotOwnedError and leaves the new holder\'s lock intact', async () => {
      const name = fresh('lk2');
      const old = await cache.lock(name, { ttlMs: 100, autoExtend: false });
      await sleep(150);
      const current = await cache.lock(name, { ttlMs: 5000, waitMs: 0 });
      await assert.rejects(old.release(), (e: unknown) => e instanceof LockNotOwnedError && e.code === 'E_LOCK_NOT_OWNED' && e.lockName === name);
      assert.equal(await cache.tryLock(name), null, 'the new holder still holds it');
      assert.ok(current.held);
      await current.release();
      assert.notEqual(await cache.tryLock(name, { autoExtend: false }), null);
    });

    test('LK2: a second release() is a no-op, and the token belongs to the handle, not the name', async () => {
      const name = fresh('lk2');
      const a = await cache.lock(name, { ttlMs: 5000 });
      await a.release();
      await a.release();
      const b = await cache.lock(name, { ttlMs: 5000, waitMs: 0 });
      await a.release(); // still a no-op: must not release b's lock
      assert.equal(await cache.tryLock(name), null);
      await b.release();
      await assert.rejects(a.extend(1000), LockNotOwnedError);
    });

    test('LK3: fencing tokens strictly increase over lock, tryLock, withLock and the write side, across client restarts', async () => {
      const name = fresh('lk3');
      const seen: number[] = [];
      for (let i = 0; i < 3; i++) {
        const l = await cache.lock(name);
        seen.push(l.fencingToken);
        await l.release();
      }
      const t = (await cache.tryLock(name))!;
      seen.push(t.fencingToken);
      await t.release();
      seen.push(await cache.withLock(name, (l) => l.fencingToken));
      // A new client (as after a process restart) on the same store continues the sequence.
      const other = createCache({ store });
      const l2 = await other.lock(name);
      seen.push(l2.fencingToken);
      await l2.release();
      await other.close();
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `tokens ${seen.join(',')}`);
      const rw = cache.readWriteLock(name);
      const w1 = await rw.write();
      await w1.release();
      const w2 = await rw.write();
      await w2.release();
      assert.ok(w2.fencingToken > w1.fencingToken);
      const r = await rw.read();
      assert.equal(r.fencingToken, w2.fencingToken, 'a read lock carries the last write grant');
      await r.release();
    });

    test('LK4: autoExtend keeps a 300 ms lease held for 1 s', async () => {
      const name = fresh('lk4');
      const lock = await cache.lock(name, { ttlMs: 300 });
      await sleep(1000);
      assert.ok(lock.held);
      assert.ok(!lock.signal.aborted);
      assert.equal(await cache.tryLock(name), null);
      await lock.release();
    });

    test('LK4: when renewal is refused, lock.signal aborts with LockLostError and renewal stops', async () => {
      const name = fresh('lk4');
      const lock = await cache.lock(name, { ttlMs: 300 });
      await store.delete([cache.key(name, undefined, 'L')]); // as if the lease had run out
      const other = await cache.lock(name, { ttlMs: 5000, waitMs: 0 });
      const reason = await new Promise((resolve) => lock.signal.addEventListener('abort', () => resolve(lock.signal.reason)));
      assert.ok(reason instanceof LockLostError && reason.code === 'E_LOCK_LOST');
      assert.ok(!lock.held);
      await sleep(250);
      assert.equal(await cache.tryLock(name), null, 'the lost holder did not renew over the new one');
      await assert.rejects(lock.release(), LockNotOwnedError);
      await other.release();
    });

    test('LK4: without autoExtend the lease runs out, the signal says so, and another process may take the lock', async () => {
      const name = fresh('lk4');
      const lock = await cache.lock(name, { ttlMs: 150, autoExtend: false });
      await new Promise((resolve) => lock.signal.addEventListener('abort', resolve));
      assert.ok(lock.signal.reason instanceof LockLostError);
      const next = await cache.lock(name, { waitMs: 1000 });
      assert.ok(next.fencingToken > lock.fencingToken);
      await next.release();
    });

    test('LK4: extend(ms) sets the lease to ms from now', async () => {
      const name = fresh('lk4');
      const lock = await cache.lock(name, { ttlMs: 200, autoExtend: false });
      await lock.extend(3000);
      await sleep(300);
      assert.ok(lock.held);
      const ttl = await store.ttl(cache.key(name, undefined, 'L'));
      assert.ok(typeof ttl === 'number' && ttl > 2000, `ttl ${ttl}`);
      await lock.release();
    });

    test('LK5: waitMs 0 tries once, and past waitMs comes LockTimeoutError naming the lock', async () => {
      const name = fresh('lk5');
      const held = await cache.lock(name);
      let t0 = performance.now();
      await assert.rejects(cache.lock(name, { waitMs: 0 }), (e: unknown) => e instanceof LockTimeoutError && e.lockName === name && e.message.includes(name));
      assert.ok(performance.now() - t0 < 100);
      t0 = performance.now();
      const before = cache.stats().locks.timeouts;
      await assert.rejects(cache.lock(name, { waitMs: 200 }), (e: unknown) => e instanceof LockTimeoutError && e.code === 'E_LOCK_TIMEOUT');
      const took = performance.now() - t0;
      assert.ok(took >= 195 && took < 600, `took ${took}`);
      assert.equal(cache.stats().locks.timeouts, before + 1);
      await held.release();
    });

    test('LK5: signal aborts a wait with E_ABORTED and the reason as cause; no lock is left behind', async () => {
      const name = fresh('lk5');
      const held = await cache.lock(name);
      const ac = new AbortController();
      const p = cache.lock(name, { waitMs: 10_000, signal: ac.signal });
      await sleep(30);
      const reason = new Error('user went away');
      ac.abort(reason);
      await assert.rejects(p, (e: unknown) => e instanceof LarderError && e.code === 'E_ABORTED' && e.cause === reason);
      await held.release();
      const again = await cache.tryLock(name);
      assert.ok(again !== null, 'the aborted waiter holds nothing');
      await again.release();
      await assert.rejects(cache.lock(name, { signal: AbortSignal.abort() }), (e: unknown) => (e as LarderError).code === 'E_ABORTED');
    });

    test('LK5: a release wakes a blocked waiter at once (pub/sub), not at its next poll', async () => {
      const name = fresh('lk5');
      const samples: number[] = [];
      for (let i = 0; i < 20; i++) {
        const held = await cache.lock(name);
        const waiter = cache.lock(name, { waitMs: 5000 });
        await sleep(15); // the waiter is subscribed and blocked
        const t0 = performance.now();
        await held.release();
        const got = await waiter;
        samples.push(performance.now() - t0);
        await got.release();
      }
      samples.sort((a, b) => a - b);
      // Polling alone would take 50–100 ms; a wake-up takes a round trip or two.
      assert.ok(samples[10]! < 25, `median hand-off ${samples[10]} ms`);
    });

    test('LK5: a lease that runs out without a release is noticed by polling within about 100 ms', async () => {
      const name = fresh('lk5');
      const ghost = await cache.lock(name, { ttlMs: 200, autoExtend: false });
      const t0 = performance.now();
      const next = await cache.lock(name, { waitMs: 3000 });
      const took = performance.now() - t0;
      assert.ok(took >= 150 && took < 200 + 150, `took ${took}`);
      await next.release();
      await assert.rejects(ghost.release(), LockNotOwnedError);
    });

    test('LK5: ten waiters in one process share one subscription', async () => {
      const name = fresh('lk5');
      let subscribes = 0;
      const counting = new Proxy(store, {
        get(target, prop, receiver) {
          if (prop === 'subscribe') {
            return (...args: Parameters<Store['subscribe']>) => {
              subscribes++;
              return target.subscribe(...args);
            };
          }
          const v: unknown = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? (v.bind(target) as unknown) : v;
        },
      });
      const c = createCache({ store: counting });
      const held = await c.lock(name);
      const waiters = Array.from({ length: 10 }, () => c.withLock(name, () => sleep(1), { waitMs: 5000 }));
      await sleep(50);
      await held.release();
      await Promise.all(waiters);
      assert.equal(subscribes, 1);
      await c.close();
    });

    test('LK6: lock names are namespaced unless shared, and user-scoped on request', async () => {
      const name = fresh('lk6');
      const a = cache.forNamespace('tenant-a');
      const b = cache.forNamespace('tenant-b');
      const la = await a.lock(name);
      const lb = await b.lock(name, { waitMs: 0 });
      const lu = await a.lock(name, { user: 'u1', waitMs: 0 });
      await Promise.all([la.release(), lb.release(), lu.release()]);
      const sa = await a.lock(name, { shared: true });
      await assert.rejects(b.lock(name, { shared: true, waitMs: 0 }), LockTimeoutError);
      await sa.release();
    });

    test('LK7: with the store unreachable, acquiring fails with StoreUnavailableError in every mode', async () => {
      const chaos = chaosStore(store);
      for (const onStoreError of ['degrade', 'throw'] as const) {
        // A fresh cache per phase: each has its own circuit breaker, which opens after a run of
        // failures (F2) and would otherwise answer for the store in the next phase.
        const make = () => createCache({ store: chaos, onStoreError, commandTimeoutMs: 100 });
        const name = fresh('lk7');
        let c = make();
        chaos.mode = 'fail';
        await assert.rejects(c.lock(name), StoreUnavailableError);
        assert.equal(await c.tryLock(name).catch((e: unknown) => (e as Error).constructor), StoreUnavailableError);
        await assert.rejects(c.readWriteLock(name).write(), StoreUnavailableError);
        await assert.rejects(c.semaphore(name, { permits: 2 }).acquire(), StoreUnavailableError);
        await c.close();
        c = make();
        chaos.mode = 'stall';
        await assert.rejects(c.lock(name), (e: unknown) => e instanceof StoreUnavailableError && (e.cause as LarderError).code === 'E_STORE_TIMEOUT');
        await c.close();
        c = make();
        chaos.mode = 'ok';
        const l = await c.lock(name);
        chaos.mode = 'fail';
        await assert.rejects(l.release(), StoreUnavailableError);
        chaos.mode = 'ok';
        await l.release(); // a failed release may be retried
        await c.close();
      }
    });

    test('await using releases the lock at block exit, also when the block throws', async () => {
      const name = fresh('using');
      {
        await using lock = await cache.lock(name);
        assert.ok(lock.held);
        assert.equal(await cache.tryLock(name), null);
      }
      const free = await cache.tryLock(name);
      assert.ok(free);
      await free.release();
      await assert.rejects(async () => {
        await using _lock = await cache.lock(name);
        throw new Error('boom');
      }, /boom/);
      const again = await cache.tryLock(name);
      assert.ok(again);
      await again.release();
    });

    test('withLock returns what fn returns and releases when fn throws', async () => {
      const name = fresh('with');
      assert.equal(await cache.withLock(name, () => 42), 42);
      await assert.rejects(cache.withLock(name, () => {
        throw new Error('inside');
      }), /inside/);
      const l = await cache.tryLock(name);
      assert.ok(l);
      await l.release();
    });

    test('bad lock arguments throw TypeError before any I/O', async () => {
      await assert.rejects(cache.lock('', {}), TypeError);
      await assert.rejects(cache.lock('x', { ttlMs: 0 }), TypeError);
      await assert.rejects(cache.lock('x', { waitMs: -1 }), TypeError);
      assert.throws(() => cache.semaphore('x', { permits: 0 }), TypeError);
      // WAIT after acquire is the mutex's: the other locks refuse it rather than ignore it.
      const rw = cache.readWriteLock(fresh('rw-wait'));
      const sem = cache.semaphore(fresh('sem-wait'), { permits: 1 });
      const asked = { waitReplicas: 1 } as Record<string, unknown>;
      await assert.rejects(async () => rw.read(asked), /waitReplicas and waitTimeoutMs apply to lock, tryLock and withLock, not to a read-write lock/);
      await assert.rejects(async () => rw.write({ waitTimeoutMs: 100 } as Record<string, unknown>), TypeError);
      await assert.rejects(async () => sem.acquire(asked), /not to a semaphore/);
      await assert.rejects(async () => sem.tryAcquire(asked), TypeError);
      assert.equal(await rw.write({ waitMs: 0 }).then((l): Promise<unknown> => l.release()), undefined, 'nothing was left taken');
    });

    test('LK8: read locks overlap, a write lock excludes readers and writers', async () => {
      const rw = cache.readWriteLock(fresh('rw'));
      const r1 = await rw.read();
      const r2 = await rw.read({ waitMs: 0 });
      await assert.rejects(rw.write({ waitMs: 0 }), LockTimeoutError);
      await r1.release();
      await r2.release();
      const w = await rw.write({ waitMs: 0 });
      await assert.rejects(rw.read({ waitMs: 0 }), LockTimeoutError);
      await assert.rejects(rw.write({ waitMs: 0 }), LockTimeoutError);
      await w.release();
      const r3 = await rw.read({ waitMs: 0 });
      await r3.release();
    });

    test('LK8: a continuous stream of readers does not starve a writer', async () => {
      const rw = cache.readWriteLock(fresh('rw'));
      let stop = false;
      let reads = 0;
      let writerIn = false;
      let overlap = false;
      const readers = Array.from({ length: 6 }, async (_, i) => {
        await sleep(i * 3);
        while (!stop) {
          await rw.withRead(async () => {
            if (writerIn) overlap = true;
            reads++;
            await sleep(10);
          }, { waitMs: 10_000 });
        }
      });
      // Readers overlap continuously from here on (waited for by count, not by a fixed sleep: a
      // loaded machine may need longer to get them going).
      for (const until = performance.now() + 5000; reads < 20 && performance.now() < until; ) await sleep(5);
      assert.ok(reads >= 20, `readers got going: ${reads} reads`);
      const t0 = performance.now();
      const w = await rw.write({ waitMs: 3000 });
      writerIn = true;
      const waited = performance.now() - t0;
      await sleep(20);
      writerIn = false;
      await w.release();
      stop = true;
      await Promise.all(readers);
      // Without writer preference the overlapping readers would keep the writer out for its whole
      // waitMs (3 s); with it, the writer is in once the readers inside drain (~10 ms, more on a
      // loaded machine).
      assert.ok(waited < 1500, `writer waited ${waited} ms`);
      assert.ok(!overlap, 'no reader while the writer held the lock');
    });

    test('LK8: releasing an expired read lock throws LockNotOwnedError', async () => {
      const rw = cache.readWriteLock(fresh('rw'));
      const r = await rw.read({ ttlMs: 100, autoExtend: false });
      await sleep(150);
      const w = await rw.write({ waitMs: 0 });
      await assert.rejects(r.release(), LockNotOwnedError);
      await w.release();
    });

    test('LK8: a semaphore never has more than `permits` holders among 10 contenders', async () => {
      const sem = cache.semaphore(fresh('sem'), { permits: 3 });
      let inside = 0;
      let most = 0;
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          for (let i = 0; i < 10; i++) {
            await sem.withPermit(async () => {
              most = Math.max(most, ++inside);
              await sleep(2);
              inside--;
            }, { waitMs: 20_000 });
          }
        }),
      );
      assert.equal(most, 3);
    });

    test('LK8: releasing an expired permit throws LockNotOwnedError and never inflates the count', async () => {
      const sem = cache.semaphore(fresh('sem'), { permits: 2 });
      const stale = await sem.acquire({ ttlMs: 100, autoExtend: false });
      const keep = await sem.acquire();
      await sleep(150);
      const fresh1 = await sem.acquire({ waitMs: 0 }); // the stale permit's place
      await assert.rejects(stale.release(), LockNotOwnedError);
      assert.equal(await sem.tryAcquire(), null, 'still two holders: the late release freed nothing');
      await Promise.all([keep.release(), fresh1.release()]);
    });

    test('O1: stats.locks counts grants, waits and timeouts', async () => {
      const c = createCache({ store });
      const name = fresh('stats');
      const a = await c.lock(name);
      const w = c.lock(name, { waitMs: 2000 });
      await sleep(20);
      await a.release();
      await (await w).release();
      await assert.rejects(c.lock(name, { waitMs: 0 }).then(async (l) => {
        await c.lock(name, { waitMs: 50 }).finally(() => l.release());
      }), LockTimeoutError);
      assert.deepEqual(c.stats().locks, { acquired: 3, waits: 2, timeouts: 1 });
      await c.close();
    });
  });
}
