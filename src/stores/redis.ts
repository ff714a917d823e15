/**
 * The Redis backend of `Store`, on ioredis: standalone, Sentinel and Cluster.
 *
 * What it adds to ioredis, and why:
 *  - No call hangs and none is replayed (F4). Connections are configured so that nothing is queued
 *    while disconnected and nothing is resent after a reconnect (redis-connect.ts explains each
 *    option); every call is bounded by `commandTimeoutMs` (TimeoutQueue), and a connection that
 *    stops answering is torn down and redialled rather than left to collect more calls.
 *  - Calls made while the *first* connection is being made wait for it (bounded by their
 *    deadline); calls made while a lost connection is being re-established fail at once with
 *    StoreUnavailableError: the layer above decides to degrade, and nothing runs late.
 *  - Same-tick read coalescing: `get` calls made in one tick become one MGET (one per slot on a
 *    cluster); a lone `get` is a plain GET. This is what makes many concurrent readers cheap.
 *  - Same-tick write coalescing (standalone and Sentinel): `set` calls made in one tick are sent
 *    together, in call order, in one pipeline (one socket write), with each run of plain sets (no
 *    TTL, no NX) as one MSET. Any other command sends the pending sets first, so commands still
 *    reach the server in the order they were made. More generally, the commands of one tick after
 *    its first share one socket write (the socket is corked until the tick ends; on a cluster,
 *    every master's): a burst of lock calls from callers woken together costs one system call,
 *    not one each.
 *  - Errors are the typed errors of errors.ts; ioredis' own never escape.
 *  - On a cluster: multi-key commands grouped by slot and resent on TRYAGAIN within the deadline,
 *    pattern scans on every master repeated while slots migrate, and sharded pub/sub for channels
 *    with a hash tag (redis-pubsub.ts).
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis, type ChainableCommander, type Cluster, type RedisOptions } from 'ioredis';
import type { ClusterTrackingConnections } from './redis-cluster-tracking.js';
import {
  ClosedError,
  LarderError,
  NotIntegerError,
  StoreError,
  StoreTimeoutError,
  StoreUnavailableError,
  WrongTypeError,
} from '../errors.js';
import type {
  MessageHandler,
  Script,
  ScriptArg,
  ScriptReply,
  SetOptions,
  Store,
  StoreEvents,
  TtlMs,
} from './store.js';
import { groupBySlot, keySlot, openConnections, subscriberOverrides, type Connections, type RedisKind, type RedisStoreSpec } from './redis-connect.js';

import {
  hasHashTag,
  quitOrDisconnect,
  shardedLua,
  ShardedSubscriber,
  Subscriber,
  type SubscriberHost,
} from './redis-pubsub.js';

export type { RedisStoreSpec, RedisKind } from './redis-connect.js';

export interface RedisStoreOptions {
  /** Every call settles within this many milliseconds (StoreTimeoutError otherwise). */
  commandTimeoutMs: number;
}

/** Keys per MGET/UNLINK command: large lists are split, and the parts are sent together. */
const CHUNK = 1024;

/** Pause before resending a multi-key command a slot migration refused with TRYAGAIN. */
const TRYAGAIN_PAUSE_MS = 5;
/**
 * A pattern scan over a cluster whose slots keep moving gives up (StoreUnavailableError) once it
 * has been repeating passes for this long: a time budget, not a count of passes, because a
 * reshard's length depends on how many slots move and how busy the machines are, not on how fast
 * one pass is.
 */
const MAX_SCAN_MS = 60_000;
/** Pause between two scan passes while a slot migration is in progress. */
const SCAN_PASS_PAUSE_MS = 20;

/**
 * TRYAGAIN: a multi-key command (MGET, UNLINK, a lock script) whose keys a slot migration has split
 * between two nodes. The command did not run anywhere. ioredis resends it at once up to its
 * redirection limit, which a migration of a few hundred milliseconds easily outlasts; the error
 * then reads "Too many Cluster redirections. Last error: ReplyError: TRYAGAIN ...".
 */
function isTryAgain(err: unknown): boolean {
  return err instanceof Error && /\bTRYAGAIN\b/.test(err.message);
}

// ---------------------------------------------------------------------------------------------
// Errors

const NOT_INTEGER = /not an integer|out of range|overflow/i;
/** Server replies that mean "not usable right now" rather than "your call is wrong". */
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY|NOREPLICAS|NOAUTH|WRONGPASS)\b/;

/** Maps whatever ioredis rejected with to the typed errors of errors.ts. */
export function mapRedisError(err: unknown, closed = false): Error {
  if (err instanceof LarderError) return err;
  // Bad arguments are ours to report as they are (F1: TypeErrors carry through).
  if (err instanceof TypeError || err instanceof RangeError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  if (e.name === 'ReplyError') {
    const m = e.message;
    if (/\bWRONGTYPE\b/.test(m)) return new WrongTypeError(m, { cause: e });
    if (NOT_INTEGER.test(m)) return new NotIntegerError(m, { cause: e });
    if (UNAVAILABLE_REPLY.test(m)) return new StoreUnavailableError(`redis: ${m}`, { cause: e });
    return new StoreError(`redis: ${m}`, { cause: e });
  }
  if (closed) return new ClosedError('the store is closed');
  if (e.message === 'Command timed out') return new StoreTimeoutError('redis command timed out', { cause: e });
  // Connection closed, stream not writeable, MaxRetriesPerRequestError, ClusterAllFailedError,
  // "Cluster isn't ready", dial errors (ECONNREFUSED, ETIMEDOUT, …): the server is not there.
  return new StoreUnavailableError(`redis unavailable: ${e.message}`, { cause: e });
}

// ---------------------------------------------------------------------------------------------
// Deadlines

interface Deadline {
  at: number;
  done: boolean;
  what: string;
  fail: (err: Error) => void;
  /** For a call on the main connection: the store's data mark when it was sent (see onStall); else -1. */
  mark: number;
}

/**
 * Bounds every pending call by `ms` with a single timer. All calls share one timeout, so deadlines
 * increase in the order calls are made: the queue is sorted by construction, settled calls are
 * dropped from its head as they finish, and the timer only ever needs to watch the head. Cost per
 * call: one small object and one clock read; no per-call setTimeout/clearTimeout.
 */
class TimeoutQueue {
  private items: Deadline[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | null = null;

  /** `onExpired` hears the mark of every call that ran out of time (the stall detector). */
  constructor(
    private readonly ms: number,
    private readonly onExpired?: (mark: number) => void,
  ) {}

  track<T>(p: Promise<T>, what: string, mapError: (e: unknown) => Error, mark = -1): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const d: Deadline = { at: performance.now() + this.ms, done: false, what, fail: reject, mark };
      this.items.push(d);
      if (this.timer === null) this.arm(this.ms);
      p.then(
        (v) => {
          if (d.done) return;
          d.done = true;
          this.trim();
          resolve(v);
        },
        (e: unknown) => {
          if (d.done) return;
          d.done = true;
          this.trim();
          reject(mapError(e));
        },
      );
    });
  }

  /** Rejects everything still pending (used by close()). */
  failAll(err: Error): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const items = this.items;
    this.items = [];
    for (let i = this.head; i < items.length; i++) {
      const d = items[i]!;
      if (!d.done) {
        d.done = true;
        d.fail(err);
      }
    }
    this.head = 0;
  }

  private trim(): void {
    const items = this.items;
    while (this.head < items.length && items[this.head]!.done) this.head++;
    if (this.head === items.length) {
      items.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= items.length) {
      this.items = items.slice(this.head);
      this.head = 0;
    }
  }

  private arm(ms: number): void {
    this.timer = setTimeout(this.expire, Math.max(1, Math.ceil(ms)));
    // Pending calls keep the process alive through their sockets, not through this timer.
    this.timer.unref();
  }

  private readonly expire = (): void => {
    this.timer = null;
    const now = performance.now();
    for (;;) {
      this.trim();
      const d = this.items[this.head];
      if (d === undefined) return;
      if (d.at > now) {
        this.arm(d.at - now);
        return;
      }
      d.done = true;
      this.head++;
      d.fail(new StoreTimeoutError(`redis ${d.what} took longer than ${this.ms} ms`));
      if (d.mark >= 0) this.onExpired?.(d.mark);
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Scripts

/** Internal scripts need no local twin: only `name` and `lua` are used here. */
type LuaScript = Pick<Script, 'name' | 'lua'>;

interface Compiled {
  lua: string;
  sha: string;
}
const plainScripts = new WeakMap<LuaScript, Compiled>();
const clusterScripts = new WeakMap<LuaScript, Compiled>();
/** The text and SHA1 to send; on a cluster, with tagged-channel PUBLISH turned into SPUBLISH (redis-pubsub.ts). */
function compiled(script: LuaScript, cluster: boolean): Compiled {
  const cache = cluster ? clusterScripts : plainScripts;
  let c = cache.get(script);
  if (c === undefined) {
    const lua = cluster ? shardedLua(script.lua) : script.lua;
    c = { lua, sha: createHash('sha1').update(lua).digest('hex') };
    cache.set(script, c);
  }
  return c;
}

/** KEYS[1]: counter. ARGV[1]: increment, ARGV[2]: TTL in ms. Returns the new value; the TTL is set only if this call created the key. */
const INCR_TTL_IF_NEW: LuaScript = {
  name: 'incr-ttl-if-new',
  lua: `local existed = redis.call('EXISTS', KEYS[1])
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v`,
};

/** KEYS[1]: hash. ARGV[1]: field, ARGV[2]: value, ARGV[3]: TTL in ms, or '' to remove the TTL. Returns 1. */
const HSET_TTL: LuaScript = {
  name: 'hset-ttl',
  lua: `redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1`,
};

/**
 * KEYS[1]: any key. Removes its TTL; returns 1 if the key exists (with or without a TTL), else 0.
 * (PERSIST alone answers 0 both for a missing key and for a key that had no TTL.)
 */
const PERSIST_IF_EXISTS: LuaScript = {
  name: 'persist-if-exists',
  lua: `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('PERSIST', KEYS[1])
return 1`,
};

/**
 * ScriptReply from what ioredis decoded: integers as numbers, bulk and status strings as Buffers,
 * nil as null, arrays recursively. RESP3 shapes are folded back to the RESP2 ones the Script
 * contract names (booleans: true → 1, false → null; big numbers → numbers).
 */
function toScriptReply(r: unknown): ScriptReply {
  if (r === null || r === undefined) return null;
  if (Buffer.isBuffer(r)) return r;
  if (typeof r === 'number') return Math.trunc(r);
  if (typeof r === 'bigint') return Number(r);
  if (typeof r === 'boolean') return r ? 1 : null;
  if (typeof r === 'string') {
    const n = Number(r);
    return /^-?\d+$/.test(r) && Number.isFinite(n) ? n : Buffer.from(r);
  }
  if (Array.isArray(r)) return r.map(toScriptReply);
  if (r instanceof Error) throw r;
  throw new StoreError(`redis: unexpected script reply of type ${typeof r}`);
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

// ---------------------------------------------------------------------------------------------
// Arguments

function pxArg(ttlMs: number, what = 'ttlMs'): number {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new TypeError(`${what} must be a positive finite number of milliseconds or null, got ${String(ttlMs)}`);
  }
  // PX takes whole milliseconds; round up so a positive TTL never becomes 0.
  return Math.ceil(ttlMs);
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  if (items.length <= size) return [items as T[]];
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function checkPipeline(results: [Error | null, unknown][] | null): unknown[] {
  if (results === null) throw new StoreUnavailableError('redis pipeline was aborted');
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}


// ---------------------------------------------------------------------------------------------
// Same-tick read batches

interface GetWaiter {
  resolve: (v: Buffer | null) => void;
  reject: (e: Error) => void;
  /** Other callers of the same key in this batch. */
  next: GetWaiter | null;
}

function settleWaiters(w: GetWaiter, v: Buffer | null): void {
  w.resolve(v);
  // Callers of a duplicated key each get their own bytes: one caller mutating its Buffer must
  // not change what another one decodes.
  for (let x = w.next; x !== null; x = x.next) x.resolve(v === null ? null : Buffer.from(v));
}

function failWaiters(w: GetWaiter, err: Error): void {
  for (let x: GetWaiter | null = w; x !== null; x = x.next) x.reject(err);
}

// ---------------------------------------------------------------------------------------------
// Same-tick write batches

interface SetWaiter {
  key: string;
  value: Buffer;
  /** Whole milliseconds, or null: no TTL. */
  px: number | null;
  nx: boolean;
  resolve: (set: boolean) => void;
  reject: (e: Error) => void;
}

/** One SET as its caller asked for it, on a connection or a pipeline. Its reply is null when NX found the key. */
function sendSet(c: Redis | ChainableCommander, w: SetWaiter): unknown {
  if (w.px === null) return w.nx ? c.set(w.key, w.value, 'NX') : c.set(w.key, w.value);
  return w.nx ? c.set(w.key, w.value, 'PX', w.px, 'NX') : c.set(w.key, w.value, 'PX', w.px);
}

/** A set that MSET can carry: no TTL (MSET, like SET, clears an existing one) and not NX. */
function plainSet(w: SetWaiter): boolean {
  return w.px === null && !w.nx;
}

// ---------------------------------------------------------------------------------------------
// The store

export class RedisStore implements Store {
  readonly kind: RedisKind;
  private readonly conns: Connections;
  /** The command connection. Typed as Redis: a Cluster has the same command methods. */
  private readonly client: Redis;
  private readonly isCluster: boolean;
  private readonly timeoutMs: number;
  private readonly timeouts: TimeoutQueue;
  private readonly watchers = new Set<StoreEvents>();
  private firstConnect: Promise<void> | null = null;
  private gets: Map<string, GetWaiter> | null = null;
  private sets: SetWaiter[] | null = null;
  /** Commands sent on the main connection in this tick, and the socket corked for the rest of it. */
  private sentThisTick = 0;
  /** Moves with every chunk the main connection receives and with every new socket (onStall). */
  private dataMark = 0;
  private corked: { uncork(): void }[] | null = null;
  private subscriber: Subscriber | null = null;
  private sharded: ShardedSubscriber | null = null;
  /** A cluster whose masters all run Redis >= 7.0: channels with a hash tag are shard channels. */
  private shardedPubSub = false;
  /** Which subscribers currently report a lost subscription. */
  private readonly lostBy = new Set<'plain' | 'sharded'>();
  private closed = false;
  private closing: Promise<void> | null = null;
  private lastConnError: string | null = null;

  constructor(spec: RedisStoreSpec, opts: RedisStoreOptions) {
    const ms = opts?.commandTimeoutMs;
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) {
      throw new TypeError(`commandTimeoutMs must be a positive number, got ${String(ms)}`);
    }
    this.timeoutMs = ms;
    this.timeouts = new TimeoutQueue(ms, (mark) => this.onStall(mark));
    this.conns = openConnections(spec, ms);
    this.kind = this.conns.kind;
    this.client = this.conns.main as Redis;
    this.isCluster = this.conns.kind === 'cluster';
    // The stall detector of the main connection (onStall); cluster nodes keep ioredis' socketTimeout.
    if (!this.isCluster) this.client.on('connect', this.watchStream);
    // ioredis emits 'error' for every failed dial; without a listener it logs them. Report each
    // distinct error once per outage (a dead server would otherwise report one every retry).
    const onError = (err: Error) => {
      if (err.message === this.lastConnError) return;
      this.lastConnError = err.message;
      this.connectionError(err);
    };
    this.conns.main.on('error', onError);
    this.conns.main.on('node error', onError);
    this.conns.main.on('ready', () => {
      this.lastConnError = null;
    });
    if (this.isCluster) {
      // With the cluster's offline queue off, ioredis rejects a command for a node whose first
      // connection is still being made (only the very first command to a fresh node goes
      // through). Dial every master as soon as the cluster learns of it, so that window is one
      // dial long, right after startup or a topology change; calls inside it fail fast.
      // Not while the cluster itself is connecting: its ready check needs nodes that are either
      // connected or never dialled, or it tears the whole client down and starts over.
      const cluster = this.conns.main as Cluster;
      cluster.on('+node', (node: Redis) => {
        if (cluster.status === 'ready' && !node.options.readOnly && node.status === 'wait') {
          node.connect().catch(() => undefined);
        }
      });
      cluster.on('ready', () => this.dialMasters());
    }
  }

  // --- plumbing ------------------------------------------------------------------------------

  private readonly mapError = (e: unknown): Error => mapRedisError(e, this.closed);

  /**
   * Resolves when the command connection can take a command: at once when ready; after the first
   * connection is made if this is the first use; otherwise it rejects at once (F4: reconnecting
   * means the server is away, and a call must not wait for it).
   */
  private whenConnected(): Promise<void> {
    if (this.firstConnect !== null) return this.firstConnect;
    const status = this.client.status as string;
    if (status === 'wait') {
      const p = this.client.connect().then(() => (this.isCluster ? this.mastersReady().then(() => this.detectShardedPubSub()) : undefined)).then(
        () => {
          if (this.firstConnect === p) this.firstConnect = null;
        },
        (err: unknown) => {
          if (this.firstConnect === p) this.firstConnect = null;
          throw this.mapError(err);
        },
      );
      this.firstConnect = p;
      return p;
    }
    return Promise.reject(new StoreUnavailableError(`redis connection is ${status}`));
  }

  /**
   * Sharded pub/sub needs Redis >= 7.0 on every master (SPUBLISH/SSUBSCRIBE). A cluster with any
   * older master keeps plain PUBLISH/SUBSCRIBE for every channel. Decided once, at first connect.
   */
  private async detectShardedPubSub(): Promise<void> {
    try {
      // COMMAND INFO rather than INFO: per-tenant ACLs usually refuse @dangerous, which INFO is.
      const replies = await Promise.all(
        (this.conns.main as Cluster).nodes('master').map((n) => n.call('COMMAND', 'INFO', 'spublish') as Promise<unknown[]>),
      );
      this.shardedPubSub = replies.length > 0 && replies.every((r) => Array.isArray(r) && r[0] !== null && r[0] !== undefined);
    } catch {
      this.shardedPubSub = false;
    }
  }

  private dialMasters(): Redis[] {
    const masters = (this.conns.main as Cluster).nodes('master');
    for (const node of masters) if (node.status === 'wait') node.connect().catch(() => undefined);
    return masters;
  }

  /** The first connection to a cluster is made once every master's connection is (see '+node'). */
  private mastersReady(): Promise<unknown> {
    return Promise.all(
      this.dialMasters().map((node) => {
        if (node.status === 'ready') return undefined;
        return new Promise<void>((resolve) => {
          const done = () => {
            node.off('ready', done);
            node.off('end', done);
            resolve();
          };
          node.on('ready', done);
          node.on('end', done);
        });
      }),
    );
  }

  /** Sends through `send` once connected, bounded by commandTimeoutMs, errors mapped. */
  private exec<T>(what: string, send: () => Promise<T>): Promise<T> {
    // Sets made earlier in this tick go first: commands reach the server in the order made.
    if (this.sets !== null) this.flushSets();
    if (this.closed) return Promise.reject(new ClosedError('the store is closed'));
    let p: Promise<T>;
    let mark = -1;
    if (this.client.status === 'ready') {
      this.coalesceWrites();
      if (!this.isCluster) mark = this.dataMark;
      try {
        p = send();
      } catch (err) {
        p = Promise.reject(err);
      }
    } else {
      if (this.firstConnect === null && (this.client.status as string) !== 'wait') {
        // Down: fail now, without a deadline entry.
        return Promise.reject(new StoreUnavailableError(`redis connection is ${this.client.status}`));
      }
      p = this.whenConnected().then(send);
    }
    return this.timeouts.track(p, what, this.mapError, mark);
  }

  /**
   * The stall detector (F4) of a standalone or Sentinel store's main connection. A call that ran
   * out of time was sent at data mark `mark`; the mark moves with every chunk the connection
   * receives and with every new socket. Unmoved, the server has answered nothing since: it accepted
   * the call and went quiet (stopped, swapping, a dead middlebox). The socket is then destroyed, its
   * pending calls fail at once (instead of each waiting out its deadline behind the stuck ones), and
   * ioredis redials. Destroying the socket also drops whatever is still in our write buffer, so
   * those commands can never reach the server later. Commands the kernel already delivered may still
   * run when a stopped server wakes: late, not replayed, and nobody waits for their reply.
   * This replaces ioredis' socketTimeout there, which arms a timer and a 'data' listener per command
   * (about 0.6 µs of every call at concurrency 1, measured).
   */
  private onStall(mark: number): void {
    if (this.closed || mark !== this.dataMark || this.client.status !== 'ready') return;
    const stream = (this.client as unknown as { stream?: { destroy(err: Error): void } }).stream;
    stream?.destroy(new Error(`Socket timeout. Expecting data, but didn't receive any in ${this.timeoutMs}ms.`));
  }

  private readonly watchStream = (): void => {
    this.dataMark++;
    const stream = (this.client as unknown as { stream?: { on(e: 'data', f: () => void): void } }).stream;
    stream?.on('data', this.onData);
  };

  private readonly onData = (): void => {
    this.dataMark++;
  };

  /**
   * The first command of a tick is written at once; from the second on, the socket is corked until
   * the tick ends, so a burst of commands (replies that arrived together resolve their callers
   * together) leaves in one writev instead of one write each. Order is untouched: ioredis queues
   * each command when it is made; only the system call is shared. On a cluster every master's
   * socket is corked: the GETs and SETs of one tick spread over all slots, and each node then
   * gets them in one write.
   */
  private coalesceWrites(): void {
    if (this.sentThisTick++ === 0) {
      process.nextTick(this.endTick);
      return;
    }
    if (this.corked === null) {
      const clients = this.isCluster ? (this.conns.main as Cluster).nodes('master') : [this.client];
      const streams: { cork(): void; uncork(): void }[] = [];
      for (const c of clients) {
        const stream = (c as unknown as { stream?: { cork(): void; uncork(): void } }).stream;
        if (stream === undefined) continue;
        stream.cork();
        streams.push(stream);
      }
      this.corked = streams;
    }
  }

  private readonly endTick = (): void => {
    this.sentThisTick = 0;
    const s = this.corked;
    if (s !== null) {
      this.corked = null;
      for (const x of s) x.uncork();
    }
  };

  private connectionError(err: Error): void {
    this.reportError(new StoreUnavailableError(`redis connection error: ${err.message}`, { cause: err }));
  }

  /** Hands an error to every watcher's `error`. */
  private reportError(e: Error): void {
    for (const w of this.watchers) {
      try {
        w.error?.(e);
      } catch {
        // A watcher's failure is not ours to report, and must not stop the others.
      }
    }
  }

  private emit(event: 'subscriptionLost' | 'subscriptionRestored'): void {
    for (const w of this.watchers) {
      try {
        w[event]?.();
      } catch {
        // As above.
      }
    }
  }

  /** The answer to a call that needs no round trip (an empty key list, say). */
  private nothing<T>(value: T): Promise<T> {
    return this.closed ? Promise.reject(new ClosedError('the store is closed')) : Promise.resolve(value);
  }

  /**
   * Sends one multi-key command, and sends it again after a short pause while a slot migration
   * answers TRYAGAIN (it ran nowhere, so this is not a replay), as long as the caller's deadline is
   * not close: a resend never starts after the caller was told the call failed (F4).
   */
  private tryAgain<T>(call: () => Promise<T>): Promise<T> {
    if (!this.isCluster) return call();
    const until = performance.now() + this.timeoutMs - 2 * TRYAGAIN_PAUSE_MS;
    const attempt = (): Promise<T> =>
      call().catch((err: unknown) => {
        if (!isTryAgain(err) || this.closed || performance.now() + TRYAGAIN_PAUSE_MS >= until) throw err;
        return new Promise<void>((r) => setTimeout(r, TRYAGAIN_PAUSE_MS)).then(() => {
          if (this.closed || performance.now() >= until) throw err;
          return attempt();
        });
      });
    return attempt();
  }

  /** Positions of `keys` grouped by slot; on a standalone server, one group. */
  private groups(keys: readonly string[]): number[][] {
    if (!this.isCluster) return [keys.map((_, i) => i)];
    return [...groupBySlot(keys).values()];
  }

  // --- strings -------------------------------------------------------------------------------

  get(key: string): Promise<Buffer | null> {
    if (this.closed) return Promise.reject(new ClosedError('the store is closed'));
    return new Promise<Buffer | null>((resolve, reject) => {
      let batch = this.gets;
      if (batch === null) {
        batch = this.gets = new Map();
        // nextTick, not a microtask: callers that arrive through promise chains resolved in the
        // same microtask drain (a previous batch's readers, say) still join this batch.
        process.nextTick(this.flushGets);
      }
      batch.set(key, { resolve, reject, next: batch.get(key) ?? null });
    });
  }

  private readonly flushGets = (): void => {
    const batch = this.gets!;
    this.gets = null;
    if (batch.size === 1) {
      for (const [key, w] of batch) {
        this.exec('GET', () => this.client.getBuffer(key)).then(
          (v) => settleWaiters(w, v),
          (e: Error) => failWaiters(w, e),
        );
      }
      return;
    }
    const keys = [...batch.keys()];
    const waiters = [...batch.values()];
    for (const group of this.groups(keys)) {
      if (group.length === 1) {
        const i = group[0]!;
        this.exec('GET', () => this.client.getBuffer(keys[i]!)).then(
          (v) => settleWaiters(waiters[i]!, v),
          (e: Error) => failWaiters(waiters[i]!, e),
        );
        continue;
      }
      const groupKeys = group.map((i) => keys[i]!);
      this.exec('MGET', () => this.tryAgain(() => this.client.mgetBuffer(groupKeys))).then(
        (values) => {
          for (let j = 0; j < group.length; j++) settleWaiters(waiters[group[j]!]!, values[j] ?? null);
        },
        (e: Error) => {
          for (const i of group) failWaiters(waiters[i]!, e);
        },
      );
    }
  };

  getMany(keys: readonly string[]): Promise<(Buffer | null)[]> {
    if (keys.length === 0) return this.nothing([]);
    const out: (Buffer | null)[] = new Array<Buffer | null>(keys.length).fill(null);
    return this.exec('MGET', () =>
      Promise.all(
        this.groups(keys).flatMap((group) =>
          chunks(group, CHUNK).map((part) =>
            this.tryAgain(() => this.client.mgetBuffer(part.map((i) => keys[i]!))).then((values) => {
              for (let j = 0; j < part.length; j++) out[part[j]!] = values[j] ?? null;
            }),
          ),
        ),
      ),
    ).then(() => out);
  }

  set(key: string, value: Buffer, opts?: SetOptions): Promise<boolean> {
    let px: number | null;
    try {
      const ttl = opts?.ttlMs;
      px = ttl === undefined || ttl === null ? null : pxArg(ttl);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.closed) return Promise.reject(new ClosedError('the store is closed'));
    const nx = opts?.ifAbsent === true;
    return new Promise<boolean>((resolve, reject) => {
      const w: SetWaiter = { key, value, px, nx, resolve, reject };
      // On a cluster the keys of one tick sit in about as many slots as there are keys: send each now.
      if (this.isCluster) {
        this.sendSet(w);
        return;
      }
      let batch = this.sets;
      if (batch === null) {
        batch = this.sets = [];
        process.nextTick(this.flushSets);
      }
      batch.push(w);
    });
  }

  /** One set on its own, as a SET command. */
  private sendSet(w: SetWaiter): void {
    this.exec('SET', () => sendSet(this.client, w) as Promise<unknown>).then((r) => w.resolve(r !== null), w.reject);
  }

  /** Sends the sets made in this tick: a lone one as a SET, more as one pipeline (see the header). */
  private readonly flushSets = (): void => {
    const batch = this.sets;
    if (batch === null) return;
    this.sets = null;
    if (batch.length === 1) {
      this.sendSet(batch[0]!);
      return;
    }
    // Which pipeline command answers for each set: a run of plain sets shares one MSET.
    const commandOf = new Array<number>(batch.length);
    this.exec('SET (batch)', () => {
      const pipeline = this.client.pipeline();
      let commands = 0;
      for (let i = 0; i < batch.length; ) {
        let j = i;
        while (j < batch.length && plainSet(batch[j]!)) j++;
        if (j - i >= 2) {
          const args: (string | Buffer)[] = [];
          for (let k = i; k < j; k++) {
            args.push(batch[k]!.key, batch[k]!.value);
            commandOf[k] = commands;
          }
          pipeline.mset(...args);
          commands++;
          i = j;
        } else {
          sendSet(pipeline, batch[i]!);
          commandOf[i] = commands++;
          i++;
        }
      }
      return pipeline.exec();
    }).then(
      (results) => {
        if (results === null) {
          const err = new StoreUnavailableError('redis pipeline was aborted');
          for (const w of batch) w.reject(err);
          return;
        }
        for (let i = 0; i < batch.length; i++) {
          const [err, reply] = results[commandOf[i]!]!;
          if (err) batch[i]!.reject(this.mapError(err));
          else batch[i]!.resolve(reply !== null);
        }
      },
      (e: Error) => {
        for (const w of batch) w.reject(e);
      },
    );
  };

  async setMany(entries: ReadonlyArray<readonly [key: string, value: Buffer, ttlMs: TtlMs]>): Promise<void> {
    if (entries.length === 0) {
      if (this.closed) throw new ClosedError('the store is closed');
      return;
    }
    const px = entries.map(([, , ttl]) => (ttl === null ? null : pxArg(ttl)));
    const keys = entries.map(([key]) => key);
    await this.exec('SET (pipeline)', () =>
      Promise.all(
        this.groups(keys).map((group) => {
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
    );
  }

  /** S8: one UNLINK per slot (per 1,024 keys), all sent at once: one round trip. */
  delete(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return this.nothing(0);
    return this.exec('UNLINK', () =>
      Promise.all(
        this.groups(keys).flatMap((group) =>
          chunks(group, CHUNK).map((part) => this.tryAgain(() => this.client.unlink(part.map((i) => keys[i]!)))),
        ),
      ),
    ).then((counts) => counts.reduce((a, b) => a + b, 0));
  }

  exists(key: string): Promise<boolean> {
    return this.exec('EXISTS', () => this.client.exists(key)).then((n) => n > 0);
  }

  async expire(key: string, ttlMs: TtlMs): Promise<boolean> {
    if (ttlMs === null) return (await this.evalLua(PERSIST_IF_EXISTS, [key], [])) === 1;
    const px = pxArg(ttlMs);
    return (await this.exec('PEXPIRE', () => this.client.pexpire(key, px))) === 1;
  }

  ttl(key: string): Promise<number | null | undefined> {
    return this.exec('PTTL', () => this.client.pttl(key)).then((ms) => (ms === -2 ? undefined : ms === -1 ? null : ms));
  }

  async incrBy(key: string, by: number, ttlMsIfNew: TtlMs): Promise<number> {
    if (!Number.isSafeInteger(by)) throw new TypeError(`incrBy needs a safe integer increment, got ${String(by)}`);
    if (ttlMsIfNew === null || ttlMsIfNew === undefined) return this.exec('INCRBY', () => this.client.incrby(key, by));
    const px = pxArg(ttlMsIfNew, 'ttlMsIfNew');
    const v = await this.evalLua(INCR_TTL_IF_NEW, [key], [by, px]);
    return v as number;
  }

  // --- hashes --------------------------------------------------------------------------------

  async hset(key: string, field: string, value: Buffer, ttlMs?: TtlMs): Promise<void> {
    if (ttlMs === undefined) {
      await this.exec('HSET', () => this.client.hset(key, field, value));
      return;
    }
    const ttlArg = ttlMs === null ? '' : pxArg(ttlMs);
    await this.evalLua(HSET_TTL, [key], [field, value, ttlArg]);
  }

  hget(key: string, field: string): Promise<Buffer | null> {
    return this.exec('HGET', () => this.client.hgetBuffer(key, field));
  }

  hgetall(key: string): Promise<Map<string, Buffer>> {
    return this.exec('HGETALL', () => this.client.hgetallBuffer(key)).then((obj) => {
      const m = new Map<string, Buffer>();
      for (const field of Object.keys(obj)) m.set(field, obj[field]!);
      return m;
    });
  }

  hdel(key: string, fields: readonly string[]): Promise<number> {
    if (fields.length === 0) return this.nothing(0);
    return this.exec('HDEL', () => this.client.hdel(key, ...fields));
  }

  hexists(key: string, field: string): Promise<boolean> {
    return this.exec('HEXISTS', () => this.client.hexists(key, field)).then((n) => n === 1);
  }

  hkeys(key: string): Promise<string[]> {
    return this.exec('HKEYS', () => this.client.hkeys(key));
  }

  // --- lists ---------------------------------------------------------------------------------

  push(key: string, values: readonly Buffer[], end: 'left' | 'right'): Promise<number> {
    if (values.length === 0) return this.llen(key);
    return end === 'left'
      ? this.exec('LPUSH', () => this.client.lpush(key, ...values))
      : this.exec('RPUSH', () => this.client.rpush(key, ...values));
  }

  pop(key: string, end: 'left' | 'right'): Promise<Buffer | null> {
    return end === 'left'
      ? this.exec('LPOP', () => this.client.lpopBuffer(key))
      : this.exec('RPOP', () => this.client.rpopBuffer(key));
  }

  llen(key: string): Promise<number> {
    return this.exec('LLEN', () => this.client.llen(key));
  }

  lrange(key: string, start: number, stop: number): Promise<Buffer[]> {
    return this.exec('LRANGE', () => this.client.lrangeBuffer(key, start, stop));
  }

  ltrim(key: string, start: number, stop: number): Promise<void> {
    return this.exec('LTRIM', () => this.client.ltrim(key, start, stop)).then(() => undefined);
  }

  // --- sets ----------------------------------------------------------------------------------

  sadd(key: string, members: readonly Buffer[]): Promise<number> {
    if (members.length === 0) return this.nothing(0);
    return this.exec('SADD', () => this.client.sadd(key, ...members));
  }

  srem(key: string, members: readonly Buffer[]): Promise<number> {
    if (members.length === 0) return this.nothing(0);
    return this.exec('SREM', () => this.client.srem(key, ...members));
  }

  smembers(key: string): Promise<Buffer[]> {
    return this.exec('SMEMBERS', () => this.client.smembersBuffer(key));
  }

  sismember(key: string, member: Buffer): Promise<boolean> {
    return this.exec('SISMEMBER', () => this.client.sismember(key, member)).then((n) => n === 1);
  }

  scard(key: string): Promise<number> {
    return this.exec('SCARD', () => this.client.scard(key));
  }

  // --- scan ----------------------------------------------------------------------------------

  /**
   * P2: SCAN with MATCH/COUNT, never KEYS; on a cluster, every master in turn.
   *
   * On a cluster a key may move between masters while they are scanned (a reshard): scanned on its
   * new node before it arrived and on its old node after it left, it would be missed. So the slot
   * layout (every master's own slots, with the `[slot->-id]` / `[slot-<-id]` markers of a migration
   * in progress) is read before and after each pass, and the pass is repeated while a migration is
   * in progress or the layout changed. Keys may then be yielded more than once; callers dedupe.
   */
  async *scan(match: string, count = 100): AsyncIterable<string[]> {
    await this.exec('CONNECT', () => Promise.resolve());
    if (!this.isCluster) {
      yield* this.scanNode(this.client, match, count);
      return;
    }
    const cluster = this.conns.main as Cluster;
    let layout = await this.slotLayout(cluster);
    const began = performance.now();
    for (let pass = 1; ; pass++) {
      const nodes = cluster.nodes('master');
      if (nodes.length === 0) throw new StoreUnavailableError('redis cluster: no master node is known');
      for (const node of nodes) yield* this.scanNode(node, match, count);
      const after = await this.slotLayout(cluster);
      if (after === layout && !after.includes('[')) return;
      if (performance.now() - began > MAX_SCAN_MS) {
        throw new StoreUnavailableError(`redis cluster: slots kept moving during ${pass} scan passes (${MAX_SCAN_MS / 1000} s)`);
      }
      // Learn the new owners before the next pass (ioredis also learns them from MOVED replies).
      await new Promise<void>((resolve) => {
        (cluster as unknown as { refreshSlotsCache(cb: () => void): void }).refreshSlotsCache(() => resolve());
      });
      if (after.includes('[')) await new Promise((r) => setTimeout(r, SCAN_PASS_PAUSE_MS));
      layout = await this.slotLayout(cluster);
    }
  }

  private async *scanNode(node: Redis, match: string, count: number): AsyncIterable<string[]> {
    let cursor = '0';
    do {
      const [next, keys] = await this.exec('SCAN', () => node.scan(cursor, 'MATCH', match, 'COUNT', count));
      cursor = next;
      if (keys.length > 0) yield keys;
    } while (cursor !== '0');
  }

  /** Every master's own CLUSTER NODES line (id, slots, migration markers), sorted: equal strings, same layout. */
  private async slotLayout(cluster: Cluster): Promise<string> {
    const lines = await Promise.all(
      cluster.nodes('master').map((node) =>
        this.exec('CLUSTER NODES', () => node.call('CLUSTER', 'NODES') as Promise<unknown>).then((reply) => {
          const text = Buffer.isBuffer(reply) ? reply.toString() : String(reply);
          const mine = text.split('\n').find((l) => l.includes('myself')) ?? '';
          const f = mine.trim().split(' ');
          return `${f[0]} ${f[2]?.includes('master') ? 'M' : 'R'} ${f.slice(8).join(' ')}`;
        }, (err: unknown) => {
          // A user whose ACL refuses CLUSTER NODES (NOPERM) gets single-pass scans, as before
          // this check existed; an unreachable node fails the scan.
          if (err instanceof StoreError && !(err instanceof StoreUnavailableError)) return `${node.options.port} ?`;
          throw err;
        }),
      ),
    );
    return lines.sort().join('\n');
  }

  // --- scripts -------------------------------------------------------------------------------

  eval(script: Script, keys: readonly string[], args: readonly ScriptArg[]): Promise<ScriptReply> {
    return this.evalLua(script, keys, args);
  }

  /**
   * EVALSHA, and on NOSCRIPT (a restarted or flushed server) EVAL, which also caches the script
   * again. Safe to retry: NOSCRIPT means nothing ran. On a cluster ioredis routes by the first key.
   */
  private evalLua(script: LuaScript, keys: readonly string[], args: readonly ScriptArg[]): Promise<ScriptReply> {
    const argv = [...keys, ...args];
    const send = () => {
      // Decided at send time: the first call on a cluster learns the server version while connecting.
      const { sha, lua } = compiled(script, this.shardedPubSub);
      // callBuffer: bulk replies as Buffers (the typings have no evalshaBuffer).
      return this.client.callBuffer('evalsha', sha, keys.length, ...argv).catch((err: unknown) => {
        if (!isNoScript(err)) throw err;
        return this.client.callBuffer('eval', lua, keys.length, ...argv);
      });
    };
    return this.exec(`EVALSHA ${script.name}`, keys.length > 1 ? () => this.tryAgain(send) : send).then(toScriptReply);
  }

  // --- replication ---------------------------------------------------------------------------

  /**
   * WAIT on the connection that carries `key`'s writes: the main connection, or on a cluster the
   * connection to the master that serves the key's slot (ioredis keeps one per node, and WAIT
   * counts the writes made on the connection it is sent on). WAIT blocks that connection for up to
   * `timeoutMs` when replicas lag, delaying the calls queued behind it: keep it short.
   */
  waitReplicas(key: string, replicas: number, timeoutMs: number): Promise<number> {
    return this.exec('WAIT', () => {
      if (!this.isCluster) return this.client.wait(replicas, timeoutMs);
      const cluster = this.conns.main as Cluster;
      const owner = cluster.slots[keySlot(key)]?.[0];
      if (owner === undefined) throw new StoreUnavailableError(`redis cluster: no master known for the slot of ${key}`);
      const pool = (cluster as unknown as { connectionPool: { getInstanceByKey(k: string): Redis | undefined } }).connectionPool;
      const node = pool.getInstanceByKey(owner);
      if (node === undefined) throw new StoreUnavailableError(`redis cluster: no connection to ${owner}`);
      return node.wait(replicas, timeoutMs);
    });
  }

  // --- pub/sub -------------------------------------------------------------------------------

  /** On a Redis >= 7 cluster, a channel with a hash tag is a shard channel: SPUBLISH (redis-pubsub.ts). */
  publish(channel: string, message: Buffer): Promise<number> {
    return this.exec('PUBLISH', () =>
      this.shardedPubSub && hasHashTag(channel)
        ? (this.client.spublish(channel, message) as Promise<number>)
        : this.client.publish(channel, message),
    );
  }

  async subscribe(channel: string, handler: MessageHandler): Promise<() => Promise<void>> {
    if (this.closed) throw new ClosedError('the store is closed');
    // A cluster subscriber dials a node the cluster client knows: connect that first.
    if (this.isCluster && this.subscriber === null && this.sharded === null) await this.exec('CONNECT', () => Promise.resolve());
    if (this.shardedPubSub && hasHashTag(channel)) {
      this.sharded ??= new ShardedSubscriber(this.conns.main as Cluster, this.timeoutMs, this.subscriberHost('sharded'));
      return this.sharded.subscribe(channel, handler);
    }
    this.subscriber ??= new Subscriber(this.conns.makeSubscriber, this.subscriberHost('plain'));
    return this.subscriber.subscribe(channel, handler);
  }

  /** Subscription losses of the plain and the sharded subscriber, reported as one state. */
  private subscriberHost(source: 'plain' | 'sharded'): SubscriberHost {
    return {
      timeoutMs: this.timeoutMs,
      track: (p, what) => this.timeouts.track(p, what, this.mapError),
      mapError: this.mapError,
      emit: (event) => {
        const wasLost = this.lostBy.size > 0;
        if (event === 'subscriptionLost') this.lostBy.add(source);
        else this.lostBy.delete(source);
        const isLost = this.lostBy.size > 0;
        if (isLost !== wasLost) this.emit(isLost ? 'subscriptionLost' : 'subscriptionRestored');
      },
      connectionError: (err) => this.connectionError(err),
      // A handler's own bug, reported as it is (as the embedded store does): not a connection error.
      handlerError: (err) => this.reportError(err instanceof Error ? err : new Error(`message handler threw ${String(err)}`)),
    };
  }

  watch(events: StoreEvents): () => void {
    const entry = { ...events };
    this.watchers.add(entry);
    return () => {
      this.watchers.delete(entry);
    };
  }

  // --- near cache (redis-tracking.ts) --------------------------------------------------------

  /**
   * @internal For server-assisted client-side caching (near-cache.ts, N1–N3): the command
   * connection, whose reads Redis tracks, and a factory of fresh connections with the store's
   * overrides for the invalidation connection. Undefined on a cluster: see clusterTracking().
   */
  trackingConnections(): { main: Redis; open: (extra: RedisOptions) => Redis } | undefined {
    if (this.isCluster) return undefined;
    return { main: this.client, open: (extra) => this.client.duplicate({ ...subscriberOverrides(this.timeoutMs), ...extra }) };
  }

  /**
   * @internal The cluster client, whose node connections each get a tracking pair
   * (redis-cluster-tracking.ts), and a factory of invalidation connections to one node. Undefined
   * on a standalone or Sentinel store.
   */
  clusterTracking(): ClusterTrackingConnections | undefined {
    if (!this.isCluster) return undefined;
    return {
      cluster: this.conns.main as Cluster,
      open: (node, extra) =>
        new Redis({
          ...(node.options as RedisOptions),
          ...subscriberOverrides(this.timeoutMs),
          // An invalidation connection only subscribes: it is never a replica's READONLY reader.
          readOnly: false,
          ...extra,
        }),
    };
  }

  // --- lifecycle -----------------------------------------------------------------------------

  /**
   * Closes what this store opened: QUIT (so in-flight commands still get their replies), and
   * disconnect() if QUIT has no answer within commandTimeoutMs. Never touches a client the user
   * passed in (we only ever used a duplicate of it).
   */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    // Sets made before close() in this tick are sent, as they were before writes were batched.
    if (this.sets !== null) this.flushSets();
    this.closed = true;
    this.closing = (async () => {
      await Promise.all([
        quitOrDisconnect(this.conns.main, this.timeoutMs),
        this.subscriber?.close(),
        this.sharded?.close(),
      ]);
      this.timeouts.failAll(new ClosedError('the store is closed'));
    })();
    return this.closing;
  }
}

/**
 * A Redis store of its own, for what takes stores rather than a cache: `createRedlock` over
 * independent servers, or one store shared by several caches (`createCache({ store })`).
 * `spec` is any Redis form of the `store` option; `commandTimeoutMs` defaults to 1000, as for a
 * cache. The caller closes it (`store.close()`): a cache never closes a store it was given.
 */
export function createRedisStore(spec: RedisStoreSpec, opts: Partial<RedisStoreOptions> = {}): RedisStore {
  return new RedisStore(spec, { commandTimeoutMs: opts.commandTimeoutMs ?? 1000 });
}
