/**
 * The narrow interface every backend implements: bytes in, bytes out, TTLs in milliseconds,
 * atomic scripts, pattern scans and publish/subscribe. Keys arrive here already laid out
 * (namespaced, escaped, hash-tagged: see keys.ts); a store never interprets them.
 *
 * Policy (timeouts, degrade-or-throw, circuit breaking, near cache) lives above the store.
 * A store only reports what happened, with the typed errors of errors.ts:
 *  - StoreUnavailableError when it cannot reach its server (the call did not run, or may not have),
 *  - WrongTypeError / NotIntegerError when the data at a key does not suit the call,
 *  - StoreError for anything else the server refused.
 *
 * Every behaviour here is pinned by test/contract: a difference between two stores is a bug.
 */

/** `null`: no expiry. A positive number: expire after that many milliseconds. */
export type TtlMs = number | null;

export interface SetOptions {
  /** `undefined` keeps no TTL for a new key and clears an existing one, as Redis SET does. */
  ttlMs?: TtlMs;
  /** Only set if the key does not exist (SET NX). */
  ifAbsent?: boolean;
}

export type ScriptArg = string | number | Buffer;
/** What a script may return, after both backends' conversions: integers, byte strings, nil, arrays of these. */
export type ScriptReply = number | Buffer | null | ScriptReply[];

/**
 * An atomic operation, written twice: in Lua for Redis and as a synchronous function over the
 * embedded store's data. Both must give the same replies (the contract suite checks the ones
 * larder uses). Lua conventions: `false`/nil become null, numbers are truncated to integers,
 * strings come back as Buffers; the local twin must return exactly those shapes.
 *
 * On Redis Cluster every key of one call must hash to one slot (K5): keys.ts guarantees that for
 * the keys of one logical object, and callers must not mix objects in one script.
 */
export interface Script {
  /** A short name for errors and stats. */
  readonly name: string;
  readonly lua: string;
  readonly local: (data: LocalData, keys: string[], args: ScriptArg[]) => ScriptReply;
}

/**
 * Synchronous access to the embedded store's data, for the local twin of a script. Everything a
 * script does through it happens in one turn of the event loop, so it is atomic as Lua is.
 * Errors are thrown as the async API would reject (WrongTypeError, NotIntegerError).
 */
export interface LocalData {
  /** Current time in ms on the store's clock (Redis: server time; here: the injected clock). */
  now(): number;
  get(key: string): Buffer | null;
  set(key: string, value: Buffer, ttlMs: TtlMs | 'keep'): void;
  del(key: string): boolean;
  exists(key: string): boolean;
  /** -2 missing, -1 no expiry, else ms left (as PTTL). */
  pttl(key: string): number;
  /** `null` removes the TTL. Returns false if the key is missing. */
  pexpire(key: string, ttlMs: TtlMs): boolean;
  incrBy(key: string, by: number): number;
  hget(key: string, field: string): Buffer | null;
  hset(key: string, field: string, value: Buffer): number;
  hdel(key: string, field: string): number;
  hgetall(key: string): Map<string, Buffer>;
  hincrBy(key: string, field: string, by: number): number;
  hlen(key: string): number;
  /** Sorted sets, for semaphores and read-write locks. */
  zadd(key: string, score: number, member: string): number;
  zrem(key: string, member: string): number;
  zscore(key: string, member: string): number | null;
  zcard(key: string): number;
  /** Removes members with min <= score <= max; returns how many. */
  zremRangeByScore(key: string, min: number, max: number): number;
  /** Members in score order (ties by member), from start to stop inclusive (negative from the end). */
  zrange(key: string, start: number, stop: number): string[];
  publish(channel: string, message: Buffer): number;
}

export type MessageHandler = (message: Buffer) => void;

/** Events a store reports to whoever owns it (the cache subscribes to these). */
export interface StoreEvents {
  /** Pub/sub delivery was interrupted: messages may have been lost (X3, N3). */
  subscriptionLost?: () => void;
  /** Pub/sub is delivering again after a loss. */
  subscriptionRestored?: () => void;
  /** A connection-level error the store swallowed (it also retries); for `cache.on('error')`. */
  error?: (err: Error) => void;
}

/**
 * Where a store that can track keys for a client (Redis client-side tracking) reports what other
 * clients changed: the near cache listens here (near/near-cache.ts).
 */
export interface InvalidationSink {
  /** These physical keys changed (or, `null`, anything may have: a flush, a lost connection). */
  invalidate(keys: string[] | null): void;
  /** Tracking is active (true) or lost (false); while it is lost nothing tracked can be trusted (N3). */
  setActive(active: boolean): void;
  /** A connection-level error of the tracking connections, for `cache.on('error')`. */
  error(err: Error): void;
}

/** What Store.readShared answers when no string is at the key. */
export const ABSENT: unique symbol = Symbol('absent');
/** What a SharedDecoder answers for bytes whose value readers must each get a copy of. */
export const UNSHARED: unique symbol = Symbol('unshared');

/**
 * Turns a string value's bytes into a value every reader may be handed (a primitive or a
 * deep-frozen plain object), or UNSHARED. A store keeps what it returns keyed by the function's
 * identity: caches with one codec share one decoder, so they share what it decoded.
 *
 * With `reencode` and `sizeOf` (the built-in codec's, whose stored form any larder reads the same
 * way), the store may keep a decoded object *instead of* its bytes, counting `sizeOf(value)`
 * against its bounds, and give a plain `get` the bytes `reencode` makes of it: the same value.
 */
export interface SharedDecoder {
  (bytes: Buffer): unknown;
  readonly reencode?: (value: unknown) => Buffer;
  readonly sizeOf?: (value: unknown) => number;
}

/** An opaque reference to an in-process store's entry (Store.refOf). */
export interface StoreRef {
  readonly key: string;
  /** True once the entry was deleted, expired or evicted: the ref reads as ABSENT from then on. */
  readonly gone: boolean;
}

export interface Store {
  /** 'memory', 'redis', 'cluster' or 'sentinel'; for stats and messages. */
  readonly kind: string;

  // Optional capabilities: what the layers above may rely on or use when a store has it. A store
  // of unknown make (a wrapper, a user's own) has none, and gets the cautious default.

  /** The store lives in this process: it answers at once and cannot be unreachable (no breaker, no near cache needed). */
  readonly inProcess?: boolean;
  /** Every call is bounded by the store's own deadline (`commandTimeoutMs`): the cache adds none. */
  readonly boundsCalls?: boolean;
  /**
   * Starts server-assisted invalidation for a near cache and returns its stop function; undefined
   * when this store cannot track (e.g. a client lent to it). At most one sink per store.
   */
  trackInvalidations?(sink: InvalidationSink): (() => void) | undefined;

  /**
   * In-process stores: the string at `at` (a key, or a reference from refOf) as `decoder` turns it
   * into the one value every reader of those bytes may share (SharedDecoder), decoded once and
   * kept with the entry until the entry changes. ABSENT when no string is there: a missing key,
   * one of another type (the caller's plain `get` then answers as it always does), or a reference
   * whose entry has gone. Synchronous, so a hit costs no promise of its own.
   */
  readShared?(at: string | StoreRef, decoder: SharedDecoder): unknown;
  /**
   * In-process stores: a reference to the entry now at `key`, or null if there is none. Reading
   * through it skips the key lookup; it stays valid while the entry exists (writes included) and
   * reads as ABSENT once the entry is deleted, expired or evicted.
   */
  refOf?(key: string): StoreRef | null;

  get(key: string): Promise<Buffer | null>;
  /** Keys may belong to different slots: the store groups them (one MGET per slot on a cluster). */
  getMany(keys: readonly string[]): Promise<Array<Buffer | null>>;
  /** Resolves false only when `ifAbsent` was set and the key existed. */
  set(key: string, value: Buffer, opts?: SetOptions): Promise<boolean>;
  setMany(entries: ReadonlyArray<readonly [key: string, value: Buffer, ttlMs: TtlMs]>): Promise<void>;
  /** Deletes every listed key (any type); resolves to how many existed. */
  delete(keys: readonly string[]): Promise<number>;
  exists(key: string): Promise<boolean>;
  /** `null` removes the TTL. Resolves false if the key is missing. */
  expire(key: string, ttlMs: TtlMs): Promise<boolean>;
  /** Milliseconds left; null: no expiry; undefined: no such key. */
  ttl(key: string): Promise<number | null | undefined>;
  /** INCRBY; when the key is created by this call and `ttlMsIfNew` is set, it gets that TTL. */
  incrBy(key: string, by: number, ttlMsIfNew: TtlMs): Promise<number>;

  /** Sets one field; `ttlMs` (when not undefined) sets the TTL of the whole hash, atomically with the write. */
  hset(key: string, field: string, value: Buffer, ttlMs?: TtlMs): Promise<void>;
  hget(key: string, field: string): Promise<Buffer | null>;
  hgetall(key: string): Promise<Map<string, Buffer>>;
  hdel(key: string, fields: readonly string[]): Promise<number>;
  hexists(key: string, field: string): Promise<boolean>;
  hkeys(key: string): Promise<string[]>;

  /** LPUSH / RPUSH; resolves to the new length. */
  push(key: string, values: readonly Buffer[], end: 'left' | 'right'): Promise<number>;
  pop(key: string, end: 'left' | 'right'): Promise<Buffer | null>;
  llen(key: string): Promise<number>;
  lrange(key: string, start: number, stop: number): Promise<Buffer[]>;
  ltrim(key: string, start: number, stop: number): Promise<void>;

  sadd(key: string, members: readonly Buffer[]): Promise<number>;
  srem(key: string, members: readonly Buffer[]): Promise<number>;
  smembers(key: string): Promise<Buffer[]>;
  sismember(key: string, member: Buffer): Promise<boolean>;
  scard(key: string): Promise<number>;

  /**
   * Every key matching a Redis glob pattern, in batches, without blocking the store (SCAN, on every
   * master of a cluster). Keys written during the scan may or may not be seen; keys present for the
   * whole scan are seen at least once (callers dedupe).
   */
  scan(match: string, count?: number): AsyncIterable<string[]>;

  /** Runs a script atomically. EVALSHA with a fallback on NOSCRIPT on Redis; the local twin here. */
  eval(script: Script, keys: readonly string[], args: readonly ScriptArg[]): Promise<ScriptReply>;

  /** Resolves to the number of subscribers reached (in this process, for the embedded store). */
  publish(channel: string, message: Buffer): Promise<number>;
  /**
   * Subscribes a handler; resolves once the subscription is active, to a function that removes it.
   * Channels are literal names (no patterns).
   */
  subscribe(channel: string, handler: MessageHandler): Promise<() => Promise<void>>;

  /**
   * Optional, replicated stores only: `WAIT replicas timeoutMs` on the connection that last wrote
   * `key` (on a cluster, the connection to the master of its slot). Resolves to how many replicas
   * acknowledged every write made so far on that connection.
   */
  waitReplicas?(key: string, replicas: number, timeoutMs: number): Promise<number>;

  /** Adds event handlers; returns a function that removes them. Several caches may share a store. */
  watch(events: StoreEvents): () => void;

  /** Closes every connection this store opened. Calls after it fail with ClosedError. */
  close(): Promise<void>;
}

/** A scan's batch-size hint, checked the same way by every store: a positive integer, else a TypeError. */
export function scanCount(count: number | undefined, fallback: number): number {
  if (count === undefined) return fallback;
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1) {
    throw new TypeError(`scan count must be a positive integer, got ${String(count)}`);
  }
  return count;
}
