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
 *
 * This file: the channel rule, the rewriting of scripts, and the Subscriber (one connection);
 * sharded-pubsub.ts places shard channels over the masters.
 */
import type { Redis } from 'ioredis';
import type { Clock } from '../../clock.js';
import { ClosedError, StoreUnavailableError } from '../../errors.js';
import type { MessageHandler } from '../store.js';
import { quitOrDisconnect } from './connect.js';

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
  /** The store's clock (its QUIT bound, the sharded re-route retry). */
  readonly clock: Clock;
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
export function deliver<T>(entries: Set<T>, handlerOf: (e: T) => MessageHandler, message: Buffer, host: SubscriberHost): void {
  const copy = entries.size > 1;
  for (const e of entries) {
    try {
      handlerOf(e)(copy ? Buffer.from(message) : message);
    } catch (err) {
      host.handlerError(err);
    }
  }
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
    await quitOrDisconnect(this.conn, this.host.timeoutMs, this.host.clock);
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
