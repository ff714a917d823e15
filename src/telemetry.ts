/**
 * Published telemetry (OP4): with `telemetry: { publishEverySec }`, a running cache publishes a
 * snapshot of its counters on the store's pub/sub every `publishEverySec` seconds, for
 * `npx larder-cache stats` and the dashboard. Off by default: without the option there is no
 * timer, no listener and no message.
 *
 * The channel is the cache's own namespace prefix plus `telemetry` (`lr:<ns>:telemetry`), so a
 * Redis ACL user confined to one tenant's channels (K5) can still publish it; a consumer listens
 * to every cache with PSUBSCRIBE `lr:*:telemetry` (a plain channel, never sharded: see
 * stores/redis/pubsub.ts) and keeps only what `parseTelemetry` accepts.
 *
 * The message is JSON, one object per publish, described by `TelemetryMessage` below. `v` is the
 * schema version: fields are only ever added within a version; a removal or a change of meaning
 * bumps it, and consumers ignore versions they do not know. Counters are cumulative since the
 * cache was created (a consumer takes the difference of two messages of one `source.id` for a
 * rate; a smaller value than before means the cache restarted); `storeLatencyMs` covers only the
 * interval since the previous message.
 *
 * This module is the single place the message shape and channel are defined: the publisher
 * (telemetry/publisher.ts) and the consumers (the CLI, the dashboard) import them from here.
 */
import { namespacePrefix } from './keys.js';

/** The schema version of `TelemetryMessage`. */
export const TELEMETRY_VERSION = 1;

/** Marks a larder telemetry message among whatever else a pattern subscription delivers. */
export const TELEMETRY_KIND = 'larder.telemetry';

/** The last segment of every telemetry channel. */
export const TELEMETRY_CHANNEL_SUFFIX = 'telemetry';

/** PSUBSCRIBE pattern matching the telemetry channel of every namespace. */
export const TELEMETRY_CHANNEL_PATTERN = `lr:*:${TELEMETRY_CHANNEL_SUFFIX}`;

/** The channel a cache whose `namespace` option is `namespace` publishes on. */
export function telemetryChannel(namespace: string): string {
  return `${namespacePrefix(namespace)}${TELEMETRY_CHANNEL_SUFFIX}`;
}

/** Namespaces past `maxNamespaceLabels` are summed under this name (O6). */
export const OTHER_NAMESPACE = 'other';

/** Hits and misses of one namespace, cumulative. */
export interface NamespaceCounters {
  /** Served from the near cache (N1). */
  nearHits: number;
  /** Served by the store (Redis or the embedded store). */
  storeHits: number;
  /** Found nowhere (a generator, if any, then ran). */
  misses: number;
}

export interface TelemetryMessage {
  /** Schema version: `TELEMETRY_VERSION`. */
  v: typeof TELEMETRY_VERSION;
  kind: typeof TELEMETRY_KIND;
  /** Who publishes: `id` is unique per cache instance (host, pid and a random part). */
  source: { id: string; host: string; pid: number };
  /** The cache's `namespace` option (the channel's namespace). */
  namespace: string;
  /** `'memory'` (the embedded store), `'redis'`, or `'custom'` (a Store object). */
  store: 'memory' | 'redis' | 'custom';
  /** Wall-clock time of the snapshot, ms since the epoch. */
  at: number;
  /** The `publishEverySec` option: the next message is due this many seconds later. */
  intervalSec: number;
  /** Seconds since the cache was created. */
  uptimeSec: number;
  /** `cache.stats()` (O1), cumulative. */
  counters: {
    near: { hits: number; misses: number };
    store: { hits: number; misses: number };
    generatorRuns: number;
    staleServes: number;
    errors: Record<string, number>;
    locks: { acquired: number; waits: number; timeouts: number };
  };
  /**
   * Per namespace served by this cache (its views from `forNamespace` and contexts included),
   * cumulative; at most `maxNamespaceLabels` names, the rest summed under `"other"` (O6).
   */
  namespaces: Record<string, NamespaceCounters>;
  /**
   * Store round trips since the previous message: how many, and their latency quantiles in ms
   * (estimated from histogram buckets; null when there were none).
   */
  storeLatencyMs: { count: number; p50: number | null; p99: number | null; max: number | null };
  /** Generator runs since the previous message, and their total duration in ms. */
  generator: { runs: number; totalMs: number };
  /** The near cache (N1–N5), or null when the cache has none. */
  near: { active: boolean; entries: number; bytes: number; evictions: number; invalidations: number } | null;
  /** Deletes waiting to be retried after the store failed them (F3). */
  pendingInvalidations: number;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses one published message: the message, or null when it is not a telemetry message of a
 * version this code knows (a consumer on a pattern subscription sees other traffic too, and a
 * message from a newer larder must not crash an older dashboard).
 */
export function parseTelemetry(payload: Buffer | string): TelemetryMessage | null {
  let m: unknown;
  try {
    m = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch {
    return null;
  }
  if (!isRecord(m) || m.kind !== TELEMETRY_KIND || m.v !== TELEMETRY_VERSION) return null;
  if (!isRecord(m.source) || typeof m.source.id !== 'string' || typeof m.namespace !== 'string') return null;
  if (!isCount(m.at) || !isRecord(m.counters) || !isRecord(m.namespaces)) return null;
  for (const c of Object.values(m.namespaces)) {
    if (!isRecord(c) || !isCount(c.nearHits) || !isCount(c.storeHits) || !isCount(c.misses)) return null;
  }
  return m as unknown as TelemetryMessage;
}

/** What the `telemetry` option accepts. */
export interface TelemetryOptions {
  /** Seconds between two publishes; > 0. */
  publishEverySec: number;
  /** Namespaces reported by name before the rest go under `"other"` (O6). Default 50. */
  maxNamespaceLabels?: number;
}
