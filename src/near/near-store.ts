/**
 * The store as the value paths see it when a near cache is on: every write and delete drops the
 * keys it touches from the near cache before it is sent (a read in flight then never fills the old
 * value: near-cache.ts, N2), and a read of another kind that finds a kept key missing drops it (a
 * key expired lazily by this connection's own read is not reported to it: NOLOOP).
 *
 * Only the value paths use this view (core.ts): locks, stampede leases and pub/sub go to the store
 * itself, since they never touch a key the near cache keeps.
 */
import type { NearCache } from './near-cache.js';
import type { MessageHandler, Script, ScriptArg, ScriptReply, SetOptions, Store, StoreEvents, TtlMs } from '../stores/store.js';

export function nearValueStore(inner: Store, near: NearCache): Store {
  return new NearValueStore(inner, near);
}

function empty(r: unknown): boolean {
  return r === null || r === undefined || r === false || r === 0 || (Array.isArray(r) && r.length === 0) || (r instanceof Map && r.size === 0);
}

class NearValueStore implements Store {
  readonly kind: string;
  readonly inProcess: boolean | undefined;
  readonly boundsCalls: boolean | undefined;
  readonly #inner: Store;
  readonly #near: NearCache;

  constructor(inner: Store, near: NearCache) {
    this.#inner = inner;
    this.#near = near;
    this.kind = inner.kind;
    this.inProcess = inner.inProcess;
    this.boundsCalls = inner.boundsCalls;
  }

  /** Runs a read of `key`; if it finds nothing, a kept copy of the key goes too. */
  async #read<T>(key: string, p: Promise<T>): Promise<T> {
    const r = await p;
    if (empty(r) && this.#near.has(key)) this.#near.drop(key);
    return r;
  }

  // Reads of values: the value paths consult the near cache themselves (values/read.ts).
  get(key: string): Promise<Buffer | null> {
    return this.#inner.get(key);
  }
  getMany(keys: readonly string[]): Promise<Array<Buffer | null>> {
    return this.#inner.getMany(keys);
  }

  // Writes: drop first.
  set(key: string, value: Buffer, opts?: SetOptions): Promise<boolean> {
    this.#near.drop(key);
    return this.#inner.set(key, value, opts);
  }
  setMany(entries: ReadonlyArray<readonly [key: string, value: Buffer, ttlMs: TtlMs]>): Promise<void> {
    for (const e of entries) this.#near.drop(e[0]);
    return this.#inner.setMany(entries);
  }
  delete(keys: readonly string[]): Promise<number> {
    for (const k of keys) this.#near.drop(k);
    return this.#inner.delete(keys);
  }
  expire(key: string, ttlMs: TtlMs): Promise<boolean> {
    this.#near.drop(key);
    return this.#inner.expire(key, ttlMs);
  }
  incrBy(key: string, by: number, ttlMsIfNew: TtlMs): Promise<number> {
    this.#near.drop(key);
    return this.#inner.incrBy(key, by, ttlMsIfNew);
  }
  hset(key: string, field: string, value: Buffer, ttlMs?: TtlMs): Promise<void> {
    this.#near.drop(key);
    return this.#inner.hset(key, field, value, ttlMs);
  }
  hdel(key: string, fields: readonly string[]): Promise<number> {
    this.#near.drop(key);
    return this.#inner.hdel(key, fields);
  }
  push(key: string, values: readonly Buffer[], end: 'left' | 'right'): Promise<number> {
    this.#near.drop(key);
    return this.#inner.push(key, values, end);
  }
  pop(key: string, end: 'left' | 'right'): Promise<Buffer | null> {
    this.#near.drop(key);
    return this.#inner.pop(key, end);
  }
  ltrim(key: string, start: number, stop: number): Promise<void> {
    this.#near.drop(key);
    return this.#inner.ltrim(key, start, stop);
  }
  sadd(key: string, members: readonly Buffer[]): Promise<number> {
    this.#near.drop(key);
    return this.#inner.sadd(key, members);
  }
  srem(key: string, members: readonly Buffer[]): Promise<number> {
    this.#near.drop(key);
    return this.#inner.srem(key, members);
  }
  eval(script: Script, keys: readonly string[], args: readonly ScriptArg[]): Promise<ScriptReply> {
    for (const k of keys) this.#near.drop(k);
    return this.#inner.eval(script, keys, args);
  }

  // Reads of other kinds.
  exists(key: string): Promise<boolean> {
    return this.#read(key, this.#inner.exists(key));
  }
  ttl(key: string): Promise<number | null | undefined> {
    return this.#read(key, this.#inner.ttl(key));
  }
  hget(key: string, field: string): Promise<Buffer | null> {
    return this.#read(key, this.#inner.hget(key, field));
  }
  hgetall(key: string): Promise<Map<string, Buffer>> {
    return this.#read(key, this.#inner.hgetall(key));
  }
  hexists(key: string, field: string): Promise<boolean> {
    return this.#read(key, this.#inner.hexists(key, field));
  }
  hkeys(key: string): Promise<string[]> {
    return this.#read(key, this.#inner.hkeys(key));
  }
  llen(key: string): Promise<number> {
    return this.#read(key, this.#inner.llen(key));
  }
  lrange(key: string, start: number, stop: number): Promise<Buffer[]> {
    return this.#read(key, this.#inner.lrange(key, start, stop));
  }
  smembers(key: string): Promise<Buffer[]> {
    return this.#read(key, this.#inner.smembers(key));
  }
  sismember(key: string, member: Buffer): Promise<boolean> {
    return this.#read(key, this.#inner.sismember(key, member));
  }
  scard(key: string): Promise<number> {
    return this.#read(key, this.#inner.scard(key));
  }

  // Neither: passed through.
  scan(match: string, count?: number): AsyncIterable<string[]> {
    return this.#inner.scan(match, count);
  }
  publish(channel: string, message: Buffer): Promise<number> {
    return this.#inner.publish(channel, message);
  }
  subscribe(channel: string, handler: MessageHandler): Promise<() => Promise<void>> {
    return this.#inner.subscribe(channel, handler);
  }
  watch(events: StoreEvents): () => void {
    return this.#inner.watch(events);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}
