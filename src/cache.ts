/**
 * The Cache facade: Frappe's `frappe.cache` API, composed from the rooms below it. Each method
 * checks nothing and does nothing itself: it hands the call, with the view's scope, to the room
 * that owns it (values/, patterns.ts, memo/, documents.ts, locks/). Argument checks there throw
 * TypeErrors before any I/O (K4, C2, S1); every store call goes through the core's guard.
 *
 * A Cache is a view: `forNamespace(ns)` returns another view over the same core (same store, same
 * near cache, same counters, same in-flight loads), bound to another tenant.
 */
import { requireContext, runInContext as runWithContext, type ContextInput } from './context.js';
import { CacheCore } from './core.js';
import { bumpDocumentEpoch, DocumentCache, type DocumentPort, type DocumentsOptions } from './documents.js';
import { LockTimeoutError } from './errors.js';
import { isObject } from './input.js';
import { validateScopePart, type Space } from './keys.js';
import type { LockContext } from './locks/acquisition.js';
import { Lock, resolveLockOptions, runHolding, type LockOptions } from './locks/lock.js';
import { acquireMutex } from './locks/mutex.js';
import { ReadWriteLock } from './locks/read-write.js';
import { Semaphore, validatePermits, type SemaphoreOptions } from './locks/semaphore.js';
import { cachedDecorator, memoize, type AnyFunction, type MemoPort, type Memoized, type MemoizeOptions } from './memo/memoize.js';
import { clearProcessCaches, processCached, type ProcessCached, type ProcessCachedOptions, type ProcessPort } from './memo/process.js';
import { requestCached, type RequestCached } from './memo/request.js';
import { createMiddleware, type LarderMiddleware, type MiddlewareOptions } from './middleware.js';
import type { CacheEvents, CacheStats } from './observability.js';
import { resolveOptions, type CacheOptions } from './options.js';
import { clearEntries, deleteEntries, deleteKeys, getKeys } from './patterns.js';
import { Scope, type KeyRef, type ScopeOptions } from './scope.js';
import { cacheChannel, traceCache, type CacheTraceContext } from './tracing.js';
import { ChannelHub } from './waiting/channel-hub.js';
import { invalidateTags, type InvalidateTagsOptions } from './tags/invalidate.js';
import * as collections from './values/collections.js';
import type { HashGetOptions } from './values/collections.js';
import { getMany, getOrCompute, getValue, peek, type GetValueOptions, type SetValueOptions } from './values/read.js';
import * as writes from './values/write.js';

export type { GetValueOptions, HashGetOptions, KeyRef, ScopeOptions, SetValueOptions };

/** How long a lock channel stays subscribed after its last waiter left (see waiting/channel-hub.ts). */
const LOCK_CHANNEL_LINGER_MS = 5_000;

/** What the features built on one core share: built once, on first use. */
interface Features {
  locks?: LockContext;
  process?: ProcessPort;
}
const features = new WeakMap<CacheCore, Features>();

function featuresOf(core: CacheCore): Features {
  let f = features.get(core);
  if (f === undefined) features.set(core, (f = {}));
  return f;
}

function lockContext(core: CacheCore): LockContext {
  const f = featuresOf(core);
  if (f.locks === undefined) {
    const hub = new ChannelHub(core.store, { clock: core.clock, lingerMs: LOCK_CHANNEL_LINGER_MS });
    core.onClose.add(() => hub.close());
    f.locks = { store: core.store, guard: core.guard, stats: core.stats, random: core.options.random, clock: core.clock, hub, tap: core.tap };
  }
  return f.locks;
}

function processPort(core: CacheCore): ProcessPort {
  const f = featuresOf(core);
  f.process ??= { store: core.store, guard: core.guard, clock: core.clock, onClose: core.onClose };
  return f.process;
}

/**
 * O3: one cache call on `larder:cache`, only while someone subscribes. The facade methods hand
 * their function and arguments here rather than a closure, so the untraced path allocates nothing.
 */
function traced<A extends [CacheCore, Scope, ...unknown[]], R>(operation: string, key: unknown, name: string | undefined, fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  const ctx: CacheTraceContext = { operation, namespace: args[1].namespace, cacheId: args[0].tap.id };
  if (typeof key === 'string') ctx.key = key;
  if (name !== undefined) ctx.name = name;
  return traceCache(ctx, () => fn(...args));
}

export class Cache {
  /** @internal */
  readonly core: CacheCore;
  readonly #scope: Scope;
  #memo: MemoPort | undefined;

  /** @internal Use createCache(). */
  constructor(core: CacheCore, namespace?: string) {
    this.core = core;
    this.#scope = new Scope(namespace, core.options.namespace);
  }

  /** The literal prefix of every physical key of this cache's namespace (K5), for Redis ACLs. */
  get keyPrefix(): string {
    return this.#scope.keyPrefix;
  }

  /** The namespace calls on this view use right now: the view's, the context's, or the option's. */
  get namespace(): string {
    return this.#scope.namespace;
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

  /** @internal The physical key of `key` for these options (tests). */
  key(key: string, opts: ScopeOptions | undefined, space: Space = 'k'): string {
    return this.#scope.key(key, opts, space);
  }

  // ---------------------------------------------------------------- strings (S)

  /** Stores a value (S1). */
  setValue(key: string, value: unknown, opts?: SetValueOptions): Promise<void> {
    if (cacheChannel.hasSubscribers) return traced('setValue', key, undefined, writes.setValue, this.core, this.#scope, key, value, opts);
    return writes.setValue(this.core, this.#scope, key, value, opts);
  }

  /**
   * Reads a value; `undefined` on a miss (C4). With a generator, a miss calls it once per key in
   * flight (S4), stores its result and returns it (S3).
   */
  getValue<T = unknown>(key: string, opts?: GetValueOptions<T>): Promise<T | undefined> {
    if (cacheChannel.hasSubscribers) return traced('getValue', key, undefined, getValue, this.core, this.#scope, key, opts);
    return getValue(this.core, this.#scope, key, opts);
  }

  /**
   * N1: what the near cache holds for `key` right now, synchronously, without any store call;
   * `undefined` when it holds nothing (or there is no near cache). Values are deep-frozen (N5).
   */
  // T is the caller's word for what it stored, as getValue<T>'s: the public signature keeps it.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  peek<T = unknown>(key: string, opts?: ScopeOptions): T | undefined {
    return peek(this.core, this.#scope, key, opts) as T | undefined;
  }

  /** Deletes every listed key (values, hashes, lists, sets: H2) in one round trip per slot (S8). */
  deleteValue(keys: string | string[], opts?: ScopeOptions): Promise<number> {
    if (cacheChannel.hasSubscribers) {
      return traced('deleteValue', Array.isArray(keys) ? keys[0] : keys, undefined, writes.deleteValue, this.core, this.#scope, keys, opts);
    }
    return writes.deleteValue(this.core, this.#scope, keys, opts);
  }

  exists(key: string, opts?: ScopeOptions): Promise<boolean> {
    return writes.exists(this.core, this.#scope, key, opts);
  }

  /** Sets or (with `null`) removes a key's TTL; false if the key does not exist. */
  expire(key: string, seconds: number | null, opts?: ScopeOptions): Promise<boolean> {
    return writes.expire(this.core, this.#scope, key, seconds, opts);
  }

  /** Seconds left, with millisecond precision; null: no expiry; undefined: no such key (S1). */
  ttl(key: string, opts?: ScopeOptions): Promise<number | null | undefined> {
    return writes.ttl(this.core, this.#scope, key, opts);
  }

  /** An integer counter; created at 0 (with `expiresInSec` or the default TTL) if missing. Never faked (F5). */
  incr(key: string, by = 1, opts?: SetValueOptions): Promise<number> {
    return writes.incr(this.core, this.#scope, key, by, opts);
  }

  /** Reads several keys in one round trip per slot; misses are `undefined`. */
  getMany<T = unknown>(keys: string[], opts?: ScopeOptions): Promise<Array<T | undefined>> {
    if (cacheChannel.hasSubscribers) return traced('getMany', Array.isArray(keys) ? keys[0] : undefined, undefined, getMany<T>, this.core, this.#scope, keys, opts);
    return getMany<T>(this.core, this.#scope, keys, opts);
  }

  /** Writes several keys with one TTL (`expiresInSec`, else the default). Every value is encoded before any I/O. */
  setMany(entries: Array<[string, unknown]>, opts?: SetValueOptions): Promise<void> {
    if (cacheChannel.hasSubscribers) return traced('setMany', undefined, undefined, writes.setMany, this.core, this.#scope, entries, opts);
    return writes.setMany(this.core, this.#scope, entries, opts);
  }

  // ---------------------------------------------------------------- patterns (P)

  /** Keys of the namespace (and user scope) matching a P1 pattern, as the caller wrote them (K3). */
  getKeys(pattern: string, opts?: ScopeOptions): Promise<string[]> {
    return getKeys(this.core, this.#scope, pattern, opts);
  }

  /** Deletes the keys getKeys would list; resolves to how many were deleted. */
  deleteKeys(pattern: string, opts?: ScopeOptions): Promise<number> {
    if (cacheChannel.hasSubscribers) return traced('deleteKeys', pattern, undefined, deleteKeys, this.core, this.#scope, pattern, opts);
    return deleteKeys(this.core, this.#scope, pattern, opts);
  }

  /**
   * Deletes every cache entry of the namespace (P3): values, hashes, lists, sets, memoised results,
   * cached documents, user-scoped keys; not shared keys, not locks or fencing counters, and not
   * keys matching `persistentKeys`. With `{ user }`: only that user's entries.
   */
  async clearCache(opts?: { user?: string }): Promise<number> {
    const core = this.core;
    const { deleted, namespace, user } = await clearEntries(core, this.#scope, opts);
    if (user === undefined) {
      // Fills of documents in flight must not be served (D2); process memos everywhere go too (X3).
      await Promise.all([bumpDocumentEpoch(core, namespace), clearProcessCaches(processPort(core), namespace)]);
    }
    if (core.events.wantsInvalidate) core.events.emit('invalidate', { pattern: '*', namespace, reason: 'clear' });
    return deleted;
  }

  // ---------------------------------------------------------------- tags (T)

  /**
   * Invalidates every entry carrying one of `tags` in this namespace (or, `shared`, among shared
   * entries): values, hashes, memoised results, documents, process-cached results, near copies, in
   * every process (T1–T6). O(tags) store round trips, whatever the number of entries.
   */
  invalidateTags(tags: readonly string[], opts?: InvalidateTagsOptions): Promise<void> {
    return invalidateTags(this.core, this.#scope, processPort(this.core), tags, opts);
  }

  // ---------------------------------------------------------------- hashes (H)

  /** Sets one field; `expiresInSec` sets the TTL of the whole hash (H1), absent leaves it as it is. */
  hset(name: string, field: string, value: unknown, opts?: SetValueOptions): Promise<void> {
    if (cacheChannel.hasSubscribers) return traced('hset', name, field, collections.hset, this.core, this.#scope, name, field, value, opts);
    return collections.hset(this.core, this.#scope, name, field, value, opts);
  }

  /** Reads one field; with a generator, a miss behaves as getValue's (S3, S4). */
  hget<T = unknown>(name: string, field: string, opts?: HashGetOptions<T>): Promise<T | undefined> {
    if (cacheChannel.hasSubscribers) return traced('hget', name, field, collections.hget<T>, this.core, this.#scope, name, field, opts);
    return collections.hget<T>(this.core, this.#scope, name, field, opts);
  }

  /** Every field of a hash, decoded; `{}` if there is none. */
  hgetall(name: string, opts?: ScopeOptions): Promise<Record<string, unknown>> {
    return collections.hgetall(this.core, this.#scope, name, opts);
  }

  hdel(name: string, fields: string | string[], opts?: ScopeOptions): Promise<number> {
    return collections.hdel(this.core, this.#scope, name, fields, opts);
  }

  hexists(name: string, field: string, opts?: ScopeOptions): Promise<boolean> {
    return collections.hexists(this.core, this.#scope, name, field, opts);
  }

  hkeys(name: string, opts?: ScopeOptions): Promise<string[]> {
    return collections.hkeys(this.core, this.#scope, name, opts);
  }

  // ---------------------------------------------------------------- lists (L)

  /** Pushes values at the head, one by one (so the last given ends up first); resolves to the new length. */
  lpush(name: KeyRef, ...values: unknown[]): Promise<number> {
    return collections.push(this.core, this.#scope, name, values, 'left');
  }

  /** Appends values at the tail; resolves to the new length. */
  rpush(name: KeyRef, ...values: unknown[]): Promise<number> {
    return collections.push(this.core, this.#scope, name, values, 'right');
  }

  lpop<T = unknown>(name: KeyRef): Promise<T | undefined> {
    return collections.pop<T>(this.core, this.#scope, name, 'left');
  }

  rpop<T = unknown>(name: KeyRef): Promise<T | undefined> {
    return collections.pop<T>(this.core, this.#scope, name, 'right');
  }

  llen(name: KeyRef): Promise<number> {
    return collections.llen(this.core, this.#scope, name);
  }

  /** Elements from start to stop inclusive; negative indices count from the end (as Redis LRANGE). */
  lrange<T = unknown>(name: KeyRef, start: number, stop: number): Promise<T[]> {
    return collections.lrange<T>(this.core, this.#scope, name, start, stop);
  }

  ltrim(name: KeyRef, start: number, stop: number): Promise<void> {
    return collections.ltrim(this.core, this.#scope, name, start, stop);
  }

  // ---------------------------------------------------------------- sets (L1)

  /** Adds members (compared by their encoded form); resolves to how many were new. */
  sadd(name: KeyRef, ...members: unknown[]): Promise<number> {
    return collections.sadd(this.core, this.#scope, name, ...members);
  }

  srem(name: KeyRef, ...members: unknown[]): Promise<number> {
    return collections.srem(this.core, this.#scope, name, ...members);
  }

  smembers<T = unknown>(name: KeyRef): Promise<T[]> {
    return collections.smembers<T>(this.core, this.#scope, name);
  }

  sismember(name: KeyRef, member: unknown): Promise<boolean> {
    return collections.sismember(this.core, this.#scope, name, member);
  }

  scard(name: KeyRef): Promise<number> {
    return collections.scard(this.core, this.#scope, name);
  }

  // ---------------------------------------------------------------- memoisation, request and process caches (M, X)

  #memoPort(): MemoPort {
    const core = this.core;
    const scope = this.#scope;
    this.#memo ??= {
      memoKey: (name, opts) => scope.key(name, opts, 'm'),
      ttlMs: (ttlSec, what) => core.ttlMs(ttlSec, what),
      getOrCompute: (pk, displayKey, fn, ttlMs, tags) => getOrCompute(core, scope, pk, displayKey, fn, ttlMs, tags),
      deleteEntries: (prefix, shared, filter) => deleteEntries(core, scope.namespace, 'm', prefix, shared, filter),
    };
    return this.#memo;
  }

  /** Results of `fn` kept in the store, keyed by its name and a stable digest of its arguments (M1–M5). */
  memoize<F extends AnyFunction>(fn: F, opts?: MemoizeOptions): Memoized<F> {
    return memoize(this.#memoPort(), fn, opts);
  }

  /** `memoize` as a standard method decorator: `@cache.cached({ ttlSec: 60 })` (M4). */
  cached(opts?: MemoizeOptions): ReturnType<typeof cachedDecorator> {
    return cachedDecorator(this.#memoPort(), opts);
  }

  /** The current request's (context's) own Map (X2); throws ContextError outside a context. */
  get local(): Map<unknown, unknown> {
    return requireContext('cache.local').local;
  }

  /** Results of `fn` kept for the current context only (Frappe's request_cache, X2). */
  requestCached<F extends AnyFunction>(fn: F): RequestCached<F> {
    return requestCached(fn);
  }

  /** Results of `fn` kept in this process per namespace, cleared in every process (Frappe's site_cache, X3). */
  processCached<F extends AnyFunction>(fn: F, opts?: ProcessCachedOptions): ProcessCached<F> {
    const scope = this.#scope;
    return processCached(processPort(this.core), () => scope.namespace, fn, opts);
  }

  /** One context per request for Node http, Express, Fastify (register it) and Hono (X1). */
  middleware(opts?: MiddlewareOptions): LarderMiddleware {
    return createMiddleware(opts);
  }

  // ---------------------------------------------------------------- documents (D)

  /** A document cache over `load` (D1–D4): getCachedDoc, getCachedValue, clearDocumentCache. */
  documents<D extends object = Record<string, unknown>>(opts: DocumentsOptions<D>): DocumentCache<D> {
    const core = this.core;
    const scope = this.#scope;
    const port: DocumentPort = {
      get namespace() {
        return scope.namespace;
      },
      store: core.store,
      guard: core.guard,
      stats: core.stats,
      events: core.events,
      flights: core.flights,
      encode: (v) => core.encode(v),
      decode: (b, pk, key) => core.decode(b, pk, key),
      ttlMs: (sec, what) => core.ttlMs(sec, what),
      deleteDocs: (namespace, prefix) => deleteEntries(core, namespace, 'd', prefix, false),
      tags: core.tags,
    };
    return new DocumentCache<D>(port, opts);
  }

  // ---------------------------------------------------------------- locks (LK)

  /**
   * Acquires an exclusive lock (LK1–LK7), waiting up to `waitMs`. Release it with `release()`, or
   * hold it with `await using`. Read locks/lock.ts for what a lease can and cannot promise, and use
   * `lock.fencingToken` with every write it protects.
   */
  async lock(name: string, opts?: LockOptions): Promise<Lock> {
    const o = resolveLockOptions(opts);
    const pk = this.#scope.key(name, opts, 'L');
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
    return new ReadWriteLock(lockContext(this.core), this.#scope.key(name, opts, 'L'), name);
  }

  /** A semaphore of `permits` holders whose permits expire with their holder's lease (LK8). */
  semaphore(name: string, opts: SemaphoreOptions): Semaphore {
    if (!isObject(opts)) throw new TypeError('semaphore options must be an object with permits');
    validatePermits(opts.permits);
    return new Semaphore(lockContext(this.core), this.#scope.key(name, opts, 'L'), name, opts.permits);
  }
}

/** Creates a cache. Synchronous: nothing connects until the first call (SPEC §0). */
export function createCache(options?: CacheOptions): Cache {
  return new Cache(new CacheCore(resolveOptions(options)));
}
