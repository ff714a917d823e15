/**
 * The near cache's tracking on a Redis Cluster (N1–N3): one tracking pair (the node's command
 * connection with CLIENT TRACKING ON REDIRECT <id> NOLOOP, and a RESP2 invalidation connection
 * to the same node: tracking.ts) for every node of the cluster client's pool.
 *
 * Why every node, replicas included, and not only the masters: a read is only safe to keep if the
 * node that answered it tracks it. ioredis changes a node's role in place when a replica is
 * promoted (a MOVED to it, or a slots refresh, turns its pool connection into a master one with no
 * event), and the next read of the failed master's slots goes straight to it. If that node were
 * not tracked yet, such a read could be kept and never invalidated. With every node tracked from
 * the start, a promoted replica already reports the keys it serves. The price is two connections
 * per node instead of one per master; replicas' tracking tables stay empty while they serve no
 * reads.
 *
 * The near cache is active only while every node's pair is: a pair that goes down (its node
 * closing, a reconnect, an invalidation connection lost) empties and bypasses the whole near
 * cache until it is back (N3), because the keys that pair was tracking are no longer watched. A
 * node that joins the pool (a new master after a fail-over, a reshard onto a new node) makes the
 * near cache inactive synchronously, before the first command is sent to it: ioredis emits
 * '+node' from the same call that creates the connection.
 */
import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import type { Clock } from '../../clock.js';
import type { InvalidationSink } from '../store.js';
import { subscriberOverrides } from './connect.js';
import { RedisTracking } from './tracking.js';

export interface ClusterTrackingConnections {
  cluster: Cluster;
  /** A fresh connection to the same server as `node`, with the store's overrides and `extra`. */
  open: (node: Redis, extra: RedisOptions) => Redis;
}

/** The cluster client, and invalidation connections to one of its nodes. */
export function clusterTrackingConnections(cluster: Cluster, commandTimeoutMs: number): ClusterTrackingConnections {
  return {
    cluster,
    open: (node, extra) =>
      new Redis({
        ...node.options,
        ...subscriberOverrides(commandTimeoutMs),
        // An invalidation connection only subscribes: it is never a replica's READONLY reader.
        readOnly: false,
        ...extra,
      }),
  };
}

interface Pair {
  tracking: RedisTracking;
  active: boolean;
  onEnd: () => void;
}

export class ClusterTracking {
  readonly #conns: ClusterTrackingConnections;
  readonly #sink: InvalidationSink;
  readonly #clock: Clock;
  readonly #pairs = new Map<Redis, Pair>();
  #active = false;
  #closed = false;
  readonly #onAdd = (node: Redis) => this.#add(node);
  readonly #onRemove = (node: Redis) => this.#remove(node);
  readonly #onReady = () => {
    for (const node of this.#conns.cluster.nodes('all')) this.#add(node);
  };

  constructor(conns: ClusterTrackingConnections, sink: InvalidationSink, clock: Clock) {
    this.#conns = conns;
    this.#sink = sink;
    this.#clock = clock;
    const cluster = conns.cluster;
    cluster.on('+node', this.#onAdd);
    cluster.on('-node', this.#onRemove);
    cluster.on('ready', this.#onReady);
    if (cluster.status === 'ready') this.#onReady();
  }

  get active(): boolean {
    return this.#active;
  }

  /** Number of nodes tracked (tests). */
  get nodes(): number {
    return this.#pairs.size;
  }

  #add(node: Redis): void {
    if (this.#closed || this.#pairs.has(node)) return;
    // The cluster connects lazily, and its ready check tears the client down if a node it has not
    // dialled itself is connecting: nodes are only dialled here once the cluster is ready (then
    // '+node' comes from a topology change, and ready re-adds the pool after a reconnect).
    if (this.#conns.cluster.status !== 'ready') return;
    const pair: Pair = {
      active: false,
      onEnd: () => this.#remove(node),
      tracking: undefined as unknown as RedisTracking,
    };
    this.#pairs.set(node, pair);
    // Inactive before anything is sent to the new node: a read it answers is never kept untracked.
    this.#update();
    pair.tracking = new RedisTracking(
      { main: node, open: (extra) => this.#conns.open(node, extra) },
      {
        invalidate: (keys) => this.#sink.invalidate(keys),
        setActive: (active) => {
          pair.active = active;
          this.#update();
        },
        error: (err) => this.#sink.error(err),
      },
      this.#clock,
    );
    // A connection ioredis replaces (ConnectionPool.recreate) ends without a '-node'.
    node.once('end', pair.onEnd);
    if (node.status === 'wait') node.connect().catch(() => undefined);
  }

  #remove(node: Redis): void {
    const pair = this.#pairs.get(node);
    if (pair === undefined) return;
    this.#pairs.delete(node);
    node.off('end', pair.onEnd);
    pair.tracking.close();
    this.#update();
  }

  #update(): void {
    let all = !this.#closed && this.#pairs.size > 0;
    if (all) {
      for (const p of this.#pairs.values()) {
        if (!p.active) {
          all = false;
          break;
        }
      }
    }
    if (all === this.#active) return;
    this.#active = all;
    this.#sink.setActive(all);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const cluster = this.#conns.cluster;
    cluster.off('+node', this.#onAdd);
    cluster.off('-node', this.#onRemove);
    cluster.off('ready', this.#onReady);
    for (const node of [...this.#pairs.keys()]) this.#remove(node);
    this.#update();
  }
}
