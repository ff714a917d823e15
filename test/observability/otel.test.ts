/**
 * O4: `larder-cache/otel` against the real OpenTelemetry SDK: a MeterProvider read into an
 * in-memory metric exporter, a BasicTracerProvider with an in-memory span exporter. Imported by
 * its package subpath, as users do (the `larder-source` condition points it at src/).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createCache, createMemoryStore, LockTimeoutError } from 'larder-cache';
import { instrument } from 'larder-cache/otel';
import { startRedis, type RedisServer } from '../support/redis-server.js';

function sdk() {
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
  /** Every data point of `name` in the last export. */
  const points = async (name: string): Promise<Array<DataPoint<unknown>>> => {
    metricExporter.reset();
    await meterProvider.forceFlush();
    const out: Array<DataPoint<unknown>> = [];
    for (const rm of metricExporter.getMetrics()) {
      for (const sm of rm.scopeMetrics) for (const m of sm.metrics) if (m.descriptor.name === name) out.push(...(m.dataPoints as Array<DataPoint<unknown>>));
    }
    return out;
  };
  const value = async (name: string, attrs: Record<string, string> = {}): Promise<unknown> => {
    const match = (await points(name)).find((p) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v));
    return match?.value;
  };
  return { meterProvider, tracerProvider, spanExporter, points, value, shutdown: () => Promise.all([meterProvider.shutdown(), tracerProvider.shutdown()]) };
}

describe('larder-cache/otel (O4)', () => {
  test('records requests per namespace, layer and result, and the counters of stats()', async () => {
    const o = sdk();
    const cache = createCache({ store: createMemoryStore(), namespace: 'acme' });
    instrument(cache, o);
    try {
      await cache.setValue('a', 1);
      await cache.getValue('a');
      await cache.getValue('a');
      await cache.getValue('zzz');
      await cache.forNamespace('globex').getValue('a');
      await cache.getValue('g', { generator: () => 'made' });
      assert.equal(await o.value('larder.cache.requests', { namespace: 'acme', layer: 'store', result: 'hit' }), 2);
      assert.equal(await o.value('larder.cache.requests', { namespace: 'acme', layer: 'store', result: 'miss' }), 2);
      assert.equal(await o.value('larder.cache.requests', { namespace: 'globex', result: 'miss' }), 1);
      assert.equal(await o.value('larder.generator.runs'), 1);
      const gen = (await o.value('larder.generator.duration')) as Histogram;
      assert.equal(gen.count, 1);
      const store = (await o.points('larder.store.command.duration')).map((p) => [p.attributes.command, (p.value as Histogram).count]);
      // The misses went to the store; hits of known keys may not (the embedded store's shared reads).
      assert.ok(store.some(([c, n]) => c === 'GET' && Number(n) >= 2), JSON.stringify(store));
      assert.ok(store.some(([c]) => c === 'SET'));
      assert.equal(await o.value('larder.near.entries'), 0);
      assert.equal(await o.value('larder.invalidations.pending'), 0);
    } finally {
      await cache.close();
      await o.shutdown();
    }
  });

  test('spans for generator runs, lock waits and store calls; a failing generator is an error span', async () => {
    const o = sdk();
    const cache = createCache({ store: createMemoryStore(), namespace: 'ops' });
    instrument(cache, o);
    try {
      await cache.getValue('k', { generator: () => 1 });
      await assert.rejects(cache.getValue('bad', { generator: () => Promise.reject(new Error('db down')) }), /db down/);
      const held = await cache.lock('job');
      await assert.rejects(cache.lock('job', { waitMs: 20 }), LockTimeoutError);
      await held.release();
      assert.equal(await o.value('larder.lock.acquired'), 1);
      assert.equal(await o.value('larder.lock.timeouts'), 1);
      const waits = await o.points('larder.lock.wait');
      assert.deepEqual(waits.map((p) => p.attributes.outcome).sort(), ['acquired', 'timeout']);
      const spans = o.spanExporter.getFinishedSpans();
      const names = spans.map((s) => s.name);
      assert.equal(names.filter((n) => n === 'larder generate').length, 2);
      assert.equal(names.filter((n) => n === 'larder lock').length, 2);
      const failed = spans.find((s) => s.name === 'larder generate' && s.attributes['larder.key'] === 'bad');
      assert.equal(failed?.status.code, 2 /* SpanStatusCode.ERROR */);
      assert.equal(failed.events.at(0)?.name, 'exception');
      const timedOut = spans.find((s) => s.name === 'larder lock' && s.attributes['larder.lock.outcome'] === 'timeout');
      assert.ok(timedOut, 'the timed-out wait is a span with its outcome');
      const get = spans.find((s) => s.name === 'GET');
      assert.equal(get?.attributes['db.operation.name'], 'GET');
    } finally {
      await cache.close();
      await o.shutdown();
    }
  });

  test('stop() and close() remove every callback and listener', async () => {
    const o = sdk();
    const cache = createCache({ store: createMemoryStore() });
    const handle = instrument(cache, o);
    await cache.getValue('x');
    handle.stop();
    await cache.getValue('x');
    o.spanExporter.reset();
    await cache.getValue('y', { generator: () => 1 });
    assert.equal(o.spanExporter.getFinishedSpans().length, 0);
    assert.equal(await o.value('larder.cache.requests', { result: 'miss' }), 1, 'only the miss before stop()');
    const other = createCache({ store: createMemoryStore() });
    instrument(other, o);
    await other.close();
    o.spanExporter.reset();
    assert.equal(other.core.tap.timesStore, false, 'close() removed the sink');
    await cache.close();
    await o.shutdown();
  });

  test('namespaces past maxNamespaceLabels are recorded as "other" (O6)', async () => {
    const o = sdk();
    const cache = createCache({ store: createMemoryStore() });
    instrument(cache, { ...o, maxNamespaceLabels: 2 });
    try {
      for (let i = 0; i < 6; i++) await cache.forNamespace(`t${i}`).getValue('k');
      const ns = (await o.points('larder.cache.requests')).map((p) => p.attributes.namespace).sort();
      assert.deepEqual(ns, ['other', 't0', 't1']);
      assert.equal(await o.value('larder.cache.requests', { namespace: 'other' }), 4);
    } finally {
      await cache.close();
      await o.shutdown();
    }
  });
});

describe('larder-cache/otel on Redis (O4)', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- before() may have thrown
    await redis?.stop();
  });

  test('store spans follow the Redis semantic conventions; near hits and evictions are metrics', async () => {
    const o = sdk();
    const cache = createCache({ store: redis.url, namespace: 'r', nearCache: { maxEntries: 2 } });
    instrument(cache, o);
    try {
      for (const k of ['a', 'b', 'c']) await cache.setValue(k, k);
      await cache.core.near?.whenActive();
      for (const k of ['a', 'b', 'c', 'c']) await cache.getValue(k);
      const get = o.spanExporter.getFinishedSpans().find((s) => s.name === 'GET');
      assert.ok(get);
      assert.equal(get.kind, 2 /* SpanKind.CLIENT */);
      assert.equal(get.attributes['db.system.name'], 'redis');
      assert.equal(get.attributes['server.address'], redis.host);
      assert.equal(get.attributes['server.port'], redis.port);
      assert.equal(await o.value('larder.cache.requests', { namespace: 'r', layer: 'near', result: 'hit' }), 1);
      assert.ok(Number(await o.value('larder.near.evictions')) >= 1);
      assert.ok(Number(await o.value('larder.near.entries')) <= 2);
    } finally {
      await cache.close();
      await o.shutdown();
    }
  });
});
