/**
 * Connection setup for the Redis store: what a user may pass as `store`, the ioredis options larder
 * must impose on every connection it opens (F4), and how a connection is closed.
 *
 * Every client built here is new and owned by the store: a URL or options object gives a fresh
 * client, and an existing ioredis client is `duplicate()`d with our overrides, so the user's
 * client is never connected, reconfigured or closed by us.
 */
import { Redis, Cluster, type RedisOptions, type ClusterOptions, type ClusterNode, type SentinelAddress } from 'ioredis';
import type { Socket } from 'node:net';
import type { Clock, Timer } from '../../clock.js';
import { isObject } from '../../input.js';

export type RedisKind = 'redis' | 'cluster' | 'sentinel';

/**
 * Sentinel: the sentinels, the master group name, and any ioredis option either at the top level
 * (`password`, `sentinelPassword`, `db`, …) or under `options`; top-level ones win.
 */
export interface SentinelSpec extends Omit<RedisOptions, 'sentinels' | 'name'> {
  sentinels: Array<Partial<SentinelAddress>>;
  /** The master group name the sentinels monitor. */
  name: string;
  /** Password of the Redis servers. */
  password?: string | undefined;
  username?: string | undefined;
  /** Password of the sentinels themselves, when they require one. */
  sentinelPassword?: string | undefined;
  sentinelUsername?: string | undefined;
  db?: number | undefined;
  /** Any other ioredis option for the connections (a top-level one wins). */
  options?: RedisOptions | undefined;
}

export interface RedisStoreOptions {
  /** Every call settles within this many milliseconds (StoreTimeoutError otherwise). */
  commandTimeoutMs: number;
  /**
   * The clock of the store's own deadlines and pauses (call deadlines, TRYAGAIN and scan pauses,
   * sharded re-route and tracking retries, the QUIT bound on close). ioredis' own timers (connect,
   * reconnect, the socket timeouts of subscriber and cluster node connections) stay on real time.
   * Default: the system clock.
   */
  clock?: Clock | undefined;
}

/** Everything `createRedisStore` accepts (SPEC §0 `store`, minus 'memory' and custom stores). */
export type RedisStoreSpec =
  /** A redis:// or rediss:// URL. (`string & {}` is any string, while editors still offer `'memory'` where both are allowed.) */
  | (string & {})
  | { redis: RedisOptions }
  | { cluster: { nodes: ClusterNode[]; options?: ClusterOptions } }
  | { sentinel: SentinelSpec }
  | Redis
  | Cluster
  | IoredisClientLike;

/**
 * An ioredis client of another major version than larder's own (ioredis 5, which most apps
 * have): its classes are other types, but it is used the same way (duplicated with larder's
 * options, never connected, reconfigured or closed). Checked against ioredis 5.11 at run time:
 * standalone, locks, scripts, pub/sub and the near cache's tracking.
 */
export interface IoredisClientLike {
  readonly isCluster: boolean;
  readonly status: string;
  duplicate(...args: never[]): unknown;
}

export interface Connections {
  readonly kind: RedisKind;
  /** The command connection (or cluster client). Created with lazyConnect: nothing is dialled yet. */
  readonly main: Redis | Cluster;
  /**
   * Creates a connection for SUBSCRIBE, lazily, when the first subscription is made. On a cluster
   * it dials one master (non-sharded pub/sub reaches every node); `avoid` is the address of a
   * previous subscriber connection that gave up, so another node is preferred.
   */
  makeSubscriber: (avoid?: string) => Redis;
}

/** How long after a command's deadline a connection that has answered nothing is torn down. */
export const STALL_MARGIN_MS = 10;

/**
 * Reconnect quickly and keep trying: callers never wait for a reconnect (they fail at once while
 * there is no connection), so the only cost of a short delay is a few refused dials per second
 * against a dead server. The jitter spreads the reconnects of many processes after a restart.
 */
export function reconnectDelay(times: number): number {
  return Math.min(50 * times, 500) + Math.floor(Math.random() * 50);
}

/**
 * After a failover a connection may still point at a demoted master: `READONLY` replies. Reconnect
 * (which re-resolves the master through Sentinel) but do not resend the failed command (`1`, not `2`).
 */
function reconnectOnReadonly(err: Error): boolean | 1 {
  return err.message.startsWith('READONLY') ? 1 : false;
}

/**
 * The per-connection options larder needs, whatever the user passed. Each one, checked against the
 * ioredis 6.0.0 source (built/Redis.js, built/redis/event_handler.js, built/Command.js):
 *
 * - `lazyConnect: true`: constructing the store dials nothing; the first call connects (SPEC §0).
 * - `enableOfflineQueue: false`: a command issued while the connection is not ready is rejected at
 *   once ("Stream isn't writeable and enableOfflineQueue options is false") instead of being queued
 *   and sent when the connection comes back, i.e. after its caller already gave up (F4).
 *   The store itself makes calls made during the *first* connect wait for it (connection.ts).
 * - `autoResendUnfulfilledCommands: false`: commands that were in flight when a connection dropped
 *   are not written again on the next connection (they may have run already: resending would run
 *   them twice, and late).
 * - `maxRetriesPerRequest: 0`: when a connection closes, ioredis flushes the in-flight commands
 *   with MaxRetriesPerRequestError right away (`retryAttempts % (0 + 1) === 0` on every close).
 *   With a larger value they would sit in `prevCommandQueue` across reconnect attempts and, with
 *   resending off, be dropped at the next `ready` without ever being settled.
 * - `retryStrategy`: reconnect forever with a short, capped backoff (reconnectDelay), so the
 *   store recovers without being recreated, soon after the server is back.
 * - `connectTimeout`: a dial (TCP + TLS) that has not connected in max(commandTimeoutMs, 1 s) is
 *   abandoned and retried. Calls never wait for it longer than commandTimeoutMs anyway; the floor
 *   lets a slow TLS handshake finish when commandTimeoutMs is tiny.
 * - `socketTimeout: commandTimeoutMs + STALL_MARGIN_MS`: the stall detector. ioredis arms it when a
 *   command is written and re-arms it on every chunk of data while commands are pending; if the
 *   connection receives nothing for that long it is destroyed, its pending commands are rejected,
 *   and it reconnects. So a server that accepted commands but answers nothing (stopped, swapping,
 *   a dead middlebox) costs each caller one commandTimeoutMs and then the connection is replaced,
 *   instead of every later call queueing behind the stuck ones. Destroying the socket also drops
 *   whatever is still in our write buffer, so those commands can never reach the server later.
 *   Commands the kernel already delivered may still run when a stopped server wakes: that is late,
 *   not replayed, and nobody is waiting for their reply. The margin makes the caller's own
 *   deadline (StoreTimeoutError) fire first. Used by subscriber connections and cluster nodes; a
 *   standalone or Sentinel store's command connection has it off and is watched by the store
 *   itself from its call deadlines instead (connection.ts, onStall), which costs nothing per call.
 * - `commandTimeout: undefined`: the store enforces commandTimeoutMs itself with one timer for all
 *   pending calls (clock.ts's DeadlineQueue, in connection.ts) instead of one timer per command.
 * - `enableAutoPipelining: false`: measured slower at low concurrency; the store batches reads itself.
 * - `keyPrefix: ''`: larder lays out its own keys (keys.ts); an ioredis prefix would not apply to
 *   SCAN patterns or pub/sub channels and would break pattern operations. Use `namespace` instead.
 * - `reconnectOnError`: only READONLY reconnects, and never resends (a user value of `2` would).
 * - `disconnectTimeout: 0` (a connector option, not in ioredis' RedisOptions type): how long a
 *   socket ended by disconnect() may linger before it is destroyed. larder disconnects only a
 *   connection that is not ready or did not answer QUIT (quitOrDisconnect), so there is nothing
 *   to wait for; ioredis' 2 s default kept the process alive that long after close() with the
 *   server down (A4). The timer is armed even for a socket already closed, and never cleared
 *   then: 0 makes it fire at the next turn of the event loop.
 */
export function connectionOverrides(commandTimeoutMs: number): RedisOptions {
  return {
    ...({ disconnectTimeout: 0 } as RedisOptions),
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    retryStrategy: reconnectDelay,
    connectTimeout: Math.max(commandTimeoutMs, 1000),
    socketTimeout: commandTimeoutMs + STALL_MARGIN_MS,
    commandTimeout: undefined,
    enableAutoPipelining: false,
    keyPrefix: '',
    reconnectOnError: reconnectOnReadonly,
  };
}

/** The subscriber resubscribes itself, so that it knows when the subscription is back (StoreEvents). */
export function subscriberOverrides(commandTimeoutMs: number): RedisOptions {
  return { ...connectionOverrides(commandTimeoutMs), autoResubscribe: false };
}

/**
 * Cluster-level options. Cluster nodes get `nodeOverrides` (ioredis forces their own offline queue on
 * and their retryStrategy to `clusterNodeRetryStrategy`; the cluster rejects commands for a node
 * that is neither ready nor never-connected when its offline queue is off).
 * - `retryDelayOnFailover: 0`: otherwise a command whose node connection closed ("Connection is
 *   closed.") is sent again 100 ms later, possibly after it ran and after its caller gave up.
 * - `retryDelayOnClusterDown: 0`, `retryDelayOnTryAgain: 0`: those replies mean the command did not
 *   run, but a delayed resend could still land after the caller's deadline; the caller decides.
 *   MOVED/ASK redirections stay immediate (`retryDelayOnMoved` 0), which is what keeps a cluster
 *   usable during resharding.
 */
function clusterOverrides(commandTimeoutMs: number): ClusterOptions {
  const { retryStrategy: _r, enableOfflineQueue: _q, ...nodeOverrides } = connectionOverrides(commandTimeoutMs);
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    enableAutoPipelining: false,
    keyPrefix: '',
    clusterRetryStrategy: reconnectDelay,
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 0,
    retryDelayOnTryAgain: 0,
    retryDelayOnMoved: 0,
    slotsRefreshTimeout: Math.max(commandTimeoutMs, 1000),
    redisOptions: nodeOverrides,
  };
}

function isIoredisClient(v: unknown): v is Redis | Cluster {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as { duplicate?: unknown }).duplicate === 'function' &&
    typeof (v as { isCluster?: unknown }).isCluster === 'boolean'
  );
}

function sentinelKind(options: RedisOptions): RedisKind {
  return Array.isArray(options.sentinels) && options.sentinels.length > 0 ? 'sentinel' : 'redis';
}

function standalone(base: Redis, commandTimeoutMs: number): Connections {
  // The store detects a stalled main connection itself, from its call deadlines (connection.ts, onStall).
  const main = base.duplicate({ ...connectionOverrides(commandTimeoutMs), socketTimeout: undefined });
  return {
    kind: sentinelKind(main.options),
    main,
    makeSubscriber: () => base.duplicate(subscriberOverrides(commandTimeoutMs)),
  };
}

function clustered(base: Cluster, commandTimeoutMs: number): Connections {
  const overrides = clusterOverrides(commandTimeoutMs);
  const main = base.duplicate([], overrides);
  return {
    kind: 'cluster',
    main,
    makeSubscriber(avoid) {
      // Non-sharded PUBLISH reaches every node of a cluster, so one connection to any node hears
      // every channel. Prefer a master the cluster client currently knows, else a startup node.
      const known = main.nodes('master').map((n) => ({ host: n.options.host, port: n.options.port }));
      // startupNodes is private in ioredis' typings but set by its constructor.
      const startup = ((main as unknown as { startupNodes?: ClusterNode[] }).startupNodes ?? []).map(toHostPort);
      const candidates = [...known, ...startup].filter(
        (n): n is { host: string; port: number } => n !== null && typeof n.host === 'string' && typeof n.port === 'number',
      );
      const fresh = candidates.filter((n) => `${n.host}:${n.port}` !== avoid);
      const pool = fresh.length > 0 ? fresh : candidates;
      const node = pool[Math.floor(Math.random() * pool.length)] ?? { host: '127.0.0.1', port: 6379 };
      const { redisOptions = {} } = main.options;
      return new Redis({
        ...(redisOptions as RedisOptions),
        ...subscriberOverrides(commandTimeoutMs),
        host: node.host,
        port: node.port,
        // A cluster node that stays unreachable is given up after a few attempts, and the
        // store dials another node (pubsub.ts: the Subscriber handles 'end').
        retryStrategy: (times) => (times > 3 ? null : reconnectDelay(times)),
      });
    },
  };
}

function toHostPort(n: ClusterNode): { host: string; port: number } | null {
  if (typeof n === 'number') return { host: '127.0.0.1', port: n };
  if (typeof n === 'string') {
    const m = /^(?:redis:\/\/)?(.*?)(?::(\d+))?$/.exec(n);
    if (m === null) return null;
    // `:6379` alone leaves the host empty: the default host then, as for no host at all.
    const host = m[1] ?? '';
    return { host: host === '' ? '127.0.0.1' : host, port: m[2] ? Number(m[2]) : 6379 };
  }
  return { host: n.host ?? '127.0.0.1', port: n.port ?? 6379 };
}

/** Builds the connections for a store spec. Throws TypeError (naming `store`) for anything else. */
export function openConnections(spec: RedisStoreSpec, commandTimeoutMs: number): Connections {
  if (typeof spec === 'string') {
    if (!/^rediss?:\/\//i.test(spec)) {
      throw new TypeError(`store: expected a redis:// or rediss:// URL, got ${JSON.stringify(spec.slice(0, 40))}`);
    }
    // Parse the URL (user, password, db, TLS, query options) with ioredis itself, into a client
    // that never connects, then duplicate it so that our overrides win over URL query options.
    return standalone(new Redis(spec, { lazyConnect: true }), commandTimeoutMs);
  }
  if (isIoredisClient(spec)) {
    return spec.isCluster
      ? clustered(spec as Cluster, commandTimeoutMs)
      : standalone(spec as Redis, commandTimeoutMs);
  }
  if (isObject(spec)) {
    if ('redis' in spec && isObject(spec.redis)) {
      return standalone(new Redis({ ...spec.redis, lazyConnect: true }), commandTimeoutMs);
    }
    if ('cluster' in spec && isObject(spec.cluster)) {
      const { nodes, options = {} } = spec.cluster;
      if (!Array.isArray(nodes) || nodes.length === 0) {
        throw new TypeError('store: cluster.nodes must be a non-empty array of startup nodes');
      }
      return clustered(new Cluster(nodes, { ...options, lazyConnect: true }), commandTimeoutMs);
    }
    if ('sentinel' in spec && isObject(spec.sentinel)) {
      const { sentinels, name, options, ...rest } = spec.sentinel;
      if (!Array.isArray(sentinels) || sentinels.length === 0 || typeof name !== 'string' || name === '') {
        throw new TypeError('store: sentinel needs a non-empty `sentinels` array and the master `name`');
      }
      const base = new Redis({
        // A stalled sentinel must not hold up the master lookup longer than a command may take.
        sentinelCommandTimeout: commandTimeoutMs,
        ...options,
        ...rest,
        sentinels,
        name,
        lazyConnect: true,
      });
      return standalone(base, commandTimeoutMs);
    }
  }
  throw new TypeError(
    'store: expected a Redis URL, { redis }, { cluster: { nodes } }, { sentinel: { sentinels, name } } or an ioredis client',
  );
}

/**
 * Where the connections go, for messages and `cache.health()` (A1, A2): `host:port` (with `/db`
 * when it is not 0), the startup nodes of a cluster, the master group and sentinels of Sentinel.
 * Never a password.
 */
export function describeEndpoint(conns: Connections): string {
  const main = conns.main;
  if (conns.kind === 'cluster') {
    const startup = ((main as unknown as { startupNodes?: ClusterNode[] }).startupNodes ?? []).map(toHostPort);
    const nodes = startup.filter((n) => n !== null).map((n) => `${n.host}:${n.port}`);
    return `cluster ${nodes.join(',')}`;
  }
  const o = (main as Redis).options;
  const db = typeof o.db === 'number' && o.db !== 0 ? `/${o.db}` : '';
  if (conns.kind === 'sentinel') {
    const sentinels = (o.sentinels ?? []).map((s) => `${s.host ?? '127.0.0.1'}:${s.port ?? 26379}`);
    return `sentinel ${o.name ?? ''}${db} via ${sentinels.join(',')}`;
  }
  if (typeof o.path === 'string' && o.path !== '') return `${o.path}${db}`;
  return `${o.host ?? '127.0.0.1'}:${o.port ?? 6379}${db}`;
}

/** Whether the connections speak TLS (`rediss://` or a `tls` option). */
export function usesTls(conns: Connections): boolean {
  if (conns.kind === 'cluster') return (conns.main as Cluster).options.redisOptions?.tls !== undefined;
  return (conns.main as Redis).options.tls !== undefined;
}

/** QUIT (so in-flight commands still get their replies), and disconnect() if QUIT has no answer within `ms` on `clock`. */
export async function quitOrDisconnect(conn: Redis | Cluster, ms: number, clock: Clock): Promise<void> {
  const status = conn.status as string;
  if (status === 'end') return;
  if (status === 'ready') {
    let timer: Timer | undefined;
    try {
      await Promise.race([
        conn.quit(),
        new Promise((_, reject) => {
          timer = clock.setTimeout(() => reject(new Error('QUIT timed out')), ms);
        }),
      ]);
    } catch {
      // Fall through to disconnect().
    } finally {
      timer?.cancel();
    }
  }
  if ((conn.status as string) !== 'end') conn.disconnect();
  // disconnect() ends a socket and destroys it only after disconnectTimeout; nothing is left to
  // say on it (not ready, or QUIT unanswered): destroy it now, which also clears that timer (A4).
  // close() resolves once the sockets are closed: nothing of the store is left running after it.
  const clients = conn.isCluster ? (conn as Cluster).nodes() : [conn as Redis];
  const closing: Array<Promise<void>> = [];
  for (const c of clients) {
    // The client's socket, and the one its connector is dialling (a reconnect not yet connected).
    const { stream, connector } = c as unknown as { stream?: Socket; connector?: { stream?: Socket } };
    for (const s of new Set([stream, connector?.stream])) {
      if (s === undefined || s.closed) continue;
      closing.push(new Promise((resolve) => s.once('close', () => resolve())));
      s.destroy();
    }
  }
  await Promise.all(closing);
}
