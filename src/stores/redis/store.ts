/**
 * The Redis backend of `Store`, on ioredis: standalone, Sentinel and Cluster. This class is the
 * Store methods and little else: each turns its arguments into commands and sends them through
 * the command connection. Where the rest lives:
 *
 *   connect.ts     what `store` may be, the ioredis options imposed on every connection (F4)
 *   connection.ts  the command connection: deadlines, the stall detector, one write per tick
 *   batch.ts       same-tick GET → MGET and SET → pipeline coalescing
 *   cluster.ts     slots, TRYAGAIN, scans over every master, the master of a key
 *   scripts.ts     EVALSHA with NOSCRIPT fallback, the store's own Lua
 *   errors.ts      ioredis' errors as the typed errors of errors.ts
 *   pubsub.ts, sharded-pubsub.ts        subscriber connections, sharded pub/sub
 *   tracking.ts, cluster-tracking.ts    client-side tracking for the near cache
 */
import type { Cluster, Redis } from 'ioredis';
import { resolveClock, type Clock } from '../../clock.js';
import { ClosedError, StoreUnavailableError } from '../../errors.js';
import { scanCount, type InvalidationSink, type MessageHandler, type Script, type ScriptArg, type ScriptReply, type SetOptions, type Store, type StoreEvents, type TtlMs } from '../store.js';
import { ReadBatch, WriteBatch, type SetWaiter } from './batch.js';
import { ClusterTracking, clusterTrackingConnections } from './cluster-tracking.js';
import { CHUNK, chunks, masterOf, scanMasters, scanNode, slotGroups, tryAgain } from './cluster.js';
import { quitOrDisconnect, type Connections, type RedisKind, type RedisStoreOptions, type RedisStoreSpec } from './connect.js';
import { Connection } from './connection.js';
import { hasHashTag, Subscriber, type SubscriberHost } from './pubsub.js';
import { evalLua, HSET_TTL, INCR_TTL_IF_NEW, PERSIST_IF_EXISTS } from './scripts.js';
import { ShardedSubscriber } from './sharded-pubsub.js';
import { RedisTracking, trackingConnections } from './tracking.js';
import { quote } from '../../options-check.js';

function pxArg(ttlMs: number, what = 'ttlMs'): number {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new TypeError(`${what} must be a positive finite number of milliseconds or null, got ${quote(ttlMs)}`);
  }
  // PX takes whole milliseconds; round up so a positive TTL never becomes 0.
  return Math.ceil(ttlMs);
}

function checkPipeline(results: Array<[Error | null, unknown]> | null): unknown[] {
  if (results === null) throw new StoreUnavailableError('redis pipeline was aborted');
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

export class RedisStore implements Store {
  readonly kind: RedisKind;
  /** Every call is bounded by commandTimeoutMs here (connection.ts): the cache adds no deadline. */
  readonly boundsCalls = true;
  /** Where the store's connections go: `host:port`, a cluster's startup nodes, a Sentinel group. Never a password. */
  readonly endpoint: string;
  private readonly conn: Connection;
  private readonly conns: Connections;
  /** The command connection. Typed as Redis: a Cluster has the same command methods. */
  private readonly client: Redis;
  private readonly isCluster: boolean;
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private readonly reads: ReadBatch;
  private readonly writes: WriteBatch;
  private subscriber: Subscriber | null = null;
  private sharded: ShardedSubscriber | null = null;
  /** Which subscribers currently report a lost subscription. */
  private readonly lostBy = new Set<'plain' | 'sharded'>();
  /** The near cache's tracking (trackInvalidations), while one runs. */
  private tracking: RedisTracking | ClusterTracking | null = null;
  private closing: Promise<void> | null = null;

  constructor(spec: RedisStoreSpec, opts: RedisStoreOptions) {
    const ms = opts.commandTimeoutMs;
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) {
      throw new TypeError(`commandTimeoutMs must be a positive number, got ${quote(ms)}`);
    }
    const clock = resolveClock(opts.clock, undefined, '');
    this.timeoutMs = ms;
    this.clock = clock;
    this.conn = new Connection(spec, ms, clock);
    this.conns = this.conn.conns;
    this.kind = this.conn.kind;
    this.endpoint = this.conn.endpoint;
    this.client = this.conn.client;
    this.isCluster = this.conn.isCluster;
    this.reads = new ReadBatch(this.conn);
    this.writes = new WriteBatch(this.conn);
  }

  // --- strings -------------------------------------------------------------------------------

  get(key: string): Promise<Buffer | null> {
    if (this.conn.closed) return Promise.reject(new ClosedError('the store is closed'));
    return this.reads.get(key);
  }

  getMany(keys: readonly string[]): Promise<Array<Buffer | null>> {
    if (keys.length === 0) return this.conn.nothing([]);
    const out: Array<Buffer | null> = new Array<Buffer | null>(keys.length).fill(null);
    const read = () =>
      Promise.all(
        slotGroups(keys, this.isCluster).flatMap((group) =>
          chunks(group, CHUNK).map((part) =>
            tryAgain(this.conn, () => this.client.mgetBuffer(part.map((i) => keys[i]!))).then((values) => {
              for (let j = 0; j < part.length; j++) out[part[j]!] = values[j] ?? null;
            }),
          ),
        ),
      );
    return this.conn.exec('MGET', read, { keys, readOnly: true }).then(() => out);
  }

  set(key: string, value: Buffer, opts?: SetOptions): Promise<boolean> {
    let px: number | null;
    try {
      const ttl = opts?.ttlMs;
      px = ttl === undefined || ttl === null ? null : pxArg(ttl);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.conn.closed) return Promise.reject(new ClosedError('the store is closed'));
    const nx = opts?.ifAbsent === true;
    return new Promise<boolean>((resolve, reject) => {
      const w: SetWaiter = { key, value, px, nx, resolve, reject };
      this.writes.add(w);
    });
  }

  async setMany(entries: ReadonlyArray<readonly [key: string, value: Buffer, ttlMs: TtlMs]>): Promise<void> {
    if (entries.length === 0) {
      if (this.conn.closed) throw new ClosedError('the store is closed');
      return;
    }
    const px = entries.map(([, , ttl]) => (ttl === null ? null : pxArg(ttl)));
    const keys = entries.map(([key]) => key);
    await this.conn.exec('SET (pipeline)', () =>
      Promise.all(
        slotGroups(keys, this.isCluster).map((group) => {
          const pipeline = this.client.pipeline();
          for (const i of group) {
            const [key, value] = entries[i]!;
            const ms = px[i];
            if (ms === null || ms === undefined) pipeline.set(key, value);
            else pipeline.set(key, value, 'PX', ms);
          }
          return pipeline.exec().then(checkPipeline);
        }),
      ),
      { keys },
    );
  }

  /** S8: one UNLINK per slot (per 1,024 keys), all sent at once: one round trip. */
  delete(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return this.conn.nothing(0);
    const unlink = () =>
      Promise.all(
        slotGroups(keys, this.isCluster).flatMap((group) =>
          chunks(group, CHUNK).map((part) => tryAgain(this.conn, () => this.client.unlink(part.map((i) => keys[i]!)))),
        ),
      );
    return this.conn.exec('UNLINK', unlink, { keys }).then((counts) => counts.reduce((a, b) => a + b, 0));
  }

  ping(): Promise<void> {
    // PING touches no key: held-back gets and sets need not go first, and a cluster asks any node.
    return this.conn.exec('PING', () => this.client.ping(), { keys: [], readOnly: true }).then(() => undefined);
  }

  exists(key: string): Promise<boolean> {
    return this.conn.exec('EXISTS', () => this.client.exists(key), { keys: key, readOnly: true }).then((n) => n > 0);
  }

  async expire(key: string, ttlMs: TtlMs): Promise<boolean> {
    if (ttlMs === null) return (await evalLua(this.conn, PERSIST_IF_EXISTS, [key], [])) === 1;
    const px = pxArg(ttlMs);
    return (await this.conn.exec('PEXPIRE', () => this.client.pexpire(key, px), { keys: key })) === 1;
  }

  ttl(key: string): Promise<number | null | undefined> {
    return this.conn.exec('PTTL', () => this.client.pttl(key), { keys: key, readOnly: true }).then((ms) => (ms === -2 ? undefined : ms === -1 ? null : ms));
  }

  /** `ttlMsIfNew` left out (a JavaScript caller) is null: no TTL. */
  async incrBy(key: string, by: number, ttlMsIfNew: TtlMs | undefined): Promise<number> {
    if (!Number.isSafeInteger(by)) throw new TypeError(`incrBy needs a safe integer increment, got ${quote(by)}`);
    if (ttlMsIfNew === null || ttlMsIfNew === undefined) return this.conn.exec('INCRBY', () => this.client.incrby(key, by), { keys: key });
    const px = pxArg(ttlMsIfNew, 'ttlMsIfNew');
    const v = await evalLua(this.conn, INCR_TTL_IF_NEW, [key], [by, px]);
    return v as number;
  }

  // --- hashes --------------------------------------------------------------------------------

  async hset(key: string, field: string, value: Buffer, ttlMs?: TtlMs): Promise<void> {
    if (ttlMs === undefined) {
      await this.conn.exec('HSET', () => this.client.hset(key, field, value), { keys: key });
      return;
    }
    const ttlArg = ttlMs === null ? '' : pxArg(ttlMs);
    await evalLua(this.conn, HSET_TTL, [key], [field, value, ttlArg]);
  }

  hget(key: string, field: string): Promise<Buffer | null> {
    return this.conn.exec('HGET', () => this.client.hgetBuffer(key, field), { keys: key, readOnly: true });
  }

  hgetall(key: string): Promise<Map<string, Buffer>> {
    return this.conn.exec('HGETALL', () => this.client.hgetallBuffer(key), { keys: key, readOnly: true }).then((obj) => {
      const m = new Map<string, Buffer>();
      for (const field of Object.keys(obj)) m.set(field, obj[field]!);
      return m;
    });
  }

  hdel(key: string, fields: readonly string[]): Promise<number> {
    if (fields.length === 0) return this.conn.nothing(0);
    return this.conn.exec('HDEL', () => this.client.hdel(key, ...fields), { keys: key });
  }

  hexists(key: string, field: string): Promise<boolean> {
    return this.conn.exec('HEXISTS', () => this.client.hexists(key, field), { keys: key, readOnly: true }).then((n) => n === 1);
  }

  hkeys(key: string): Promise<string[]> {
    return this.conn.exec('HKEYS', () => this.client.hkeys(key), { keys: key, readOnly: true });
  }

  // --- lists ---------------------------------------------------------------------------------

  push(key: string, values: readonly Buffer[], end: 'left' | 'right'): Promise<number> {
    if (values.length === 0) return this.llen(key);
    return end === 'left'
      ? this.conn.exec('LPUSH', () => this.client.lpush(key, ...values), { keys: key })
      : this.conn.exec('RPUSH', () => this.client.rpush(key, ...values), { keys: key });
  }

  pop(key: string, end: 'left' | 'right'): Promise<Buffer | null> {
    return end === 'left'
      ? this.conn.exec('LPOP', () => this.client.lpopBuffer(key), { keys: key })
      : this.conn.exec('RPOP', () => this.client.rpopBuffer(key), { keys: key });
  }

  llen(key: string): Promise<number> {
    return this.conn.exec('LLEN', () => this.client.llen(key), { keys: key, readOnly: true });
  }

  lrange(key: string, start: number, stop: number): Promise<Buffer[]> {
    return this.conn.exec('LRANGE', () => this.client.lrangeBuffer(key, start, stop), { keys: key, readOnly: true });
  }

  ltrim(key: string, start: number, stop: number): Promise<void> {
    return this.conn.exec('LTRIM', () => this.client.ltrim(key, start, stop), { keys: key }).then(() => undefined);
  }

  // --- sets ----------------------------------------------------------------------------------

  sadd(key: string, members: readonly Buffer[]): Promise<number> {
    if (members.length === 0) return this.conn.nothing(0);
    return this.conn.exec('SADD', () => this.client.sadd(key, ...members), { keys: key });
  }

  srem(key: string, members: readonly Buffer[]): Promise<number> {
    if (members.length === 0) return this.conn.nothing(0);
    return this.conn.exec('SREM', () => this.client.srem(key, ...members), { keys: key });
  }

  smembers(key: string): Promise<Buffer[]> {
    return this.conn.exec('SMEMBERS', () => this.client.smembersBuffer(key), { keys: key, readOnly: true });
  }

  sismember(key: string, member: Buffer): Promise<boolean> {
    return this.conn.exec('SISMEMBER', () => this.client.sismember(key, member), { keys: key, readOnly: true }).then((n) => n === 1);
  }

  scard(key: string): Promise<number> {
    return this.conn.exec('SCARD', () => this.client.scard(key), { keys: key, readOnly: true });
  }

  // --- scan, scripts, replication ------------------------------------------------------------

  /** P2: SCAN with MATCH/COUNT, never KEYS; on a cluster, every master in turn (cluster.ts). */
  async *scan(match: string, countHint?: number): AsyncIterable<string[]> {
    const count = scanCount(countHint, 100);
    await this.conn.exec('CONNECT', () => Promise.resolve());
    if (!this.isCluster) {
      yield* scanNode(this.conn, this.client, match, count);
      return;
    }
    yield* scanMasters(this.conn, this.conns.main as Cluster, match, count);
  }

  eval(script: Script, keys: readonly string[], args: readonly ScriptArg[]): Promise<ScriptReply> {
    return evalLua(this.conn, script, keys, args);
  }

  /**
   * WAIT on the connection that carries `key`'s writes: the main connection, or on a cluster the
   * connection to the master that serves the key's slot (ioredis keeps one per node, and WAIT
   * counts the writes made on the connection it is sent on). WAIT blocks that connection for up to
   * `timeoutMs` when replicas lag, delaying the calls queued behind it: keep it short.
   */
  waitReplicas(key: string, replicas: number, timeoutMs: number): Promise<number> {
    return this.conn.exec('WAIT', () => {
      if (!this.isCluster) return this.client.wait(replicas, timeoutMs);
      return masterOf(this.conns.main as Cluster, key).wait(replicas, timeoutMs);
    });
  }

  // --- pub/sub -------------------------------------------------------------------------------

  /** On a Redis >= 7 cluster, a channel with a hash tag is a shard channel: SPUBLISH (pubsub.ts). */
  publish(channel: string, message: Buffer): Promise<number> {
    return this.conn.exec('PUBLISH', () => {
      if (this.conn.shardedPubSub && hasHashTag(channel)) return this.client.spublish(channel, message) as Promise<number>;
      // A keyless command goes to any node of a cluster, and each node forwards a PUBLISH over its
      // own bus link: two publishes of one channel from two nodes can arrive out of order. Sent
      // from the master of the channel's slot, every publish of a channel leaves from one node.
      if (this.isCluster) return masterOf(this.conns.main as Cluster, channel).publish(channel, message);
      return this.client.publish(channel, message);
    });
  }

  async subscribe(channel: string, handler: MessageHandler): Promise<() => Promise<void>> {
    if (this.conn.closed) throw new ClosedError('the store is closed');
    // A cluster subscriber dials a node the cluster client knows: connect that first.
    if (this.isCluster && this.subscriber === null && this.sharded === null) await this.conn.exec('CONNECT', () => Promise.resolve());
    if (this.conn.shardedPubSub && hasHashTag(channel)) {
      this.sharded ??= new ShardedSubscriber(this.conns.main as Cluster, this.timeoutMs, this.subscriberHost('sharded'));
      return this.sharded.subscribe(channel, handler);
    }
    this.subscriber ??= new Subscriber(this.conns.makeSubscriber, this.subscriberHost('plain'));
    return this.subscriber.subscribe(channel, handler);
  }

  /** Subscription losses of the plain and the sharded subscriber, reported as one state. */
  private subscriberHost(source: 'plain' | 'sharded'): SubscriberHost {
    const conn = this.conn;
    return {
      timeoutMs: this.timeoutMs,
      clock: this.clock,
      track: (p, what) => conn.track(p, what),
      mapError: conn.mapError,
      emit: (event) => {
        const wasLost = this.lostBy.size > 0;
        if (event === 'subscriptionLost') this.lostBy.add(source);
        else this.lostBy.delete(source);
        const isLost = this.lostBy.size > 0;
        if (isLost !== wasLost) conn.emit(isLost ? 'subscriptionLost' : 'subscriptionRestored');
      },
      connectionError: (err) => conn.connectionError(err),
      // A handler's own bug, reported as it is (as the embedded store does): not a connection error.
      handlerError: (err) => conn.reportError(err instanceof Error ? err : new Error(`message handler threw ${String(err)}`)),
    };
  }

  watch(events: StoreEvents): () => void {
    const entry = { ...events };
    this.conn.watchers.add(entry);
    return () => {
      this.conn.watchers.delete(entry);
    };
  }

  // --- near cache (tracking.ts, cluster-tracking.ts) ----------------------------------------

  /**
   * Server-assisted client-side caching for a near cache (near/near-cache.ts, N1–N3): Redis tracks what
   * the command connection reads (on a cluster, every node's) and reports other clients' changes
   * to `sink`. One sink at a time, since a connection's tracking redirects to one invalidation
   * connection: undefined while another is registered. The returned function stops it.
   */
  trackInvalidations(sink: InvalidationSink): (() => void) | undefined {
    if (this.tracking !== null) return undefined;
    const tracking = this.isCluster
      ? new ClusterTracking(clusterTrackingConnections(this.conns.main as Cluster, this.timeoutMs), sink, this.clock)
      : new RedisTracking(trackingConnections(this.client, this.timeoutMs), sink, this.clock);
    this.tracking = tracking;
    return () => {
      if (this.tracking === tracking) this.tracking = null;
      tracking.close();
    };
  }

  // --- lifecycle -----------------------------------------------------------------------------

  /**
   * Closes what this store opened: QUIT (so in-flight commands still get their replies), and
   * disconnect() if QUIT has no answer within commandTimeoutMs (on the store's clock). Never
   * touches a client the user passed in (we only ever used a duplicate of it).
   */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    // Sets made before close() in this tick are sent, as they were before writes were batched.
    this.writes.flush();
    this.conn.closed = true;
    // Its invalidation connections are this store's too.
    this.tracking?.close();
    this.tracking = null;
    this.closing = (async () => {
      await Promise.all([
        quitOrDisconnect(this.conns.main, this.timeoutMs, this.clock),
        this.subscriber?.close(),
        this.sharded?.close(),
      ]);
      this.conn.timeouts.failAll(new ClosedError('the store is closed'));
    })();
    return this.closing;
  }
}
