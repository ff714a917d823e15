/**
 * Tracing through `node:diagnostics_channel` (O3). Three tracing channels:
 *
 *   larder:cache      cache calls (getValue, setValue, getMany, setMany, deleteValue, deleteKeys,
 *                     hget, hset)
 *   larder:lock       lock, read/write lock and semaphore acquisitions
 *   larder:generator  generator runs (`operation: 'generate'`), inside the call that missed
 *   larder:store      every store round trip (the guard's calls: GET, SET, EVALSHA, PUBLISH, …)
 *
 * The last two are larder's additions to the two channels SPEC O3 names: separate so that a
 * tracer wanting spans of generator runs or store calls does not make every cache call traced.
 *
 * Each publishes Node's tracing events (start, end, asyncStart, asyncEnd, error) with one context
 * object per call; Node adds `result` (the call's return value) or `error` to it. `cacheId`
 * tells the caches of one process apart (`cache.core.tap.id`).
 *
 * No cost when nobody subscribes: every call site checks `hasSubscribers` before it builds a
 * context, and the outcome store below is never entered, so the hot path pays one property read.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { tracingChannel, type TracingChannel } from 'node:diagnostics_channel';

export type Layer = 'near' | 'store';
export type Outcome = 'hit' | 'miss' | 'stale' | 'waited';

export interface CacheTraceContext {
  operation: string;
  namespace: string;
  /** The logical key (a hash's name for hget/hset, the first key for getMany). */
  key?: string;
  /** A hash field. */
  name?: string;
  /** Where a read was answered (reads only). */
  layer?: Layer;
  /** What a read found (reads only): set before the call settles. */
  outcome?: Outcome;
  cacheId: number;
  result?: unknown;
  error?: unknown;
}

export interface LockTraceContext {
  /** `lock`, `readLock`, `writeLock` or `permit`. */
  operation: string;
  /** The lock's namespace; null for a shared lock. */
  namespace: string | null;
  /** The lock's name as the caller wrote it. */
  name: string;
  /** `acquired`, `timeout`, or `error` (store down, aborted). */
  outcome?: 'acquired' | 'timeout' | 'error';
  cacheId: number;
  result?: unknown;
  error?: unknown;
}

export interface StoreTraceContext {
  /** The command or script (`GET`, `SET`, `EVALSHA`, `MGET`, `PUBLISH`, …). */
  operation: string;
  /** `memory`, `redis` or `custom`. */
  store: string;
  cacheId: number;
  result?: unknown;
  error?: unknown;
}

export const cacheChannel: TracingChannel<unknown, CacheTraceContext> = tracingChannel('larder:cache');
export const lockChannel: TracingChannel<unknown, LockTraceContext> = tracingChannel('larder:lock');
export const storeChannel: TracingChannel<unknown, StoreTraceContext> = tracingChannel('larder:store');
export const generatorChannel: TracingChannel<unknown, CacheTraceContext> = tracingChannel('larder:generator');

/**
 * The context of the traced cache call in progress, so that the read path can say what it found
 * (core.ts: `count`, `nearHit`) without a context parameter threaded through it. Entered only by
 * traced calls: while no one subscribes, `getStore()` returns undefined after one flag check.
 */
const current = new AsyncLocalStorage<CacheTraceContext>();

/**
 * Whether any traced cache call ever ran in this process (sticky): until then the read path does
 * not even look up the outcome store. `noteOutcome` callers check it first.
 */
export const outcomes = { traced: false };

/** Records the layer and outcome of the traced read in progress, if any (the first one wins). */
export function noteOutcome(layer: Layer, outcome: Outcome): void {
  const ctx = current.getStore();
  if (ctx !== undefined && ctx.outcome === undefined) {
    ctx.layer = layer;
    ctx.outcome = outcome;
  }
}

/** Runs a cache call under `larder:cache`. Call only when `cacheChannel.hasSubscribers`. */
export function traceCache<T>(ctx: CacheTraceContext, fn: () => Promise<T>): Promise<T> {
  outcomes.traced = true;
  return current.run(ctx, () => cacheChannel.tracePromise(fn, ctx));
}
