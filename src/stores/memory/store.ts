/**
 * MemoryStore: the Store interface over the keyspace, thin. Each async method checks the store is
 * open and the arguments as the Redis store checks them (before any write: a TTL that is not a
 * positive finite number, or an increment that is not a safe integer, is a TypeError), then calls
 * the synchronous keyspace, so a thrown error becomes a rejected promise. `eval` runs a script's
 * local twin against the keyspace within one turn of the event loop, which makes it atomic as Lua
 * is; `scan` is scan.ts, the expiry sweep sweep.ts, publish/subscribe pubsub.ts.
 */

import { ClosedError } from '../../errors.js';
import type {
  LocalData,
  MessageHandler,
  Script,
  ScriptArg,
  ScriptReply,
  SetOptions,
  SharedDecoder,
  StoreRef,
  Store,
  StoreEvents,
  TtlMs,
} from '../store.js';
import { Collections } from './collections.js';
import type { Entry } from './entry.js';
import { clockOf, DEFAULT_SWEEP_INTERVAL_MS, resolveLimits, type MemoryStoreOptions } from './options.js';
import { PubSub } from './pubsub.js';
import { ttlArg } from './rules.js';
import { scan } from './scan.js';
import { ExpirySweep } from './sweep.js';

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

export class MemoryStore implements Store {
  readonly kind = 'memory';
  /** In this process: answers at once and cannot be unreachable (no breaker, no near cache). */
  readonly inProcess = true;
  /** Every call answers within the turn it was made in: the cache adds no deadline. */
  readonly boundsCalls = true;
  /** Synchronous access for the local twins of scripts (see Script). */
  readonly data: LocalData;
  private readonly ks: Collections;
  private readonly pubsub: PubSub;
  private readonly watchers = new Set<StoreEvents>();
  private readonly sweeper: ExpirySweep;
  private closed = false;

  constructor(opts: MemoryStoreOptions = {}) {
    const { maxEntries, maxBytes } = resolveLimits(opts);
    const interval = opts.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
    if (typeof interval !== 'number' || !(interval >= 0) || interval === Infinity) {
      throw new TypeError(`larder: sweepIntervalMs must be a non-negative number, got ${String(interval)}`);
    }
    this.pubsub = new PubSub((err) => this.reportError(err));
    this.ks = new Collections(clockOf(opts), maxEntries, maxBytes, this.pubsub, opts.copyBuffers !== false);
    this.data = this.ks;
    this.sweeper = new ExpirySweep(this.ks, interval);
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
    return this.sweeper.step();
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

  readShared(at: string | StoreRef, decoder: SharedDecoder): unknown {
    this.open();
    // A StoreRef of this store is always one of its entries (refOf below): a downcast, no check.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
    return typeof at === 'string' ? this.ks.shared(at, decoder) : this.ks.sharedOf(at as Entry, decoder);
  }

  refOf(key: string): StoreRef | null {
    this.open();
    return this.ks.refOf(key);
  }

  async getMany(keys: readonly string[]): Promise<Array<Buffer | null>> {
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

  /** See scan.ts. Nothing runs, ClosedError included, until the first batch is asked for. */
  scan(match: string, count?: number): AsyncIterable<string[]> {
    return scan(this.ks, () => this.open(), match, count);
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
    this.sweeper.stop();
    this.ks.clear();
    this.pubsub.clear();
    this.watchers.clear();
  }
}
