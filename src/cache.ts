/**
 * The Cache facade: Frappe's `frappe.cache` API (strings, hashes, lists, sets, patterns, clearing)
 * over any Store. Argument checks happen first and throw TypeErrors before any I/O (K4, C2, S1);
 * every store call then goes through the StoreGuard (timeouts, degrade-or-throw, counters).
 *
 * A Cache is a view: `forNamespace(ns)` returns another view over the same core (same store, same
 * counters, same in-flight loads), bound to another tenant.
 */

import { decodeValue, encodeValue, isIntegerCounter, type Codec } from './codec.js';
import { runInContext as runWithContext, currentContext, contextUser, requireContext, type ContextInput } from './context.js';
import { DecodeError, KeyError, LockTimeoutError, ValueError, isUnavailability } from './errors.js';
import { entryExpiry, isEntry, readEntry, writeEntry } from './entry.js';
import { PendingInvalidations } from './invalidations.js';
import { readWithPolicy, stalePolicy, type StaleOptions, type StalePolicy } from './refresh.js';
import { Stampede, type Load } from './stampede.js';
import { lockContext } from './locks/context.js';
import { Lock, resolveLockOptions, runHolding, type LockOptions } from './locks/lock.js';
import { acquireMutex } from './locks/mutex.js';
import { ReadWriteLock } from './locks/read-write.js';
import { Semaphore, validatePermits, type SemaphoreOptions } from './locks/semaphore.js';
import { StoreGuard } from './guard.js';
import {
  compilePattern,
  namespacePrefix,
  parseAnyKey,
  parseKey,
  physicalKey,
  scopePrefix,
  validateKey,
  validateScopePart,
  type KeyScope,
  type Space,
} from './keys.js';
import { Emitter, emptyStats, type CacheEvents, type CacheStats } from './observability.js';
import { NEAR_MISS, NearCache, nearStore, setAndTrack, type Ticket } from './near-cache.js';
import { RedisTracking } from './stores/redis-tracking.js';
import { ClusterTracking } from './stores/redis-cluster-tracking.js';
import { isStoreObject, resolveOptions, type CacheOptions, type ResolvedOptions } from './options.js';
import { compareAndDelete } from './scripts.js';
import { SingleFlight } from './single-flight.js';
import { MemoryStore, sharedMemoryStore } from './stores/memory/index.js';
import { RedisStore, createRedisStore } from './stores/redis.js';
import { bumpDocumentEpoch, DocumentCache, type DocumentsOptions } from './documents.js';
import { createMiddleware, type LarderMiddleware, type MiddlewareOptions } from './middleware.js';
import {
  cachedDecorator,
  clearProcessCaches,
  memoize,
  processCached,
  requestCached,
  type Memoized,
  type MemoizeOptions,
  type ProcessCached,
  type ProcessCachedOptions,
  type RequestCached,
} from './memoize.js';
import type { Store, TtlMs } from './stores/store.js';

export interface ScopeOptions {
  /** Scope the key to a user inside the namespace; `true`: the context's user (K2). */
  user?: string | true;
  /** A key outside every namespace (K1). */
  shared?: boolean;
}

export interface SetValueOptions extends ScopeOptions {
  /** Seconds to live; absent: `defaultTtlSec`; `null`: no expiry (S1). */
  expiresInSec?: number | null;
}

export interface GetValueOptions<T> extends SetValueOptions, StaleOptions {
  /**
   * Called on a miss; its result is stored and returned (S3), once per key in flight in this
   * process (S4) and once per lease across processes (S5).
   */
  generator?: () => T | Promise<T>;
}

export interface HashGetOptions<T> extends ScopeOptions {
  generator?: () => T | Promise<T>;
}

/** Lists and sets take their values as rest arguments, so their scope comes with the name. */
export type KeyRef = string | ({ key: string } & ScopeOptions);

const MISS: unique symbol = Symbol('miss');
type Miss = typeof MISS;

/** State shared by every view of one cache. */
export class CacheCore {
  readonly options: ResolvedOptions;
  readonly store: Store;
  readonly stats: CacheStats = emptyStats();
  readonly events = new Emitter();
  readonly guard: StoreGuard;
  readonly flights = new SingleFlight();
  /** Deletes that could not reach the store, retried when it answers again (F3). */
  readonly invalidations: PendingInvalidations;
  /** Cross-process leases for generator runs and background refreshes (S5–S7). */
  readonly stampede: Stampede;
  /** Cleanups of layers built on this core (process-cache subscriptions), run first by close(). */
  readonly onClose = new Set<() => void | Promise<void>>();
  /** The near cache (N1–N5); null when off, and on stores that need none or cannot track (embedded, a store passed in). */
  readonly near: NearCache | null = null;
  /** The store without the near cache's write hooks: for setValue's own tracked write (N1). */
  readonly rawStore: Store;
  #tracking: RedisTracking | ClusterTracking | undefined;
  readonly #ownsStore: boolean;
  readonly #encode: (v: unknown) => Buffer;
  readonly #decode: (b: Buffer) => unknown;
  readonly #unwatch: () => void;
  #closing: Promise<void> | undefined;

  constructor(options: ResolvedOptions) {
    this.options = options;
    const spec = options.store;
    if (spec === 'memory') {
      this.store = sharedMemoryStore(options.memory, options.clock);
      this.#ownsStore = false;
    } else if (isStoreObject(spec)) {
      this.store = spec;
      this.#ownsStore = false;
    } else {
      this.store = createRedisStore(spec, { commandTimeoutMs: options.commandTimeoutMs });
      this.#ownsStore = true;
    }
    this.rawStore = this.store;
    // --- near cache (near-cache.ts): only on a store Redis can track for us; the embedded store
    // needs no second copy of its data. Only on a store this cache opened: the main connection's
    // tracking can redirect to one invalidation connection, so two caches must not share one.
    // On a cluster, every node of the pool gets its own tracking pair (redis-cluster-tracking.ts).
    const redis = options.nearCache !== false && this.#ownsStore && this.store instanceof RedisStore ? this.store : undefined;
    const tracking = redis?.trackingConnections();
    const clusterTracking = redis?.clusterTracking();
    if (options.nearCache !== false && !this.#ownsStore && !(this.store instanceof MemoryStore)) {
      // Not silently: whoever asked for a near cache should know they are not getting one.
      process.emitWarning(
        'larder: nearCache is ignored on a store passed in as an object; give createCache the Redis URL, options or ioredis client instead, so the cache opens (and tracks) connections of its own',
        { code: 'LARDER_NEAR_CACHE_OFF' },
      );
    }
    if (options.nearCache !== false && (tracking !== undefined || clusterTracking !== undefined)) {
      const near = new NearCache({ ...options.nearCache, now: options.now, decode: (b) => this.#decode(b) });
      this.near = near;
      this.store = nearStore(this.store, near);
      const sink = {
        invalidate: (keys: string[] | null) => {
          near.invalidate(keys);
          if (this.events.wantsInvalidate) this.#reportRemote(keys);
        },
        setActive: (active: boolean) => near.setActive(active),
        error: (err: Error) => this.guard.report(err),
      };
      this.#tracking = tracking !== undefined ? new RedisTracking(tracking, sink) : new ClusterTracking(clusterTracking!, sink);
    }
    // --- end near cache
    this.guard = new StoreGuard({
      timeoutMs: options.commandTimeoutMs,
      // The embedded store answers at once, and the Redis store bounds every call by the same
      // commandTimeoutMs itself; only stores of unknown make need the guard's own deadline.
      bounded: !(this.rawStore instanceof MemoryStore || this.rawStore instanceof RedisStore),
      policy: options.onStoreError,
      stats: this.stats,
      events: this.events,
      // The embedded store answers synchronously and cannot be unreachable: no breaker to consult.
      breaker: this.store instanceof MemoryStore ? false : options.circuitBreaker,
      now: options.now,
    });
    this.invalidations = new PendingInvalidations(this.store, this.guard);
    this.guard.onRecovered = () => void this.invalidations.flush();
    this.stampede = new Stampede(this);
    this.#unwatch = this.store.watch({ error: (err) => this.guard.report(err) });
    const max = options.maxValueBytes;
    const custom = options.codec;
    if (custom === undefined) {
      this.#encode = (v) => encodeValue(v, max);
      this.#decode = decodeValue;
    } else {
      this.#encode = (v) => encodeCustom(custom, v, max);
      this.#decode = (b) => decodeCustom(custom, b);
    }
  }

  /** O2: remote invalidations of the near cache, as logical keys per namespace (values only). */
  #reportRemote(keys: string[] | null): void {
    if (keys === null) {
      this.events.emit('invalidate', { pattern: '*', namespace: null, reason: 'remote' });
      return;
    }
    const byNamespace = new Map<string | null, string[]>();
    for (const pk of keys) {
      const parsed = parseAnyKey(pk);
      if (parsed === null || parsed.space !== 'k') continue;
      let list = byNamespace.get(parsed.namespace);
      if (list === undefined) byNamespace.set(parsed.namespace, (list = []));
      list.push(parsed.name);
    }
    for (const [namespace, list] of byNamespace) this.events.emit('invalidate', { keys: list, namespace, reason: 'remote' });
  }

  /** Encodes a value for the store; throws ValueError (C2, C5) synchronously, before any I/O. */
  encode(value: unknown): Buffer {
    if (value === undefined) throw new ValueError('undefined cannot be stored as a value (C1)', '$');
    return this.#encode(value);
  }

  /**
   * Decodes stored bytes. Bytes that fail to decode are a miss (C3): the failure is reported, and
   * the stored value is removed if it still holds the same bytes.
   *
   * Also a miss: a key whose delete is pending (F3: never serve what an invalidation that failed
   * meant to remove; the retry is kicked off), and an entry with metadata (entry.ts) past its
   * logical expiry, unless `stale` (S7: only the caller who asked for stale data gets it).
   */
  decode(bytes: Buffer, physical: string | null, key: string, stale = false): unknown | Miss {
    if (physical !== null && this.invalidations.size > 0 && this.invalidations.blocks(physical)) {
      void this.invalidations.flush();
      return MISS;
    }
    let stored = bytes;
    if (isEntry(bytes)) {
      if (!stale && this.options.now() >= entryExpiry(bytes)!) return MISS;
      stored = readEntry(bytes)!.value;
    }
    try {
      return this.#decode(stored);
    } catch (cause) {
      const err = cause instanceof DecodeError ? cause : new DecodeError(`stored value of ${JSON.stringify(key)} could not be decoded`, { cause, key });
      this.guard.report(err);
      if (physical !== null) {
        this.guard.write('compare-and-delete', () => this.store.eval(compareAndDelete, [physical], [bytes])).catch(() => {});
      }
      return MISS;
    }
  }

  /** S1: seconds → store TTL in ms. `undefined` means the default TTL. */
  ttlMs(expiresInSec: number | null | undefined, what = 'expiresInSec'): TtlMs {
    if (expiresInSec === undefined) {
      const d = this.options.defaultTtlSec;
      return d === null ? null : Math.max(1, Math.round(d * 1000));
    }
    if (expiresInSec === null) return null;
    if (typeof expiresInSec !== 'number' || !Number.isFinite(expiresInSec) || expiresInSec <= 0) {
      throw new TypeError(`${what} must be a positive finite number of seconds or null, got ${String(expiresInSec)}`);
    }
    return Math.max(1, Math.round(expiresInSec * 1000));
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const cleanup of this.onClose) await cleanup();
      this.#tracking?.close();
      this.invalidations.close();
      this.guard.close();
      this.#unwatch();
      if (this.#ownsStore) await this.store.close();
    })();
    return this.#closing;
  }
}

function encodeCustom(codec: Codec, value: unknown, max: number): Buffer {
  const out = codec.encode(value);
  if (!Buffer.isBuffer(out)) throw new ValueError('the custom codec must return a Buffer', '$');
  if (out.length > max) throw new ValueError(`encoded value is ${out.length} bytes, more than maxValueBytes (${max})`, '$');
  return out;
}

function decodeCustom(codec: Codec, bytes: Buffer): unknown {
  if (isIntegerCounter(bytes)) return Number(bytes.toString('latin1'));
  try {
    return codec.decode(bytes);
  } catch (cause) {
    throw new DecodeError('the custom codec could not decode a stored value', { cause });
  }
}

function validatePattern(pattern: unknown): asserts pattern is string {
  if (typeof pattern !== 'string') throw new KeyError('pattern must be a string');
  if (pattern.length > 0) validateKey(pattern, 'pattern');
}

function validateField(field: unknown): asserts field is string {
  validateKey(field, 'field');
}

function validateSafeInteger(n: unknown, what: string): asserts n is number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new TypeError(`${what} must be a safe integer, got ${String(n)}`);
}

/** Builds a plain object from fields safely: a field named `__proto__` becomes an own property. */
function toRecord(entries: Iterable<[string, unknown]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) {
    if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    else out[k] = v;
  }
  return out;
}

export class Cache {
  /** @internal */
  readonly core: CacheCore;
  readonly #namespace: string | undefined;

  /** @internal Use createCache(). */
  constructor(core: CacheCore, namespace?: string) {
    this.core = core;
    this.#namespace = namespace;
  }

  /** The literal prefix of every physical key of this cache's namespace (K5), for Redis ACLs. */
  get keyPrefix(): string {
    return namespacePrefix(this.#namespace ?? this.core.options.namespace);
  }

  /** The namespace calls on this view use right now: the view's, the context's, or the option's. */
  get namespace(): string {
    return this.#namespace ?? currentContext()?.namespace ?? this.core.options.namespace;
  }

  /** A view of the same cache bound to another tenant. */
  forNamespace(namespace: string): Cache {
    validateScopePart(namespace, 'namespace');
    return new Cache(this.core, namespace);
  }

  /** Runs `fn` with a namespace and user in its async context (X1). */
  runInContext<T>(context: ContextInput, fn: () => T): T {
    return runWithContext(context, fn);
  }

  on<E extends keyof CacheEvents>(event: E, listener: CacheEvents[E]): () => void {
    return this.core.events.on(event, listener);
  }

  off<E extends keyof CacheEvents>(event: E, listener: CacheEvents[E]): void {
    this.core.events.off(event, listener);
  }

  /** A snapshot of the counters (O1). */
  stats(): CacheStats {
    return structuredClone(this.core.stats);
  }

  /** Closes every connection the cache opened. Later calls fail with ClosedError. */
  close(): Promise<void> {
    return this.core.close();
  }

  // ---------------------------------------------------------------- scope

  /** @internal Resolves namespace, user and shared for one call (K1, K2). */
  scope(opts: ScopeOptions | undefined): KeyScope {
    let user: string | null = null;
    let shared = false;
    if (opts !== undefined) {
      if (typeof opts !== 'object' || opts === null) throw new TypeError('options must be an object');
      const u = opts.user;
      if (u === true) user = contextUser();
      else if (u !== undefined) {
        validateScopePart(u, 'user');
        user = u;
      }
      if (opts.shared !== undefined) {
        if (typeof opts.shared !== 'boolean') throw new TypeError('shared must be a boolean');
        shared = opts.shared;
      }
    }
    return { namespace: this.namespace, user, shared };
  }

  /** @internal */
  key(key: string, opts: ScopeOptions | undefined, space: Space = 'k'): string {
    validateKey(key);
    return physicalKey(this.scope(opts), space, key);
  }

  #ref(ref: KeyRef): [physical: string, key: string] {
    if (typeof ref === 'object' && ref !== null) return [this.key(ref.key, ref), ref.key];
    return [this.key(ref as string, undefined), ref as string];
  }

  /**
   * F3: whether a delete of this key failed and is not retried yet. Reads then answer as a miss
   * (never the old data) and kick off the retry. One integer compare on the happy path.
   */
  #pending(pk: string): boolean {
    const inv = this.core.invalidations;
    if (inv.size === 0 || !inv.blocks(pk)) return false;
    void inv.flush();
    return true;
  }

  /** F3: a write to a key whose delete is pending lets the delete go first, so it is not undone later. */
  /**
   * F3: a promise that settles once a pending delete of `pk` went out, or undefined when none is
   * pending (the usual case: hot paths then skip the await altogether).
   */
  #settle(pk: string): Promise<unknown> | undefined {
    const inv = this.core.invalidations;
    return inv.size !== 0 && inv.blocks(pk) ? inv.flush() : undefined;
  }

  // ---------------------------------------------------------------- strings (S)

  /** Stores a value (S1). */
  async setValue(key: string, value: unknown, opts?: SetValueOptions): Promise<void> {
    const pk = this.key(key, opts);
    const ttlMs = this.core.ttlMs(opts?.expiresInSec);
    const bytes = this.core.encode(value);
    const { store, guard } = this.core;
    const pending = this.#settle(pk);
    if (pending !== undefined) await pending;
    // N1: with tracking active, the write re-tracks the key and the value is kept near at once.
    const near = this.core.near;
    if (near !== null && near.active) return this.#setNear(near, pk, key, bytes, ttlMs);
    await guard.write('SET', () => store.set(pk, bytes, { ttlMs }));
  }

  /** setValue through the near cache (near-cache.ts: setAndTrack); kept only if nothing raced it. */
  async #setNear(near: NearCache, pk: string, key: string, bytes: Buffer, ttlMs: TtlMs): Promise<void> {
    near.drop(pk);
    const ticket = near.begin(pk);
    let reply: unknown;
    try {
      reply = await this.core.guard.write('EVALSHA', () => this.core.rawStore.eval(setAndTrack, [pk], [bytes, ttlMs ?? 0]));
    } finally {
      if (ticket !== null && reply !== 1) near.abandon(ticket);
    }
    if (ticket !== null && reply === 1) {
      const value = this.core.decode(bytes, null, key);
      if (value === MISS) near.abandon(ticket);
      else near.settle(ticket, value, bytes);
    }
  }

  /**
   * Reads a value; `undefined` on a miss (C4). With a generator, a miss calls it once per key in
   * flight (S4), stores its result and returns it (S3).
   */
  getValue<T = unknown>(key: string, opts?: GetValueOptions<T>): Promise<T | undefined> {
    // N1 fast path: an unscoped hit of a key seen before skips the key layout (near-cache.ts).
    // Not an async function: a hit then costs one resolved promise, not an async frame.
    const near = this.core.near;
    if (opts === undefined && near !== null) {
      const known = near.physicalOf(this.#namespace ?? currentContext()?.namespace ?? this.core.options.namespace, key);
      if (known !== undefined) {
        let v: unknown;
        try {
          v = near.get(known);
        } catch (err) {
          return Promise.reject(err);
        }
        if (v !== NEAR_MISS) return Promise.resolve(this.#nearHit(v, key) as T);
      }
    }
    return this.#getValue(key, opts);
  }

  async #getValue<T>(key: string, opts: GetValueOptions<T> | undefined): Promise<T | undefined> {
    const near = this.core.near;
    const pk = this.key(key, opts);
    const generator = opts?.generator;
    if (generator !== undefined && typeof generator !== 'function') throw new TypeError('generator must be a function');
    const ttlMs = generator === undefined ? null : this.core.ttlMs(opts?.expiresInSec);
    const policy = stalePolicy(opts);
    if (generator !== undefined && policy !== undefined && ttlMs !== null) {
      // S6, S7: the entry's metadata decides (refresh.ts); without an expiry there is none to use.
      const { store, guard } = this.core;
      const bytes = await guard.read('GET', () => store.get(pk), null);
      this.#count(bytes === null, key);
      const decodeStale = (b: Buffer) => {
        const v = this.core.decode(b, pk, key, true);
        return v === MISS ? null : { value: v };
      };
      return readWithPolicy(this.core, policy, bytes, decodeStale, this.#load(pk, key, generator, ttlMs, policy));
    }
    // N1: a near-cache hit answers without a store call (the miss path is #read's).
    if (near !== null) {
      if (opts === undefined) near.rememberPhysical(this.namespace, key, pk);
      const v = near.get(pk);
      if (v !== NEAR_MISS) return this.#nearHit(v, key) as T;
    }
    const hit = await this.#read(pk, key);
    if (hit !== MISS) return hit as T;
    if (generator === undefined) return undefined;
    // Inside the flight, the stampede's claim looks again (a flight that just finished may have
    // stored the value: see single-flight.ts) and takes the cross-process lease (S5).
    return this.core.flights.run(pk, () => this.core.stampede.load(this.#load(pk, key, generator, ttlMs))) as Promise<T | undefined>;
  }

  /** A miss of `pk` as the stampede resolves it (S5): read again, generate, fill. */
  #load<T>(pk: string, key: string, generator: () => T | Promise<T>, ttlMs: TtlMs, policy?: StalePolicy): Load<T> {
    return {
      pk,
      read: async () => {
        const v = await this.#read(pk, key, false);
        return v === MISS ? null : { value: v };
      },
      generate: () => this.#generate(generator),
      fill: (value, deltaMs) => this.#fill(pk, value, ttlMs, policy, deltaMs),
    };
  }

  /**
   * Writes a generator's result. With a stale policy (S6, S7) the value goes in the metadata
   * envelope (entry.ts) and the store keeps it `graceMs` past its logical expiry.
   */
  async #fill(pk: string, value: unknown, ttlMs: TtlMs, policy: StalePolicy | undefined, deltaMs: number): Promise<void> {
    let bytes = this.core.encode(value);
    let storeTtl = ttlMs;
    if (policy !== undefined && ttlMs !== null) {
      bytes = writeEntry(bytes, this.core.options.now() + ttlMs, deltaMs);
      storeTtl = ttlMs + policy.graceMs;
    }
    await this.core.guard.write('SET', () => this.core.store.set(pk, bytes, { ttlMs: storeTtl }));
  }

  #count(miss: boolean, key: string): void {
    const { stats, events } = this.core;
    if (miss) {
      stats.store.misses++;
      if (events.wantsMiss) events.emit('miss', { key, namespace: this.namespace });
    } else {
      stats.store.hits++;
      if (events.wantsHit) events.emit('hit', { key, layer: 'store', namespace: this.namespace });
    }
  }

  async #generate<T>(generator: () => T | Promise<T>): Promise<T> {
    this.core.stats.generatorRuns++;
    return await generator();
  }

  /**
   * N1: what the near cache holds for `key` right now, synchronously, without any store call;
   * `undefined` when it holds nothing (or there is no near cache). Values are deep-frozen (N5).
   */
  peek<T = unknown>(key: string, opts?: ScopeOptions): T | undefined {
    const near = this.core.near;
    if (near === null) return undefined;
    const ns = opts === undefined ? (this.#namespace ?? currentContext()?.namespace ?? this.core.options.namespace) : '';
    let pk = opts === undefined ? near.physicalOf(ns, key) : undefined;
    if (pk === undefined) {
      pk = this.key(key, opts);
      if (opts === undefined) near.rememberPhysical(ns, key, pk);
    }
    const v = near.get(pk);
    return v === NEAR_MISS ? undefined : (this.#nearHit(v, key) as T);
  }

  #nearHit(value: unknown, key: string): unknown {
    const { stats, events } = this.core;
    stats.near.hits++;
    if (events.wantsHit) events.emit('hit', { key, layer: 'near', namespace: this.namespace });
    return value;
  }

  async #read(pk: string, key: string, count = true): Promise<unknown | Miss> {
    const { store, guard, stats, events } = this.core;
    // N1, N2: the near cache first; a miss takes a ticket before the GET so that a reply that
    // raced an invalidation is returned but not kept. Values with S6/S7 metadata are not kept.
    const near = this.core.near;
    let ticket: Ticket | null = null;
    if (near !== null) {
      const v = near.get(pk);
      if (v !== NEAR_MISS) return count ? this.#nearHit(v, key) : v;
      if (count) stats.near.misses++;
      ticket = near.begin(pk);
    }
    let bytes: Buffer | null;
    try {
      bytes = await guard.read('GET', () => store.get(pk), null);
    } catch (err) {
      if (ticket !== null) near!.abandon(ticket);
      throw err;
    }
    let value = bytes === null ? MISS : this.core.decode(bytes, pk, key);
    if (ticket !== null) {
      if (value === MISS || isEntry(bytes!)) near!.abandon(ticket);
      else value = near!.settle(ticket, value, bytes);
    }
    if (!count) return value;
    if (value === MISS) {
      stats.store.misses++;
      if (events.wantsMiss) events.emit('miss', { key, namespace: this.namespace });
    } else {
      stats.store.hits++;
      if (events.wantsHit) events.emit('hit', { key, layer: 'store', namespace: this.namespace });
    }
    return value;
  }

  /** Deletes every listed key (values, hashes, lists, sets: H2) in one round trip per slot (S8). */
  async deleteValue(keys: string | string[], opts?: ScopeOptions): Promise<number> {
    const list = Array.isArray(keys) ? keys : [keys];
    const scope = this.scope(opts);
    const physical = list.map((k) => {
      validateKey(k);
      return physicalKey(scope, 'k', k);
    });
    if (physical.length === 0) return 0;
    const { events } = this.core;
    // A delete that cannot reach the store is remembered and retried (F3).
    // N1, F3: kept copies go at once, even if the delete cannot reach the store.
    if (this.core.near !== null) for (const pk of physical) this.core.near.drop(pk);
    const n = await this.core.invalidations.delete(physical);
    if (events.wantsInvalidate) events.emit('invalidate', { keys: list, namespace: scope.namespace, reason: 'delete' });
    return n;
  }

  async exists(key: string, opts?: ScopeOptions): Promise<boolean> {
    const pk = this.key(key, opts);
    const { store, guard } = this.core;
    if (this.#pending(pk)) return false;
    return guard.read('EXISTS', () => store.exists(pk), false);
  }

  /** Sets or (with `null`) removes a key's TTL; false if the key does not exist. */
  async expire(key: string, seconds: number | null, opts?: ScopeOptions): Promise<boolean> {
    const pk = this.key(key, opts);
    if (seconds === undefined) throw new TypeError('seconds must be a positive number or null');
    const ttlMs = this.core.ttlMs(seconds, 'seconds');
    const { store, guard } = this.core;
    if (this.#pending(pk)) return false;
    return (await guard.write('PEXPIRE', () => store.expire(pk, ttlMs))) ?? false;
  }

  /** Seconds left, with millisecond precision; null: no expiry; undefined: no such key (S1). */
  async ttl(key: string, opts?: ScopeOptions): Promise<number | null | undefined> {
    const pk = this.key(key, opts);
    const { store, guard } = this.core;
    if (this.#pending(pk)) return undefined;
    const ms = await guard.read('PTTL', () => store.ttl(pk), undefined);
    return typeof ms === 'number' ? ms / 1000 : ms;
  }

  /** An integer counter; created at 0 (with `expiresInSec` or the default TTL) if missing. Never faked (F5). */
  async incr(key: string, by = 1, opts?: SetValueOptions): Promise<number> {
    const pk = this.key(key, opts);
    validateSafeInteger(by, 'by');
    const ttlMs = this.core.ttlMs(opts?.expiresInSec);
    const { store, guard } = this.core;
    await this.#settle(pk); // F3: never count on from a value whose delete is pending
    return guard.strict('INCRBY', () => store.incrBy(pk, by, ttlMs));
  }

  /** Reads several keys in one round trip per slot; misses are `undefined`. */
  async getMany<T = unknown>(keys: string[], opts?: ScopeOptions): Promise<(T | undefined)[]> {
    if (!Array.isArray(keys)) throw new TypeError('keys must be an array');
    const scope = this.scope(opts);
    const physical = keys.map((k) => {
      validateKey(k);
      return physicalKey(scope, 'k', k);
    });
    if (physical.length === 0) return [];
    if (this.core.near !== null) return this.#getManyNear(this.core.near, keys, physical);
    const { store, guard } = this.core;
    const found = await guard.read('MGET', () => store.getMany(physical), null);
    return physical.map((pk, i) => {
      const bytes = found?.[i] ?? null;
      const value = bytes === null ? MISS : this.core.decode(bytes, pk, keys[i]!);
      this.#count(value === MISS, keys[i]!);
      return value === MISS ? undefined : (value as T);
    });
  }

  /** getMany through the near cache (N1, N2): only the keys it does not hold are read, with tickets. */
  async #getManyNear<T>(near: NearCache, keys: string[], physical: string[]): Promise<(T | undefined)[]> {
    const { store, guard, stats } = this.core;
    const out = new Array<T | undefined>(physical.length);
    const missing: number[] = [];
    for (let i = 0; i < physical.length; i++) {
      const v = near.get(physical[i]!);
      if (v === NEAR_MISS) missing.push(i);
      else out[i] = this.#nearHit(v, keys[i]!) as T;
    }
    if (missing.length === 0) return out;
    stats.near.misses += missing.length;
    const tickets = missing.map((i) => near.begin(physical[i]!));
    let found: (Buffer | null)[] | null;
    try {
      found = await guard.read('MGET', () => store.getMany(missing.map((i) => physical[i]!)), null);
    } catch (err) {
      for (const t of tickets) if (t !== null) near.abandon(t);
      throw err;
    }
    for (let j = 0; j < missing.length; j++) {
      const i = missing[j]!;
      const bytes = found?.[j] ?? null;
      let value = bytes === null ? MISS : this.core.decode(bytes, physical[i]!, keys[i]!);
      const t = tickets[j]!;
      if (t !== null) {
        if (value === MISS || isEntry(bytes!)) near.abandon(t);
        else value = near.settle(t, value, bytes);
      }
      this.#count(value === MISS, keys[i]!);
      out[i] = value === MISS ? undefined : (value as T);
    }
    return out;
  }

  /** Writes several keys with one TTL (`expiresInSec`, else the default). Every value is encoded before any I/O. */
  async setMany(entries: Array<[string, unknown]>, opts?: SetValueOptions): Promise<void> {
    if (!Array.isArray(entries)) throw new TypeError('entries must be an array of [key, value] pairs');
    const scope = this.scope(opts);
    const ttlMs = this.core.ttlMs(opts?.expiresInSec);
    const encoded = entries.map((e, i) => {
      if (!Array.isArray(e) || e.length !== 2) throw new TypeError(`entries[${i}] must be a [key, value] pair`);
      validateKey(e[0]);
      return [physicalKey(scope, 'k', e[0]), this.core.encode(e[1]), ttlMs] as const;
    });
    if (encoded.length === 0) return;
    const { store, guard, invalidations } = this.core;
    if (invalidations.size !== 0 && encoded.some(([pk]) => invalidations.blocks(pk))) await invalidations.flush();
    await guard.write('MSET', () => store.setMany(encoded));
  }

  // ---------------------------------------------------------------- patterns (P)

  /** Keys of the namespace (and user scope) matching a P1 pattern, as the caller wrote them (K3). */
  async getKeys(pattern: string, opts?: ScopeOptions): Promise<string[]> {
    validatePattern(pattern);
    const scope = this.scope(opts);
    const out: string[] = [];
    await this.#scanMatching(scope, 'k', scope.user, pattern, (batch) => {
      for (const { name } of batch) out.push(name);
    });
    return out;
  }

  /** Deletes the keys getKeys would list; resolves to how many were deleted. */
  async deleteKeys(pattern: string, opts?: ScopeOptions): Promise<number> {
    validatePattern(pattern);
    const scope = this.scope(opts);
    const deleted = await this.#invalidateMatching(scope, 'k', scope.user, pattern, () => true);
    const { events } = this.core;
    if (events.wantsInvalidate) events.emit('invalidate', { pattern, namespace: scope.namespace, reason: 'pattern' });
    return deleted;
  }

  /**
   * Deletes every cache entry of the namespace (P3): values, hashes, lists, sets, memoised results,
   * cached documents, user-scoped keys; not shared keys, not locks or fencing counters, and not
   * keys matching `persistentKeys`. With `{ user }`: only that user's entries.
   */
  async clearCache(opts?: { user?: string }): Promise<number> {
    let user: string | undefined;
    if (opts !== undefined) {
      if (typeof opts !== 'object' || opts === null) throw new TypeError('options must be an object');
      if (opts.user !== undefined) {
        validateScopePart(opts.user, 'user');
        user = opts.user;
      }
    }
    const scope: KeyScope = { namespace: this.namespace, user: user ?? null, shared: false };
    const keep = this.core.options.persistentKeys.map((p) => compilePattern('', 'k', undefined, p));
    const deleted = await this.#invalidateMatching(scope, 'kmdp', user, '', (b) => b.space !== 'k' || !keep.some((p) => p.matches(b.name)));
    if (user === undefined) {
      // Fills of documents in flight must not be served (D2); process memos everywhere go too (X3).
      await Promise.all([bumpDocumentEpoch(this, scope.namespace), clearProcessCaches(this, scope.namespace)]);
    }
    const { events } = this.core;
    if (events.wantsInvalidate) events.emit('invalidate', { pattern: '*', namespace: scope.namespace, reason: 'clear' });
    return deleted;
  }

  /**
   * Deletes what a scan of the pattern finds and `filter` keeps. If the store is unavailable, the
   * deletes that failed and the pattern itself are remembered and retried (F3): until then, no
   * read of a matching key is served from the store.
   */
  async #invalidateMatching(
    scope: KeyScope,
    spaces: string,
    user: string | null | undefined,
    pattern: string,
    filter: (b: { physical: string; name: string; space: Space }) => boolean,
  ): Promise<number> {
    // N1, F3: kept copies of matching keys go at once, before the scan, even if the store is down.
    const near = this.core.near;
    if (near !== null) {
      const prefix = scopePrefix(scope);
      const compiled = compilePattern(prefix, spaces, user, pattern);
      near.dropWhere((physical) => {
        const p = parseKey(prefix, physical);
        return p !== null && spaces.includes(p.space) && (user === undefined || p.user === user)
          && compiled.matches(p.name) && filter({ physical, name: p.name, space: p.space });
      });
    }
    let deleted = 0;
    let complete: boolean;
    try {
      complete = await this.#scanMatching(scope, spaces, user, pattern, async (batch) => {
        deleted += await this.core.invalidations.delete(batch.filter(filter).map((b) => b.physical));
      });
    } catch (err) {
      if (isUnavailability(err)) this.#rememberPattern(scope, spaces, user, pattern, filter);
      throw err;
    }
    if (!complete) this.#rememberPattern(scope, spaces, user, pattern, filter);
    return deleted;
  }

  #rememberPattern(
    scope: KeyScope,
    spaces: string,
    user: string | null | undefined,
    pattern: string,
    filter: (b: { physical: string; name: string; space: Space }) => boolean,
  ): void {
    const prefix = scopePrefix(scope);
    const compiled = compilePattern(prefix, spaces, user, pattern);
    this.core.invalidations.addPattern({
      glob: compiled.glob,
      matches: (physical) => {
        const p = parseKey(prefix, physical);
        return p !== null && spaces.includes(p.space) && (user === undefined || p.user === user)
          && compiled.matches(p.name) && filter({ physical, name: p.name, space: p.space });
      },
    });
  }

  /**
   * Scans with the pattern's glob as a pre-filter, then parses every key and matches it exactly:
   * the glob alone could match across escape sequences (see keys.ts). `user` undefined: any user.
   */
  async #scanMatching(
    scope: KeyScope,
    spaces: string,
    user: string | null | undefined,
    pattern: string,
    onBatch: (batch: Array<{ physical: string; name: string; space: Space }>) => void | Promise<void>,
  ): Promise<boolean> {
    const prefix = scopePrefix(scope);
    const compiled = compilePattern(prefix, spaces, user, pattern);
    const { store, guard } = this.core;
    const seen = new Set<string>();
    const iterator = store.scan(compiled.glob, 1000)[Symbol.asyncIterator]();
    try {
      for (;;) {
        const step = await guard.read('SCAN', () => iterator.next(), MISS);
        // MISS: the store failed and the degrade policy ended the scan early.
        if (step === MISS) return false;
        if (step.done) break;
        const batch: Array<{ physical: string; name: string; space: Space }> = [];
        for (const physical of step.value) {
          if (seen.has(physical)) continue;
          const parsed = parseKey(prefix, physical);
          if (parsed === null || !spaces.includes(parsed.space)) continue;
          if (user !== undefined && parsed.user !== user) continue;
          if (!compiled.matches(parsed.name)) continue;
          seen.add(physical);
          batch.push({ physical, name: parsed.name, space: parsed.space });
        }
        if (batch.length > 0) await onBatch(batch);
      }
    } finally {
      await iterator.return?.();
    }
    return true;
  }

  // ---------------------------------------------------------------- hashes (H)

  /** Sets one field; `expiresInSec` sets the TTL of the whole hash (H1), absent leaves it as it is. */
  async hset(name: string, field: string, value: unknown, opts?: SetValueOptions): Promise<void> {
    const pk = this.key(name, opts);
    validateField(field);
    const ttlMs = opts?.expiresInSec === undefined ? undefined : this.core.ttlMs(opts.expiresInSec);
    const bytes = this.core.encode(value);
    const { store, guard } = this.core;
    await this.#settle(pk);
    await guard.write('HSET', () => store.hset(pk, field, bytes, ttlMs));
  }

  /** Reads one field; with a generator, a miss behaves as getValue's (S3, S4). */
  async hget<T = unknown>(name: string, field: string, opts?: HashGetOptions<T>): Promise<T | undefined> {
    const pk = this.key(name, opts);
    validateField(field);
    const generator = opts?.generator;
    if (generator !== undefined && typeof generator !== 'function') throw new TypeError('generator must be a function');
    const read = async (count: boolean): Promise<unknown | Miss> => {
      const { store, guard } = this.core;
      const bytes = this.#pending(pk) ? null : await guard.read('HGET', () => store.hget(pk, field), null);
      const value = bytes === null ? MISS : this.core.decode(bytes, null, `${name}.${field}`);
      if (count) this.#count(value === MISS, name);
      return value;
    };
    const hit = await read(true);
    if (hit !== MISS) return hit as T;
    if (generator === undefined) return undefined;
    return this.core.flights.run(`${pk}\u0000${field}`, async () => {
      const again = await read(false);
      if (again !== MISS) return again;
      const value = await this.#generate(generator);
      if (value !== undefined) {
        const bytes = this.core.encode(value);
        await this.core.guard.write('HSET', () => this.core.store.hset(pk, field, bytes));
      }
      return value;
    }) as Promise<T | undefined>;
  }

  /** Every field of a hash, decoded; `{}` if there is none. */
  async hgetall(name: string, opts?: ScopeOptions): Promise<Record<string, unknown>> {
    const pk = this.key(name, opts);
    const { store, guard } = this.core;
    if (this.#pending(pk)) return {};
    const fields = await guard.read('HGETALL', () => store.hgetall(pk), null);
    if (fields === null) return {};
    const out: Array<[string, unknown]> = [];
    for (const [field, bytes] of fields) {
      const value = this.core.decode(bytes, null, `${name}.${field}`);
      if (value !== MISS) out.push([field, value]);
    }
    return toRecord(out);
  }

  async hdel(name: string, fields: string | string[], opts?: ScopeOptions): Promise<number> {
    const pk = this.key(name, opts);
    const list = Array.isArray(fields) ? fields : [fields];
    list.forEach(validateField);
    if (list.length === 0) return 0;
    const { store, guard } = this.core;
    return (await guard.write('HDEL', () => store.hdel(pk, list))) ?? 0;
  }

  async hexists(name: string, field: string, opts?: ScopeOptions): Promise<boolean> {
    const pk = this.key(name, opts);
    validateField(field);
    const { store, guard } = this.core;
    if (this.#pending(pk)) return false;
    return guard.read('HEXISTS', () => store.hexists(pk, field), false);
  }

  async hkeys(name: string, opts?: ScopeOptions): Promise<string[]> {
    const pk = this.key(name, opts);
    const { store, guard } = this.core;
    if (this.#pending(pk)) return [];
    return guard.read('HKEYS', () => store.hkeys(pk), []);
  }

  // ---------------------------------------------------------------- lists (L)

  /** Pushes values at the head, one by one (so the last given ends up first); resolves to the new length. */
  lpush(name: KeyRef, ...values: unknown[]): Promise<number> {
    return this.#push(name, values, 'left');
  }

  /** Appends values at the tail; resolves to the new length. */
  rpush(name: KeyRef, ...values: unknown[]): Promise<number> {
    return this.#push(name, values, 'right');
  }

  async #push(name: KeyRef, values: unknown[], end: 'left' | 'right'): Promise<number> {
    const [pk] = this.#ref(name);
    if (values.length === 0) throw new TypeError('push needs at least one value');
    const encoded = values.map((v) => this.core.encode(v));
    const { store, guard } = this.core;
    await this.#settle(pk);
    return (await guard.write(end === 'left' ? 'LPUSH' : 'RPUSH', () => store.push(pk, encoded, end))) ?? 0;
  }

  lpop<T = unknown>(name: KeyRef): Promise<T | undefined> {
    return this.#pop(name, 'left');
  }

  rpop<T = unknown>(name: KeyRef): Promise<T | undefined> {
    return this.#pop(name, 'right');
  }

  async #pop<T>(name: KeyRef, end: 'left' | 'right'): Promise<T | undefined> {
    const [pk, key] = this.#ref(name);
    const { store, guard } = this.core;
    if (this.#pending(pk)) return undefined;
    // A pop changes the list, so it is a write: in degrade mode a failure reads as an empty list.
    const bytes = (await guard.write(end === 'left' ? 'LPOP' : 'RPOP', () => store.pop(pk, end))) ?? null;
    if (bytes === null) return undefined;
    const value = this.core.decode(bytes, null, key);
    return value === MISS ? undefined : (value as T);
  }

  async llen(name: KeyRef): Promise<number> {
    const [pk] = this.#ref(name);
    const { store, guard } = this.core;
    if (this.#pending(pk)) return 0;
    return guard.read('LLEN', () => store.llen(pk), 0);
  }

  /** Elements from start to stop inclusive; negative indices count from the end (as Redis LRANGE). */
  async lrange<T = unknown>(name: KeyRef, start: number, stop: number): Promise<T[]> {
    const [pk, key] = this.#ref(name);
    validateSafeInteger(start, 'start');
    validateSafeInteger(stop, 'stop');
    const { store, guard } = this.core;
    if (this.#pending(pk)) return [];
    const items = await guard.read('LRANGE', () => store.lrange(pk, start, stop), []);
    return this.#decodeAll<T>(items, key);
  }

  async ltrim(name: KeyRef, start: number, stop: number): Promise<void> {
    const [pk] = this.#ref(name);
    validateSafeInteger(start, 'start');
    validateSafeInteger(stop, 'stop');
    const { store, guard } = this.core;
    await guard.write('LTRIM', () => store.ltrim(pk, start, stop));
  }

  #decodeAll<T>(items: Buffer[], key: string): T[] {
    const out: T[] = [];
    for (const b of items) {
      const v = this.core.decode(b, null, key);
      if (v !== MISS) out.push(v as T);
    }
    return out;
  }

  // ---------------------------------------------------------------- memoisation, request and process caches (M, X)

  /** Results of `fn` kept in the store, keyed by its name and a stable digest of its arguments (M1–M5). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  memoize<F extends (...args: any[]) => unknown>(fn: F, opts?: MemoizeOptions): Memoized<F> {
    return memoize(this, fn, opts);
  }

  /** `memoize` as a standard method decorator: `@cache.cached({ ttlSec: 60 })` (M4). */
  cached(opts?: MemoizeOptions): ReturnType<typeof cachedDecorator> {
    return cachedDecorator(this, opts);
  }

  /** The current request's (context's) own Map (X2); throws ContextError outside a context. */
  get local(): Map<unknown, unknown> {
    return requireContext('cache.local').local;
  }

  /** Results of `fn` kept for the current context only (Frappe's request_cache, X2). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  requestCached<F extends (...args: any[]) => unknown>(fn: F): RequestCached<F> {
    return requestCached(fn);
  }

  /** Results of `fn` kept in this process per namespace, cleared in every process (Frappe's site_cache, X3). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  processCached<F extends (...args: any[]) => unknown>(fn: F, opts?: ProcessCachedOptions): ProcessCached<F> {
    return processCached(this, fn, opts);
  }

  /** One context per request for Node http, Express, Fastify (register it) and Hono (X1). */
  middleware(opts?: MiddlewareOptions): LarderMiddleware {
    return createMiddleware(opts);
  }

  /**
   * @internal Deletes the entries of one cache space of the namespace (or the shared space) whose
   * names start with `prefix` and pass `filter`, in every user scope. Used to clear one memoised
   * function (M3) and one doctype (D).
   */
  async deleteEntries(space: 'm' | 'd', prefix: string, opts: { shared?: boolean }, filter?: (name: string) => boolean): Promise<number> {
    const scope: KeyScope = { namespace: this.namespace, user: null, shared: opts.shared ?? false };
    // A `*` in the prefix widens the SCAN glob; the exact test narrows it again.
    return this.#invalidateMatching(scope, space, undefined, prefix, (b) => b.name.startsWith(prefix) && (filter === undefined || filter(b.name)));
  }

  // ---------------------------------------------------------------- documents (D)

  /** A document cache over `load` (D1–D4): getCachedDoc, getCachedValue, clearDocumentCache. */
  documents<D extends object = Record<string, unknown>>(opts: DocumentsOptions<D>): DocumentCache<D> {
    return new DocumentCache<D>(this, opts);
  }

  // ---------------------------------------------------------------- locks (LK)

  /**
   * Acquires an exclusive lock (LK1–LK7), waiting up to `waitMs`. Release it with `release()`, or
   * hold it with `await using`. Read locks/lock.ts for what a lease can and cannot promise, and use
   * `lock.fencingToken` with every write it protects.
   */
  async lock(name: string, opts?: LockOptions): Promise<Lock> {
    const o = resolveLockOptions(opts);
    const pk = this.key(name, opts, 'L');
    return acquireMutex(lockContext(this.core), pk, name, o);
  }

  /** The lock if it is free right now, else null; never waits. */
  async tryLock(name: string, opts?: Omit<LockOptions, 'waitMs'>): Promise<Lock | null> {
    try {
      return await this.lock(name, { ...opts, waitMs: 0 });
    } catch (err) {
      if (err instanceof LockTimeoutError) return null;
      throw err;
    }
  }

  /** Runs `fn` holding the lock and releases it afterwards; an error from `fn` wins over one from the release. */
  async withLock<T>(name: string, fn: (lock: Lock) => T | Promise<T>, opts?: LockOptions): Promise<T> {
    if (typeof fn !== 'function') throw new TypeError('fn must be a function');
    return runHolding(await this.lock(name, opts), fn);
  }

  /** A read-write lock with writer preference (LK8); scoped (namespace, user, shared) now. */
  readWriteLock(name: string, opts?: ScopeOptions): ReadWriteLock {
    return new ReadWriteLock(lockContext(this.core), this.key(name, opts, 'L'), name);
  }

  /** A semaphore of `permits` holders whose permits expire with their holder's lease (LK8). */
  semaphore(name: string, opts: SemaphoreOptions): Semaphore {
    if (typeof opts !== 'object' || opts === null) throw new TypeError('semaphore options must be an object with permits');
    validatePermits(opts.permits);
    return new Semaphore(lockContext(this.core), this.key(name, opts, 'L'), name, opts.permits);
  }

  // ---------------------------------------------------------------- sets (L1)

  /** Adds members (compared by their encoded form); resolves to how many were new. */
  async sadd(name: KeyRef, ...members: unknown[]): Promise<number> {
    const [pk] = this.#ref(name);
    if (members.length === 0) throw new TypeError('sadd needs at least one member');
    const encoded = members.map((m) => this.core.encode(m));
    const { store, guard } = this.core;
    await this.#settle(pk);
    return (await guard.write('SADD', () => store.sadd(pk, encoded))) ?? 0;
  }

  async srem(name: KeyRef, ...members: unknown[]): Promise<number> {
    const [pk] = this.#ref(name);
    if (members.length === 0) throw new TypeError('srem needs at least one member');
    const encoded = members.map((m) => this.core.encode(m));
    const { store, guard } = this.core;
    return (await guard.write('SREM', () => store.srem(pk, encoded))) ?? 0;
  }

  async smembers<T = unknown>(name: KeyRef): Promise<T[]> {
    const [pk, key] = this.#ref(name);
    const { store, guard } = this.core;
    if (this.#pending(pk)) return [];
    return this.#decodeAll<T>(await guard.read('SMEMBERS', () => store.smembers(pk), []), key);
  }

  async sismember(name: KeyRef, member: unknown): Promise<boolean> {
    const [pk] = this.#ref(name);
    const encoded = this.core.encode(member);
    const { store, guard } = this.core;
    if (this.#pending(pk)) return false;
    return guard.read('SISMEMBER', () => store.sismember(pk, encoded), false);
  }

  async scard(name: KeyRef): Promise<number> {
    const [pk] = this.#ref(name);
    const { store, guard } = this.core;
    if (this.#pending(pk)) return 0;
    return guard.read('SCARD', () => store.scard(pk), 0);
  }
}

/** Creates a cache. Synchronous: nothing connects until the first call (SPEC §0). */
export function createCache(options?: CacheOptions): Cache {
  return new Cache(new CacheCore(resolveOptions(options)));
}

