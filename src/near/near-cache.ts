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
import { freeze, plainOnly } from '../codec/frozen.js';
import { heapSize, stringSize } from '../codec/heap-size.js';

export const NEAR_MISS: unique symbol = Symbol('near-miss');
export type NearMiss = typeof NEAR_MISS;

/**
 * Per-entry bookkeeping counted against maxBytes besides the value and the key: the entry object
 * (48 B, 64 with `ttlSec`) and its slot in the entries' Map (about 30 B), and the key memo's share
 * (core.physical: the caller's key and its slot, and entries it still holds until it forgets them:
 * 155 B per live entry measured by the max-bytes scenario).
 */
const ENTRY_OVERHEAD = 240;
/** A Buffer object's own heap bytes besides its contents (see stores/memory/entry.ts). */
const BUFFER_OVERHEAD = 100;
const HOT = 1;
const BYTES = 2;
/** Removed: a NearRef held by the key memo (core.physical) then finds the key's entry anew. */
const DEAD = 4;
const SIZE_SHIFT = 4;
const MAX_SIZE = 2 ** (31 - SIZE_SHIFT);

class NearEntry {
  readonly pk: string;
  /** The frozen value, or (flag BYTES) its encoded bytes. */
  v: unknown;
  /** size << SIZE_SHIFT | DEAD | BYTES | HOT */
  m: number;
  constructor(pk: string, v: unknown, m: number) {
    this.pk = pk;
    this.v = v;
    this.m = m;
  }
}

/**
 * What the key memo keeps for a key the near cache served: its entry (a hit then skips the
 * entries' Map), or its physical key until it has one. Opaque outside this file.
 */
export type NearRef = string | NearEntry;


/**
 * An entry of a near cache with `ttlSec`. Without it entries carry no expiry field: one field less
 * is 8 of the ~90 bytes the near cache adds to each kept value (heap per entry, BENCHMARKS.md).
 */
class TtlEntry extends NearEntry {
  /** Expiry in ms on the injected clock. */
  x: number;
  constructor(pk: string, v: unknown, m: number, x: number) {
    super(pk, v, m);
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
  /** Entries evicted to stay within maxEntries/maxBytes (N4), for metrics (O5). */
  evictions = 0;
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
    return e === undefined ? NEAR_MISS : this.read(e);
  }

  /** The live entry a NearRef leads to, if any (a removed entry's key may have a new one). */
  live(ref: NearRef): NearEntry | undefined {
    if (typeof ref === 'string') return this.#entries.get(ref);
    return (ref.m & DEAD) === 0 ? ref : this.#entries.get(ref.pk);
  }

  /** The value of a live entry (NEAR_MISS once its `ttlSec` ran out). */
  read(e: NearEntry): unknown {
    const m = e.m;
    // With a TTL every entry is a TtlEntry (#put makes them so): a downcast. An instanceof check
    // would cost a prototype walk on the hottest path there is.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
    if (this.#ttlMs !== 0 && this.#now() >= (e as TtlEntry).x) {
      this.#remove(e.pk, e);
      return NEAR_MISS;
    }
    if ((m & HOT) === 0) e.m = m | HOT;
    return (m & BYTES) === 0 ? e.v : this.#decode(e.v as Buffer);
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
    const old = this.#entries.get(pk);
    if (old !== undefined) this.#remove(pk, old);
    let kept: unknown;
    let flags = 0;
    if (typeof value !== 'object' || value === null) kept = value;
    else if (plainOnly(value)) kept = value;
    else {
      kept = bytes;
      flags = BYTES;
    }
    // What the entry holds, as the heap counts it: the decoded value, or a copy of the bytes.
    const held = flags === BYTES ? bytes.length + BUFFER_OVERHEAD : heapSize(kept);
    const size = held + stringSize(pk) + ENTRY_OVERHEAD;
    // The size must fit the entry's flag word (< 128 MiB): a larger value is served, not kept.
    if (size > this.#maxBytes || size >= MAX_SIZE) return value;
    if (flags === BYTES) kept = Buffer.from(bytes);
    else if (typeof kept === 'object' && kept !== null) kept = freeze(kept);
    while (this.#entries.size >= this.#maxEntries || this.#bytes + size > this.#maxBytes) this.#evictOne();
    const m = (size << SIZE_SHIFT) | flags;
    this.#entries.set(pk, this.#ttlMs === 0 ? new NearEntry(pk, kept, m) : new TtlEntry(pk, kept, m, this.#now() + this.#ttlMs));
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
      this.evictions++;
      return;
    }
  }

  #remove(pk: string, e: NearEntry): void {
    this.#entries.delete(pk);
    this.#bytes -= e.m >>> SIZE_SHIFT;
    e.m |= DEAD;
    e.v = undefined; // a NearRef in the key memo may outlive the entry: it must not keep the value
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
    for (const e of this.#entries.values()) {
      e.m |= DEAD;
      e.v = undefined;
    }
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
