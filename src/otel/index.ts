/**
 * `larder-cache/otel` (O4): OpenTelemetry metrics and spans for one cache.
 *
 *   import { instrument } from 'larder-cache/otel';
 *   const handle = instrument(cache, { meterProvider, tracerProvider });   // both optional
 *
 * `@opentelemetry/api` is an optional peer dependency: only this subpath imports it. Absent
 * providers are the globals (`metrics.getMeterProvider()`, `trace.getTracerProvider()`), as
 * OpenTelemetry's own instrumentations do; without a registered SDK those are no-ops.
 *
 * Metrics: the Prometheus set of O5 (prometheus/index.ts) under OpenTelemetry names: dots for
 * underscores, no `_total` or unit suffix (the unit is the instrument's `unit`):
 *   larder.cache.requests{namespace, layer, result}      counter
 *   larder.generator.runs                                observable counter
 *   larder.generator.duration                            histogram, s
 *   larder.store.command.duration{command}               histogram, s
 *   larder.store.errors{code}                            observable counter
 *   larder.lock.wait                                     histogram, s   (every acquisition, {outcome})
 *   larder.lock.acquired, larder.lock.timeouts           observable counters
 *   larder.near.entries, larder.near.bytes               observable gauges
 *   larder.near.evictions                                observable counter
 *   larder.invalidations.pending                         observable gauge
 *   larder.stale.serves                                  observable counter
 * Namespaces are capped at `maxNamespaceLabels` (default 50), the rest under "other" (O6).
 *
 * Spans (from the tracing channels of tracing.ts, this cache's only): `larder generate` for each
 * generator run, `larder <lock|readLock|writeLock|permit>` for each lock acquisition (its wait),
 * and one CLIENT span per store call named after its command, with Redis's semantic conventions
 * (`db.system.name`, `db.operation.name`, `server.address`, `server.port`). Spans start in the
 * active context, so with a context manager they nest under the request that made the call.
 *
 * `handle.stop()` (also run by `cache.close()`) removes every listener and callback.
 */
import {
  metrics,
  SpanKind,
  SpanStatusCode,
  trace,
  ValueType,
  type Attributes,
  type MeterProvider,
  type ObservableResult,
  type Span,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type { Cache } from '../cache.js';
import { ignore } from '../ignore.js';
import { NamespaceLabels } from '../metrics/labels.js';
import { generatorChannel, lockChannel, storeChannel, type CacheTraceContext, type LockTraceContext, type StoreTraceContext } from '../tracing.js';

export interface InstrumentOptions {
  meterProvider?: MeterProvider;
  tracerProvider?: TracerProvider;
  /** Namespaces given their own label before the rest go under "other" (O6). Default 50. */
  maxNamespaceLabels?: number;
}

export interface Instrumentation {
  /** Stops recording: removes the cache's metric callbacks and the span listeners. */
  stop(): void;
}

const SCOPE = 'larder-cache';

/** Histogram buckets in seconds, from an embedded-store call (tens of µs) to a slow generator. */
const SECONDS_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function instrument(cache: Cache, opts: InstrumentOptions = {}): Instrumentation {
  const core = cache.core;
  const meter = (opts.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE);
  const tracer = (opts.tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE);
  const labels = new NamespaceLabels(opts.maxNamespaceLabels);
  const seconds = { unit: 's', advice: { explicitBucketBoundaries: SECONDS_BUCKETS } };

  const requests = meter.createCounter('larder.cache.requests', { description: 'Cache reads by namespace, layer (near, store) and result (hit, miss, stale, waited)', valueType: ValueType.INT });
  const generatorDuration = meter.createHistogram('larder.generator.duration', { description: 'Duration of generator runs', ...seconds });
  const storeDuration = meter.createHistogram('larder.store.command.duration', { description: 'Duration of store round trips by command', ...seconds });
  const lockWait = meter.createHistogram('larder.lock.wait', { description: 'Time to acquire a lock, read/write lock or permit, by outcome', ...seconds });

  const removeSink = core.tap.add({
    request: (namespace, layer, result) => requests.add(1, { namespace: labels.of(namespace), layer, result }),
    storeCall: (command, s) => storeDuration.record(s, { command }),
    generator: (s, failed) => generatorDuration.record(s, { outcome: failed ? 'error' : 'ok' }),
    lockAcquire: (s, outcome) => lockWait.record(s, { outcome }),
  });

  const stats = core.stats;
  const observed = [
    [meter.createObservableCounter('larder.generator.runs', { description: 'Generator runs', valueType: ValueType.INT }), (r: ObservableResult) => r.observe(stats.generatorRuns)],
    [meter.createObservableCounter('larder.stale.serves', { description: 'Stale values served (S6, S7)', valueType: ValueType.INT }), (r: ObservableResult) => r.observe(stats.staleServes)],
    [
      meter.createObservableCounter('larder.store.errors', { description: 'Failures by error code', valueType: ValueType.INT }),
      (r: ObservableResult) => {
        for (const [code, n] of Object.entries(stats.errors)) r.observe(n, { code });
      },
    ],
    [meter.createObservableCounter('larder.lock.acquired', { description: 'Locks acquired', valueType: ValueType.INT }), (r: ObservableResult) => r.observe(stats.locks.acquired)],
    [meter.createObservableCounter('larder.lock.timeouts', { description: 'Lock waits that ran out', valueType: ValueType.INT }), (r: ObservableResult) => r.observe(stats.locks.timeouts)],
    [meter.createObservableGauge('larder.near.entries', { description: 'Entries in the near cache', valueType: ValueType.INT }), (r: ObservableResult) => r.observe(core.near?.size ?? 0)],
    [meter.createObservableGauge('larder.near.bytes', { description: 'Approximate bytes held by the near cache', unit: 'By', valueType: ValueType.INT }), (r: ObservableResult) => r.observe(core.near?.bytes ?? 0)],
    [meter.createObservableCounter('larder.near.evictions', { description: 'Near-cache entries evicted by its bounds', valueType: ValueType.INT }), (r: ObservableResult) => r.observe(core.near?.evictions ?? 0)],
    [
      meter.createObservableGauge('larder.invalidations.pending', { description: 'Deletes waiting to be retried (F3)', valueType: ValueType.INT }),
      (r: ObservableResult) => r.observe(core.invalidations.size),
    ],
  ] as const;
  for (const [instrument, callback] of observed) instrument.addCallback(callback);

  const stopSpans = traceSpans(tracer, core.tap.id, serverOf(core.options.store));

  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    removeSink();
    for (const [instrument, callback] of observed) instrument.removeCallback(callback);
    stopSpans();
    core.onClose.delete(stop);
  };
  core.onClose.add(stop);
  return { stop };
}

/** host and port of a Redis store given as a URL or `{ redis: { host, port } }`, for `server.*`. */
function serverOf(spec: unknown): Attributes {
  try {
    if (typeof spec === 'string' && spec !== 'memory') {
      const u = new URL(spec);
      return { 'server.address': u.hostname, 'server.port': Number(u.port || 6379) };
    }
    const redis = (spec as { redis?: { host?: unknown; port?: unknown } } | null)?.redis;
    if (redis !== undefined) {
      return { 'server.address': typeof redis.host === 'string' ? redis.host : 'localhost', 'server.port': typeof redis.port === 'number' ? redis.port : 6379 };
    }
  } catch {
    // Not a URL this code understands: no server attributes.
  }
  return {};
}

interface Handlers<C extends object> {
  start(c: C): void;
  end(c: C): void;
  asyncStart(c: C): void;
  asyncEnd(c: C): void;
  error(c: C): void;
}

/** Spans from the tracing channels, for contexts of cache `id` only. */
function traceSpans(tracer: Tracer, id: number, server: Attributes): () => void {
  const spans = new WeakMap<object, Span>();
  function handlers<C extends { cacheId: number; error?: unknown }>(open: (c: C) => Span, close?: (c: C, span: Span) => void): Handlers<C> {
    const finish = (c: C) => {
      const span = spans.get(c);
      if (span === undefined) return;
      spans.delete(c);
      close?.(c, span);
      span.end();
    };
    return {
      start: (c) => {
        if (c.cacheId === id) spans.set(c, open(c));
      },
      // A synchronous throw ends the call here; otherwise asyncEnd does.
      end: (c) => {
        if ('error' in c) finish(c);
      },
      asyncStart: ignore,
      asyncEnd: finish,
      error: (c) => {
        const span = spans.get(c);
        if (span === undefined) return;
        const err = c.error;
        if (err instanceof Error) span.recordException(err);
        span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      },
    };
  }

  const generator = handlers<CacheTraceContext>((c) =>
    tracer.startSpan('larder generate', { kind: SpanKind.INTERNAL, attributes: { 'larder.namespace': c.namespace, 'larder.key': c.key ?? '' } }),
  );
  const lock = handlers<LockTraceContext>(
    (c) => tracer.startSpan(`larder ${c.operation}`, { kind: SpanKind.INTERNAL, attributes: { 'larder.lock.name': c.name, 'larder.namespace': c.namespace ?? '' } }),
    (c, span) => span.setAttribute('larder.lock.outcome', c.outcome ?? 'error'),
  );
  const store = handlers<StoreTraceContext>((c) =>
    tracer.startSpan(c.operation, {
      kind: SpanKind.CLIENT,
      attributes: { 'db.system.name': c.store === 'redis' ? 'redis' : `larder.${c.store}`, 'db.operation.name': c.operation, ...(c.store === 'redis' ? server : {}) },
    }),
  );
  generatorChannel.subscribe(generator);
  lockChannel.subscribe(lock);
  storeChannel.subscribe(store);
  return () => {
    generatorChannel.unsubscribe(generator);
    lockChannel.unsubscribe(lock);
    storeChannel.unsubscribe(store);
  };
}
