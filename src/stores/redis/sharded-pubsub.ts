/**
 * Sharded pub/sub on a cluster (SSUBSCRIBE, Redis >= 7.0): each channel with a hash tag is
 * subscribed on the master that serves its slot, and moved when that slot moves (pubsub.ts says
 * which channels are sharded and why).
 */
import { Redis, type Cluster } from 'ioredis';
import type { Timer } from '../../clock.js';
import { ClosedError, StoreUnavailableError } from '../../errors.js';
import type { MessageHandler } from '../store.js';
import { keySlot, refreshSlots } from './cluster.js';
import { reconnectDelay, subscriberOverrides } from './connect.js';
import { deliver, SHARDED, Subscriber, type SubscriberHost } from './pubsub.js';

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
  private retryTimer: Timer | null = null;
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
    this.retryTimer?.cancel();
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
        this.retryTimer = this.host.clock.setTimeout(
          () => {
            this.retryTimer = null;
            this.reroute();
          },
          REROUTE_RETRY_MS,
          true,
        );
      }
    };
    refreshSlots(this.cluster)
      .then(async () => {
        for (const node of [...this.downShards]) if (!this.shards.has(node)) this.downShards.delete(node);
        const suspects = [...this.suspects];
        this.suspects.clear();
        const moves: Array<Promise<void>> = [];
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
