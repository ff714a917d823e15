/**
 * Pub/sub for the Redis store: one dedicated subscriber connection (plain SUBSCRIBE), and on a
 * cluster, sharded pub/sub (SSUBSCRIBE, Redis >= 7.0) for channels that carry a hash tag.
 *
 * Which channels are sharded: on a cluster, a channel with a hash tag (`{...}`, as every lock
 * channel has: it is the lock's own key) lives in that tag's slot. It is published with SPUBLISH
 * (also from inside scripts: `redis.call('PUBLISH', ...)` is rewritten, see `shardedLua`) and heard
 * through SSUBSCRIBE on the master that serves the slot, so a message costs one shard, not a
 * broadcast over the cluster bus to every node. Channels without a tag (a namespace's
 * process-cache and "landed" channels, `__redis__:invalidate`) stay plain PUBLISH/SUBSCRIBE, which
 * every node hears: one subscriber connection to any node is enough for them.
 */
import { Redis, type Cluster } from 'ioredis';
import { ClosedError, StoreUnavailableError } from '../errors.js';
import type { MessageHandler } from './store.js';
import { keySlot, reconnectDelay, subscriberOverrides } from './redis-connect.js';

export interface PubSubFlavour {
  readonly subscribe: 'subscribe' | 'ssubscribe';
  readonly unsubscribe: 'unsubscribe' | 'sunsubscribe';
  readonly message: 'messageBuffer' | 'smessageBuffer';
  readonly what: string;
}
export const PLAIN: PubSubFlavour = { subscribe: 'subscribe', unsubscribe: 'unsubscribe', message: 'messageBuffer', what: 'SUBSCRIBE' };
export const SHARDED: PubSubFlavour = { subscribe: 'ssubscribe', unsubscribe: 'sunsubscribe', message: 'smessageBuffer', what: 'SSUBSCRIBE' };

/** True if a channel carries a non-empty hash tag, i.e. belongs to one cluster slot. */
export function hasHashTag(channel: string): boolean {
  const open = channel.indexOf('{');
  if (open < 0) return false;
  const close = channel.indexOf('}', open + 1);
  return close > open + 1;
}

const LUA_PUBLISH = /redis\.call\(\s*(['"])publish\1\s*,/gi;

/**
 * A script for a cluster: its `redis.call('PUBLISH', ch, msg)` calls become SPUBLISH when `ch` has a
 * hash tag (the same rule as `hasHashTag`), so that releases reach sharded subscribers. Such a
 * channel must hash to the slot of the script's keys (K5: a lock's channel is its key).
 * Scripts without PUBLISH come back unchanged.
 */
export function shardedLua(lua: string): string {
  if (!LUA_PUBLISH.test(lua)) return lua;
  LUA_PUBLISH.lastIndex = 0;
  return `local function larder_publish(ch, msg)
  local o = string.find(ch, '{', 1, true)
  if o then
    local c = string.find(ch, '}', o + 1, true)
    if c and c > o + 1 then return redis.call('SPUBLISH', ch, msg) end
  end
  return redis.call('PUBLISH', ch, msg)
end
${lua.replace(LUA_PUBLISH, 'larder_publish(')}`;
}

export interface SubscriberHost {
  readonly timeoutMs: number;
  track<T>(p: Promise<T>, what: string): Promise<T>;
  emit(event: 'subscriptionLost' | 'subscriptionRestored'): void;
  connectionError(err: Error): void;
  handlerError(err: unknown): void;
  mapError(err: unknown): Error;
}

interface HandlerEntry {
  readonly handler: MessageHandler;
}

/**
 * Calls every handler of a channel with the message, each with its own copy when there are several
 * (as the embedded store does): a handler may keep or change its Buffer without another handler
 * seeing it. A handler that throws is reported and does not stop the others.
 */
function deliver<T>(entries: Set<T>, handlerOf: (e: T) => MessageHandler, message: Buffer, host: SubscriberHost): void {
  const copy = entries.size > 1;
  for (const e of entries) {
    try {
      handlerOf(e)(copy ? Buffer.from(message) : message);
    } catch (err) {
      host.handlerError(err);
    }
  }
}

export async function quitOrDisconnect(conn: Redis | Cluster, ms: number): Promise<void> {
  const status = conn.status as string;
  if (status === 'end') return;
  if (status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        conn.quit(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('QUIT timed out')), ms);
        }),
      ]);
    } catch {
      // Fall through to disconnect().
    } finally {
      clearTimeout(timer);
    }
  }
  if ((conn.status as string) !== 'end') conn.disconnect();
}

/**
 * One dedicated connection for SUBSCRIBE. It resubscribes by itself after a reconnect (ioredis'
 * autoResubscribe is off) so that it knows when the subscription is back: `subscriptionLost` fires
 * when an established subscriber connection drops, `subscriptionRestored` once every channel has
 * been acknowledged again on the new connection.
 */
export class Subscriber {
  private conn: Redis;
  private readonly channels = new Map<string, Set<HandlerEntry>>();
  /** SUBSCRIBE commands not yet acknowledged, by channel. */
  private readonly pending = new Map<string, Promise<unknown>>();
  private firstConnect: Promise<void> | null = null;
  private everReady = false;
  private up = false;
  private lost = false;
  private closed = false;

  constructor(
    private readonly make: (avoid?: string) => Redis,
    private readonly host: SubscriberHost,
    private readonly flavour: PubSubFlavour = PLAIN,
    /** Sharded: the node gave up (or moved a channel away); the owner re-routes instead of a redial. */
    private readonly onGone?: (why: 'end' | 'moved') => void,
  ) {
    this.conn = this.attach(make());
  }

  /** The channels this connection is meant to hold. */
  channelNames(): string[] {
    return [...this.channels.keys()];
  }

  async subscribe(channel: string, handler: MessageHandler): Promise<() => Promise<void>> {
    const entry: HandlerEntry = { handler };
    let set = this.channels.get(channel);
    if (set === undefined) {
      const created = new Set<HandlerEntry>();
      set = created;
      this.channels.set(channel, created);
      const p = this.whenConnected().then(() =>
        // Skip if every handler went away while we were connecting.
        this.channels.get(channel) === created ? this.conn[this.flavour.subscribe](channel) : undefined,
      );
      this.pending.set(channel, p);
      const clear = () => {
        if (this.pending.get(channel) === p) this.pending.delete(channel);
      };
      p.then(clear, clear);
    }
    set.add(entry);
    try {
      // Resolves once this channel's SUBSCRIBE is acknowledged, or at once if it already was;
      // fails at once if the subscriber connection is down.
      await this.host.track(
        this.whenConnected().then(() => this.pending.get(channel)),
        this.flavour.what,
      );
    } catch (err) {
      await this.remove(channel, entry);
      throw err;
    }
    let removed = false;
    return () => {
      if (removed) return Promise.resolve();
      removed = true;
      return this.remove(channel, entry);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await quitOrDisconnect(this.conn, this.host.timeoutMs);
  }

  private async remove(channel: string, entry: HandlerEntry): Promise<void> {
    const set = this.channels.get(channel);
    if (set === undefined || !set.delete(entry) || set.size > 0) return;
    this.channels.delete(channel);
    // Only an established connection can hold the subscription; after a reconnect we resubscribe
    // exactly the channels still in the map, so there is nothing to undo on a dead connection.
    if (this.conn.status !== 'ready' || this.closed) return;
    try {
      await this.host.track(this.conn[this.flavour.unsubscribe](channel), 'UNSUBSCRIBE');
    } catch {
      // Best effort: a stray subscription only delivers messages nobody listens to.
    }
  }

  private whenConnected(): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('the store is closed'));
    const status = this.conn.status;
    if (status === 'ready') return Promise.resolve();
    if (this.firstConnect !== null) return this.firstConnect;
    if (status === 'wait') {
      const p = this.conn.connect().then(
        () => {
          if (this.firstConnect === p) this.firstConnect = null;
        },
        (err: unknown) => {
          if (this.firstConnect === p) this.firstConnect = null;
          throw this.host.mapError(err);
        },
      );
      this.firstConnect = p;
      return p;
    }
    return Promise.reject(new StoreUnavailableError(`redis subscriber connection is ${status}`));
  }

  private attach(conn: Redis): Redis {
    let lastError: string | null = null;
    conn.on('error', (err: Error) => {
      if (err.message === lastError) return;
      lastError = err.message;
      this.host.connectionError(err);
    });
    conn.on(this.flavour.message, (channel: Buffer, message: Buffer) => {
      if (conn !== this.conn) return;
      const set = this.channels.get(channel.toString());
      if (set === undefined) return;
      deliver(set, (e) => e.handler, message, this.host);
    });
    conn.on('close', () => {
      if (conn !== this.conn || !this.up) return;
      this.up = false;
      if (!this.lost && !this.closed) {
        this.lost = true;
        this.host.emit('subscriptionLost');
      }
    });
    conn.on('ready', () => {
      lastError = null;
      if (conn !== this.conn || this.closed) return;
      if (!this.everReady) {
        // The first connection: the subscribe() calls that opened it send their own SUBSCRIBEs.
        this.everReady = true;
        this.up = true;
        return;
      }
      this.resubscribe(conn);
    });
    // ioredis reports a MOVED reply to SSUBSCRIBE, and the server's own `sunsubscribe` when a slot
    // moved away, as 'moved' (without the channel).
    conn.on('moved', () => {
      if (conn === this.conn && !this.closed) this.onGone?.('moved');
    });
    conn.on('end', () => {
      // Only a cluster subscriber gives up reconnecting (to one node): dial another node, or for
      // a shard let the owner re-route its channels to the slots' new masters.
      if (conn !== this.conn || this.closed) return;
      if (this.onGone !== undefined) {
        this.closed = true;
        this.onGone('end');
        return;
      }
      const avoid = `${conn.options.host}:${conn.options.port}`;
      this.conn = this.attach(this.make(avoid));
      this.conn.connect().catch(() => {
        // Reported through 'error'; the new connection retries by itself.
      });
    });
    return conn;
  }

  private resubscribe(conn: Redis): void {
    const channels = [...this.channels.keys()];
    const acked = channels.length > 0 ? conn[this.flavour.subscribe](...channels) : Promise.resolve(0);
    this.host.track(acked, this.flavour.what).then(
      () => {
        if (conn !== this.conn || this.closed || conn.status !== 'ready') return;
        this.up = true;
        if (this.lost) {
          this.lost = false;
          this.host.emit('subscriptionRestored');
        }
      },
      (err: unknown) => {
        if (conn !== this.conn || this.closed) return;
        this.host.connectionError(err instanceof Error ? err : new Error(String(err)));
        // A connection that cannot resubscribe is no use: drop it and let it reconnect.
        if (conn.status === 'ready') conn.disconnect(true);
      },
    );
  }
}


interface ShardChannel {
  readonly handlers: Set<MessageHandler>;
  /** The node (`host:port`) holding the subscription, or null while it is being moved. */
  shard: string | null;
  off: (() => Promise<void>) | null;
  /** Resolves once the first SSUBSCRIBE was acknowledged (rejects if it failed). */
  ready: Promise<void>;
}

/** How often a re-route that found no live owner yet tries again (a fail-over in progress). */
const REROUTE_RETRY_MS = 100;

/**
 * Sharded pub/sub on a cluster: one Subscriber (SSUBSCRIBE flavour) per master that owns a slot of
 * a subscribed channel, each channel on the master that serves its slot.
 *
 * Topology changes: when a slot moves (reshard) the server unsubscribes the channels of that slot
 * itself (`sunsubscribe` push), and when a master dies its connection ends after a few redials;
 * either way the channels of that shard are re-routed to the current owners (slots refreshed
 * first), retried until they land. Messages published meanwhile are lost, so the store reports
 * `subscriptionLost` at once and `subscriptionRestored` when every channel is subscribed again
 * (X3, N3: consumers empty what they cached on a loss).
 */
export class ShardedSubscriber {
  private readonly shards = new Map<string, Subscriber>();
  private readonly channels = new Map<string, ShardChannel>();
  /** Shards whose connection is down, and re-routes in progress: lost while either is non-empty. */
  private readonly downShards = new Set<string>();
  private rerouting = 0;
  private lost = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | null = null;
  /** Shards whose channels must all be subscribed again (the server dropped some of them). */
  private readonly suspects = new Set<string>();

  constructor(
    private readonly cluster: Cluster,
    private readonly commandTimeoutMs: number,
    private readonly host: SubscriberHost,
  ) {}

  async subscribe(channel: string, handler: MessageHandler): Promise<() => Promise<void>> {
    if (this.closed) throw new ClosedError('the store is closed');
    let ch = this.channels.get(channel);
    if (ch === undefined) {
      const created: ShardChannel = { handlers: new Set(), shard: null, off: null, ready: Promise.resolve() };
      this.channels.set(channel, created);
      created.ready = this.place(channel, created).catch((err: unknown) => {
        if (this.channels.get(channel) === created && created.handlers.size === 0) this.channels.delete(channel);
        throw err;
      });
      ch = created;
    }
    const entry = ch;
    await entry.ready;
    entry.handlers.add(handler);
    let removed = false;
    return async () => {
      if (removed) return;
      removed = true;
      entry.handlers.delete(handler);
      if (entry.handlers.size > 0 || this.channels.get(channel) !== entry) return;
      this.channels.delete(channel);
      await entry.off?.().catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    await Promise.all([...this.shards.values()].map((s) => s.close()));
    this.shards.clear();
  }

  /** SSUBSCRIBEs `channel` on the master that serves its slot now. */
  private async place(channel: string, ch: ShardChannel): Promise<void> {
    const node = this.ownerOf(channel);
    const off = await this.shard(node).subscribe(channel, (message) => deliver(ch.handlers, (h) => h, message, this.host));
    if (this.closed || this.channels.get(channel) !== ch) {
      await off().catch(() => undefined);
      return;
    }
    ch.shard = node;
    ch.off = off;
  }

  private ownerOf(channel: string): string {
    const owner = this.cluster.slots[keySlot(channel)]?.[0];
    if (owner === undefined) throw new StoreUnavailableError(`redis cluster: no master known for channel ${channel}`);
    return owner;
  }

  private shard(node: string): Subscriber {
    let s = this.shards.get(node);
    if (s === undefined) {
      const [host, port] = splitNode(node);
      const { redisOptions = {} } = this.cluster.options;
      const make = () =>
        new Redis({
          ...(redisOptions as object),
          ...subscriberOverrides(this.commandTimeoutMs),
          host,
          port,
          // A dead master is given up after a few redials; its channels move to the new owner.
          retryStrategy: (times: number) => (times > 3 ? null : reconnectDelay(times)),
        });
      const created: Subscriber = new Subscriber(make, this.shardHost(node), SHARDED, (why) => {
        if (why === 'end' && this.shards.get(node) === created) this.shards.delete(node);
        this.reroute(node);
      });
      s = created;
      this.shards.set(node, s);
    }
    return s;
  }

  /** The host a shard reports to: its losses are aggregated over all shards. */
  private shardHost(node: string): SubscriberHost {
    return {
      ...this.host,
      emit: (event) => {
        if (event === 'subscriptionLost') this.downShards.add(node);
        else this.downShards.delete(node);
        this.update();
      },
    };
  }

  private update(): void {
    const down = this.downShards.size > 0 || this.rerouting > 0;
    if (down && !this.lost && !this.closed) {
      this.lost = true;
      this.host.emit('subscriptionLost');
    } else if (!down && this.lost && !this.closed) {
      this.lost = false;
      this.host.emit('subscriptionRestored');
    }
  }

  /**
   * Subscribes again every channel of shard `from` (its node moved some of them away, which one is
   * not said, or is gone), and moves every channel whose slot's master changed. A channel placed
   * on a node that no longer serves its slot is refused with MOVED, which comes back here.
   */
  private reroute(from?: string): void {
    if (this.closed) return;
    if (from !== undefined) this.suspects.add(from);
    this.rerouting++;
    this.update();
    const done = (ok: boolean) => {
      this.rerouting--;
      if (ok) this.update();
      else if (!this.closed && this.retryTimer === null) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          this.reroute();
        }, REROUTE_RETRY_MS);
        this.retryTimer.unref();
      }
    };
    refreshSlots(this.cluster)
      .then(async () => {
        for (const node of [...this.downShards]) if (!this.shards.has(node)) this.downShards.delete(node);
        const suspects = [...this.suspects];
        this.suspects.clear();
        const moves: Promise<void>[] = [];
        for (const [channel, ch] of this.channels) {
          const owner = this.cluster.slots[keySlot(channel)]?.[0];
          const fine = owner !== undefined && owner === ch.shard && this.shards.has(owner) && !this.downShards.has(owner);
          if (fine && !suspects.includes(owner)) continue;
          const off = ch.off;
          ch.shard = null;
          ch.off = null;
          moves.push(
            (off?.() ?? Promise.resolve())
              .catch(() => undefined)
              .then(() => this.place(channel, ch))
              .catch((err: unknown) => {
                if (ch.shard === null && owner !== undefined) this.suspects.add(owner);
                throw err;
              }),
          );
        }
        const results = await Promise.allSettled(moves);
        return results.every((r) => r.status === 'fulfilled');
      })
      .then(done, () => done(false));
  }
}

function splitNode(node: string): [string, number] {
  const i = node.lastIndexOf(':');
  return [node.slice(0, i), Number(node.slice(i + 1))];
}

function refreshSlots(cluster: Cluster): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    (cluster as unknown as { refreshSlotsCache(cb: (err?: Error) => void): void }).refreshSlotsCache((err) =>
      err ? reject(err) : resolve(),
    );
  });
}
