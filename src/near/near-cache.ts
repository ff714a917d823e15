/**
 * The near cache (SPEC §8, N1–N5): decoded values of `getValue`/`getMany` kept in process memory,
 * kept coherent by Redis itself (stores/redis/tracking.ts), not by trusting TTLs.
 *
 * Coherence, step by step:
 *  - Only while tracking is active (both connections up, tracking pointed at the current
 *    invalidation connection) is anything served or stored; otherwise the cache is empty and
 *    every read goes to the store (N3).
 *  - A read that misses takes a ticket before its GET is sent: the key's load record remembers a
 *    generation. An invalidation of the key (or of everything) that arrives before the reply bumps
 *    it, and the reply is then returned to its caller but not stored: a read that raced a write of
 *    another client never caches the old value (N2). Replies and invalidations travel on two
 *    connections, so either may come first; both orders are safe.
 *  - Own writes: tracking runs with NOLOOP (no invalidations for this connection's own writes), so
 *    every write or delete this process sends drops the key and bumps its generation itself: the
 *    value paths write through near-store.ts, which does that for every write they make (fills,
 *    F3 retries, compare-and-delete included). `setValue` and generator fills go further: their
 *    write is a script that sets the key and reads it back in one atomic step (values/scripts.ts),
 *    so that Redis tracks the key again (a write alone untracks it), and the value is kept here
 *    when the reply comes, unless an invalidation arrived meanwhile (N1: own writes visible at once).
 *  - Expiry: Redis invalidates keys it expires or evicts. A key expired lazily by this
 *    connection's own read is not reported (NOLOOP), so a read of another kind that finds the key
 *    missing drops it here too. `ttlSec` caps how long an entry is trusted anyway (N4).
 *
 * Values (N5): plain objects and arrays are deep-frozen once and shared by every hit. A value that
 * holds a Map, Set, Date or byte array keeps its encoded bytes instead and is decoded on each hit,
 * so every caller gets fresh copies of those.
 *
 * Bounds (N4): `maxEntries` and `maxBytes` (encoded size + key length + 64 per entry) are hard;
 * eviction is CLOCK over the Map's insertion order (a hit sets a bit; the eviction sweep gives a
 * set bit a second chance by re-inserting the entry), so a hit costs one Map lookup and no
 * relinking, and an entry carries two fields (three with `ttlSec`).
 */
import { isDate, isMap, isSet, isUint8Array } from 'node:util/types';
import { forEachElement } from '../elements.js';

export const NEAR_MISS: unique symbol = Symbol('near-miss');
export type NearMiss = typeof NEAR_MISS;

/** Per-entry bookkeeping counted against maxBytes besides the value's bytes and the key. */
const ENTRY_OVERHEAD = 64;
const HOT = 1;
const BYTES = 2;
const SIZE_SHIFT = 4;
/** physicalOf's remembered map before any namespace was looked up: empty, never written. */
const NO_KEYS: ReadonlyMap<string, string> = new Map();

class NearEntry {
  /** The frozen value, or (flag BYTES) its encoded bytes. */
  v: unknown;
  /** size << SIZE_SHIFT | BYTES | HOT */
  m: number;
  constructor(v: unknown, m: number) {
    this.v = v;
    this.m = m;
  }
}

/**
 * An entry of a near cache with `ttlSec`. Without it entries carry no expiry field: one field less
 * is 8 of the ~90 bytes the near cache adds to each kept value (heap per entry, BENCHMARKS.md).
 */
class TtlEntry extends NearEntry {
  /** Expiry in ms on the injected clock. */
  x: number;
  constructor(v: unknown, m: number, x: number) {
    super(v, m);
    this.x = x;
  }
}

class Load {
  gen = 0;
  n = 0;
}

export interface Ticket {
  readonly pk: string;
  readonly load: Load;
  readonly gen: number;
  readonly epoch: number;
}

/** The `nearCache` option (SPEC §0, N4). */
export interface NearCacheOptions {
  /** Hard bound on entries kept in process memory. */
  maxEntries: number;
  /** Optional hard bound on the approximate bytes those entries hold. */
  maxBytes?: number;
  /** How long an entry is trusted without a store round trip; absent: until invalidated. */
  ttlSec?: number;
}

/** What the core gives a near cache besides the option. */
interface NearCacheConfig extends NearCacheOptions {
  now: () => number;
  /** Decodes stored bytes (for values kept as bytes). */
  decode: (bytes: Buffer) => unknown;
}

export class NearCache {
  readonly #entries = new Map<string, NearEntry>();
  readonly #loads = new Map<string, Load>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #decode: (bytes: Buffer) => unknown;
  #bytes = 0;
  #active = false;
  /** Bumped whenever everything is dropped: tickets of an older epoch never fill. */
  #epoch = 0;
  /** Invalidation messages received. */
  invalidations = 0;
  /**
   * Physical keys of unscoped calls by namespace and key, so that a hit skips the key layout
   * (escaping, hash tag): the hot path is then two Map lookups. Bounded like the entries.
   */
  readonly #physical = new Map<string, Map<string, string>>();
  /** The namespace physicalOf last found in #physical, and its map (NO_KEYS while there is none). */
  #lastNs: string | undefined;
  #lastKeys: ReadonlyMap<string, string> = NO_KEYS;
  #activeWaiters: Array<() => void> = [];
  #invalidationWaiters: Array<() => void> = [];

  constructor(opts: NearCacheConfig) {
    this.#maxEntries = opts.maxEntries;
    this.#maxBytes = opts.maxBytes ?? Infinity;
    this.#ttlMs = opts.ttlSec === undefined ? 0 : Math.max(1, Math.round(opts.ttlSec * 1000));
    this.#now = opts.now;
    this.#decode = opts.decode;
  }

  get active(): boolean {
    return this.#active;
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The value kept for `pk`, or NEAR_MISS. */
  get(pk: string): unknown {
    const e = this.#entries.get(pk);
    if (e === undefined) return NEAR_MISS;
    const m = e.m;
    // With a TTL every entry is a TtlEntry (#put makes them so): a downcast. An instanceof check
    // would cost a prototype walk on the hottest path there is.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
    if (this.#ttlMs !== 0 && this.#now() >= (e as TtlEntry).x) {
      this.#remove(pk, e);
      return NEAR_MISS;
    }
    if ((m & HOT) === 0) e.m = m | HOT;
    return (m & BYTES) === 0 ? e.v : this.#decode(e.v as Buffer);
  }

  /** The physical key remembered for `key` of namespace `ns` (unscoped, not shared), if any. */
  physicalOf(ns: string, key: string): string | undefined {
    // The namespace of a hit is nearly always the one of the hit before: skip its lookup then.
    if (ns === this.#lastNs) return this.#lastKeys.get(key);
    const m = this.#physical.get(ns);
    if (m === undefined) return undefined;
    this.#lastNs = ns;
    this.#lastKeys = m;
    return m.get(key);
  }

  /** Remembers the physical key of an unscoped, validated key. */
  rememberPhysical(ns: string, key: string, pk: string): void {
    let m = this.#physical.get(ns);
    if (m === undefined) {
      if (this.#physical.size >= 64) {
        this.#physical.clear();
        this.#lastNs = undefined;
        this.#lastKeys = NO_KEYS;
      }
      m = new Map();
      this.#physical.set(ns, m);
    }
    if (m.size >= this.#maxEntries * 2) m.clear();
    m.set(key, pk);
  }

  has(pk: string): boolean {
    return this.#entries.has(pk);
  }

  /** Before a read of `pk` is sent: a ticket, or null while tracking is inactive. */
  begin(pk: string): Ticket | null {
    if (!this.#active) return null;
    let load = this.#loads.get(pk);
    if (load === undefined) {
      load = new Load();
      this.#loads.set(pk, load);
    }
    load.n++;
    return { pk, load, gen: load.gen, epoch: this.#epoch };
  }

  /**
   * After the reply: keeps `value` (decoded from `bytes`) if nothing invalidated the key since the
   * ticket was taken. `bytes` null: the key was missing; nothing is kept. Returns the value the
   * caller should get (frozen when it was kept, as later hits will be).
   */
  settle(t: Ticket, value: unknown, bytes: Buffer | null): unknown {
    const load = t.load;
    if (--load.n === 0 && this.#loads.get(t.pk) === load) this.#loads.delete(t.pk);
    if (bytes === null || !this.#active || t.epoch !== this.#epoch || load.gen !== t.gen) return value;
    return this.#put(t.pk, value, bytes);
  }

  /** Ends a ticket whose read failed. */
  abandon(t: Ticket): void {
    if (--t.load.n === 0 && this.#loads.get(t.pk) === t.load) this.#loads.delete(t.pk);
  }

  #put(pk: string, value: unknown, bytes: Buffer): unknown {
    const size = bytes.length + pk.length + ENTRY_OVERHEAD;
    const old = this.#entries.get(pk);
    if (old !== undefined) this.#remove(pk, old);
    if (size > this.#maxBytes) return value;
    let kept: unknown;
    let flags = 0;
    if (typeof value !== 'object' || value === null) kept = value;
    else if (plainOnly(value)) kept = freeze(value);
    else {
      kept = Buffer.from(bytes);
      flags = BYTES;
    }
    while (this.#entries.size >= this.#maxEntries || this.#bytes + size > this.#maxBytes) this.#evictOne();
    const m = (size << SIZE_SHIFT) | flags;
    this.#entries.set(pk, this.#ttlMs === 0 ? new NearEntry(kept, m) : new TtlEntry(kept, m, this.#now() + this.#ttlMs));
    this.#bytes += size;
    return flags === 0 ? kept : value;
  }

  /** CLOCK: the oldest entry without its hot bit goes; hot ones lose the bit and move to the end. */
  #evictOne(): void {
    for (const [pk, e] of this.#entries) {
      if ((e.m & HOT) !== 0) {
        e.m &= ~HOT;
        this.#entries.delete(pk);
        this.#entries.set(pk, e);
        continue;
      }
      this.#remove(pk, e);
      return;
    }
  }

  #remove(pk: string, e: NearEntry): void {
    this.#entries.delete(pk);
    this.#bytes -= e.m >>> SIZE_SHIFT;
  }

  /** Another client changed these keys (or, null, maybe everything). */
  invalidate(keys: readonly string[] | null): void {
    this.invalidations++;
    if (keys === null) this.#dropAll();
    else for (const pk of keys) this.drop(pk);
    if (this.#invalidationWaiters.length > 0) for (const f of this.#invalidationWaiters.splice(0)) f();
  }

  /** @internal Resolves at the next invalidation message (tests, benchmarks). */
  nextInvalidation(): Promise<void> {
    return new Promise((resolve) => this.#invalidationWaiters.push(resolve));
  }

  /** @internal Resolves when tracking is active (at once if it is). */
  whenActive(): Promise<void> {
    if (this.#active) return Promise.resolve();
    return new Promise((resolve) => this.#activeWaiters.push(resolve));
  }

  /** Forgets `pk` and spoils reads of it in flight (own writes, invalidations). */
  drop(pk: string): void {
    const e = this.#entries.get(pk);
    if (e !== undefined) this.#remove(pk, e);
    const load = this.#loads.get(pk);
    if (load !== undefined) load.gen++;
  }

  /** Drops every entry whose key passes `test` (deleteKeys, clearCache: at once, before the scan). */
  dropWhere(test: (pk: string) => boolean): void {
    for (const pk of [...this.#entries.keys()]) if (test(pk)) this.drop(pk);
    for (const [pk, load] of this.#loads) if (test(pk)) load.gen++;
  }

  #dropAll(): void {
    this.#epoch++;
    this.#entries.clear();
    this.#bytes = 0;
  }

  /** Tracking came up or went down; either way nothing kept so far can be trusted. */
  setActive(active: boolean): void {
    this.#dropAll();
    this.#active = active;
    if (active && this.#activeWaiters.length > 0) for (const f of this.#activeWaiters.splice(0)) f();
  }
}

/** True if `v` holds only plain objects, arrays and primitives (no Map, Set, Date, bytes). */
function plainOnly(v: object): boolean {
  if (isMap(v) || isSet(v) || isDate(v) || isUint8Array(v)) return false;
  if (Array.isArray(v)) {
    // Own elements only (Z1): a sparse array's declared length may be four billion.
    let plain = true;
    forEachElement(v as readonly unknown[], (x) => {
      if (plain && typeof x === 'object' && x !== null && !plainOnly(x)) plain = false;
    });
    return plain;
  }
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k];
    if (typeof x === 'object' && x !== null && !plainOnly(x)) return false;
  }
  return true;
}

/**
 * Deep-freezes plain objects and arrays (N5). Linear in the own properties of what it walks (Z1):
 * an array is walked by its own elements, never by its declared length, so a sparse array costs
 * what it holds.
 */
function freeze<T>(v: T): T {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return v;
  Object.freeze(v);
  if (Array.isArray(v)) forEachElement(v as readonly unknown[], freeze);
  else for (const k in v) freeze((v as Record<string, unknown>)[k]);
  return v;
}
