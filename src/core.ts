/**
 * The services every view of one cache shares, wired once: the store, the near cache in front of
 * its value paths, the guard every store call goes through, the pending invalidations (F3), the
 * in-process and cross-process flights (S4, S5), counters and events, and the decode policy.
 *
 * Two views of the store, on purpose:
 *  - `store` is the store itself: locks, stampede leases, pub/sub and document scripts use it.
 *  - `values` is the store as the value paths see it (getValue, setValue, hashes, lists, sets,
 *    patterns, invalidations): with a near cache it drops the keys it writes from the near cache
 *    first (near/near-store.ts), so no write path can leave a stale copy behind.
 */
import type { Clock } from './clock.js';
import { entryExpiry, entryValue, isEntry } from './codec/entry.js';
import { decodeValue, encodeValue, isIntegerCounter, type Codec } from './codec/index.js';
import { DecodeError, ValueError } from './errors.js';
import { ignore } from './ignore.js';
import { Stampede } from './flight/stampede.js';
import { SingleFlight } from './flight/single-flight.js';
import { parseAnyKey } from './keys.js';
import { NearCache, type NearRef } from './near/near-cache.js';
import { nearValueStore } from './near/near-store.js';
import { MetricsTap } from './metrics/tap.js';
import { Emitter, emptyStats, type CacheStats } from './observability.js';
import { isStoreObject, type ResolvedOptions } from './options.js';
import { StoreGuard } from './policy/guard.js';
import { PendingInvalidations } from './policy/invalidations.js';
import { sharedMemoryStore } from './stores/memory/index.js';
import { createRedisStore } from './stores/redis/index.js';
import { UNSHARED, type SharedDecoder, type Store, type StoreRef, type TtlMs } from './stores/store.js';
import { shareable } from './codec/frozen.js';
import { heapSize } from './codec/heap-size.js';
import { KeyMemo } from './key-memo.js';
import { compareAndDelete } from './values/scripts.js';
import { quote } from './options-check.js';
import { startTelemetry } from './metrics/publisher.js';
import { noteOutcome, outcomes } from './tracing.js';
import { Tags } from './tags/tags.js';
import { isTagged } from './tags/envelope.js';

export const MISS: unique symbol = Symbol('miss');

/** A key `cache.ping()` asks about on a store without a ping of its own; nothing writes it. */
const PING_KEY = '\u0000larder-ping';

/** What `cache.health()` answers (A1). */
export interface Health {
  /** 'unknown' before the first store call; 'down' while calls fail for unavailability. */
  store: 'up' | 'down' | 'unknown';
  breaker: 'closed' | 'open' | 'half-open';
  /** 'off' without the option; 'inactive' while it is emptied and bypassed (N3) or not possible on this store. */
  nearCache: 'active' | 'inactive' | 'off';
  /** Deletes that could not reach the store yet (F3). */
  pendingInvalidations: number;
  /** `host:port` (never a password), the cluster's startup nodes, the Sentinel group, or 'memory (in-process)'. */
  endpoint: string;
}
export type Miss = typeof MISS;

/** A store that keeps decoded values with its entries (in-process stores, Store.readShared). */
export type LocalValues = Required<Pick<Store, 'readShared' | 'refOf'>>;

export class CacheCore {
  readonly options: ResolvedOptions;
  readonly clock: Clock;
  /** The store itself (locks, leases, pub/sub, documents). */
  readonly store: Store;
  /** The store as the value paths see it: through the near cache's write hooks when there is one. */
  readonly values: Store;
  readonly stats: CacheStats = emptyStats();
  readonly events = new Emitter();
  /** Timings and per-namespace counts for metrics consumers and tracing (metrics/tap.ts, O3–O6). */
  readonly tap: MetricsTap;
  readonly guard: StoreGuard;
  readonly flights = new SingleFlight();
  /** Deletes that could not reach the store, retried when it answers again (F3). */
  readonly invalidations: PendingInvalidations;
  /** Tag tokens, checks and invalidations (T1–T8). */
  readonly tags: Tags;
  /** Cross-process leases for generator runs and background refreshes (S5–S7). */
  readonly stampede: Stampede;
  /** Cleanups of layers built on this core (process-cache subscriptions), run first by close(). */
  readonly onClose = new Set<() => void | Promise<void>>();
  /** The near cache (N1–N5); null when off, and on stores that need none or cannot track. */
  readonly near: NearCache | null = null;
  /**
   * The store itself when it keeps decoded values (the embedded store): value reads then take
   * them from it synchronously, without decoding (read.ts). Null otherwise.
   */
  readonly local: LocalValues | null;
  /** How this cache's codec shares decoded values (one function per codec: see SharedDecoder). */
  readonly sharedDecoder: SharedDecoder;
  /** Entries (or physical keys) of unscoped keys the near cache served (read.ts). */
  readonly physical: KeyMemo<NearRef>;
  /** Entries of unscoped keys the embedded store served (read.ts). */
  readonly refs: KeyMemo<StoreRef>;
  readonly #stopTracking: (() => void) | undefined;
  readonly #ownsStore: boolean;
  readonly #encode: (v: unknown) => Buffer;
  readonly #decode: (b: Buffer) => unknown;
  readonly #unwatch: () => void;
  #closing: Promise<void> | undefined;

  constructor(options: ResolvedOptions) {
    this.options = options;
    this.clock = options.clock;
    const spec = options.store;
    if (spec === 'memory') {
      this.store = sharedMemoryStore(options.memory, options.clock);
      this.#ownsStore = false;
    } else if (isStoreObject(spec)) {
      this.store = spec;
      this.#ownsStore = false;
    } else {
      this.store = createRedisStore(spec, { commandTimeoutMs: options.commandTimeoutMs, clock: options.clock });
      this.#ownsStore = true;
    }
    const store = this.store;
    const inProcess = store.inProcess === true;
    this.tap = new MetricsTap(this.events, spec === 'memory' ? 'memory' : isStoreObject(spec) ? 'custom' : 'redis');
    this.guard = new StoreGuard({
      tap: this.tap,
      timeoutMs: options.commandTimeoutMs,
      // Stores that bound their own calls (or answer at once) need no second deadline.
      bounded: store.boundsCalls !== true,
      policy: options.onStoreError,
      stats: this.stats,
      events: this.events,
      // A store in this process cannot be unreachable: no breaker to consult.
      breaker: inProcess ? false : options.circuitBreaker,
      clock: options.clock,
      endpoint: store.endpoint ?? `a ${store.kind} store`,
    });

    // The near cache: only where the store can track keys for us (an embedded store needs no
    // second copy of its data), and only on a store this cache opened: a connection's tracking
    // redirects to one invalidation connection, so two caches must not share one.
    let near: NearCache | null = null;
    if (options.nearCache !== false) {
      if (!this.#ownsStore && !inProcess) {
        // Not silently: whoever asked for a near cache should know they are not getting one.
        process.emitWarning(
          'larder: nearCache is ignored on a store passed in as an object; give createCache the Redis URL, options or ioredis client instead, so the cache opens (and tracks) connections of its own',
          { code: 'LARDER_NEAR_CACHE_OFF' },
        );
      } else if (this.#ownsStore && store.trackInvalidations !== undefined) {
        const candidate = new NearCache({ ...options.nearCache, now: options.now, decode: (b) => this.#decode(b) });
        this.#stopTracking = store.trackInvalidations({
          invalidate: (keys) => {
            candidate.invalidate(keys);
            this.tags.onInvalidate(keys);
            if (this.events.wantsInvalidate) this.#reportRemote(keys);
          },
          setActive: (active) => {
            candidate.setActive(active);
            this.tags.everything();
          },
          error: (err) => this.guard.report(err),
        });
        if (this.#stopTracking !== undefined) near = candidate;
      }
    }
    this.near = near;
    this.local = store.readShared === undefined || store.refOf === undefined ? null : (store as LocalValues);
    // A physical key with no entry near counts as dead too: the memo keeps only keys served near.
    this.physical = new KeyMemo(options.nearCache === false ? 0 : Math.max(1024, options.nearCache.maxEntries * 2), (ref: NearRef) =>
      near === null ? true : near.live(ref) === undefined,
    );
    this.refs = new KeyMemo(MEMO_LIMIT, (ref: StoreRef) => ref.gone);
    this.values = near === null ? store : nearValueStore(store, near);

    this.invalidations = new PendingInvalidations(this.values, this.guard, this.clock);
    this.guard.onRecovered = () => void this.invalidations.flush();
    this.tags = new Tags({ store, values: this.values, guard: this.guard, invalidations: this.invalidations, near, leaseMs: options.leaseMs });
    this.stampede = new Stampede({
      store,
      guard: this.guard,
      flights: this.flights,
      events: this.events,
      leaseMs: options.leaseMs,
      clock: this.clock,
      random: options.random,
    });
    this.onClose.add(() => this.stampede.close());
    this.#unwatch = store.watch({ error: (err) => this.guard.report(err) });
    // OP4: only with the option; the publisher's timer is unref'd and stopped by close().
    if (options.telemetry !== false) this.onClose.add(startTelemetry(this, options.telemetry));
    const max = options.maxValueBytes;
    const custom = options.codec;
    if (custom === undefined) {
      this.#encode = (v) => encodeValue(v, max);
      this.#decode = decodeValue;
      this.sharedDecoder = builtinShared;
    } else {
      this.#encode = (v) => encodeCustom(custom, v, max);
      this.#decode = (b) => decodeCustom(custom, b);
      this.sharedDecoder = customShared(custom);
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
      if (parsed?.space !== 'k') continue;
      let list = byNamespace.get(parsed.namespace);
      if (list === undefined) byNamespace.set(parsed.namespace, (list = []));
      list.push(parsed.name);
    }
    for (const [namespace, list] of byNamespace) this.events.emit('invalidate', { keys: list, namespace, reason: 'remote' });
  }

  /** Encodes a value for the store; throws ValueError (C2, C5) synchronously, before any I/O. */
  encode(value: unknown): Buffer {
    if (value === undefined) throw new ValueError('undefined cannot be stored as a value', '$');
    return this.#encode(value);
  }

  /** Decodes bytes this cache just encoded (never fails; no policy applies). */
  decodeOwn(bytes: Buffer): unknown {
    return this.#decode(bytes);
  }

  /**
   * Decodes stored bytes. Bytes that fail to decode are a miss (C3): the failure is reported, and
   * the stored value is removed if it still holds the same bytes.
   *
   * Also a miss: a key whose delete is pending (F3: never serve what an invalidation that failed
   * meant to remove; the retry is kicked off), and an entry with metadata (codec/entry.ts) past
   * its logical expiry, unless `stale` (S7: only the caller who asked for stale data gets it).
   */
  decode(bytes: Buffer, physical: string | null, key: string, stale = false): unknown {
    if (physical !== null && this.invalidations.size > 0 && this.invalidations.blocks(physical)) {
      void this.invalidations.flush();
      return MISS;
    }
    let stored = bytes;
    if (isEntry(bytes)) {
      if (!stale && this.options.now() >= entryExpiry(bytes)) return MISS;
      stored = entryValue(bytes);
    }
    try {
      return this.#decode(stored);
    } catch (cause) {
      const err = cause instanceof DecodeError ? cause : new DecodeError(`stored value of ${JSON.stringify(key)} could not be decoded`, { cause, key });
      this.guard.report(err);
      if (physical !== null) {
        this.guard.write('compare-and-delete', () => this.values.eval(compareAndDelete, [physical], [bytes])).catch(ignore);
      }
      return MISS;
    }
  }

  /** Seconds → store TTL in ms (S1). `undefined` means the default TTL. */
  ttlMs(expiresInSec: number | null | undefined, what = 'expiresInSec'): TtlMs {
    if (expiresInSec === undefined) {
      const d = this.options.defaultTtlSec;
      return d === null ? null : Math.max(1, Math.round(d * 1000));
    }
    if (expiresInSec === null) return null;
    if (typeof expiresInSec !== 'number' || !Number.isFinite(expiresInSec) || expiresInSec <= 0) {
      throw new TypeError(`${what} must be a positive finite number of seconds or null, got ${quote(expiresInSec)}`);
    }
    return Math.max(1, Math.round(expiresInSec * 1000));
  }

  /**
   * F3: whether a delete of this key failed and is not retried yet. Reads then answer as a miss
   * (never the old data) and kick off the retry. One integer compare on the happy path.
   */
  pending(pk: string): boolean {
    const inv = this.invalidations;
    if (inv.size === 0 || !inv.blocks(pk)) return false;
    void inv.flush();
    return true;
  }

  /**
   * F3: a write to a key whose delete is pending lets the delete go first, so it is not undone
   * later. A promise that settles once it went out, or undefined when none is pending (the usual
   * case: hot paths then skip the await altogether).
   */
  settle(pk: string): Promise<unknown> | undefined {
    const inv = this.invalidations;
    return inv.size !== 0 && inv.blocks(pk) ? inv.flush() : undefined;
  }

  /** Counts a store read of `key` as a hit or a miss (O1, O2). */
  count(miss: boolean, key: string, namespace: string): void {
    const { stats, events } = this;
    if (outcomes.traced) noteOutcome('store', miss ? 'miss' : 'hit');
    if (miss) {
      stats.store.misses++;
      if (events.wantsMiss) events.emit('miss', { key, namespace });
    } else {
      stats.store.hits++;
      if (events.wantsHit) events.emit('hit', { key, layer: 'store', namespace });
    }
  }

  /** O2: a miss answered by another caller's or process's generator run: `waited`, not a miss. */
  countWaited(key: string, namespace: string): void {
    this.stats.waited++;
    if (this.events.wantsWaited) this.events.emit('waited', { key, namespace });
  }

  /** Counts a near-cache hit and hands the value back. */
  nearHit(value: unknown, key: string, namespace: string): unknown {
    this.stats.near.hits++;
    if (outcomes.traced) noteOutcome('near', 'hit');
    if (this.events.wantsHit) this.events.emit('hit', { key, layer: 'near', namespace });
    return value;
  }

  /** A1: the store's round trip in ms; throws StoreUnavailableError / StoreTimeoutError (never degraded). */
  async ping(): Promise<number> {
    const { store, clock } = this;
    const started = clock.monotonic();
    await this.guard.strict('PING', () => (store.ping !== undefined ? store.ping() : store.exists(PING_KEY).then(() => undefined)));
    return clock.monotonic() - started;
  }

  /** A1: a snapshot for readiness and liveness probes, at once, without a store call. */
  health(): Health {
    const near = this.near;
    const inProcess = this.store.inProcess === true;
    return {
      store: inProcess && !this.guard.closed ? 'up' : this.guard.storeState,
      breaker: this.guard.breakerState,
      nearCache: this.options.nearCache === false ? 'off' : near?.active ? 'active' : 'inactive',
      pendingInvalidations: this.invalidations.size,
      endpoint: this.store.endpoint ?? `a ${this.store.kind} store`,
    };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.guard.closing = true;
      for (const cleanup of this.onClose) await cleanup();
      this.#stopTracking?.();
      this.invalidations.close();
      this.guard.close();
      this.#unwatch();
      if (this.#ownsStore) await this.store.close();
    })();
    return this.#closing;
  }
}

/** Keys a namespace's memo holds at most when there is no near cache to size it by. */
const MEMO_LIMIT = 100_000;

/**
 * What a SharedDecoder makes of bytes, given the codec's own decode: S6/S7 entries and tagged
 * entries (every read of one checks its tags, tags/) are UNSHARED, and so are bytes that fail to
 * decode, so the caller's own read applies the policy or reports them.
 */
function decodeShared(decode: (bytes: Buffer) => unknown): (bytes: Buffer) => unknown {
  return (bytes) => {
    if (isEntry(bytes) || isTagged(bytes)) return UNSHARED;
    try {
      return shareable(decode(bytes));
    } catch {
      return UNSHARED;
    }
  };
}

/** The built-in codec's SharedDecoder, one for every cache (its stored form lets a store drop bytes). */
const builtinShared: SharedDecoder = Object.assign(decodeShared(decodeValue), {
  reencode: (value: unknown) => encodeValue(value, Infinity),
  sizeOf: heapSize,
});

const customDecoders = new WeakMap<Codec, SharedDecoder>();

/** A custom codec's SharedDecoder: one per codec object, so caches sharing a codec share values. */
function customShared(codec: Codec): SharedDecoder {
  let d = customDecoders.get(codec);
  if (d === undefined) {
    d = decodeShared((bytes) => decodeCustom(codec, bytes));
    customDecoders.set(codec, d);
  }
  return d;
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
