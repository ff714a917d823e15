// The embedded store on an injected Clock: TTLs (S1), LocalData.now() and the sweep timer all run
// on it, so expiry is tested to the millisecond without sleeping. The shared store is one per clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCache } from '../../src/index.js';
import { createMemoryStore, MemoryStore, sharedMemoryStore } from '../../src/stores/memory/index.js';
import { systemClock } from '../../src/clock.js';
import { FakeClock } from '../support/fake-clock.js';

const b = (s: string): Buffer => Buffer.from(s);

test('a key expires exactly at its TTL on the fake clock, without sleeping (S1)', async () => {
  const clock = new FakeClock();
  const store = createMemoryStore({ clock });
  await store.set('k', b('v'), { ttlMs: 1000 });
  await clock.advance(999);
  assert.equal(await store.ttl('k'), 1);
  assert.equal((await store.get('k'))?.toString(), 'v');
  await clock.advance(1);
  assert.equal(await store.ttl('k'), 0, 'at the deadline itself PTTL is 0, as on Redis');
  await clock.advance(1);
  assert.equal(await store.get('k'), null, 'one millisecond past its TTL the key is gone');
  assert.equal(await store.exists('k'), false);
  await store.close();
});

test('a cache on the fake clock: setValue with expiresInSec expires at its TTL (S1)', async () => {
  const clock = new FakeClock();
  const cache = createCache({ clock });
  await cache.setValue('report', { rows: 3 }, { expiresInSec: 2 });
  await clock.advance(500);
  assert.equal(await cache.ttl('report'), 1.5, 'ttl() in seconds with millisecond precision');
  await clock.advance(1500);
  assert.deepEqual(await cache.getValue('report'), { rows: 3 }, 'still there at the deadline itself');
  await clock.advance(1);
  assert.equal(await cache.getValue('report'), undefined);
  assert.equal(await cache.ttl('report'), undefined);
  await cache.close();
});

test('script twins see the clock in LocalData.now(), the time TTLs are reckoned on', async () => {
  const clock = new FakeClock(Date.UTC(2030, 0, 1));
  const store = new MemoryStore({ clock, sweepIntervalMs: 0 });
  assert.equal(store.data.now(), Date.UTC(2030, 0, 1));
  store.data.set('lease', b('x'), 100);
  await clock.advance(40);
  assert.equal(store.data.now(), Date.UTC(2030, 0, 1) + 40);
  assert.equal(store.data.pttl('lease'), 60);
  await store.close();
});

test('the expiry sweep runs on the store clock, and close cancels its timer', async () => {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock, sweepIntervalMs: 1000 });
  for (let i = 0; i < 10; i++) await store.set(`k${i}`, b('v'), { ttlMs: 10 });
  assert.equal(clock.pending, 1, 'one sweep timer, on the injected clock');
  await clock.advance(999);
  assert.equal(store.stats().entries, 10, 'nothing read them, and the sweep has not run yet');
  await clock.advance(1);
  assert.equal(store.stats().entries, 0, 'the first tick removed them');
  assert.equal(store.stats().expirations, 10);
  await store.close();
  assert.equal(clock.pending, 0);
});

test('the shared store is one per clock: same clock, same store; a fake clock never shares with real time', async () => {
  const clock = new FakeClock();
  const other = new FakeClock();
  const fake = sharedMemoryStore(undefined, clock);
  assert.equal(sharedMemoryStore(undefined, clock), fake);
  assert.notEqual(sharedMemoryStore(undefined, other), fake);
  assert.notEqual(sharedMemoryStore(undefined), fake);
  assert.equal(sharedMemoryStore(undefined, systemClock), sharedMemoryStore(undefined), 'the default is the system clock');

  const a = createCache({ clock, namespace: 'site' });
  const c = createCache({ clock, namespace: 'site' });
  const real = createCache({ namespace: 'site' });
  await a.setValue('shared-by-clock', 1);
  assert.equal(await c.getValue('shared-by-clock'), 1, 'caches on one clock share one store (SPEC §0)');
  assert.equal(await real.getValue('shared-by-clock'), undefined, 'a real-time cache has another store');
  await Promise.all([a.close(), c.close(), real.close()]);
});

test('the now option, kept for older callers, still sets the wall time of TTLs; with clock as well it is a TypeError', async () => {
  let t = Date.UTC(2031, 0, 1);
  const now = () => t;
  const cache = createCache({ now, namespace: 'now-alias' });
  const again = createCache({ now, namespace: 'now-alias' });
  await cache.setValue('k', 1, { expiresInSec: 1 });
  assert.equal(await again.getValue('k'), 1, 'caches given the same now share the embedded store');
  t += 1000;
  assert.equal(await cache.ttl('k'), 0);
  t += 1;
  assert.equal(await cache.getValue('k'), undefined, 'one millisecond past its TTL by now()');
  assert.throws(() => createCache({ now, clock: new FakeClock() }), TypeError);
  await Promise.all([cache.close(), again.close()]);
});
