/**
 * Frappe's `@site_cache` (X3): results in this process's memory, per namespace, bounded (LRU), and
 * cleared in every process through the store's pub/sub.
 */
import type { Clock } from '../clock.js';
import { DEFAULTS } from '../defaults.js';
import { isObject } from '../input.js';
import { escapePart, namespacePrefix } from '../keys.js';
import type { StoreGuard } from '../policy/guard.js';
import type { Store } from '../stores/store.js';
import { ChannelHub, type Membership } from '../waiting/channel-hub.js';
import { canonicalArgumentBytes } from './digest.js';
import { memoName, type AnyFunction, type TagsOf } from './memoize.js';
import { validateTags } from '../tags/names.js';

export interface ProcessCachedOptions {
  /** Identifies the function across processes (X3); default: the function's own name. */
  name?: string;
  /** Seconds a result is trusted; `null` (default): until cleared or evicted. */
  ttlSec?: number | null;
  /** Results kept per function in this process, over all namespaces; least recently used go first. Default 1000. */
  maxEntries?: number;
  /**
   * The tags of a call's result, from the call's arguments (T1, T8): `cache.invalidateTags` of one
   * of them drops it in every process, as `clearCache()` does.
   */
  tags?: TagsOf;
}

export type ProcessCached<F extends AnyFunction> = F & {
  /** Clears this function's results of the namespace in every process sharing the store (X3). */
  clearCache(): Promise<void>;
  readonly memoName: string;
};

interface ProcessEntry {
  value: unknown;
  expiresAt: number;
  /** Tag names (T1), if the function has `tags`. */
  tags?: readonly string[];
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
    // Oldest first: a Map iterates in insertion order, and deleting as it goes is safe.
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#max) break;
      this.#entries.delete(oldest);
    }
  }

  deleteIf(key: string, entry: ProcessEntry): void {
    if (this.#entries.get(key) === entry) this.#entries.delete(key);
  }

  clearNamespace(namespace: string): void {
    const prefix = processKeyPrefix(namespace);
    for (const k of this.#entries.keys()) if (k.startsWith(prefix)) this.#entries.delete(k);
  }

  /** Drops the namespace's entries that carry one of `tags`. */
  dropTagged(namespace: string, tags: ReadonlySet<string>): void {
    const prefix = `${namespace}\u0000`;
    for (const [k, e] of this.#entries) {
      if (e.tags !== undefined && k.startsWith(prefix) && e.tags.some((t) => tags.has(t))) this.#entries.delete(k);
    }
  }

  clearAll(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}

interface ClearMessage {
  v: 1;
  /** A function's name, or absent: every process memo of the namespace (clearCache()). */
  name?: string;
  /** Tags invalidated (T1): only entries carrying one go (a reader that predates tags clears everything). */
  tags?: string[];
}

/**
 * What every process-memo key of a namespace starts with: the escaped namespace (no control
 * character survives escapePart) and a NUL, so one namespace's prefix never starts another's key
 * (D5: a namespace holding a NUL could otherwise end where another's arguments begin).
 */
function processKeyPrefix(namespace: string): string {
  return `${escapePart(namespace)}\u0000`;
}

/** The pub/sub channel of a namespace's process-cache clears; under the namespace's prefix (K5 ACLs). */
export function processCacheChannel(namespace: string): string {
  return `${namespacePrefix(namespace)}process-cache`;
}

/** What process caches need from a cache. */
export interface ProcessPort {
  /** The store itself: its pub/sub carries the clears. */
  store: Store;
  guard: StoreGuard;
  clock: Clock;
  /** Where the hub's cleanup goes (closed with the cache). */
  onClose: Set<() => void | Promise<void>>;
}

/**
 * The process caches of one cache, and their subscriptions: one channel per namespace, subscribed
 * the first time a process memo of that namespace is used and kept until the cache closes. A
 * result is only kept while the namespace's subscription is active, so no clear can be missed
 * between a load and the subscription (a sync function called before that is simply not cached; an
 * async one waits for the subscription). Pub/sub is at-most-once: when the store reports the
 * subscription lost, every memo is emptied and nothing is kept until it is restored (X3).
 */
export class ProcessCacheHub {
  readonly #port: ProcessPort;
  readonly #memos = new Set<ProcessMemo>();
  readonly #channels: ChannelHub;
  readonly #members = new Map<string, Membership>();
  readonly #unwatch: () => void;
  #healthy = true;

  constructor(port: ProcessPort) {
    this.#port = port;
    this.#channels = new ChannelHub(port.store, { clock: port.clock, lingerMs: Infinity, onError: (err) => port.guard.report(err) });
    this.#unwatch = port.store.watch({
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
    return this.#healthy && this.#member(namespace).active;
  }

  ready(namespace: string): Promise<boolean> {
    return this.#member(namespace).ready;
  }

  #member(namespace: string): Membership {
    let m = this.#members.get(namespace);
    if (m !== undefined) return m;
    const member = this.#channels.join(processCacheChannel(namespace), (msg) => this.#onMessage(namespace, msg));
    m = member;
    this.#members.set(namespace, member);
    // A subscription that failed is tried again on a later call rather than never caching this namespace.
    void member.ready.then((ok) => {
      if (!ok && this.#members.get(namespace) === member) this.#members.delete(namespace);
    });
    return m;
  }

  #onMessage(namespace: string, raw: Buffer): void {
    let msg: ClearMessage;
    try {
      msg = JSON.parse(raw.toString('utf8')) as ClearMessage;
    } catch {
      return;
    }
    if (Array.isArray(msg.tags)) {
      this.dropTagged(namespace, msg.tags);
      return;
    }
    for (const m of this.#memos) if (msg.name === undefined || m.name === msg.name) m.clearNamespace(namespace);
  }

  /** Drops, in this process, the namespace's results carrying one of `tags`. */
  dropTagged(namespace: string, tags: readonly string[]): void {
    const set = new Set(tags);
    for (const m of this.#memos) m.dropTagged(namespace, set);
  }

  /** Clears a namespace here at once and in every other process through the channel. */
  async publishClear(namespace: string, name: string | undefined): Promise<void> {
    for (const m of this.#memos) if (name === undefined || m.name === name) m.clearNamespace(namespace);
    await publishClear(this.#port, namespace, name);
  }

  clearEverything(): void {
    for (const m of this.#memos) m.clearAll();
  }

  async close(): Promise<void> {
    this.#unwatch();
    this.#members.clear();
    await this.#channels.close();
  }
}

function publishClear(port: Pick<ProcessPort, 'store' | 'guard'>, namespace: string, name: string | undefined): Promise<unknown> {
  const msg: ClearMessage = name === undefined ? { v: 1 } : { v: 1, name };
  return port.guard.write('PUBLISH', () => port.store.publish(processCacheChannel(namespace), Buffer.from(JSON.stringify(msg))));
}

/**
 * `cache.invalidateTags` of a namespace reaches the process memos of every process (T1): dropped
 * here at once, elsewhere through the channel. Publishes even with no process memo here.
 */
export async function invalidateProcessTags(port: ProcessPort, namespace: string, tags: readonly string[]): Promise<void> {
  hubs.get(port.onClose)?.dropTagged(namespace, tags);
  const msg: ClearMessage = { v: 1, tags: [...tags] };
  await port.guard.write('PUBLISH', () => port.store.publish(processCacheChannel(namespace), Buffer.from(JSON.stringify(msg))));
}

const hubs = new WeakMap<object, ProcessCacheHub>();

/** The hub of a cache (one per port owner), created on first use; closed with the cache. */
export function processCacheHub(port: ProcessPort): ProcessCacheHub {
  let hub = hubs.get(port.onClose);
  if (hub === undefined) {
    const h = new ProcessCacheHub(port);
    hub = h;
    hubs.set(port.onClose, h);
    port.onClose.add(() => h.close());
  }
  return hub;
}

/**
 * `cache.clearCache()` of a namespace reaches the process memos of every process (X3). Publishes
 * even when this process has no process memo: others may.
 */
export async function clearProcessCaches(port: ProcessPort, namespace: string): Promise<void> {
  const hub = hubs.get(port.onClose);
  if (hub !== undefined) await hub.publishClear(namespace, undefined);
  else await publishClear(port, namespace, undefined);
}

const AsyncFunction = (async () => { /* made only to read its constructor */ }).constructor;

export function processCached<F extends AnyFunction>(port: ProcessPort, namespaceOf: () => string, fn: F, opts?: ProcessCachedOptions): ProcessCached<F> {
  if (opts !== undefined && !isObject(opts)) throw new TypeError('processCached options must be an object');
  const name = memoName(fn, opts?.name, 'processCached');
  const ttlSec = opts?.ttlSec ?? null;
  if (ttlSec !== null && (typeof ttlSec !== 'number' || !Number.isFinite(ttlSec) || ttlSec <= 0)) {
    throw new TypeError(`ttlSec must be a positive finite number of seconds or null, got ${String(ttlSec)}`);
  }
  const max = opts?.maxEntries ?? DEFAULTS.processMaxEntries;
  if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1) {
    throw new TypeError(`maxEntries must be a positive integer, got ${String(max)}`);
  }
  const ttlMs = ttlSec === null ? Infinity : ttlSec * 1000;
  const hub = processCacheHub(port);
  const { clock } = port;
  const memo = new ProcessMemo(name, max);
  hub.register(memo);
  const isAsync = fn instanceof AsyncFunction;
  const tagsOf = opts?.tags;
  if (tagsOf !== undefined && typeof tagsOf !== 'function') throw new TypeError('tags must be a function of the arguments returning an array of tags');

  const call = (self: unknown, args: unknown[], namespace: string, key: string): unknown => {
    // Tags before the function runs: a bad list throws before it, and the entry is kept with them
    // from its first moment, so an invalidation during the run drops it (T4).
    const tags = tagsOf === undefined ? undefined : validateTags(tagsOf.apply(self, args));
    const value = fn.apply(self, args);
    // Kept only if the namespace's clears reach us now; otherwise served once, not remembered.
    if (!hub.canKeep(namespace)) return value;
    const entry: ProcessEntry = { value, expiresAt: clock.monotonic() + ttlMs };
    if (tags !== undefined) entry.tags = tags;
    memo.set(key, entry);
    if (value instanceof Promise) value.catch(() => memo.deleteIf(key, entry));
    return value;
  };

  const wrapper = function (this: unknown, ...args: unknown[]) {
    const namespace = namespaceOf();
    // Refused arguments throw TypeError before the function runs (as memoize, M5).
    const key = processKeyPrefix(namespace) + canonicalArgumentBytes(args).toString('latin1');
    const hit = memo.get(key, clock.monotonic());
    if (hit !== undefined) return hit.value;
    if (!hub.canKeep(namespace) && isAsync) {
      // First use of this namespace: wait for its subscription (a few ms, once) so the result can be kept.
      return hub.ready(namespace).then(() => {
        const again = memo.get(key, clock.monotonic());
        return again !== undefined ? again.value : call(this, args, namespace, key);
      });
    }
    return call(this, args, namespace, key);
  } as ProcessCached<F>;
  Object.defineProperty(wrapper, 'name', { value: name });
  Object.defineProperty(wrapper, 'memoName', { value: name, enumerable: true });
  wrapper.clearCache = () => hub.publishClear(namespaceOf(), name);
  return wrapper;
}
