/**
 * OP4: the telemetry publisher. With `telemetry: { publishEverySec }` a cache publishes one
 * `TelemetryMessage` (telemetry.ts) every `publishEverySec` seconds on its namespace's telemetry
 * channel. Started by the core only when the option is set; its timer is the cache clock's,
 * unref'd (telemetry alone never keeps a process alive), re-armed after each publish (a slow store
 * never piles up publishes) and stopped by close(), which publishes nothing more.
 *
 * What it costs while on: a listener on the cache's 'hit'/'miss' events (per-namespace counts)
 * and a timing of each store call (the latency quantiles); one PUBLISH per interval.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Clock, Timer } from '../clock.js';
import { ignore } from '../ignore.js';
import type { CacheStats } from '../observability.js';
import type { StoreGuard } from '../policy/guard.js';
import type { Store } from '../stores/store.js';
import {
  TELEMETRY_KIND,
  TELEMETRY_VERSION,
  telemetryChannel,
  type NamespaceCounters,
  type TelemetryMessage,
  type TelemetryOptions,
} from '../telemetry.js';
import { LatencyHistogram } from './histogram.js';
import { NamespaceLabels } from './labels.js';
import type { MetricsTap } from './tap.js';

/** What the publisher reads from a cache (a structural view of CacheCore, without importing it). */
export interface TelemetrySource {
  readonly stats: CacheStats;
  readonly tap: MetricsTap;
  readonly store: Store;
  readonly guard: StoreGuard;
  readonly clock: Clock;
  readonly near: { readonly active: boolean; readonly size: number; readonly bytes: number; readonly evictions: number; readonly invalidations: number } | null;
  readonly invalidations: { readonly size: number };
  readonly options: { readonly namespace: string };
}

/** Collects what the message needs beyond stats(): per-namespace counts and store latencies. */
export class TelemetryCollector {
  readonly namespaces = new Map<string, NamespaceCounters>();
  readonly latency = new LatencyHistogram();
  generatorRuns = 0;
  generatorMs = 0;
  readonly #labels: NamespaceLabels;

  constructor(maxNamespaceLabels: number) {
    this.#labels = new NamespaceLabels(maxNamespaceLabels);
  }

  request(namespace: string, layer: 'near' | 'store', result: 'hit' | 'miss'): void {
    const label = this.#labels.of(namespace);
    let c = this.namespaces.get(label);
    if (c === undefined) this.namespaces.set(label, (c = { nearHits: 0, storeHits: 0, misses: 0 }));
    if (result === 'miss') c.misses++;
    else if (layer === 'near') c.nearHits++;
    else c.storeHits++;
  }

  storeCall(_command: string, seconds: number): void {
    this.latency.record(seconds * 1000);
  }

  generator(seconds: number): void {
    this.generatorRuns++;
    this.generatorMs += seconds * 1000;
  }
}

/** Builds one message and resets the per-interval parts. */
export function snapshot(src: TelemetrySource, collector: TelemetryCollector, meta: { id: string; intervalSec: number; startedAt: number }): TelemetryMessage {
  const { stats, near } = src;
  const now = src.clock.now();
  const lat = collector.latency;
  const msg: TelemetryMessage = {
    v: TELEMETRY_VERSION,
    kind: TELEMETRY_KIND,
    source: { id: meta.id, host: hostname(), pid: process.pid },
    namespace: src.options.namespace,
    store: src.tap.store,
    at: now,
    intervalSec: meta.intervalSec,
    uptimeSec: Math.max(0, (now - meta.startedAt) / 1000),
    counters: structuredClone(stats),
    namespaces: Object.fromEntries([...collector.namespaces].map(([ns, c]) => [ns, { ...c }])),
    storeLatencyMs: { count: lat.count, p50: round(lat.quantile(0.5)), p99: round(lat.quantile(0.99)), max: lat.count === 0 ? null : round(lat.max) },
    generator: { runs: collector.generatorRuns, totalMs: round(collector.generatorMs) ?? 0 },
    near: near === null ? null : { active: near.active, entries: near.size, bytes: near.bytes, evictions: near.evictions, invalidations: near.invalidations },
    pendingInvalidations: src.invalidations.size,
  };
  lat.reset();
  collector.generatorRuns = 0;
  collector.generatorMs = 0;
  return msg;
}

function round(ms: number | null): number | null {
  return ms === null ? null : Math.round(ms * 1000) / 1000;
}

/** Starts publishing; returns the stop function (close() runs it). */
export function startTelemetry(src: TelemetrySource, opts: Required<TelemetryOptions>): () => void {
  const collector = new TelemetryCollector(opts.maxNamespaceLabels);
  const removeSink = src.tap.add({
    // Telemetry v1 carries hits and misses per layer; stale and waited reads are in stats() only.
    request: (ns, layer, result) => {
      if (result === 'hit' || result === 'miss') collector.request(ns, layer, result);
    },
    storeCall: (command, seconds) => collector.storeCall(command, seconds),
    generator: (seconds) => collector.generator(seconds),
  });
  const channel = telemetryChannel(src.options.namespace);
  const meta = { id: `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`, intervalSec: opts.publishEverySec, startedAt: src.clock.now() };
  const everyMs = opts.publishEverySec * 1000;
  let stopped = false;
  let timer: Timer | undefined;
  const tick = (): void => {
    timer = undefined;
    if (stopped) return;
    const payload = Buffer.from(JSON.stringify(snapshot(src, collector, meta)));
    // Through the guard: bounded, counted, and dropped (not thrown) while the store is down.
    src.guard
      .write('PUBLISH', () => src.store.publish(channel, payload))
      .catch(ignore)
      .finally(() => {
        if (!stopped) timer = src.clock.setTimeout(tick, everyMs, true);
      });
  };
  timer = src.clock.setTimeout(tick, everyMs, true);
  return () => {
    stopped = true;
    timer?.cancel();
    timer = undefined;
    removeSink();
  };
}
