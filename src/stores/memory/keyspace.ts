/**
 * The synchronous core of the embedded store: one Map from key to Entry, in insertion order, which
 * scans and the expiry sweep walk, and an intrusive LRU list (lru.ts) for recency, so a hit costs
 * six pointer writes instead of a Map re-insert. Here live the entries themselves (lookup with lazy
 * expiry, creation, size accounting), the bounds and their eviction, TTLs, and the string commands;
 * collections.ts adds hashes, lists, sets and sorted sets on top, and the two together are the
 * LocalData that script twins run against.
 *
 * Time is the injected Clock's wall time (`clock.now()`), for deadlines and for `now()` alike: a
 * script twin compares what `now()` reports with the lease expiries it stored, so the TTL math and
 * `now()` must read one clock. (Redis, likewise, expires keys and answers TIME on one clock.)
 *
 * Redis semantics kept: SET clears the TTL unless given one (or 'keep'); INCRBY starts a missing key
 * at 0, refuses non-integers and results outside 64 bits (NotIntegerError); a call against a key of
 * another type throws WrongTypeError, while SET and DEL take any type; a key is expired once the
 * clock is past its deadline (PTTL 0 at the deadline itself). Fractional millisecond TTLs are
 * rounded up, so a positive TTL never becomes 0. Scripts see Redis's own TTL rules: PEXPIRE with a
 * TTL <= 0 deletes the key, SET with one is refused with StoreError ("invalid expire time").
 */

import { coarseNow, type Clock } from '../../clock.js';
import { ABSENT, type SharedDecoder, type TtlMs } from '../store.js';
import { Entry, keyBytes, NO_EXPIRY, stringBytes, type EntryType, type Value } from './entry.js';
import { LruList } from './lru.js';
import type { PubSub } from './pubsub.js';
import { addInteger, checkTtl, notInteger, wrongType } from './rules.js';

/**
 * Memory a StoreRef holder keeps per entry (measured with the max-bytes scenario: 135 B per live
 * entry): its slot in the key memo and the caller's key string while the entry lives, and after
 * it is gone, until the memo forgets it, the entry object itself.
 */
const REF_BYTES = 136;

/** Marks a removed entry for StoreRefs, and lets go of its contents (a ref may outlive it). */
function gone(e: Entry): void {
  e.type = 'gone';
  e.value = EMPTY;
  e.dec = null;
  e.shared = undefined;
}
const EMPTY = Buffer.alloc(0);
/** A string entry's value once its bytes were dropped for its decoded object (shared()). */
const DROPPED = Buffer.alloc(0);

/**
 * A string entry's bytes; for one that keeps its decoded object instead, made again from it on
 * each call (plain reads of such entries are rare: scripts, a cache with another codec).
 */
function bytesOf(e: Entry): Buffer {
  const v = e.value as Buffer;
  if (v !== DROPPED) return v;
  // DROPPED only ever follows a decoder with reencode (shared() above).
  const reencode = e.dec?.reencode;
  if (reencode === undefined) throw new Error('larder: an embedded entry lost its bytes without a way to make them again');
  return reencode(e.shared);
}

export class Keyspace {
  readonly map = new Map<string, Entry>();
  private readonly lru = new LruList<Entry>();
  /** Without bounds recency is never needed, so hits skip it. */
  private readonly bounded: boolean;
  bytes = 0;
  evictions = 0;
  expirations = 0;
  /** Moves to the newest end of the LRU list so far (see touch). */
  private moves = 0;
  /** Count of entries ever created; see Entry.born. */
  seq = 0;
  /** Inside eval: the script's keys. Eviction waits for the script's end and spares them. */
  private scriptKeys: readonly string[] | null = null;
  private evictPending = false;
  protected readonly copyIn: (b: Buffer) => Buffer;
  /** The clock for shared reads' expiry checks only (coarseNow: up to ~1 ms old). */
  private readonly readNow: () => number;

  constructor(
    readonly clock: Clock,
    readonly maxEntries: number,
    readonly maxBytes: number,
    private readonly pubsub: PubSub,
    copyBuffers: boolean,
  ) {
    this.bounded = maxEntries !== Infinity || maxBytes !== Infinity;
    this.copyIn = copyBuffers ? (b) => Buffer.from(b) : (b) => b;
    this.readNow = coarseNow(clock);
  }

  now(): number {
    return this.clock.now();
  }

  // --- entries ---------------------------------------------------------------------------------

  /** The live entry at key, removing it first if its TTL ran out (lazy expiry). */
  private lookup(key: string): Entry | undefined {
    const e = this.map.get(key);
    if (e !== undefined && e.exp !== NO_EXPIRY && e.exp < this.clock.now()) {
      this.remove(e);
      this.expirations++;
      return undefined;
    }
    return e;
  }

  /** The live entry at key if it holds `type` (WrongTypeError if another), marked as used. */
  protected read(key: string, type: EntryType): Entry | undefined {
    const e = this.lookup(key);
    if (e === undefined) return undefined;
    if (e.type !== type) throw wrongType();
    if (this.bounded) this.touch(e);
    return e;
  }

  /** The container at key, created empty if missing: callers must then add to it. */
  protected container(key: string, type: EntryType, empty: () => Value): Entry {
    const e = this.read(key, type);
    return e ?? this.create(key, type, empty(), 0, NO_EXPIRY);
  }

  private create(key: string, type: EntryType, value: Value, contentBytes: number, exp: number): Entry {
    const e = new Entry(key, type, value, exp, keyBytes(key) + contentBytes, ++this.seq);
    this.map.set(key, e);
    this.lru.push(e);
    e.stamp = ++this.moves;
    this.bytes += e.size;
    return e;
  }

  /**
   * Marks an entry as used. Only an entry that has drifted out of the newest quarter of the list
   * moves (more than size/4 moves since its own): a hot key is relinked about once per size/4
   * other moves instead of on every hit, which on a large store saves most of a hit's pointer
   * writes and cache misses. Eviction order is then LRU to within that quarter: an entry is never
   * evicted while one untouched for longer is kept, except among the newest quarter. Below four
   * entries the order is exact.
   */
  private touch(e: Entry): void {
    if (this.moves - e.stamp <= this.map.size >>> 2) return;
    this.lru.touch(e);
    e.stamp = ++this.moves;
  }

  /** Drops an entry (deleted, evicted or expired: the caller counts which). */
  remove(e: Entry): void {
    this.map.delete(e.key);
    this.lru.remove(e);
    this.bytes -= e.size;
    gone(e);
  }

  protected grow(e: Entry, delta: number): void {
    e.size += delta;
    this.bytes += delta;
  }

  /** After a write to key: evict least recently used entries while past a bound. */
  protected bound(key: string): void {
    if (this.map.size <= this.maxEntries && this.bytes <= this.maxBytes) return;
    if (this.scriptKeys !== null) {
      this.evictPending = true;
      return;
    }
    this.evict(key);
  }

  private evict(spare: string | readonly string[]): void {
    let e = this.lru.oldest;
    while (e !== null && (this.map.size > this.maxEntries || this.bytes > this.maxBytes)) {
      const next = this.lru.after(e);
      if (typeof spare === 'string' ? e.key !== spare : !spare.includes(e.key)) {
        this.remove(e);
        this.evictions++;
      }
      e = next;
    }
  }

  /** Runs fn as one script over keys: eviction is deferred to its end and spares those keys. */
  script<T>(keys: readonly string[], fn: () => T): T {
    this.scriptKeys = keys;
    try {
      return fn();
    } finally {
      this.scriptKeys = null;
      if (this.evictPending) {
        this.evictPending = false;
        this.evict(keys);
      }
    }
  }

  /** Deadline of a TTL given now; null and undefined: none. */
  protected deadline(ttl: TtlMs | undefined): number {
    return ttl == null ? NO_EXPIRY : this.clock.now() + checkTtl(ttl);
  }

  clear(): void {
    for (const e of this.map.values()) gone(e);
    this.map.clear();
    this.lru.clear();
    this.bytes = 0;
  }

  // --- strings ---------------------------------------------------------------------------------

  get(key: string): Buffer | null {
    const e = this.read(key, 'string');
    return e === undefined ? null : bytesOf(e);
  }

  /**
   * The string at key as `decoder` shares it (Store.readShared): decoded on the first read after a
   * write, then the same value until the entry changes (set and incrBy forget it; a delete, expiry
   * or eviction drops the entry with it). ABSENT for a missing key or one of another type.
   */
  shared(key: string, decoder: SharedDecoder): unknown {
    const e = this.map.get(key);
    return e === undefined ? ABSENT : this.sharedOf(e, decoder);
  }

  /** shared() of an entry reached through a StoreRef (gone: ABSENT). */
  sharedOf(e: Entry, decoder: SharedDecoder): unknown {
    // A deadline already past by the coarse clock is past; the exact check (lookup) removes the
    // entry. A value is served after its deadline by at most the coarse clock's lag (~1 ms).
    if (e.exp !== NO_EXPIRY && e.exp < this.readNow() && this.lookup(e.key) === undefined) return ABSENT;
    if (e.type !== 'string') return ABSENT;
    if (this.bounded) this.touch(e);
    if (e.dec === decoder) return e.shared;
    const v = decoder(bytesOf(e));
    e.shared = v;
    e.dec = decoder;
    if (decoder.reencode !== undefined && decoder.sizeOf !== undefined && typeof v === 'object' && v !== null) {
      // Keep the object instead of its bytes (see SharedDecoder): count what it holds instead.
      this.grow(e, decoder.sizeOf(v) - stringBytes(e.value as Buffer));
      e.value = DROPPED;
    }
    return v;
  }

  /**
   * The live string entry at key, for a StoreRef; null if none. The first ref of an entry adds
   * REF_BYTES to its size: whoever keeps the ref (the cache's key memo) holds that much more
   * memory for as long as the entry lives, and a little while after, and the bounds should see it.
   */
  refOf(key: string): Entry | null {
    const e = this.lookup(key);
    if (e?.type !== 'string') return null;
    if (!e.referenced) {
      e.referenced = true;
      this.grow(e, REF_BYTES);
      this.bound(key);
    }
    return e;
  }

  /** MGET: a key of another type reads as null. */
  mget(key: string): Buffer | null {
    const e = this.lookup(key);
    if (e?.type !== 'string') return null;
    if (this.bounded) this.touch(e);
    return bytesOf(e);
  }

  set(key: string, value: Buffer, ttlMs: TtlMs | 'keep' | undefined, ifAbsent = false): boolean {
    const keep = ttlMs === 'keep';
    const exp = keep ? NO_EXPIRY : this.deadline(ttlMs);
    const e = this.lookup(key);
    if (e !== undefined && ifAbsent) return false;
    const bytes = this.copyIn(value);
    if (e === undefined) {
      this.create(key, 'string', bytes, stringBytes(bytes), exp);
    } else {
      e.type = 'string';
      e.value = bytes;
      e.dec = null;
      if (!keep) e.exp = exp;
      this.grow(e, keyBytes(key) + stringBytes(bytes) + (e.referenced ? REF_BYTES : 0) - e.size);
      if (this.bounded) this.touch(e);
    }
    this.bound(key);
    return true;
  }

  del(key: string): boolean {
    const e = this.lookup(key);
    if (e === undefined) return false;
    this.remove(e);
    return true;
  }

  exists(key: string): boolean {
    return this.lookup(key) !== undefined;
  }

  pttl(key: string): number {
    const e = this.lookup(key);
    if (e === undefined) return -2;
    if (e.exp === NO_EXPIRY) return -1;
    return Math.max(0, e.exp - this.clock.now());
  }

  pexpire(key: string, ttlMs: TtlMs): boolean {
    if (ttlMs !== null && (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs))) checkTtl(ttlMs);
    const e = this.lookup(key);
    if (e === undefined) return false;
    if (ttlMs === null) e.exp = NO_EXPIRY;
    else if (ttlMs <= 0) this.remove(e); // as Redis: a deadline in the past deletes
    else e.exp = this.clock.now() + Math.ceil(ttlMs);
    return true;
  }

  incrBy(key: string, by: number, ttlMsIfNew: TtlMs = null): number {
    if (!Number.isInteger(by)) throw notInteger();
    const exp = this.deadline(ttlMsIfNew);
    const e = this.lookup(key);
    if (e === undefined) {
      const s = addInteger(undefined, by, 'value');
      const bytes = Buffer.from(s, 'latin1');
      this.create(key, 'string', bytes, stringBytes(bytes), exp);
      this.bound(key);
      return Number(s);
    }
    if (e.type !== 'string') throw wrongType();
    const s = addInteger(bytesOf(e), by, 'value');
    const bytes = Buffer.from(s, 'latin1');
    this.grow(e, keyBytes(key) + stringBytes(bytes) + (e.referenced ? REF_BYTES : 0) - e.size);
    e.value = bytes;
    e.dec = null;
    if (this.bounded) this.touch(e);
    this.bound(key);
    return Number(s);
  }

  publish(channel: string, message: Buffer): number {
    return this.pubsub.publish(channel, message);
  }
}
