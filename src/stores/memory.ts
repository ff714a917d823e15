/**
 * The embedded store: larder's default backend, in this process, answering every Store call as
 * Redis answers the command behind it (the contract suite runs the same tests against both).
 *
 * Layout: one Map from key to Entry, in insertion order, which scans and the expiry sweep walk; an
 * intrusive LRU list (../lru.ts) for recency, so a hit costs six pointer writes instead of a Map
 * re-insert. A synchronous core (Keyspace) implements LocalData; the async Store methods wrap it
 * (a thrown error becomes a rejected promise), and `eval` runs a script's local twin against it
 * within one turn of the event loop, which makes it atomic as Lua is.
 *
 * Redis semantics kept: SET clears the TTL unless given one (or 'keep'); INCRBY starts a missing key
 * at 0, refuses non-integers and results outside 64 bits (NotIntegerError); a call against a key of
 * another type throws WrongTypeError, while SET and DEL take any type; a hash, list, set or sorted
 * set whose last element goes stops existing; a key is expired once the clock is past its deadline
 * (PTTL 0 at the deadline itself). Fractional millisecond TTLs are rounded up, so a positive TTL
 * never becomes 0.
 *
 * Arguments are checked as the Redis store checks them, before any write: a TTL that is not a
 * positive finite number, or an increment that is not a safe integer, is a TypeError. Scripts see
 * Redis's own rules instead (LocalData): PEXPIRE with a TTL <= 0 deletes the key, SET with one is
 * refused with StoreError ("invalid expire time").
 *
 * Byte strings are copied on the way in (unless `copyBuffers: false`) and handed out as stored:
 * callers must treat every Buffer this store returns as read-only (the cache layer only decodes
 * them). Copies come from Node's shared Buffer pool, like every small Buffer: a copy costs ~60 ns,
 * and retaining many of them adds GC work (~200 ns per write of a 100-byte value, measured), while
 * copying on read as well would triple the cost of a hit, so reads are not copied.
 *
 * Bounds: `maxEntries` (default 1,000,000) and `maxBytes` (default none), approximate bytes as
 * counted by `ENTRY_OVERHEAD`/`ELEMENT_OVERHEAD` below. Past either, least recently used entries are
 * evicted, never the entry just written: a single value larger than `maxBytes` is kept, and
 * everything else goes. Expired entries leave on access, on eviction, or by a periodic sweep that
 * examines a bounded number of entries per tick (like Redis's active expiry).
 */

import { ClosedError, NotIntegerError, StoreError, WrongTypeError } from '../errors.js';
import { LruList, type LruNode } from '../lru.js';
import { compileGlob } from './glob.js';
import type {
  LocalData,
  MessageHandler,
  Script,
  ScriptArg,
  ScriptReply,
  SetOptions,
  Store,
  StoreEvents,
  TtlMs,
} from './store.js';

export interface MemoryLimits {
  /** Most keys held; past it, LRU eviction. Default 1,000,000; `Infinity`: no bound. */
  maxEntries?: number;
  /** Most approximate bytes held; past it, LRU eviction. Default (or `Infinity`): no bound. */
  maxBytes?: number;
}

export interface MemoryStoreOptions extends MemoryLimits {
  /** Clock in ms, injectable for tests. Default `Date.now`. */
  now?: () => number;
  /** How often the expiry sweep runs. Default 1000; `0`: never (expiry is then lazy only). */
  sweepIntervalMs?: number;
  /**
   * Default true: values are copied on the way in, so a caller reusing its Buffer never changes what
   * is stored. `false` adopts the caller's Buffers (faster writes; the caller must never mutate a
   * Buffer it passed). Returned Buffers are never copied and must not be mutated either way.
   */
  copyBuffers?: boolean;
}

export interface MemoryStats {
  entries: number;
  /** Approximate bytes held (see ENTRY_OVERHEAD, ELEMENT_OVERHEAD). */
  bytes: number;
  maxEntries: number;
  maxBytes: number;
  /** Entries removed by the LRU bounds since the store was created. */
  evictions: number;
  /** Entries removed because their TTL ran out (on access or by the sweep). */
  expirations: number;
}

export const DEFAULT_MAX_ENTRIES = 1_000_000;
/** Bytes counted per key besides its name (2 bytes per UTF-16 unit) and contents. */
export const ENTRY_OVERHEAD = 64;
/**
 * Bytes counted per element of a hash, list, set or sorted set besides its contents: a hash field
 * counts 2 per name unit + value bytes, a list element its bytes, a set member twice its bytes (it
 * is kept as a Buffer and as a latin1 string), a sorted-set member 2 per name unit + 8 for the score.
 */
export const ELEMENT_OVERHEAD = 16;

const DEFAULT_SWEEP_INTERVAL_MS = 1000;
/** The sweep examines entries in rounds of this many... */
const SWEEP_ROUND = 1000;
/** ...at least this many rounds per tick... */
const SWEEP_MIN_ROUNDS = 10;
/** ...and goes on while a round found over a quarter expired, for at most this long (ms). */
const SWEEP_MAX_MS = 10;

type EntryType = 'string' | 'hash' | 'list' | 'set' | 'zset';
type Hash = Map<string, Buffer>;
/** Set members keyed by their bytes read as latin1 (a bijection), holding the bytes. */
type Members = Map<string, Buffer>;
type Zset = Map<string, number>;
type Value = Buffer | Hash | Buffer[] | Members | Zset;

const NO_EXPIRY = Infinity;

class Entry implements LruNode {
  lruPrev: LruNode | null = null;
  lruNext: LruNode | null = null;
  constructor(
    readonly key: string,
    public type: EntryType,
    public value: Value,
    /** Deadline in ms on the store clock; NO_EXPIRY for none. */
    public exp: number,
    /** Approximate bytes, key and overhead included. */
    public size: number,
    /** Creation order: a scan stops at the first entry born after it started. */
    readonly born: number,
  ) {}
}

function keyBytes(key: string): number {
  return ENTRY_OVERHEAD + key.length * 2;
}

function wrongType(): WrongTypeError {
  return new WrongTypeError('WRONGTYPE Operation against a key holding the wrong kind of value');
}

function notInteger(what = 'value'): NotIntegerError {
  return new NotIntegerError(`ERR ${what} is not an integer or out of range`);
}

function checkTtl(ttl: number): number {
  if (typeof ttl !== 'number' || !(ttl > 0) || ttl === Infinity) {
    throw new StoreError(`ERR invalid expire time: ${String(ttl)}`);
  }
  return Math.ceil(ttl);
}

/** The Store API's TTL argument check (the same as the Redis store's). */
function ttlArg(ttl: TtlMs | undefined, what = 'ttlMs'): void {
  if (ttl === null || ttl === undefined) return;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) {
    throw new TypeError(`${what} must be a positive finite number of milliseconds or null, got ${String(ttl)}`);
  }
}

function checkIndex(n: number): number {
  if (!Number.isInteger(n)) throw notInteger();
  return n;
}

/** LRANGE/LTRIM/ZRANGE index rules; null for an empty range. */
function range(len: number, start: number, stop: number): [number, number] | null {
  if (start < 0) start += len;
  if (stop < 0) stop += len;
  if (start < 0) start = 0;
  if (start > stop || start >= len) return null;
  if (stop >= len) stop = len - 1;
  return [start, stop];
}

/** Redis's string2ll: optional '-', no '+', no leading zero, no spaces. */
const INTEGER = /^(?:0|-?[1-9][0-9]{0,18})$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** INCRBY arithmetic over a stored decimal (absent: 0); returns the new decimal. */
function addInteger(current: Buffer | undefined, by: number, what: string): string {
  let s = '0';
  if (current !== undefined) {
    s = current.toString('latin1');
    if (!INTEGER.test(s)) throw notInteger(what);
  }
  // Up to 15 digits and a safe increment: plain doubles are exact.
  if (s.length < 16 && Number.isSafeInteger(by)) {
    const r = Number(s) + by;
    if (Number.isSafeInteger(r)) return String(r);
  }
  const a = BigInt(s);
  const b = BigInt(by);
  if (a < INT64_MIN || a > INT64_MAX) throw notInteger(what);
  if (b < INT64_MIN || b > INT64_MAX) throw notInteger();
  const r = a + b;
  if (r < INT64_MIN || r > INT64_MAX) throw new NotIntegerError('ERR increment or decrement would overflow');
  return r.toString();
}

function compareMembers(a: [string, number], b: [string, number]): number {
  if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

interface Subscription {
  readonly handler: MessageHandler;
  active: boolean;
}

/**
 * In-process publish/subscribe. Delivery is asynchronous (a microtask after the publish), to the
 * handlers subscribed at publish time that are still subscribed at delivery; each gets its own copy.
 */
class PubSub {
  private readonly channels = new Map<string, Set<Subscription>>();

  constructor(private readonly report: (err: unknown) => void) {}

  publish(channel: string, message: Buffer): number {
    const subs = this.channels.get(channel);
    if (subs === undefined) return 0;
    const targets = Array.from(subs);
    const bytes = Buffer.from(message);
    queueMicrotask(() => {
      for (let i = 0; i < targets.length; i++) {
        const s = targets[i]!;
        if (!s.active) continue;
        try {
          s.handler(i === targets.length - 1 ? bytes : Buffer.from(bytes));
        } catch (err) {
          this.report(err);
        }
      }
    });
    return targets.length;
  }

  subscribe(channel: string, handler: MessageHandler): () => void {
    const sub: Subscription = { handler, active: true };
    let subs = this.channels.get(channel);
    if (subs === undefined) this.channels.set(channel, (subs = new Set()));
    subs.add(sub);
    return () => {
      if (!sub.active) return;
      sub.active = false;
      const current = this.channels.get(channel);
      if (current === undefined) return;
      current.delete(sub);
      if (current.size === 0) this.channels.delete(channel);
    };
  }

  clear(): void {
    for (const subs of this.channels.values()) for (const s of subs) s.active = false;
    this.channels.clear();
  }
}

/** The synchronous core: every operation of the store, and LocalData for scripts. */
class Keyspace implements LocalData {
  readonly map = new Map<string, Entry>();
  private readonly lru = new LruList<Entry>();
  /** Without bounds recency is never needed, so hits skip it. */
  private readonly bounded: boolean;
  bytes = 0;
  evictions = 0;
  expirations = 0;
  /** Count of entries ever created; see Entry.born. */
  seq = 0;
  private sweepIter: Iterator<Entry> | undefined;
  /** Inside eval: the script's keys. Eviction waits for the script's end and spares them. */
  private scriptKeys: readonly string[] | null = null;
  private evictPending = false;
  private readonly copyIn: (b: Buffer) => Buffer;

  constructor(
    readonly clock: () => number,
    readonly maxEntries: number,
    readonly maxBytes: number,
    private readonly pubsub: PubSub,
    copyBuffers: boolean,
  ) {
    this.bounded = maxEntries !== Infinity || maxBytes !== Infinity;
    this.copyIn = copyBuffers ? (b) => Buffer.from(b) : (b) => b;
  }

  now(): number {
    return this.clock();
  }

  // --- entries ---------------------------------------------------------------------------------

  /** The live entry at key, removing it first if its TTL ran out (lazy expiry). */
  private lookup(key: string): Entry | undefined {
    const e = this.map.get(key);
    if (e !== undefined && e.exp !== NO_EXPIRY && e.exp < this.clock()) {
      this.remove(e);
      this.expirations++;
      return undefined;
    }
    return e;
  }

  /** The live entry at key if it holds `type` (WrongTypeError if another), marked as used. */
  private read(key: string, type: EntryType): Entry | undefined {
    const e = this.lookup(key);
    if (e === undefined) return undefined;
    if (e.type !== type) throw wrongType();
    if (this.bounded) this.lru.touch(e);
    return e;
  }

  /** The container at key, created empty if missing: callers must then add to it. */
  private container(key: string, type: EntryType, empty: () => Value): Entry {
    const e = this.read(key, type);
    return e ?? this.create(key, type, empty(), 0, NO_EXPIRY);
  }

  private create(key: string, type: EntryType, value: Value, contentBytes: number, exp: number): Entry {
    const e = new Entry(key, type, value, exp, keyBytes(key) + contentBytes, ++this.seq);
    this.map.set(key, e);
    this.lru.push(e);
    this.bytes += e.size;
    return e;
  }

  private remove(e: Entry): void {
    this.map.delete(e.key);
    this.lru.remove(e);
    this.bytes -= e.size;
  }

  private grow(e: Entry, delta: number): void {
    e.size += delta;
    this.bytes += delta;
  }

  /** After a write to key: evict least recently used entries while past a bound. */
  private bound(key: string): void {
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
  private deadline(ttl: TtlMs | undefined): number {
    return ttl == null ? NO_EXPIRY : this.clock() + checkTtl(ttl);
  }

  /**
   * Removes expired entries without their being accessed: rounds of SWEEP_ROUND entries, at least
   * SWEEP_MIN_ROUNDS, more while over a quarter of a round was expired and SWEEP_MAX_MS have not
   * passed, never more than one pass over the store. Resumes where the last sweep stopped.
   * Returns how many entries it removed.
   */
  sweep(): number {
    const started = performance.now();
    const now = this.clock();
    const limit = this.map.size;
    let examined = 0;
    let removed = 0;
    let rounds = 0;
    let wrapped = false;
    while (examined < limit) {
      let expiredInRound = 0;
      let inRound = 0;
      while (inRound < SWEEP_ROUND && examined < limit) {
        if (this.sweepIter === undefined) this.sweepIter = this.map.values();
        const r = this.sweepIter.next();
        if (r.done === true) {
          this.sweepIter = undefined;
          if (wrapped) return removed;
          wrapped = true;
          continue;
        }
        examined++;
        inRound++;
        const e = r.value;
        if (e.exp !== NO_EXPIRY && e.exp < now) {
          this.remove(e);
          this.expirations++;
          removed++;
          expiredInRound++;
        }
      }
      rounds++;
      if (rounds >= SWEEP_MIN_ROUNDS && (expiredInRound * 4 <= inRound || performance.now() - started > SWEEP_MAX_MS)) {
        break;
      }
    }
    return removed;
  }

  clear(): void {
    this.map.clear();
    this.lru.clear();
    this.bytes = 0;
    this.sweepIter = undefined;
  }

  // --- strings ---------------------------------------------------------------------------------

  get(key: string): Buffer | null {
    const e = this.read(key, 'string');
    return e === undefined ? null : (e.value as Buffer);
  }

  /** MGET: a key of another type reads as null. */
  mget(key: string): Buffer | null {
    const e = this.lookup(key);
    if (e === undefined || e.type !== 'string') return null;
    if (this.bounded) this.lru.touch(e);
    return e.value as Buffer;
  }

  set(key: string, value: Buffer, ttlMs: TtlMs | 'keep' | undefined, ifAbsent = false): boolean {
    const keep = ttlMs === 'keep';
    const exp = keep ? NO_EXPIRY : this.deadline(ttlMs);
    const e = this.lookup(key);
    if (e !== undefined && ifAbsent) return false;
    const bytes = this.copyIn(value);
    if (e === undefined) {
      this.create(key, 'string', bytes, bytes.length, exp);
    } else {
      e.type = 'string';
      e.value = bytes;
      if (!keep) e.exp = exp;
      this.grow(e, keyBytes(key) + bytes.length - e.size);
      if (this.bounded) this.lru.touch(e);
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
    return Math.max(0, e.exp - this.clock());
  }

  pexpire(key: string, ttlMs: TtlMs): boolean {
    if (ttlMs !== null && (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs))) checkTtl(ttlMs);
    const e = this.lookup(key);
    if (e === undefined) return false;
    if (ttlMs === null) e.exp = NO_EXPIRY;
    else if (ttlMs <= 0) this.remove(e); // as Redis: a deadline in the past deletes
    else e.exp = this.clock() + Math.ceil(ttlMs);
    return true;
  }

  incrBy(key: string, by: number, ttlMsIfNew: TtlMs = null): number {
    if (!Number.isInteger(by)) throw notInteger();
    const exp = this.deadline(ttlMsIfNew);
    const e = this.lookup(key);
    if (e === undefined) {
      const s = addInteger(undefined, by, 'value');
      const bytes = Buffer.from(s, 'latin1');
      this.create(key, 'string', bytes, bytes.length, exp);
      this.bound(key);
      return Number(s);
    }
    if (e.type !== 'string') throw wrongType();
    const s = addInteger(e.value as Buffer, by, 'value');
    const bytes = Buffer.from(s, 'latin1');
    this.grow(e, bytes.length - (e.value as Buffer).length);
    e.value = bytes;
    if (this.bounded) this.lru.touch(e);
    this.bound(key);
    return Number(s);
  }

  // --- hashes ----------------------------------------------------------------------------------

  hget(key: string, field: string): Buffer | null {
    const e = this.read(key, 'hash');
    return e === undefined ? null : ((e.value as Hash).get(field) ?? null);
  }

  hset(key: string, field: string, value: Buffer): number {
    const e = this.container(key, 'hash', () => new Map());
    const h = e.value as Hash;
    const old = h.get(field);
    const bytes = this.copyIn(value);
    h.set(field, bytes);
    this.grow(e, old === undefined ? field.length * 2 + bytes.length + ELEMENT_OVERHEAD : bytes.length - old.length);
    this.bound(key);
    return old === undefined ? 1 : 0;
  }

  /** HSET, then the TTL of the whole hash when ttlMs is not undefined (null: none). */
  hsetWithTtl(key: string, field: string, value: Buffer, ttlMs: TtlMs | undefined): void {
    const exp = ttlMs === undefined ? 0 : this.deadline(ttlMs);
    this.hset(key, field, value);
    if (ttlMs === undefined) return;
    const e = this.map.get(key);
    if (e !== undefined) e.exp = exp;
  }

  hdel(key: string, field: string): number {
    return this.hdelMany(key, [field]);
  }

  hdelMany(key: string, fields: readonly string[]): number {
    if (fields.length === 0) return 0;
    const e = this.read(key, 'hash');
    if (e === undefined) return 0;
    const h = e.value as Hash;
    let removed = 0;
    for (const f of fields) {
      const old = h.get(f);
      if (old === undefined) continue;
      h.delete(f);
      this.grow(e, -(f.length * 2 + old.length + ELEMENT_OVERHEAD));
      removed++;
    }
    if (h.size === 0) this.remove(e);
    return removed;
  }

  hgetall(key: string): Map<string, Buffer> {
    const e = this.read(key, 'hash');
    return e === undefined ? new Map() : new Map(e.value as Hash);
  }

  hincrBy(key: string, field: string, by: number): number {
    if (!Number.isInteger(by)) throw notInteger();
    const existing = this.read(key, 'hash');
    const old = existing === undefined ? undefined : (existing.value as Hash).get(field);
    const s = addInteger(old, by, 'hash value');
    this.hset(key, field, Buffer.from(s, 'latin1'));
    return Number(s);
  }

  hlen(key: string): number {
    const e = this.read(key, 'hash');
    return e === undefined ? 0 : (e.value as Hash).size;
  }

  hexists(key: string, field: string): boolean {
    const e = this.read(key, 'hash');
    return e !== undefined && (e.value as Hash).has(field);
  }

  hkeys(key: string): string[] {
    const e = this.read(key, 'hash');
    return e === undefined ? [] : Array.from((e.value as Hash).keys());
  }

  // --- lists -----------------------------------------------------------------------------------

  /** LPUSH/RPUSH: values are pushed one by one, so a left push of [a, b] gives [b, a]. */
  push(key: string, values: readonly Buffer[], end: 'left' | 'right'): number {
    if (values.length === 0) return this.llen(key);
    const e = this.container(key, 'list', () => []);
    let list = e.value as Buffer[];
    let added = 0;
    if (end === 'right') {
      for (const v of values) {
        const b = this.copyIn(v);
        list.push(b);
        added += b.length + ELEMENT_OVERHEAD;
      }
    } else {
      const front: Buffer[] = new Array<Buffer>(values.length);
      for (let i = 0; i < values.length; i++) {
        const b = this.copyIn(values[i]!);
        front[values.length - 1 - i] = b;
        added += b.length + ELEMENT_OVERHEAD;
      }
      if (front.length === 1) list.unshift(front[0]!);
      else e.value = list = front.concat(list);
    }
    this.grow(e, added);
    this.bound(key);
    return list.length;
  }

  pop(key: string, end: 'left' | 'right'): Buffer | null {
    const e = this.read(key, 'list');
    if (e === undefined) return null;
    const list = e.value as Buffer[];
    const v = (end === 'left' ? list.shift() : list.pop())!;
    this.grow(e, -(v.length + ELEMENT_OVERHEAD));
    if (list.length === 0) this.remove(e);
    return v;
  }

  llen(key: string): number {
    const e = this.read(key, 'list');
    return e === undefined ? 0 : (e.value as Buffer[]).length;
  }

  lrange(key: string, start: number, stop: number): Buffer[] {
    checkIndex(start);
    checkIndex(stop);
    const e = this.read(key, 'list');
    if (e === undefined) return [];
    const list = e.value as Buffer[];
    const r = range(list.length, start, stop);
    return r === null ? [] : list.slice(r[0], r[1] + 1);
  }

  ltrim(key: string, start: number, stop: number): void {
    checkIndex(start);
    checkIndex(stop);
    const e = this.read(key, 'list');
    if (e === undefined) return;
    const list = e.value as Buffer[];
    const r = range(list.length, start, stop);
    if (r === null) {
      this.remove(e);
      return;
    }
    let dropped = 0;
    for (let i = 0; i < r[0]; i++) dropped += list[i]!.length + ELEMENT_OVERHEAD;
    for (let i = r[1] + 1; i < list.length; i++) dropped += list[i]!.length + ELEMENT_OVERHEAD;
    if (dropped === 0) return;
    e.value = list.slice(r[0], r[1] + 1);
    this.grow(e, -dropped);
  }

  // --- sets ------------------------------------------------------------------------------------

  sadd(key: string, members: readonly Buffer[]): number {
    if (members.length === 0) return 0;
    const e = this.container(key, 'set', () => new Map());
    const s = e.value as Members;
    let added = 0;
    let bytes = 0;
    for (const m of members) {
      const id = m.toString('latin1');
      if (s.has(id)) continue;
      s.set(id, this.copyIn(m));
      added++;
      bytes += m.length * 2 + ELEMENT_OVERHEAD;
    }
    this.grow(e, bytes);
    this.bound(key);
    return added;
  }

  srem(key: string, members: readonly Buffer[]): number {
    if (members.length === 0) return 0;
    const e = this.read(key, 'set');
    if (e === undefined) return 0;
    const s = e.value as Members;
    let removed = 0;
    for (const m of members) {
      if (!s.delete(m.toString('latin1'))) continue;
      removed++;
      this.grow(e, -(m.length * 2 + ELEMENT_OVERHEAD));
    }
    if (s.size === 0) this.remove(e);
    return removed;
  }

  smembers(key: string): Buffer[] {
    const e = this.read(key, 'set');
    return e === undefined ? [] : Array.from((e.value as Members).values());
  }

  sismember(key: string, member: Buffer): boolean {
    const e = this.read(key, 'set');
    return e !== undefined && (e.value as Members).has(member.toString('latin1'));
  }

  scard(key: string): number {
    const e = this.read(key, 'set');
    return e === undefined ? 0 : (e.value as Members).size;
  }

  // --- sorted sets -----------------------------------------------------------------------------

  zadd(key: string, score: number, member: string): number {
    if (typeof score !== 'number' || Number.isNaN(score)) throw new StoreError('ERR value is not a valid float');
    const e = this.container(key, 'zset', () => new Map());
    const z = e.value as Zset;
    const isNew = !z.has(member);
    z.set(member, score);
    if (isNew) {
      this.grow(e, member.length * 2 + 8 + ELEMENT_OVERHEAD);
      this.bound(key);
    }
    return isNew ? 1 : 0;
  }

  zrem(key: string, member: string): number {
    const e = this.read(key, 'zset');
    if (e === undefined) return 0;
    const z = e.value as Zset;
    if (!z.delete(member)) return 0;
    this.grow(e, -(member.length * 2 + 8 + ELEMENT_OVERHEAD));
    if (z.size === 0) this.remove(e);
    return 1;
  }

  zscore(key: string, member: string): number | null {
    const e = this.read(key, 'zset');
    return e === undefined ? null : ((e.value as Zset).get(member) ?? null);
  }

  zcard(key: string): number {
    const e = this.read(key, 'zset');
    return e === undefined ? 0 : (e.value as Zset).size;
  }

  zremRangeByScore(key: string, min: number, max: number): number {
    const e = this.read(key, 'zset');
    if (e === undefined) return 0;
    const z = e.value as Zset;
    let removed = 0;
    for (const [member, score] of z) {
      if (score < min || score > max) continue;
      z.delete(member);
      this.grow(e, -(member.length * 2 + 8 + ELEMENT_OVERHEAD));
      removed++;
    }
    if (z.size === 0) this.remove(e);
    return removed;
  }

  /**
   * Sorted on demand (sorted sets here are small: lock holders, semaphore permits). Ties order by
   * member in UTF-16 unit order, which is Redis's byte order for every ASCII member.
   */
  zrange(key: string, start: number, stop: number): string[] {
    checkIndex(start);
    checkIndex(stop);
    const e = this.read(key, 'zset');
    if (e === undefined) return [];
    const sorted = Array.from(e.value as Zset).sort(compareMembers);
    const r = range(sorted.length, start, stop);
    if (r === null) return [];
    const out: string[] = [];
    for (let i = r[0]; i <= r[1]; i++) out.push(sorted[i]![0]);
    return out;
  }

  publish(channel: string, message: Buffer): number {
    return this.pubsub.publish(channel, message);
  }
}

/** How many entries a scan examines before it lets the event loop run. */
const SCAN_SLICE = 10_000;

function resolveLimits(limits: MemoryLimits | undefined): { maxEntries: number; maxBytes: number } {
  const maxEntries = limits?.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const maxBytes = limits?.maxBytes ?? Infinity;
  if (typeof maxEntries !== 'number' || !(maxEntries >= 1) || (maxEntries !== Infinity && !Number.isInteger(maxEntries))) {
    throw new TypeError(`larder: option memory.maxEntries must be a positive integer or Infinity, got ${String(maxEntries)}`);
  }
  if (typeof maxBytes !== 'number' || !(maxBytes > 0)) {
    throw new TypeError(`larder: option memory.maxBytes must be a positive number or Infinity, got ${String(maxBytes)}`);
  }
  return { maxEntries, maxBytes };
}

export class MemoryStore implements Store {
  readonly kind = 'memory';
  readonly inProcess = true; readonly boundsCalls = true;
  /** Synchronous access for the local twins of scripts (see Script). */
  readonly data: LocalData;
  private readonly ks: Keyspace;
  private readonly pubsub: PubSub;
  private readonly watchers = new Set<StoreEvents>();
  private readonly timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(opts: MemoryStoreOptions = {}) {
    const { maxEntries, maxBytes } = resolveLimits(opts);
    const interval = opts.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
    if (typeof interval !== 'number' || !(interval >= 0) || interval === Infinity) {
      throw new TypeError(`larder: sweepIntervalMs must be a non-negative number, got ${String(interval)}`);
    }
    this.pubsub = new PubSub((err) => this.reportError(err));
    this.ks = new Keyspace(opts.now ?? Date.now, maxEntries, maxBytes, this.pubsub, opts.copyBuffers !== false);
    this.data = this.ks;
    if (interval > 0) {
      this.timer = setInterval(() => this.ks.sweep(), interval);
      this.timer.unref();
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  stats(): MemoryStats {
    const ks = this.ks;
    return {
      entries: ks.map.size,
      bytes: ks.bytes,
      maxEntries: ks.maxEntries,
      maxBytes: ks.maxBytes,
      evictions: ks.evictions,
      expirations: ks.expirations,
    };
  }

  /** One step of the periodic expiry sweep, run now (for tests and for callers who disabled the timer). */
  sweep(): number {
    this.open();
    return this.ks.sweep();
  }

  private open(): void {
    if (this.closed) throw new ClosedError('the memory store is closed');
  }

  private reportError(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    let reported = false;
    for (const w of this.watchers) {
      if (w.error === undefined) continue;
      reported = true;
      w.error(error);
    }
    if (!reported) process.emitWarning(`larder: a pub/sub handler threw: ${error.stack ?? error.message}`);
  }

  async get(key: string): Promise<Buffer | null> {
    this.open();
    return this.ks.get(key);
  }

  async getMany(keys: readonly string[]): Promise<(Buffer | null)[]> {
    this.open();
    const out = new Array<Buffer | null>(keys.length);
    for (let i = 0; i < keys.length; i++) out[i] = this.ks.mget(keys[i]!);
    return out;
  }

  async set(key: string, value: Buffer, opts?: SetOptions): Promise<boolean> {
    this.open();
    ttlArg(opts?.ttlMs);
    return this.ks.set(key, value, opts?.ttlMs, opts?.ifAbsent === true);
  }

  async setMany(entries: ReadonlyArray<readonly [key: string, value: Buffer, ttlMs: TtlMs]>): Promise<void> {
    this.open();
    // Refuse a bad TTL before writing anything.
    for (const [, , ttl] of entries) ttlArg(ttl);
    for (const [key, value, ttl] of entries) this.ks.set(key, value, ttl);
  }

  async delete(keys: readonly string[]): Promise<number> {
    this.open();
    let n = 0;
    for (const k of keys) if (this.ks.del(k)) n++;
    return n;
  }

  async exists(key: string): Promise<boolean> {
    this.open();
    return this.ks.exists(key);
  }

  async expire(key: string, ttlMs: TtlMs): Promise<boolean> {
    this.open();
    ttlArg(ttlMs);
    return this.ks.pexpire(key, ttlMs);
  }

  async ttl(key: string): Promise<number | null | undefined> {
    this.open();
    const ms = this.ks.pttl(key);
    return ms === -2 ? undefined : ms === -1 ? null : ms;
  }

  async incrBy(key: string, by: number, ttlMsIfNew: TtlMs): Promise<number> {
    this.open();
    if (!Number.isSafeInteger(by)) throw new TypeError(`incrBy needs a safe integer increment, got ${String(by)}`);
    ttlArg(ttlMsIfNew, 'ttlMsIfNew');
    return this.ks.incrBy(key, by, ttlMsIfNew);
  }

  async hset(key: string, field: string, value: Buffer, ttlMs?: TtlMs): Promise<void> {
    this.open();
    ttlArg(ttlMs);
    this.ks.hsetWithTtl(key, field, value, ttlMs);
  }

  async hget(key: string, field: string): Promise<Buffer | null> {
    this.open();
    return this.ks.hget(key, field);
  }

  async hgetall(key: string): Promise<Map<string, Buffer>> {
    this.open();
    return this.ks.hgetall(key);
  }

  async hdel(key: string, fields: readonly string[]): Promise<number> {
    this.open();
    return this.ks.hdelMany(key, fields);
  }

  async hexists(key: string, field: string): Promise<boolean> {
    this.open();
    return this.ks.hexists(key, field);
  }

  async hkeys(key: string): Promise<string[]> {
    this.open();
    return this.ks.hkeys(key);
  }

  async push(key: string, values: readonly Buffer[], end: 'left' | 'right'): Promise<number> {
    this.open();
    return this.ks.push(key, values, end);
  }

  async pop(key: string, end: 'left' | 'right'): Promise<Buffer | null> {
    this.open();
    return this.ks.pop(key, end);
  }

  async llen(key: string): Promise<number> {
    this.open();
    return this.ks.llen(key);
  }

  async lrange(key: string, start: number, stop: number): Promise<Buffer[]> {
    this.open();
    return this.ks.lrange(key, start, stop);
  }

  async ltrim(key: string, start: number, stop: number): Promise<void> {
    this.open();
    this.ks.ltrim(key, start, stop);
  }

  async sadd(key: string, members: readonly Buffer[]): Promise<number> {
    this.open();
    return this.ks.sadd(key, members);
  }

  async srem(key: string, members: readonly Buffer[]): Promise<number> {
    this.open();
    return this.ks.srem(key, members);
  }

  async smembers(key: string): Promise<Buffer[]> {
    this.open();
    return this.ks.smembers(key);
  }

  async sismember(key: string, member: Buffer): Promise<boolean> {
    this.open();
    return this.ks.sismember(key, member);
  }

  async scard(key: string): Promise<number> {
    this.open();
    return this.ks.scard(key);
  }

  /**
   * Walks the key Map with a live iterator: a key present for the whole scan keeps its place (an
   * overwrite updates its entry in place), so it is seen exactly once, and the walk stops at the
   * first entry created after the scan began, so writes during the scan cannot make it run forever.
   * Every SCAN_SLICE entries examined it yields a batch or, with nothing to yield, a turn of the
   * event loop, so a huge store never blocks it for long. Expired entries are skipped (and removed).
   */
  async *scan(match: string, count = 1000): AsyncIterable<string[]> {
    this.open();
    const glob = compileGlob(match);
    const size = Number.isInteger(count) && count > 0 ? count : 1000;
    const ks = this.ks;
    const lastBorn = ks.seq;
    const entries = ks.map.values();
    let batch: string[] = [];
    let examined = 0;
    for (;;) {
      const r = entries.next();
      if (r.done === true || r.value.born > lastBorn) break;
      const e = r.value;
      examined++;
      if (glob.test(e.key) && ks.exists(e.key)) {
        batch.push(e.key);
        if (batch.length >= size) {
          yield batch;
          batch = [];
          examined = 0;
          this.open();
        }
      }
      if (examined >= SCAN_SLICE) {
        examined = 0;
        if (batch.length > 0) {
          yield batch;
          batch = [];
        } else {
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        this.open();
      }
    }
    if (batch.length > 0) yield batch;
  }

  /** Runs the script's local twin against the data, in one synchronous step (atomic). */
  async eval(script: Script, keys: readonly string[], args: readonly ScriptArg[]): Promise<ScriptReply> {
    this.open();
    return this.ks.script(keys, () => script.local(this.ks, keys as string[], args as ScriptArg[]));
  }

  async publish(channel: string, message: Buffer): Promise<number> {
    this.open();
    return this.pubsub.publish(channel, message);
  }

  async subscribe(channel: string, handler: MessageHandler): Promise<() => Promise<void>> {
    this.open();
    const remove = this.pubsub.subscribe(channel, handler);
    return async () => remove();
  }

  /** Subscriptions here are never lost, so only `error` (a throwing pub/sub handler) ever fires. */
  watch(events: StoreEvents): () => void {
    const own = { ...events };
    this.watchers.add(own);
    return () => {
      this.watchers.delete(own);
    };
  }

  /**
   * Stops the sweep, drops the data and every subscription; later calls reject with ClosedError.
   * Caches must not close the shared store (sharedMemoryStore): they just stop using it.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.ks.clear();
    this.pubsub.clear();
    this.watchers.clear();
  }
}

/** A private embedded store (SPEC §0), with its own data, bounds and pub/sub. */
export function createMemoryStore(limits?: MemoryLimits): Store {
  return new MemoryStore(limits === undefined ? {} : { maxEntries: limits.maxEntries, maxBytes: limits.maxBytes });
}

let shared: { store: MemoryStore; limits: string; warned: Set<string> } | undefined;

function limitsId(limits: MemoryLimits | undefined): string {
  const { maxEntries, maxBytes } = resolveLimits(limits);
  return `${maxEntries}/${maxBytes}`;
}

/**
 * The process-wide embedded store every `store: 'memory'` cache uses, as processes share one Redis
 * (SPEC §0). The first call's limits win; a later call with different limits gets the same store
 * and one process warning per distinct limits (`undefined` means "no preference" and never warns).
 * Caches must never close it; if something does, the next call creates a fresh one.
 */
export function sharedMemoryStore(limits: MemoryLimits | undefined): MemoryStore {
  if (shared !== undefined && !shared.store.isClosed) {
    if (limits !== undefined) {
      const id = limitsId(limits);
      if (id !== shared.limits && !shared.warned.has(id)) {
        shared.warned.add(id);
        process.emitWarning(
          `larder: the shared memory store already exists with limits ${shared.limits.replace('/', ' entries / ')} bytes; ` +
            `the memory option ${JSON.stringify(limits)} is ignored (use createMemoryStore for a private store)`,
          { code: 'LARDER_MEMORY_LIMITS' },
        );
      }
    }
    return shared.store;
  }
  const store = new MemoryStore(limits === undefined ? {} : { maxEntries: limits.maxEntries, maxBytes: limits.maxBytes });
  shared = { store, limits: limitsId(limits), warned: new Set() };
  return store;
}
