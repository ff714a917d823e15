// The embedded store on an injected Clock: TTLs (S1), LocalData.now() and the sweep timer all run
// on it, so expiry is tested to the millisecond without sleeping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryStore, MemoryStore } from '../../src/stores/memory/index.js';
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
