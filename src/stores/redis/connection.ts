/**
 * The command connection of the Redis store (the client, or the cluster client), and the one way
 * every command goes out: `exec`.
 *
 *  - No call hangs and none is replayed (F4). Connections are configured so that nothing is queued
 *    while disconnected and nothing is resent after a reconnect (connect.ts explains each option);
 *    every call is bounded by `commandTimeoutMs` (one DeadlineQueue, clock.ts, for all pending
 *    calls, on the store's clock), and a
 *    connection that stops answering is torn down and redialled rather than left to collect more
 *    calls (the stall detector, onStall).
 *  - Calls made while the *first* connection is being made wait for it (bounded by their
 *    deadline); calls made while a lost connection is being re-established fail at once with
 *    StoreUnavailableError: the layer above decides to degrade, and nothing runs late.
 *  - The commands of one tick after its first share one socket write (the socket is corked until
 *    the tick ends; on a cluster, every master's): a burst of lock calls from callers woken
 *    together costs one system call, not one each.
 *  - Commands reach the server in the order they were made: the sets batched in this tick
 *    (batch.ts) are sent before any other command.
 */
import type { Cluster, Redis } from 'ioredis';
import { DeadlineQueue, type Clock } from '../../clock.js';
import { ClosedError, StoreError, StoreTimeoutError, StoreUnavailableError, type ErrorDetails } from '../../errors.js';
import type { StoreEvents } from '../store.js';
import { dialMastersEagerly, mastersReady, supportsShardedPubSub } from './cluster.js';
import { describeEndpoint, openConnections, usesTls, type Connections, type RedisKind, type RedisStoreSpec } from './connect.js';
import { mapRedisError } from './errors.js';

// ---------------------------------------------------------------------------------------------
// The command connection

/** Commands held back for the end of the tick (batch.ts): the gets, or the sets, made in it. */
export interface PendingWrites {
  flush(): void;
  /** Whether a command held back touches `key`. */
  holds(key: string): boolean;
}

/** Which keys a command touches, so that only the held-back commands it must follow are sent first. */
export interface Touches {
  keys: string | readonly string[];
  /** The command only reads them: held-back gets need not go first (reads commute). */
  readOnly?: boolean;
}

function holdsAny(batch: PendingWrites, keys: string | readonly string[]): boolean {
  if (typeof keys === 'string') return batch.holds(keys);
  for (const k of keys) if (batch.holds(k)) return true;
  return false;
}

export class Connection {
  readonly kind: RedisKind;
  readonly conns: Connections;
  /** The command connection. Typed as Redis: a Cluster has the same command methods. */
  readonly client: Redis;
  readonly isCluster: boolean;
  readonly timeoutMs: number;
  /** The store's clock: its deadlines and its own pauses (ioredis keeps timers of its own). */
  readonly clock: Clock;
  /** Every pending call's deadline. Unref'd: pending calls keep the process alive through their sockets. */
  readonly timeouts: DeadlineQueue;
  /** Whoever watches the store (StoreEvents): connection errors are reported to them. */
  readonly watchers = new Set<StoreEvents>();
  /** Set while writes wait for the end of the tick; `exec` sends them first. */
  pendingWrites: PendingWrites | null = null;
  /** The gets of this tick not sent yet (batch.ts). */
  pendingReads: PendingWrites | null = null;
  /** A cluster whose masters all run Redis >= 7.0: channels with a hash tag are shard channels. */
  shardedPubSub = false;
  closed = false;
  private firstConnect: Promise<void> | null = null;
  /** Commands sent on the main connection in this tick, and the socket corked for the rest of it. */
  private sentThisTick = 0;
  /** Moves with every chunk the main connection receives and with every new socket (onStall). */
  private dataMark = 0;
  private corked: Array<{ uncork(): void }> | null = null;
  private lastConnError: string | null = null;
  /** Where the connections go (`host:port`, never a password): named by every connection message (A2). */
  readonly endpoint: string;
  /** The last connection-level error since the connection was last ready: the `cause` of what calls throw meanwhile (A3). */
  private lastError: Error | null = null;
  /** Set when the server refused the database: every call fails with it, none uses another database (A3). */
  private refused: StoreError | null = null;
  private everReady = false;
  private readonly tls: boolean;

  constructor(spec: RedisStoreSpec, ms: number, clock: Clock) {
    this.timeoutMs = ms;
    this.clock = clock;
    this.timeouts = new DeadlineQueue(clock, ms, true);
    this.conns = openConnections(spec, ms);
    this.kind = this.conns.kind;
    this.client = this.conns.main as Redis;
    this.isCluster = this.conns.kind === 'cluster';
    this.endpoint = describeEndpoint(this.conns);
    this.tls = usesTls(this.conns);
    // The stall detector of the main connection (onStall); cluster nodes keep ioredis' socketTimeout.
    if (!this.isCluster) this.client.on('connect', this.watchStream);
    // ioredis emits 'error' for every failed dial; without a listener it logs them. Report each
    // distinct error once per outage (a dead server would otherwise report one every retry).
    const onError = (err: Error) => {
      this.lastError = err;
      if (this.refused === null && /DB index is out of range|invalid DB index/i.test(err.message)) {
        // ioredis would carry on in database 0 after a failed SELECT: never let a call run there.
        this.refused = new StoreError(
          `redis ${this.endpoint}: the server refused the database (${err.message}); larder does not fall back to another database: fix the URL's /db or the server's "databases" setting`,
          { cause: err },
        );
        this.reportError(this.refused);
        this.client.disconnect();
        return;
      }
      if (err.message === this.lastConnError) return;
      this.lastConnError = err.message;
      this.connectionError(err);
    };
    this.conns.main.on('error', onError);
    this.conns.main.on('node error', onError);
    this.conns.main.on('ready', () => {
      this.lastConnError = null;
      this.lastError = null;
      this.everReady = true;
    });
    if (this.isCluster) dialMastersEagerly(this.conns.main as Cluster);
  }

  readonly mapError = (e: unknown): Error => {
    if (this.refused !== null && !this.closed) return this.refused;
    const err = mapRedisError(e, this.closed);
    return err instanceof StoreUnavailableError || err instanceof StoreTimeoutError ? this.explain(err) : err;
  };

  /**
   * An unavailability error as the user needs it (A2, A3): the endpoint named, the connection's
   * last error (a refused password, say) as its `cause`, and a hint for TLS spoken to a plain port.
   */
  explain(err: StoreUnavailableError | StoreTimeoutError): StoreUnavailableError | StoreTimeoutError {
    const last = this.lastError;
    let message = err.message.replace(/\.$/, '');
    if (!message.includes(this.endpoint)) message = message.startsWith('redis ') ? `redis ${this.endpoint}: ${message.slice(6)}` : `redis ${this.endpoint}: ${message}`;
    if (last !== null && !message.includes(last.message)) {
      const auth = /WRONGPASS|NOAUTH|invalid password|invalid username-password|AUTH .*without any password/i.test(last.message);
      message += auth ? `: the server refused the credentials: ${last.message}` : `: last connection error: ${last.message}`;
    }
    if (this.tls && !this.everReady && !message.includes('no TLS connection') && /ETIMEDOUT|took longer|closed|reconnecting|connecting/i.test(message)) {
      message += '; no TLS connection was ever made: if that port speaks plain TCP, use redis:// (not rediss://) or drop the tls option';
    }
    if (message === err.message) return err;
    const cause = last ?? err.cause;
    // The same class (a StoreFullError stays one, code E_STORE_FULL): every subclass takes (message, details).
    const Same = err.constructor as new (message: string, details: ErrorDetails) => StoreUnavailableError | StoreTimeoutError;
    return new Same(message, { cause, key: err.key });
  }

  /**
   * Resolves when the command connection can take a command: at once when ready; after the first
   * connection is made if this is the first use; otherwise it rejects at once (F4: reconnecting
   * means the server is away, and a call must not wait for it).
   */
  private whenConnected(): Promise<void> {
    if (this.firstConnect !== null) return this.firstConnect;
    const status = this.client.status as string;
    if (status === 'wait') {
      const p = this.client.connect().then(() => (this.isCluster ? this.clusterReady() : undefined)).then(
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
    return Promise.reject(this.explain(new StoreUnavailableError(`redis ${this.endpoint}: connection is ${status}`)));
  }

  private async clusterReady(): Promise<void> {
    const cluster = this.conns.main as Cluster;
    await mastersReady(cluster);
    this.shardedPubSub = await supportsShardedPubSub(cluster);
  }

  /**
   * Sends through `send` once connected, bounded by commandTimeoutMs, errors mapped. Gets and sets
   * held back earlier in this tick go first when the command touches one of their keys (or, with
   * `touches` unknown, always): a command never overtakes one made before it on the same key, and
   * a tick of many reads and a few writes keeps its reads in one MGET.
   */
  exec<T>(what: string, send: () => Promise<T>, touches?: Touches): Promise<T> {
    const writes = this.pendingWrites;
    if (writes !== null && (touches === undefined || holdsAny(writes, touches.keys))) writes.flush();
    const reads = this.pendingReads;
    if (reads !== null && (touches === undefined || (touches.readOnly !== true && holdsAny(reads, touches.keys)))) reads.flush();
    if (this.closed) return Promise.reject(new ClosedError('the store is closed'));
    if (this.refused !== null) return Promise.reject(this.refused);
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
        return Promise.reject(this.explain(new StoreUnavailableError(`redis ${this.endpoint}: connection is ${this.client.status}`)));
      }
      p = this.whenConnected().then(() => {
        // A failed SELECT is seen before the connection is ready: nothing is sent to database 0.
        if (this.refused !== null) throw this.refused;
        return send();
      });
    }
    return this.timeouts.track(p, () => this.expired(what, mark), this.mapError);
  }

  /** Bounds a call that does not go through `exec` (a subscriber's) by the same deadline. */
  track<T>(p: Promise<T>, what: string): Promise<T> {
    return this.timeouts.track(p, () => this.expired(what, -1), this.mapError);
  }

  /** A call ran out of time: its error, and for a call on the main connection, the stall check. */
  private expired(what: string, mark: number): Error {
    if (mark >= 0) this.onStall(mark);
    return this.explain(new StoreTimeoutError(`redis ${this.endpoint}: ${what} took longer than ${this.timeoutMs} ms`));
  }

  /** The answer to a call that needs no round trip (an empty key list, say). */
  nothing<T>(value: T): Promise<T> {
    return this.closed ? Promise.reject(new ClosedError('the store is closed')) : Promise.resolve(value);
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
      const streams: Array<{ cork(): void; uncork(): void }> = [];
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

  /** Reports a connection-level error to every watcher (StoreEvents.error). */
  connectionError(err: Error): void {
    this.reportError(new StoreUnavailableError(`redis ${this.endpoint}: connection error: ${err.message}`, { cause: err }));
  }

  /** Hands an error to every watcher's `error`. */
  reportError(e: Error): void {
    for (const w of this.watchers) {
      try {
        w.error?.(e);
      } catch {
        // A watcher's failure is not ours to report, and must not stop the others.
      }
    }
  }

  emit(event: 'subscriptionLost' | 'subscriptionRestored'): void {
    for (const w of this.watchers) {
      try {
        w[event]?.();
      } catch {
        // As above.
      }
    }
  }
}
