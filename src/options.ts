/**
 * Cache options: the types, their defaults, and validation. Resolved once, at construction; a bad
 * option throws a TypeError naming it, before anything connects.
 */

import { DEFAULTS } from './defaults.js';
import { isStringArray } from './elements.js';
import type { BreakerOptions } from './policy/breaker.js';
import type { Codec } from './codec/index.js';
import { resolveClock, type Clock } from './clock.js';
import { validateScopePart } from './keys.js';
import { DEFAULT_MAX_NAMESPACE_LABELS } from './metrics/labels.js';
import type { NearCacheOptions } from './near/near-cache.js';
import type { MemoryLimits } from './stores/memory/index.js';
import type { RedisStoreSpec, SentinelSpec } from './stores/redis/index.js';
import type { Store } from './stores/store.js';
import type { TelemetryOptions } from './telemetry.js';

export type { MemoryLimits, NearCacheOptions, SentinelSpec };

/** Where data lives (SPEC §0 `store`). A Redis spec: see stores/redis/connect.ts. */
export type StoreSpec = 'memory' | RedisStoreSpec | Store;



export interface CacheOptions {
  /** Where data lives. Default: `process.env.LARDER_REDIS_URL` if set, else `'memory'`. */
  store?: StoreSpec;
  /** The tenant ("site") every non-shared key belongs to. Default `'default'`. */
  namespace?: string;
  /** TTL of writes that give none. `null` (the default): no expiry. Must be > 0 otherwise. */
  defaultTtlSec?: number | null;
  /** `false` (the default) or the bounds of the in-process L1 kept coherent with the store. */
  nearCache?: false | NearCacheOptions;
  /** Replaces the built-in codec (C3). Bytes that are an ASCII integer still read as numbers (incr). */
  codec?: Codec;
  /** Every store call that takes longer fails with StoreTimeoutError. Default 1000. */
  commandTimeoutMs?: number;
  /** What a store failure does to reads and writes (F2). Default `'degrade'`. */
  onStoreError?: 'degrade' | 'throw';
  /** Key patterns (P1 syntax) that clearCache() keeps. Default none. */
  persistentKeys?: string[];
  /** Limits of the embedded store, LRU eviction past them. Default `{ maxEntries: 1_000_000 }`. */
  memory?: MemoryLimits;
  /** Largest encoded value accepted (C5). Default 64 MiB. */
  maxValueBytes?: number;
  /** Lease of a cross-process generator run (S5). Default 10_000. */
  leaseMs?: number;
  /**
   * The circuit breaker in front of the store (F2): after `failures` unavailability failures in a
   * row (default 5), calls fail at once with StoreUnavailableError for `cooldownMs` (default 250),
   * then one probe call goes through. `false` turns it off.
   */
  circuitBreaker?: false | Partial<BreakerOptions>;
  /**
   * Time for everything that reads or waits for it (TTLs of the embedded store, leases, lock waits,
   * polling, breaker, XFetch, deadlines): injectable for tests. Default: the system clock.
   */
  clock?: Clock;
  /** Wall time in ms only (the clock's `now`), kept for older callers. Default `Date.now`. */
  now?: () => number;
  /** Randomness in [0, 1), injectable for tests (XFetch, jitter). Default `Math.random`. */
  random?: () => number;
  /**
   * OP4: publish this cache's counters on the store's pub/sub every `publishEverySec` seconds
   * (telemetry.ts: channel and message), for `npx larder-cache stats` and the dashboard.
   * `false` (the default): nothing is published and no timer runs.
   */
  telemetry?: false | TelemetryOptions;
}

export interface ResolvedOptions {
  store: StoreSpec;
  namespace: string;
  defaultTtlSec: number | null;
  nearCache: false | Required<Pick<NearCacheOptions, 'maxEntries'>> & NearCacheOptions;
  codec: Codec | undefined;
  commandTimeoutMs: number;
  onStoreError: 'degrade' | 'throw';
  persistentKeys: string[];
  memory: MemoryLimits;
  maxValueBytes: number;
  leaseMs: number;
  circuitBreaker: false | BreakerOptions;
  clock: Clock;
  /** `clock.now`, bound. */
  now: () => number;
  random: () => number;
  telemetry: false | Required<TelemetryOptions>;
}


const KNOWN = new Set([
  'store', 'namespace', 'defaultTtlSec', 'nearCache', 'codec', 'commandTimeoutMs', 'onStoreError',
  'persistentKeys', 'memory', 'maxValueBytes', 'leaseMs', 'circuitBreaker', 'clock', 'now', 'random',
  'telemetry',
]);

function fail(option: string, why: string): never {
  throw new TypeError(`larder: option ${option} ${why}`);
}

function positiveNumber(option: string, v: unknown, integer = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    fail(option, `must be a positive ${integer ? 'integer' : 'finite number'}, got ${String(v)}`);
  }
  return v;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

export function isStoreObject(v: unknown): v is Store {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  return ['get', 'set', 'delete', 'scan', 'eval', 'publish', 'subscribe', 'close'].every((m) => typeof s[m] === 'function');
}

function isIoredisClient(v: unknown): boolean {
  // Redis and Cluster instances both have duplicate() and sendCommand().
  return typeof v === 'object' && v !== null && typeof (v as { duplicate?: unknown }).duplicate === 'function'
    && typeof (v as { sendCommand?: unknown }).sendCommand === 'function';
}

function resolveStore(v: unknown): StoreSpec {
  if (v === undefined) {
    // An empty LARDER_REDIS_URL counts as unset.
    const url = process.env.LARDER_REDIS_URL;
    return url === undefined || url === '' ? 'memory' : url;
  }
  if (typeof v === 'string') {
    if (v === 'memory') return v;
    let url: URL;
    try {
      url = new URL(v);
    } catch {
      fail('store', `must be 'memory' or a redis:// or rediss:// URL, got ${JSON.stringify(v)}`);
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      fail('store', `URL must use redis:// or rediss://, got ${url.protocol}//`);
    }
    return v;
  }
  if (isStoreObject(v) || isIoredisClient(v)) return v as StoreSpec;
  if (isPlainObject(v)) {
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === 'redis' && typeof v.redis === 'object' && v.redis !== null) return v as StoreSpec;
    if (keys.length === 1 && keys[0] === 'cluster') {
      const c = v.cluster as { nodes?: unknown } | undefined;
      if (!c || !Array.isArray(c.nodes) || c.nodes.length === 0) fail('store.cluster.nodes', 'must be a non-empty array');
      return v as StoreSpec;
    }
    if (keys.length === 1 && keys[0] === 'sentinel') {
      const s = v.sentinel as { sentinels?: unknown; name?: unknown } | undefined;
      if (!s || !Array.isArray(s.sentinels) || s.sentinels.length === 0) fail('store.sentinel.sentinels', 'must be a non-empty array');
      if (typeof s.name !== 'string' || s.name === '') fail('store.sentinel.name', 'must be the master group name');
      return v as StoreSpec;
    }
  }
  fail('store', "must be 'memory', a Redis URL, { redis }, { cluster }, { sentinel }, an ioredis client or a Store");
}

export function resolveOptions(input: unknown): ResolvedOptions {
  if (input === undefined) input = {};
  if (!isPlainObject(input)) throw new TypeError('larder: options must be a plain object');
  for (const k of Object.keys(input)) if (!KNOWN.has(k)) fail(k, 'is not a larder option');
  const o = input as CacheOptions;

  const namespace = o.namespace ?? DEFAULTS.namespace;
  try {
    validateScopePart(namespace, 'namespace');
  } catch (err) {
    fail('namespace', (err as Error).message);
  }

  let defaultTtlSec: number | null = DEFAULTS.defaultTtlSec;
  if (o.defaultTtlSec !== undefined && o.defaultTtlSec !== null) defaultTtlSec = positiveNumber('defaultTtlSec', o.defaultTtlSec);

  let nearCache: ResolvedOptions['nearCache'] = false;
  if (o.nearCache !== undefined && o.nearCache !== false) {
    if (!isPlainObject(o.nearCache)) fail('nearCache', 'must be false or { maxEntries, maxBytes?, ttlSec? }');
    const n = o.nearCache;
    nearCache = { maxEntries: positiveNumber('nearCache.maxEntries', n.maxEntries, true) };
    if (n.maxBytes !== undefined) nearCache.maxBytes = positiveNumber('nearCache.maxBytes', n.maxBytes, true);
    if (n.ttlSec !== undefined) nearCache.ttlSec = positiveNumber('nearCache.ttlSec', n.ttlSec);
  }

  if (o.codec !== undefined) {
    const c = o.codec as Partial<Codec> | null;
    if (!c || typeof c.encode !== 'function' || typeof c.decode !== 'function') fail('codec', 'must have encode() and decode()');
  }

  const commandTimeoutMs = o.commandTimeoutMs === undefined ? DEFAULTS.commandTimeoutMs : positiveNumber('commandTimeoutMs', o.commandTimeoutMs);
  const onStoreError: unknown = o.onStoreError ?? DEFAULTS.onStoreError;
  if (onStoreError !== 'degrade' && onStoreError !== 'throw') fail('onStoreError', `must be 'degrade' or 'throw', got ${String(onStoreError)}`);

  const persistentKeys = o.persistentKeys ?? [];
  // isStringArray stops at the first hole (Z1: every() would walk a sparse list's declared length).
  if (!isStringArray(persistentKeys) || persistentKeys.some((p) => p.length === 0)) {
    fail('persistentKeys', 'must be an array of non-empty pattern strings');
  }

  let memory: MemoryLimits = { maxEntries: DEFAULTS.memoryMaxEntries };
  if (o.memory !== undefined) {
    if (!isPlainObject(o.memory)) fail('memory', 'must be { maxEntries?, maxBytes? }');
    for (const k of Object.keys(o.memory)) if (k !== 'maxEntries' && k !== 'maxBytes') fail(`memory.${k}`, 'is not a memory limit');
    memory = {};
    memory.maxEntries = o.memory.maxEntries === undefined ? DEFAULTS.memoryMaxEntries : positiveNumber('memory.maxEntries', o.memory.maxEntries, true);
    if (o.memory.maxBytes !== undefined) memory.maxBytes = positiveNumber('memory.maxBytes', o.memory.maxBytes, true);
  }

  const maxValueBytes = o.maxValueBytes === undefined ? DEFAULTS.maxValueBytes : positiveNumber('maxValueBytes', o.maxValueBytes, true);
  const leaseMs = o.leaseMs === undefined ? DEFAULTS.leaseMs : positiveNumber('leaseMs', o.leaseMs);
  let circuitBreaker: false | BreakerOptions = { ...DEFAULTS.breaker };
  if (o.circuitBreaker === false) circuitBreaker = false;
  else if (o.circuitBreaker !== undefined) {
    if (!isPlainObject(o.circuitBreaker)) fail('circuitBreaker', 'must be false or { failures?, cooldownMs? }');
    for (const k of Object.keys(o.circuitBreaker)) {
      if (k !== 'failures' && k !== 'cooldownMs') fail(`circuitBreaker.${k}`, 'is not a circuit breaker option');
    }
    const b = o.circuitBreaker;
    if (b.failures !== undefined) circuitBreaker.failures = positiveNumber('circuitBreaker.failures', b.failures, true);
    if (b.cooldownMs !== undefined) circuitBreaker.cooldownMs = positiveNumber('circuitBreaker.cooldownMs', b.cooldownMs);
  }
  if (o.now !== undefined && typeof o.now !== 'function') fail('now', 'must be a function returning milliseconds');
  const clock = resolveClock(o.clock, o.now);
  if (o.random !== undefined && typeof o.random !== 'function') fail('random', 'must be a function returning a number in [0, 1)');

  let telemetry: ResolvedOptions['telemetry'] = false;
  if (o.telemetry !== undefined && o.telemetry !== false) {
    if (!isPlainObject(o.telemetry)) fail('telemetry', 'must be false or { publishEverySec, maxNamespaceLabels? }');
    for (const k of Object.keys(o.telemetry)) {
      if (k !== 'publishEverySec' && k !== 'maxNamespaceLabels') fail(`telemetry.${k}`, 'is not a telemetry option');
    }
    const t = o.telemetry;
    const max = t.maxNamespaceLabels ?? DEFAULT_MAX_NAMESPACE_LABELS;
    if (!Number.isInteger(max) || max < 0) fail('telemetry.maxNamespaceLabels', `must be a non-negative integer, got ${String(max)}`);
    telemetry = { publishEverySec: positiveNumber('telemetry.publishEverySec', t.publishEverySec), maxNamespaceLabels: max };
  }

  return {
    store: resolveStore(o.store),
    namespace,
    defaultTtlSec,
    nearCache,
    codec: o.codec,
    commandTimeoutMs,
    onStoreError,
    persistentKeys: [...persistentKeys],
    memory,
    maxValueBytes,
    leaseMs,
    circuitBreaker,
    clock,
    now: () => clock.now(),
    random: o.random ?? Math.random,
    telemetry,
  };
}
