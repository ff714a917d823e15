/**
 * Memoisation on top of the cache (Frappe's `@redis_cache`, `@request_cache`, `@site_cache`):
 *
 *   memoize(fn)        results in the store, shared by every process (M1–M5)
 *   @cached()          the same as a standard (TC39) method decorator (M4)
 *   requestCached(fn)  results in the current context only: one request, one job (X2)
 *   processCached(fn)  results in this process's memory, per namespace, bounded, cleared in every
 *                      process through the store's pub/sub (X3)
 *
 * Memo keys live in space `m` as `<name>/<digest>` (digest.ts), so clearing one function is a scan
 * of that space for its name, in every user scope, and `clearCache()` of the namespace removes them
 * with everything else.
 */
import type { Cache } from '../cache.js';
import { currentContext } from '../context.js';
import { argumentDigest, canonicalArgumentBytes } from './digest.js';
import { namespacePrefix, physicalKey, validateKey } from '../keys.js';
import type { Store } from '../stores/store.js';

// ------------------------------------------------------------------------------------- memoize

export interface MemoizeOptions {
  /** The entry name; default: the function's own name (an anonymous function needs one). */
  name?: string;
  /** Seconds a result lives; `null`: no expiry. Default 3600 (as Frappe's redis_cache). */
  ttlSec?: number | null;
  /** Scope results to a user; `true`: the current context's user (K2). */
  user?: string | true;
  /** Results outside every namespace (K1). */
  shared?: boolean;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFunction = (this: any, ...args: any[]) => unknown;

export interface Memoized<F extends AnyFunction> {
  (this: ThisParameterType<F>, ...args: Parameters<F>): Promise<Awaited<ReturnType<F>>>;
  /** Removes every cached result of this function in the namespace, for all users (M3). */
  clearCache(): Promise<number>;
  /** The name the entries are stored under. */
  readonly memoName: string;
}

export const DEFAULT_MEMO_TTL_SEC = 3600;

function memoName(fn: unknown, name: unknown, what: string): string {
  if (typeof fn !== 'function') throw new TypeError(`${what} needs a function`);
  const n = name ?? fn.name;
  if (typeof n !== 'string' || n.length === 0) {
    throw new TypeError(`${what}: an anonymous function needs a name option (the name is part of every key, M1)`);
  }
  validateKey(n, 'name');
  return n;
}

/**
 * One memoised call: read `m/<name>/<digest>`; on a miss, run the function once per key in flight
 * in this process (S4) and once per lease across processes (S5), and store what it returns unless
 * that is `undefined` (M2). A stored `null`
 * is a hit: the store's "no such key" and a cached null are different answers, so no EXISTS
 * round trip is needed (Frappe needs one).
 */
async function memoCall(
  cache: Cache,
  name: string,
  ttlSec: number | null,
  scopeOpts: { user?: string | true; shared?: boolean },
  fn: AnyFunction,
  thisArg: unknown,
  args: unknown[],
): Promise<unknown> {
  // Both throw before the function runs: refused arguments (M5) and a missing context user (K2).
  const digest = argumentDigest(args);
  const scope = cache.scope(scopeOpts);
  const keyName = `${name}/${digest}`;
  const pk = physicalKey(scope, 'm', keyName);
  const ttlMs = cache.core.ttlMs(ttlSec, 'ttlSec');
  const { core } = cache;
  const read = async (count: boolean): Promise<{ hit: boolean; value?: unknown }> => {
    const bytes = await core.guard.read('GET', () => core.store.get(pk), null);
    const value = bytes === null ? undefined : core.decode(bytes, pk, keyName);
    // decode() answers its private MISS symbol for undecodable bytes; the codec never yields a symbol.
    const hit = bytes !== null && typeof value !== 'symbol';
    if (count) {
      if (hit) core.stats.store.hits++;
      else core.stats.store.misses++;
    }
    return hit ? { hit, value } : { hit };
  };
  const first = await read(true);
  if (first.hit) return first.value;
  // Inside the flight, the stampede (S5) looks again (a flight that just ended may have stored
  // it: see single-flight.ts) and takes the cross-process lease before running the function.
  return core.flights.run(pk, () =>
    core.stampede.load({
      pk,
      read: async () => {
        const again = await read(false);
        return again.hit ? { value: again.value } : null;
      },
      generate: async () => {
        core.stats.generatorRuns++;
        return await fn.apply(thisArg, args);
      },
      fill: async (value) => {
        const bytes = core.encode(value);
        await core.guard.write('SET', () => core.store.set(pk, bytes, { ttlMs }));
      },
    }),
  );
}

/** Deletes every entry `<name>/<digest>` of the namespace (or the shared space), in every user scope. */
function clearMemo(cache: Cache, name: string, shared: boolean): Promise<number> {
  const prefix = `${name}/`;
  // The digest holds no `/`: a function named `a` never clears one named `a/b`.
  return cache.deleteEntries('m', prefix, { shared }, (n) => n.indexOf('/', prefix.length) < 0);
}

function checkMemoOptions(opts: MemoizeOptions | undefined, what: string): Required<Pick<MemoizeOptions, 'ttlSec'>> & MemoizeOptions {
  if (opts !== undefined && (typeof opts !== 'object' || opts === null)) throw new TypeError(`${what} options must be an object`);
  const ttlSec = opts?.ttlSec === undefined ? DEFAULT_MEMO_TTL_SEC : opts.ttlSec;
  if (ttlSec !== null && (typeof ttlSec !== 'number' || !Number.isFinite(ttlSec) || ttlSec <= 0)) {
    throw new TypeError(`ttlSec must be a positive finite number of seconds or null, got ${String(ttlSec)}`);
  }
  if (opts?.shared !== undefined && typeof opts.shared !== 'boolean') throw new TypeError('shared must be a boolean');
  return { ...opts, ttlSec };
}

export function memoize<F extends AnyFunction>(cache: Cache, fn: F, opts?: MemoizeOptions): Memoized<F> {
  const o = checkMemoOptions(opts, 'memoize');
  const name = memoName(fn, o.name, 'memoize');
  const scopeOpts = { user: o.user, shared: o.shared };
  // Check a fixed user now, so a bad option fails at definition, not at the first call.
  if (typeof o.user === 'string') cache.scope({ user: o.user });
  const memoized = function (this: unknown, ...args: unknown[]) {
    return memoCall(cache, name, o.ttlSec, scopeOpts, fn, this, args);
  } as unknown as Memoized<F>;
  Object.defineProperty(memoized, 'name', { value: name });
  Object.defineProperty(memoized, 'memoName', { value: name, enumerable: true });
  memoized.clearCache = () => clearMemo(cache, name, o.shared ?? false);
  return memoized;
}

// ------------------------------------------------------------------------------------- @cached

/**
 * A standard (TC39, TypeScript 5 without `experimentalDecorators`) method decorator. Entries are
 * named `<Class>.<method>` after the class that declares the method (a subclass calling an
 * inherited method shares its entries); the instance is not part of the key (M4). The decorated
 * method gets a `clearCache()` of its own: `Prices.prototype.rate.clearCache()`.
 */
export function cachedDecorator(cache: Cache, opts?: MemoizeOptions) {
  const o = checkMemoOptions(opts, '@cached');
  return function <F extends AnyFunction>(method: F, context: ClassMethodDecoratorContext): F {
    if (context.kind !== 'method') throw new TypeError('@cached decorates methods');
    if (typeof context.name === 'symbol' && o.name === undefined) {
      throw new TypeError('@cached on a symbol-named method needs a name option');
    }
    const methodName = String(context.name);
    let name = o.name;
    const scopeOpts = { user: o.user, shared: o.shared };
    const replacement = function (this: unknown, ...args: unknown[]) {
      name ??= `${declaringClassName(this, context, replacement)}.${methodName}`;
      return memoCall(cache, name, o.ttlSec, scopeOpts, method, this, args);
    };
    Object.defineProperty(replacement, 'name', { value: methodName });
    Object.defineProperty(replacement, 'clearCache', {
      value: () => {
        if (name === undefined) {
          throw new TypeError(`clearCache() of ${methodName} before its first call: give @cached a name option to clear it any time`);
        }
        return clearMemo(cache, name, o.shared ?? false);
      },
    });
    return replacement as unknown as F;
  };
}

/** The name of the class whose prototype (or, for a static method, the class itself) holds `fn`. */
function declaringClassName(self: unknown, context: ClassMethodDecoratorContext, fn: unknown): string {
  let o: unknown = self;
  while (o !== null && (typeof o === 'object' || typeof o === 'function')) {
    const d = Object.getOwnPropertyDescriptor(o, context.name);
    if (d?.value === fn) {
      const cls = context.static ? o : (o as { constructor?: unknown }).constructor;
      const n = typeof cls === 'function' ? cls.name : '';
      if (n) return n;
      break;
    }
    o = Object.getPrototypeOf(o);
  }
  throw new TypeError(`@cached could not name the class of ${String(context.name)}: give it a name option`);
}

// ------------------------------------------------------------------------------------- requestCached

export type RequestCached<F extends AnyFunction> = F;

/**
 * Frappe's `@request_cache`: results kept in the current context (one request, one job) and shared
 * by every call there with equal arguments (X2). The function's return value itself is kept: the
 * same object, or the same promise for an async function (a rejected promise is dropped, so a
 * failure is not remembered). Outside a context, and for arguments the codec cannot key (class
 * instances, functions), it just calls through, as Frappe's does for unhashable arguments.
 */
export function requestCached<F extends AnyFunction>(fn: F): RequestCached<F> {
  if (typeof fn !== 'function') throw new TypeError('requestCached needs a function');
  const id = {};
  const wrapper = function (this: unknown, ...args: unknown[]) {
    const ctx = currentContext();
    if (ctx === undefined) return fn.apply(this, args);
    let key: string;
    try {
      key = canonicalArgumentBytes(args).toString('latin1');
    } catch {
      return fn.apply(this, args);
    }
    let results = ctx.memo.get(id);
    if (results === undefined) ctx.memo.set(id, (results = new Map()));
    if (results.has(key)) return results.get(key);
    const value = fn.apply(this, args);
    results.set(key, value);
    if (value instanceof Promise) {
      const memo = results;
      value.catch(() => {
        if (memo.get(key) === value) memo.delete(key);
      });
    }
    return value;
  };
  Object.defineProperty(wrapper, 'name', { value: fn.name });
  return wrapper as F;
}

// ------------------------------------------------------------------------------------- processCached

export interface ProcessCachedOptions {
  /** Identifies the function across processes (X3); default: the function's own name. */
  name?: string;
  /** Seconds a result is trusted; `null` (default): until cleared or evicted. */
  ttlSec?: number | null;
  /** Results kept per function in this process, over all namespaces; least recently used go first. Default 1000. */
  maxEntries?: number;
}

export type ProcessCached<F extends AnyFunction> = F & {
  /** Clears this function's results of the namespace in every process sharing the store (X3). */
  clearCache(): Promise<void>;
  readonly memoName: string;
};

export const DEFAULT_PROCESS_MAX_ENTRIES = 1000;

interface ProcessEntry {
  value: unknown;
  expiresAt: number;
}

/** The memory of one processCached function: one LRU over all namespaces. */
class ProcessMemo {
  readonly name: string;
  readonly #entries = new Map<string, ProcessEntry>();
  readonly #max: number;

  constructor(name: string, max: number) {
    this.name = name;
    this.#max = max;
  }

  get(key: string, now: number): ProcessEntry | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    // Map keeps insertion order: re-inserting marks it most recently used.
    this.#entries.delete(key);
    this.#entries.set(key, e);
    return e;
  }

  set(key: string, entry: ProcessEntry): void {
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }

  deleteIf(key: string, entry: ProcessEntry): void {
    if (this.#entries.get(key) === entry) this.#entries.delete(key);
  }

  clearNamespace(namespace: string): void {
    const prefix = `${namespace}\u0000`;
    for (const k of this.#entries.keys()) if (k.startsWith(prefix)) this.#entries.delete(k);
  }

  clearAll(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}

interface Subscription {
  /** Resolves true once messages of the namespace are delivered, false if subscribing failed. */
  ready: Promise<boolean>;
  active: boolean;
  unsubscribe?: () => Promise<void>;
}

interface ClearMessage {
  v: 1;
  /** A function's name, or absent: every process memo of the namespace (clearCache()). */
  name?: string;
}

/** The pub/sub channel of a namespace's process-cache clears; under the namespace's prefix (K5 ACLs). */
export function processCacheChannel(namespace: string): string {
  return `${namespacePrefix(namespace)}process-cache`;
}

/**
 * The process caches of one Cache core, and their subscriptions: one channel per namespace,
 * subscribed the first time a process memo of that namespace is used. A result is only kept while
 * the namespace's subscription is active, so no clear can be missed between a load and the
 * subscription (a sync function called before that is simply not cached; an async one waits for
 * the subscription). Pub/sub is at-most-once: when the store reports the subscription lost, every
 * memo is emptied and nothing is kept until it is restored (X3).
 */
export class ProcessCacheHub {
  readonly #store: Store;
  readonly #memos = new Set<ProcessMemo>();
  readonly #subs = new Map<string, Subscription>();
  readonly #report: (err: Error) => void;
  readonly #unwatch: () => void;
  #healthy = true;
  #closed = false;

  constructor(store: Store, report: (err: Error) => void) {
    this.#store = store;
    this.#report = report;
    this.#unwatch = store.watch({
      subscriptionLost: () => {
        this.#healthy = false;
        this.clearEverything();
      },
      subscriptionRestored: () => {
        // Messages sent while we were away are lost: empty again, then trust the channel.
        this.clearEverything();
        this.#healthy = true;
      },
    });
  }

  register(memo: ProcessMemo): void {
    this.#memos.add(memo);
  }

  /** Whether results of this namespace may be kept right now; starts the subscription if needed. */
  canKeep(namespace: string): boolean {
    return this.#healthy && this.#subscription(namespace).active;
  }

  ready(namespace: string): Promise<boolean> {
    return this.#subscription(namespace).ready;
  }

  #subscription(namespace: string): Subscription {
    let sub = this.#subs.get(namespace);
    if (sub !== undefined) return sub;
    const s: Subscription = { active: false, ready: Promise.resolve(false) };
    s.ready = this.#store
      .subscribe(processCacheChannel(namespace), (msg) => this.#onMessage(namespace, msg))
      .then(
        (unsubscribe) => {
          s.unsubscribe = unsubscribe;
          if (this.#closed) {
            unsubscribe().catch(() => {});
            return false;
          }
          s.active = true;
          return true;
        },
        (err: unknown) => {
          // Try again on a later call rather than never caching this namespace.
          if (this.#subs.get(namespace) === s) this.#subs.delete(namespace);
          this.#report(err instanceof Error ? err : new Error(String(err)));
          return false;
        },
      );
    this.#subs.set(namespace, s);
    return s;
  }

  #onMessage(namespace: string, raw: Buffer): void {
    let msg: ClearMessage;
    try {
      msg = JSON.parse(raw.toString('utf8')) as ClearMessage;
    } catch {
      return;
    }
    for (const m of this.#memos) if (msg.name === undefined || m.name === msg.name) m.clearNamespace(namespace);
  }

  /** Clears a namespace here at once and in every other process through the channel. */
  async publishClear(namespace: string, name: string | undefined, guard: Cache['core']['guard']): Promise<void> {
    for (const m of this.#memos) if (name === undefined || m.name === name) m.clearNamespace(namespace);
    const msg: ClearMessage = name === undefined ? { v: 1 } : { v: 1, name };
    await guard.write('PUBLISH', () => this.#store.publish(processCacheChannel(namespace), Buffer.from(JSON.stringify(msg))));
  }

  clearEverything(): void {
    for (const m of this.#memos) m.clearAll();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#unwatch();
    const subs = [...this.#subs.values()];
    this.#subs.clear();
    await Promise.all(subs.map((s) => s.unsubscribe?.().catch(() => {})));
  }
}

const hubs = new WeakMap<object, ProcessCacheHub>();

/** The hub of a cache's core, created on first use; closed with the cache. */
export function processCacheHub(cache: Cache): ProcessCacheHub {
  const core = cache.core;
  let hub = hubs.get(core);
  if (hub === undefined) {
    const h = new ProcessCacheHub(core.store, (err) => core.guard.report(err));
    hub = h;
    hubs.set(core, h);
    core.onClose.add(() => h.close());
  }
  return hub;
}

/**
 * `cache.clearCache()` of a namespace reaches the process memos of every process (X3). Publishes
 * even when this process has no process memo: others may.
 */
export async function clearProcessCaches(cache: Cache, namespace: string): Promise<void> {
  const hub = hubs.get(cache.core);
  if (hub !== undefined) {
    await hub.publishClear(namespace, undefined, cache.core.guard);
    return;
  }
  const { store, guard } = cache.core;
  await guard.write('PUBLISH', () => store.publish(processCacheChannel(namespace), Buffer.from(JSON.stringify({ v: 1 }))));
}

const AsyncFunction = (async () => {}).constructor;

export function processCached<F extends AnyFunction>(cache: Cache, fn: F, opts?: ProcessCachedOptions): ProcessCached<F> {
  if (opts !== undefined && (typeof opts !== 'object' || opts === null)) throw new TypeError('processCached options must be an object');
  const name = memoName(fn, opts?.name, 'processCached');
  const ttlSec = opts?.ttlSec ?? null;
  if (ttlSec !== null && (typeof ttlSec !== 'number' || !Number.isFinite(ttlSec) || ttlSec <= 0)) {
    throw new TypeError(`ttlSec must be a positive finite number of seconds or null, got ${String(ttlSec)}`);
  }
  const max = opts?.maxEntries ?? DEFAULT_PROCESS_MAX_ENTRIES;
  if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1) {
    throw new TypeError(`maxEntries must be a positive integer, got ${String(max)}`);
  }
  const ttlMs = ttlSec === null ? Infinity : ttlSec * 1000;
  const hub = processCacheHub(cache);
  const memo = new ProcessMemo(name, max);
  hub.register(memo);
  const isAsync = fn instanceof AsyncFunction;

  const call = (self: unknown, args: unknown[], namespace: string, key: string): unknown => {
    const value = fn.apply(self, args);
    // Kept only if the namespace's clears reach us now; otherwise served once, not remembered.
    if (!hub.canKeep(namespace)) return value;
    const entry: ProcessEntry = { value, expiresAt: performance.now() + ttlMs };
    memo.set(key, entry);
    if (value instanceof Promise) value.catch(() => memo.deleteIf(key, entry));
    return value;
  };

  const wrapper = function (this: unknown, ...args: unknown[]) {
    const namespace = cache.namespace;
    // Refused arguments throw TypeError before the function runs (as memoize, M5).
    const key = `${namespace}\u0000${canonicalArgumentBytes(args).toString('latin1')}`;
    const hit = memo.get(key, performance.now());
    if (hit !== undefined) return hit.value;
    if (!hub.canKeep(namespace) && isAsync) {
      // First use of this namespace: wait for its subscription (a few ms, once) so the result can be kept.
      return hub.ready(namespace).then(() => {
        const again = memo.get(key, performance.now());
        return again !== undefined ? again.value : call(this, args, namespace, key);
      });
    }
    return call(this, args, namespace, key);
  } as ProcessCached<F>;
  Object.defineProperty(wrapper, 'name', { value: name });
  Object.defineProperty(wrapper, 'memoName', { value: name, enumerable: true });
  wrapper.clearCache = () => hub.publishClear(cache.namespace, name, cache.core.guard);
  return wrapper;
}
