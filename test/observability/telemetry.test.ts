/**
 * OP4: with `telemetry: { publishEverySec }`, a running cache publishes its counters on the
 * store's pub/sub, as a versioned JSON message (telemetry.ts); without it nothing is published
 * and no timer runs. Embedded store with a FakeClock (the interval is the clock's), and a real
 * Redis where another client hears the messages with PSUBSCRIBE on the documented pattern.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createCache, createMemoryStore } from '../../src/index.js';
import {
  parseTelemetry,
  TELEMETRY_CHANNEL_PATTERN,
  TELEMETRY_VERSION,
  telemetryChannel,
  type TelemetryMessage,
} from '../../src/telemetry.js';
import { FakeClock } from '../support/fake-clock.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

describe('published telemetry on the embedded store (OP4)', () => {
  test('a cache with telemetry publishes its counters every publishEverySec on its namespace channel', async () => {
    const clock = new FakeClock();
    const store = createMemoryStore({ clock });
    const base = clock.pending;
    const cache = createCache({ store, clock, namespace: 'acme', telemetry: { publishEverySec: 5 } });
    assert.equal(clock.pending, base + 1, 'one timer: the publisher');
    const got: TelemetryMessage[] = [];
    const off = await store.subscribe(telemetryChannel('acme'), (m) => {
      const parsed = parseTelemetry(m);
      if (parsed !== null) got.push(parsed);
    });
    await cache.setValue('a', 1);
    await cache.getValue('a');
    await cache.getValue('missing');
    await cache.forNamespace('globex').getValue('a');
    await cache.getValue('g', { generator: () => 42 });
    await clock.advance(4_999);
    assert.equal(got.length, 0, 'nothing before the first interval ends');
    await clock.advance(1);
    assert.equal(got.length, 1);
    const m = got[0]!;
    assert.equal(m.v, TELEMETRY_VERSION);
    assert.equal(m.namespace, 'acme');
    assert.equal(m.intervalSec, 5);
    assert.equal(m.source.pid, process.pid);
    assert.deepEqual(m.namespaces.acme, { nearHits: 0, storeHits: 1, misses: 2 });
    assert.deepEqual(m.namespaces.globex, { nearHits: 0, storeHits: 0, misses: 1 });
    assert.equal(m.counters.store.hits, 1);
    assert.equal(m.counters.store.misses, 3);
    assert.equal(m.counters.generatorRuns, 1);
    assert.equal(m.generator.runs, 1);
    assert.ok(m.storeLatencyMs.count >= 5, `store calls timed: ${m.storeLatencyMs.count}`);
    assert.equal(typeof m.storeLatencyMs.p50, 'number');
    assert.equal(m.near, null);
    await clock.advance(5_000);
    assert.equal(got.length, 2);
    assert.equal(got[1]!.storeLatencyMs.count, 1, 'latencies are per interval: only the previous PUBLISH');
    assert.deepEqual(got[1]!.namespaces.acme, m.namespaces.acme, 'counters are cumulative');
    await cache.close();
    await clock.advance(60_000);
    assert.equal(got.length, 2, 'nothing after close()');
    assert.equal(clock.pending, base, 'the timer is gone');
    await off();
  });

  test('without the option nothing is published and no timer is armed', async () => {
    const clock = new FakeClock();
    const store = createMemoryStore({ clock });
    const base = clock.pending;
    const cache = createCache({ store, clock, namespace: 'quiet' });
    let heard = 0;
    const off = await store.subscribe(telemetryChannel('quiet'), () => heard++);
    await cache.getValue('x');
    assert.equal(clock.pending, base, 'no timer armed by the cache');
    await clock.advance(600_000);
    assert.equal(heard, 0);
    await off();
    await cache.close();
  });

  test('namespaces past maxNamespaceLabels are summed under "other" (O6)', async () => {
    const clock = new FakeClock();
    const store = createMemoryStore({ clock });
    const cache = createCache({ store, clock, namespace: 'host', telemetry: { publishEverySec: 1, maxNamespaceLabels: 3 } });
    const got: Array<TelemetryMessage | null> = [];
    const off = await store.subscribe(telemetryChannel('host'), (m) => got.push(parseTelemetry(m)));
    for (let i = 0; i < 10; i++) await cache.forNamespace(`t${i}`).getValue('k');
    await clock.advance(1_000);
    const last = got.at(-1);
    assert.ok(last);
    assert.deepEqual(Object.keys(last.namespaces).sort(), ['other', 't0', 't1', 't2']);
    assert.equal(last.namespaces.other?.misses, 7);
    await off();
    await cache.close();
  });

  test('bad telemetry options throw a TypeError naming the option', () => {
    assert.throws(() => createCache({ telemetry: { publishEverySec: 0 } }), /telemetry\.publishEverySec/);
    assert.throws(() => createCache({ telemetry: { publishEverySec: 1, maxNamespaceLabels: -1 } }), /telemetry\.maxNamespaceLabels/);
    // @ts-expect-error an unknown key
    assert.throws(() => createCache({ telemetry: { publishEverySec: 1, every: 2 } }), /telemetry\.every/);
  });

  test('parseTelemetry refuses what is not a telemetry message of this version', () => {
    assert.equal(parseTelemetry('not json'), null);
    assert.equal(parseTelemetry(Buffer.alloc(0)), null);
    assert.equal(parseTelemetry(JSON.stringify({ kind: 'larder.telemetry', v: 999 })), null);
    assert.equal(parseTelemetry(JSON.stringify({ v: TELEMETRY_VERSION })), null);
  });
});

describe('published telemetry on Redis (OP4)', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- before() may have thrown
    await redis?.stop();
  });

  test('a consumer on the documented pattern hears every cache with its near cache figures', async () => {
    const sub = new Redis(redis.url);
    const got: TelemetryMessage[] = [];
    await sub.psubscribe(TELEMETRY_CHANNEL_PATTERN);
    sub.on('pmessageBuffer', (_p: Buffer, _ch: Buffer, m: Buffer) => {
      const parsed = parseTelemetry(m);
      if (parsed !== null) got.push(parsed);
    });
    const a = createCache({ store: redis.url, namespace: 'tenant-a', nearCache: { maxEntries: 2 }, telemetry: { publishEverySec: 0.1 } });
    const b = createCache({ store: redis.url, namespace: 'tenant-b', telemetry: { publishEverySec: 0.1 } });
    try {
      for (const k of ['x', 'y', 'z']) await a.setValue(k, k);
      await a.core.near?.whenActive();
      for (const k of ['x', 'y', 'z', 'z']) await a.getValue(k);
      await b.getValue('nothing');
      // Messages published before the reads above carry smaller counts: wait for the ones after.
      const fromAReady = (m: TelemetryMessage) => m.namespace === 'tenant-a' && (m.near?.evictions ?? 0) > 0 && (m.namespaces['tenant-a']?.nearHits ?? 0) >= 1;
      const fromBReady = (m: TelemetryMessage) => m.namespace === 'tenant-b' && m.namespaces['tenant-b']?.misses === 1;
      const deadline = Date.now() + 10_000;
      while ((!got.some(fromAReady) || !got.some(fromBReady)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const fromA = got.find(fromAReady);
      const fromB = got.find(fromBReady);
      assert.ok(fromA && fromB, 'both caches were heard');
      assert.equal(fromA.store, 'redis');
      assert.notEqual(fromA.source.id, fromB.source.id);
      assert.ok(fromA.near !== null && fromA.near.entries <= 2, 'near entries within maxEntries');
      assert.ok(fromA.near.evictions > 0, 'evictions counted');
      assert.ok((fromA.namespaces['tenant-a']?.nearHits ?? 0) >= 1, 'the repeated read was a near hit');
      assert.equal(fromB.namespaces['tenant-b']?.misses, 1);
    } finally {
      await a.close();
      await b.close();
      sub.disconnect();
    }
  });
});
