/**
 * What running caches publish (OP4, the message contract of ../telemetry.ts), heard and summed
 * for `stats` and the dashboard.
 *
 * One connection PSUBSCRIBEs `lr:*:telemetry`. A plain PUBLISH reaches every node of a cluster,
 * so one node hears every cache; on Sentinel it is the master. Each message is a cumulative
 * snapshot of one cache (`source.id`); the aggregator keeps the last one per source and, as
 * each arrives, the difference from that source's previous one (a counter that went down means
 * the cache restarted: its new value is the difference then). Those differences, kept for a
 * short window, give rates and ratios "over the last few seconds" for the live views.
 */
import { TELEMETRY_CHANNEL_PATTERN, parseTelemetry, type TelemetryMessage } from '../telemetry.js';
import { CliFailure, reasonOf, type Target } from './target.js';

export const STATS_SCHEMA = 'larder-cache/stats@1';

interface Delta {
  at: number;
  namespaces: Record<string, { nearHits: number; storeHits: number; misses: number }>;
  generatorRuns: number;
  generatorMs: number;
  lockAcquired: number;
  lockWaits: number;
  lockTimeouts: number;
  evictions: number;
  errors: number;
  latency: { count: number; p50: number | null; p99: number | null };
}

export interface NamespaceStats {
  namespace: string;
  /** Caches whose last message counted this namespace. */
  sources: number;
  /** Cumulative over the caches heard (their last messages). */
  nearHits: number;
  storeHits: number;
  misses: number;
  /** Hits ÷ (hits + misses), cumulative; null before any read. */
  hitRatio: number | null;
  /** Over the window: the same ratio, and reads per second. */
  windowHitRatio: number | null;
  readsPerSec: number;
}

export interface StatsSnapshot {
  schema: typeof STATS_SCHEMA;
  at: number;
  /** Seconds the window rates and ratios are taken over. */
  windowSec: number;
  sources: Array<{ id: string; host: string; pid: number; namespace: string; store: string; lastSeen: number; intervalSec: number }>;
  namespaces: NamespaceStats[];
  /**
   * Store round trips in the window: the count, the count-weighted mean of the caches' p50, and
   * the largest of their p99 (a bound, not an exact quantile of the union).
   */
  storeLatencyMs: { count: number; p50: number | null; p99: number | null };
  generator: { runs: number; runsPerSec: number; meanMs: number | null };
  locks: { acquired: number; waits: number; timeouts: number; waitsPerSec: number; timeoutsPerSec: number };
  near: { caches: number; active: number; entries: number; bytes: number; evictions: number; evictionsPerSec: number } | null;
  errors: { total: number; perSec: number; byCode: Record<string, number> };
  pendingInvalidations: number;
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
/** A difference of cumulative counters; a smaller value means the source restarted. */
const diff = (now: number, before: number | undefined) => (before === undefined || now < before ? now : now - before);

export class Aggregator {
  readonly #last = new Map<string, TelemetryMessage>();
  readonly #deltas: Delta[] = [];
  readonly #windowMs: number;
  readonly #now: () => number;

  constructor(windowSec = 10, now: () => number = Date.now) {
    this.#windowMs = windowSec * 1000;
    this.#now = now;
  }

  get size(): number {
    return this.#last.size;
  }

  add(m: TelemetryMessage): void {
    const prev = this.#last.get(m.source.id);
    const namespaces: Delta['namespaces'] = {};
    for (const [ns, c] of Object.entries(m.namespaces)) {
      const p = prev?.namespaces[ns];
      namespaces[ns] = { nearHits: diff(c.nearHits, p?.nearHits), storeHits: diff(c.storeHits, p?.storeHits), misses: diff(c.misses, p?.misses) };
    }
    const l = m.counters.locks;
    const pl = prev?.counters.locks;
    this.#deltas.push({
      at: this.#now(),
      namespaces,
      generatorRuns: m.generator.runs,
      generatorMs: m.generator.totalMs,
      lockAcquired: diff(l.acquired, pl?.acquired),
      lockWaits: diff(l.waits, pl?.waits),
      lockTimeouts: diff(l.timeouts, pl?.timeouts),
      evictions: m.near === null ? 0 : diff(m.near.evictions, prev?.near?.evictions),
      errors: diff(sum(m.counters.errors), prev === undefined ? undefined : sum(prev.counters.errors)),
      latency: m.storeLatencyMs,
    });
    this.#last.set(m.source.id, m);
    this.#prune();
  }

  #prune(): void {
    const cutoff = this.#now() - this.#windowMs;
    while (this.#deltas.length > 0 && this.#deltas[0]!.at < cutoff) this.#deltas.shift();
    // A cache not heard for three of its intervals (and the window) is gone.
    for (const [id, m] of this.#last) {
      if (this.#now() - m.at > Math.max(3 * m.intervalSec * 1000, this.#windowMs)) this.#last.delete(id);
    }
  }

  snapshot(): StatsSnapshot {
    this.#prune();
    const windowSec = this.#windowMs / 1000;
    const byNs = new Map<string, NamespaceStats>();
    const nsOf = (ns: string) => {
      let s = byNs.get(ns);
      if (s === undefined) {
        s = { namespace: ns, sources: 0, nearHits: 0, storeHits: 0, misses: 0, hitRatio: null, windowHitRatio: null, readsPerSec: 0 };
        byNs.set(ns, s);
      }
      return s;
    };
    let near: StatsSnapshot['near'] = null;
    const errorsByCode: Record<string, number> = {};
    let generatorRuns = 0;
    let pending = 0;
    const locks = { acquired: 0, waits: 0, timeouts: 0, waitsPerSec: 0, timeoutsPerSec: 0 };
    for (const m of this.#last.values()) {
      for (const [ns, c] of Object.entries(m.namespaces)) {
        const s = nsOf(ns);
        s.sources++;
        s.nearHits += c.nearHits;
        s.storeHits += c.storeHits;
        s.misses += c.misses;
      }
      generatorRuns += m.counters.generatorRuns;
      locks.acquired += m.counters.locks.acquired;
      locks.waits += m.counters.locks.waits;
      locks.timeouts += m.counters.locks.timeouts;
      pending += m.pendingInvalidations;
      for (const [code, n] of Object.entries(m.counters.errors)) errorsByCode[code] = (errorsByCode[code] ?? 0) + n;
      if (m.near !== null) {
        near ??= { caches: 0, active: 0, entries: 0, bytes: 0, evictions: 0, evictionsPerSec: 0 };
        near.caches++;
        if (m.near.active) near.active++;
        near.entries += m.near.entries;
        near.bytes += m.near.bytes;
        near.evictions += m.near.evictions;
      }
    }
    const win = new Map<string, { hits: number; reads: number }>();
    let latCount = 0;
    let latP50Weighted = 0;
    let latP99: number | null = null;
    let runs = 0;
    let runMs = 0;
    let waits = 0;
    let timeouts = 0;
    let evictions = 0;
    let errors = 0;
    for (const d of this.#deltas) {
      for (const [ns, c] of Object.entries(d.namespaces)) {
        const w = win.get(ns) ?? { hits: 0, reads: 0 };
        w.hits += c.nearHits + c.storeHits;
        w.reads += c.nearHits + c.storeHits + c.misses;
        win.set(ns, w);
        nsOf(ns);
      }
      if (d.latency.count > 0 && d.latency.p50 !== null) {
        latCount += d.latency.count;
        latP50Weighted += d.latency.p50 * d.latency.count;
        if (d.latency.p99 !== null) latP99 = Math.max(latP99 ?? 0, d.latency.p99);
      }
      runs += d.generatorRuns;
      runMs += d.generatorMs;
      waits += d.lockWaits;
      timeouts += d.lockTimeouts;
      evictions += d.evictions;
      errors += d.errors;
    }
    for (const s of byNs.values()) {
      const reads = s.nearHits + s.storeHits + s.misses;
      s.hitRatio = reads === 0 ? null : (s.nearHits + s.storeHits) / reads;
      const w = win.get(s.namespace);
      s.windowHitRatio = w === undefined || w.reads === 0 ? null : w.hits / w.reads;
      s.readsPerSec = w === undefined ? 0 : w.reads / windowSec;
    }
    locks.waitsPerSec = waits / windowSec;
    locks.timeoutsPerSec = timeouts / windowSec;
    if (near !== null) near.evictionsPerSec = evictions / windowSec;
    return {
      schema: STATS_SCHEMA,
      at: this.#now(),
      windowSec,
      sources: [...this.#last.values()].map((m) => ({
        id: m.source.id,
        host: m.source.host,
        pid: m.source.pid,
        namespace: m.namespace,
        store: m.store,
        lastSeen: m.at,
        intervalSec: m.intervalSec,
      })),
      namespaces: [...byNs.values()].sort((a, b) => a.namespace.localeCompare(b.namespace)),
      storeLatencyMs: { count: latCount, p50: latCount === 0 ? null : latP50Weighted / latCount, p99: latP99 },
      generator: { runs: generatorRuns, runsPerSec: runs / windowSec, meanMs: runs === 0 ? null : runMs / runs },
      locks,
      near,
      errors: { total: sum(errorsByCode), perSec: errors / windowSec, byCode: errorsByCode },
      pendingInvalidations: pending,
    };
  }
}

/** Listens to every cache's telemetry on the target; `onMessage` for each valid message. */
export async function listenTelemetry(target: Target, onMessage: (m: TelemetryMessage) => void): Promise<() => Promise<void>> {
  const [node] = await target.masters();
  if (node === undefined) throw new CliFailure(`${target.endpoint}: no master to listen on`);
  const sub = node.duplicate({ lazyConnect: true, enableReadyCheck: false, retryStrategy: (n: number) => Math.min(n * 100, 2000) });
  sub.on('error', () => undefined);
  sub.on('pmessageBuffer', (_pattern: Buffer, _channel: Buffer, payload: Buffer) => {
    const m = parseTelemetry(payload);
    if (m !== null) onMessage(m);
  });
  try {
    await sub.connect();
    await sub.psubscribe(TELEMETRY_CHANNEL_PATTERN);
  } catch (err) {
    sub.disconnect();
    throw new CliFailure(`could not subscribe to telemetry on ${reasonOf(err, target.endpoint)}`);
  }
  return async () => {
    try {
      await sub.quit();
    } catch {
      sub.disconnect();
    }
  };
}
