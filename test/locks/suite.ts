// The lock family's core rules, written once and run unchanged against every store configuration:
// the embedded store (LK9) and a real redis-server (core.test.ts), a Redis Cluster (cluster.test.ts).
//
// The tests of time logic (leases, renewals, waitMs, polling, hand-offs) take their time from
// `timed()`: on a store that can run on the fake clock (the embedded store) the whole cache does,
// the test moves the clock, and what a loaded machine made approximate is asserted exactly; on
// Redis, which expires leases on its own clock, they wait for real time.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCache, LarderError, LockLostError, LockNotOwnedError, LockTimeoutError, StoreUnavailableError, type Cache, type CacheOptions } from '../../src/index.js';
import type { Store } from '../../src/stores/store.js';
import { chaosStore } from '../support/chaos-store.js';
import { FakeClock } from '../support/fake-clock.js';
import { fakeTime, realTime } from '../support/test-time.js';

export interface Config {
  name: string;
  setup(): Promise<void>;
  makeStore(): Store;
  /** A new store on `clock`, where the store can run on one; without it, time tests wait for real time. */
  makeStoreOn?(clock: FakeClock): Store;
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
    const closing: Array<() => Promise<void>> = [];
    /**
     * A cache for a test of time logic, with its store and its time: a new embedded store and cache
     * on a fake clock, or a new cache over the suite's store on real time. `wrap` puts a wrapper
     * (a chaos or counting store) between the cache and the store.
     */
    const timed = (opts: Omit<CacheOptions, 'store' | 'clock'> = {}, wrap: (s: Store) => Store = (s) => s) => {
      if (cfg.makeStoreOn === undefined) {
        const c = createCache({ ...opts, store: wrap(store) });
        closing.push(() => c.close());
        return { cache: c, store, time: realTime };
      }
      const clock = new FakeClock();
      const own = cfg.makeStoreOn(clock);
      const c = createCache({ ...opts, store: wrap(own), clock });
      closing.push(async () => {
        await c.close();
        await own.close();
      });
      return { cache: c, store: own, time: fakeTime(clock) };
    };
    before(async () => {
      keepAlive = setInterval(() => {}, 1000);
      await cfg.setup();
      store = cfg.makeStore();
      cache = createCache({ store });
    });
    after(async () => {
      for (const close of closing) await close();
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
              await new Promise((r) => setImmediate(r)); // other contenders run meanwhile
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
      const { cache, store, time } = timed();
      const name = fresh('lk2');
      const lock = await cache.lock(name, { ttlMs: 2000, autoExtend: false });
      const ttl = await store.ttl(cache.key(name, undefined, 'L'));
      if (time.fake) assert.equal(ttl, 2000, 'no time passed between the grant and its lease');
      else assert.ok(typeof ttl === 'number' && ttl > 1500 && ttl <= 2000, `ttl ${ttl}`);
      await lock.release();
    });

    test('LK2: releasing a lock no longer owned throws LockNotOwnedError and leaves the new holder\'s lock intact', async () => {
      const { cache, time } = timed();
      const name = fresh('lk2');
      const old = await cache.lock(name, { ttlMs: 100, autoExtend: false });
      await time.pass(150);
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
      const { cache, store, time } = timed();
      const name = fresh('lk4');
      const lock = await cache.lock(name, { ttlMs: 300 });
      await time.pass(1000);
      assert.ok(lock.held);
      assert.ok(!lock.signal.aborted);
      assert.equal(await cache.tryLock(name), null);
      // Renewed every ttlMs/3: the tenth renewal, due at 1000 ms, has just set a whole lease again.
      if (time.fake) assert.equal(await store.ttl(cache.key(name, undefined, 'L')), 300);
      await lock.release();
    });

    test('LK4: when renewal is refused, lock.signal aborts with LockLostError and renewal stops', async () => {
      const { cache, store, time } = timed();
      const name = fresh('lk4');
      const lock = await cache.lock(name, { ttlMs: 300 });
      const t0 = time.now();
      await store.delete([cache.key(name, undefined, 'L')]); // as if the lease had run out
      const other = await cache.lock(name, { ttlMs: 5000, waitMs: 0 });
      const reason = await time.run(new Promise((resolve) => lock.signal.addEventListener('abort', () => resolve(lock.signal.reason))));
      assert.ok(reason instanceof LockLostError && reason.code === 'E_LOCK_LOST');
      if (time.fake) assert.equal(time.now() - t0, 100, 'at the first renewal, ttlMs/3 after the grant');
      assert.ok(!lock.held);
      await time.pass(250);
      assert.equal(await cache.tryLock(name), null, 'the lost holder did not renew over the new one');
      await assert.rejects(lock.release(), LockNotOwnedError);
      await other.release();
    });

    test('LK4: without autoExtend the lease runs out, the signal says so, and another process may take the lock', async () => {
      const { cache, time } = timed();
      const name = fresh('lk4');
      const t0 = time.now();
      const lock = await cache.lock(name, { ttlMs: 150, autoExtend: false });
      await time.run(new Promise((resolve) => lock.signal.addEventListener('abort', resolve)));
      assert.ok(lock.signal.reason instanceof LockLostError);
      // By the local clock, less the drift allowance (1% + 2 ms): never after the store's lease.
      if (time.fake) assert.equal(time.now() - t0, 150 - 3);
      const next = await time.run(cache.lock(name, { waitMs: 1000 }));
      assert.ok(next.fencingToken > lock.fencingToken);
      if (time.fake) assert.equal(time.now() - t0, 151, 'taken 1 ms past the lease, as the holder\'s PTTL told the waiter');
      await next.release();
    });

    test('LK4: extend(ms) sets the lease to ms from now', async () => {
      const { cache, store, time } = timed();
      const name = fresh('lk4');
      const lock = await cache.lock(name, { ttlMs: 200, autoExtend: false });
      await lock.extend(3000);
      await time.pass(300);
      assert.ok(lock.held);
      const ttl = await store.ttl(cache.key(name, undefined, 'L'));
      if (time.fake) assert.equal(ttl, 2700);
      else assert.ok(typeof ttl === 'number' && ttl > 2000, `ttl ${ttl}`);
      await lock.release();
    });

    test('LK5: waitMs 0 tries once, and past waitMs comes LockTimeoutError naming the lock', async () => {
      const { cache, time } = timed();
      const name = fresh('lk5');
      const held = await cache.lock(name);
      let t0 = time.now();
      await assert.rejects(time.run(cache.lock(name, { waitMs: 0 })), (e: unknown) => e instanceof LockTimeoutError && e.lockName === name && e.message.includes(name));
      if (time.fake) assert.equal(time.now() - t0, 0, 'no wait at all');
      else assert.ok(time.now() - t0 < 100);
      t0 = time.now();
      const before = cache.stats().locks.timeouts;
      await assert.rejects(time.run(cache.lock(name, { waitMs: 200 })), (e: unknown) => e instanceof LockTimeoutError && e.code === 'E_LOCK_TIMEOUT');
      const took = time.now() - t0;
      if (time.fake) assert.equal(took, 200, 'exactly waitMs: the last pause ends at the deadline');
      else assert.ok(took >= 195 && took < 600, `took ${took}`);
      assert.equal(cache.stats().locks.timeouts, before + 1);
      await held.release();
    });

    test('LK5: signal aborts a wait with E_ABORTED and the reason as cause; no lock is left behind', async () => {
      const { cache, time } = timed();
      const name = fresh('lk5');
      const held = await cache.lock(name);
      const ac = new AbortController();
      const p = cache.lock(name, { waitMs: 10_000, signal: ac.signal });
      await time.pass(30);
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
      const { cache, time } = timed();
      const name = fresh('lk5');
      const samples: number[] = [];
      for (let i = 0; i < 20; i++) {
        const held = await cache.lock(name);
        const waiter = cache.lock(name, { waitMs: 5000 });
        await time.pass(15); // the waiter is subscribed and blocked
        const t0 = time.now();
        await held.release();
        const got = await time.run(waiter);
        samples.push(time.now() - t0);
        await got.release();
      }
      samples.sort((a, b) => a - b);
      // Polling alone would take 50–100 ms; a wake-up takes a round trip or two, and no time at
      // all on the fake clock, every time.
      if (time.fake) assert.deepEqual(samples, Array(20).fill(0), `hand-offs ${samples.join(', ')} ms`);
      else assert.ok(samples[10]! < 25, `median hand-off ${samples[10]} ms`);
    });

    test('LK5: a lease that runs out without a release is noticed by polling within about 100 ms', async () => {
      const { cache, time } = timed({ random: () => 0 }); // polls at whole multiples of 50 ms
      const name = fresh('lk5');
      const ghost = await cache.lock(name, { ttlMs: 200, autoExtend: false });
      const t0 = time.now();
      const next = await time.run(cache.lock(name, { waitMs: 3000 }));
      const took = time.now() - t0;
      // The waiter polls, and its last pause is cut to the holder's PTTL + 1: it tries 1 ms past the lease.
      if (time.fake) assert.equal(took, 201);
      else assert.ok(took >= 150 && took < 200 + 150, `took ${took}`);
      await next.release();
      await assert.rejects(ghost.release(), LockNotOwnedError);
    });

    test('LK5: ten waiters in one process share one subscription', async () => {
      let subscribes = 0;
      const counted = (s: Store): Store => new Proxy(s, {
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
      const { cache: c, time } = timed({}, counted);
      const name = fresh('lk5');
      const held = await c.lock(name);
      const waiters = Array.from({ length: 10 }, () => c.withLock(name, () => time.delay(1), { waitMs: 5000 }));
      await time.pass(50);
      await held.release();
      await time.run(Promise.all(waiters));
      assert.equal(subscribes, 1);
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
      // The stall is the chaos wrapper's, in this process: the cache's deadline runs on the fake
      // clock over every store, and times out at exactly commandTimeoutMs.
      const clock = new FakeClock();
      for (const onStoreError of ['degrade', 'throw'] as const) {
        // A fresh cache per phase: each has its own circuit breaker, which opens after a run of
        // failures (F2) and would otherwise answer for the store in the next phase.
        const make = () => createCache({ store: chaos, onStoreError, commandTimeoutMs: 100, clock });
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
        const t0 = clock.monotonic();
        await assert.rejects(clock.runUntil(c.lock(name)), (e: unknown) => e instanceof StoreUnavailableError && (e.cause as LarderError).code === 'E_STORE_TIMEOUT');
        assert.equal(clock.monotonic() - t0, 100, 'F4: the stalled acquire fails at commandTimeoutMs');
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
      const { cache, time } = timed();
      const rw = cache.readWriteLock(fresh('rw'));
      let stop = false;
      let reads = 0;
      let writerIn = false;
      let overlap = false;
      let going!: () => void;
      const twentyReads = new Promise<void>((r) => (going = r));
      const readers = Array.from({ length: 6 }, async (_, i) => {
        await time.delay(i * 3);
        while (!stop) {
          await rw.withRead(async () => {
            if (writerIn) overlap = true;
            if (++reads === 20) going();
            await time.delay(10);
          }, { waitMs: 10_000 });
        }
      });
      // Readers overlap continuously from here on (waited for by count, not by a fixed sleep: a
      // loaded machine may need longer to get them going).
      await time.run(twentyReads);
      assert.ok(reads >= 20, `readers got going: ${reads} reads`);
      const t0 = time.now();
      const w = await time.run(rw.write({ waitMs: 3000 }));
      writerIn = true;
      const waited = time.now() - t0;
      await time.pass(20);
      writerIn = false;
      await w.release();
      stop = true;
      await time.run(Promise.all(readers));
      // Without writer preference the overlapping readers would keep the writer out for its whole
      // waitMs (3 s); with it, the writer is in once the readers inside drain: within one 10 ms
      // read on the fake clock (more on a loaded machine).
      if (time.fake) assert.ok(waited <= 10, `writer waited ${waited} ms`);
      else assert.ok(waited < 1500, `writer waited ${waited} ms`);
      assert.ok(!overlap, 'no reader while the writer held the lock');
    });

    test('LK8: releasing an expired read lock throws LockNotOwnedError', async () => {
      const { cache, time } = timed();
      const rw = cache.readWriteLock(fresh('rw'));
      const r = await rw.read({ ttlMs: 100, autoExtend: false });
      await time.pass(150);
      const w = await rw.write({ waitMs: 0 });
      await assert.rejects(r.release(), LockNotOwnedError);
      await w.release();
    });

    test('LK8: a semaphore never has more than `permits` holders among 10 contenders', async () => {
      const { cache, time } = timed();
      const sem = cache.semaphore(fresh('sem'), { permits: 3 });
      let inside = 0;
      let most = 0;
      await time.run(Promise.all(
        Array.from({ length: 10 }, async () => {
          for (let i = 0; i < 10; i++) {
            await sem.withPermit(async () => {
              most = Math.max(most, ++inside);
              await time.delay(2);
              inside--;
            }, { waitMs: 20_000 });
          }
        }),
      ));
      assert.equal(most, 3);
    });

    test('LK8: releasing an expired permit throws LockNotOwnedError and never inflates the count', async () => {
      const { cache, time } = timed();
      const sem = cache.semaphore(fresh('sem'), { permits: 2 });
      const stale = await sem.acquire({ ttlMs: 100, autoExtend: false });
      const keep = await sem.acquire();
      await time.pass(150);
      const fresh1 = await sem.acquire({ waitMs: 0 }); // the stale permit's place
      await assert.rejects(stale.release(), LockNotOwnedError);
      assert.equal(await sem.tryAcquire(), null, 'still two holders: the late release freed nothing');
      await Promise.all([keep.release(), fresh1.release()]);
    });

    test('O1: stats.locks counts grants, waits and timeouts', async () => {
      const { cache: c, time } = timed();
      const name = fresh('stats');
      const a = await c.lock(name);
      const w = c.lock(name, { waitMs: 2000 });
      await time.pass(20);
      await a.release();
      await (await time.run(w)).release();
      await assert.rejects(time.run(c.lock(name, { waitMs: 0 }).then(async (l) => {
        await c.lock(name, { waitMs: 50 }).finally(() => l.release());
      })), LockTimeoutError);
      assert.deepEqual(c.stats().locks, { acquired: 3, waits: 2, timeouts: 1 });
    });
  });
}
