/**
 * What `--store` names, for the command line (SPEC §15): a standalone Redis URL, a cluster or a
 * Sentinel group, parsed into (a) the `store` option a larder cache takes (for `acl --check`,
 * `stats`, `dashboard`) and (b) the CLI's own plain ioredis connections, one per master, that
 * the scanning commands use.
 *
 *   redis://[user:password@]host:port[/db]      rediss:// for TLS
 *   cluster:[user:password@]host:port[,host:port…]           any node; every master is found
 *   sentinel:[user:password@]host:port[,host:port…]/NAME[?sentinelPassword=…&db=N]
 *
 * The CLI's connections fail fast rather than retry: a command line that cannot reach its store
 * exits 2 with one line saying so (OP1), it never hangs.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisStoreSpec } from '../stores/redis/index.js';

export type TargetKind = 'redis' | 'cluster' | 'sentinel';

export interface Target {
  readonly kind: TargetKind;
  /** `host:port` (or the list of them), never a password. */
  readonly endpoint: string;
  /** The username the connections authenticate as (`default` when none is given). */
  readonly user: string;
  /** The same store, as a larder cache's `store` option. */
  readonly spec: RedisStoreSpec;
  /** The same store with other credentials (acl --check connects as the tenant's user). */
  withCredentials(user: string, password: string): Target;
  /** Connects and returns one connection per master (one for standalone and Sentinel). */
  masters(): Promise<Redis[]>;
  /** The cluster client, when the target is a cluster (for CLUSTER SLOTS coverage). */
  cluster(): Promise<Cluster | null>;
  close(): Promise<void>;
}

/** Why a command could not run at all (exit code 2, one line). */
export class CliFailure extends Error {
  override readonly name = 'CliFailure';
}

interface Parsed {
  kind: TargetKind;
  user: string | undefined;
  password: string | undefined;
  hosts: Array<{ host: string; port: number }>;
  /** The URL as given, for `redis://` targets ('' otherwise). */
  url: string;
  /** The master group name, for Sentinel ('' otherwise). */
  name: string;
  db?: number;
  sentinelPassword?: string;
  tls?: boolean;
}

const CONNECT_TIMEOUT_MS = 3000;

function hostPort(s: string, what: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(s.trim());
  const host = m?.[1] ?? '';
  if (m === null || host === '') throw new CliFailure(`--store: bad ${what} address ${JSON.stringify(s)}`);
  return { host, port: m[2] === undefined ? 6379 : Number(m[2]) };
}

function splitCredentials(rest: string): { user: string | undefined; password: string | undefined; rest: string } {
  const at = rest.lastIndexOf('@');
  if (at < 0) return { user: undefined, password: undefined, rest };
  const cred = rest.slice(0, at);
  const colon = cred.indexOf(':');
  const user = decodeURIComponent(colon < 0 ? cred : cred.slice(0, colon));
  const password = colon < 0 ? undefined : decodeURIComponent(cred.slice(colon + 1));
  return { user: user === '' ? undefined : user, password, rest: rest.slice(at + 1) };
}

function parse(store: string): Parsed {
  if (/^rediss?:\/\//i.test(store)) {
    let u: URL;
    try {
      u = new URL(store);
    } catch {
      throw new CliFailure(`--store: not a valid URL: ${store.replace(/\/\/[^@/]*@/, '//***@')}`);
    }
    const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined;
    return {
      kind: 'redis',
      user: u.username === '' ? undefined : decodeURIComponent(u.username),
      password: u.password === '' ? undefined : decodeURIComponent(u.password),
      hosts: [{ host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1', port: u.port === '' ? 6379 : Number(u.port) }],
      url: store,
      name: '',
      ...(db === undefined ? {} : { db }),
      tls: u.protocol === 'rediss:',
    };
  }
  const m = /^(cluster|sentinel):(?:\/\/)?(.*)$/i.exec(store);
  if (m === null) {
    throw new CliFailure('--store: expected redis://host:port, cluster:host:port,… or sentinel:host:port,…/NAME');
  }
  const kind = m[1]!.toLowerCase() as 'cluster' | 'sentinel';
  const { user, password, rest } = splitCredentials(m[2]!);
  const [beforeQuery = '', query = ''] = rest.split('?', 2);
  const params = new URLSearchParams(query);
  if (kind === 'cluster') {
    const hosts = beforeQuery.split(',').filter(Boolean).map((h) => hostPort(h, 'cluster node'));
    if (hosts.length === 0) throw new CliFailure('--store: cluster: needs at least one host:port');
    return { kind, user, password, hosts, url: '', name: '' };
  }
  const slash = beforeQuery.lastIndexOf('/');
  const name = slash < 0 ? '' : beforeQuery.slice(slash + 1);
  if (name === '') throw new CliFailure('--store: sentinel: needs the master name after a slash (sentinel:host:port/mymaster)');
  const hosts = beforeQuery.slice(0, slash).split(',').filter(Boolean).map((h) => hostPort(h, 'sentinel'));
  if (hosts.length === 0) throw new CliFailure('--store: sentinel: needs at least one host:port');
  const sentinelPassword = params.get('sentinelPassword') ?? undefined;
  const db = params.get('db');
  return {
    kind,
    user,
    password,
    hosts,
    url: '',
    name,
    ...(sentinelPassword === undefined ? {} : { sentinelPassword }),
    ...(db === null ? {} : { db: Number(db) }),
  };
}

/** ioredis options of the CLI's own connections: fail fast, no retries, no ready-check INFO. */
function cliOptions(p: Parsed): RedisOptions {
  return {
    ...(p.user === undefined ? {} : { username: p.user }),
    ...(p.password === undefined ? {} : { password: p.password }),
    ...(p.db === undefined ? {} : { db: p.db }),
    ...(p.tls === true ? { tls: {} } : {}),
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: true,
    retryStrategy: () => null,
    // A tenant's ACL may refuse INFO (@dangerous): ioredis then warns; do not ask.
    enableReadyCheck: false,
  };
}

function specOf(p: Parsed): RedisStoreSpec {
  if (p.kind === 'redis') return p.url;
  const auth = {
    ...(p.user === undefined ? {} : { username: p.user }),
    ...(p.password === undefined ? {} : { password: p.password }),
  };
  if (p.kind === 'cluster') return { cluster: { nodes: p.hosts, options: { redisOptions: auth } } };
  return {
    sentinel: {
      sentinels: p.hosts,
      name: p.name,
      ...auth,
      ...(p.sentinelPassword === undefined ? {} : { sentinelPassword: p.sentinelPassword }),
      ...(p.db === undefined ? {} : { db: p.db }),
    },
  };
}

function describe(p: Parsed): string {
  const hosts = p.hosts.map((h) => `${h.host}:${h.port}`).join(',');
  return p.kind === 'sentinel' ? `${hosts}/${p.name}` : hosts;
}

/** A connection failure as one line that names the endpoint and never the password. */
export function reasonOf(err: unknown, endpoint: string): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/WRONGPASS|NOAUTH|invalid password/i.test(msg)) return `${endpoint}: authentication refused (${msg.split('\n')[0]!})`;
  return `${endpoint}: ${msg.split('\n')[0]!}`;
}

function build(p: Parsed): Target {
  const endpoint = describe(p);
  const opened: Array<Redis | Cluster> = [];
  let clusterClient: Cluster | null = null;
  // One connection per master for the target's life: every command (and each doctor run of the
  // dashboard) reuses it.
  let single: Promise<Redis> | null = null;

  async function connect<T extends Redis | Cluster>(c: T): Promise<T> {
    opened.push(c);
    // Failures reach the caller through connect() and each command; ioredis would print them too.
    c.on('error', () => undefined);
    try {
      await c.connect();
    } catch (err) {
      throw new CliFailure(`could not connect to ${reasonOf(err, endpoint)}`);
    }
    return c;
  }

  async function clusterOf(): Promise<Cluster> {
    if (clusterClient !== null) return clusterClient;
    const opts = cliOptions(p);
    const { retryStrategy: _r, ...nodeOpts } = opts;
    clusterClient = await connect(
      new Cluster(p.hosts, {
        lazyConnect: true,
        // Its ready check refuses a cluster whose state is `fail` (slots uncovered): the very
        // cluster the doctor must be able to look at.
        enableReadyCheck: false,
        clusterRetryStrategy: () => null,
        slotsRefreshTimeout: CONNECT_TIMEOUT_MS,
        redisOptions: nodeOpts,
      }),
    );
    return clusterClient;
  }

  function openSingle(): Promise<Redis> {
    const opts = cliOptions(p);
    if (p.kind === 'sentinel') {
      return connect(
        new Redis({
          ...opts,
          sentinels: p.hosts,
          name: p.name,
          ...(p.sentinelPassword === undefined ? {} : { sentinelPassword: p.sentinelPassword }),
          sentinelRetryStrategy: () => null,
        }),
      );
    }
    const h = p.hosts[0]!;
    return connect(new Redis({ ...opts, host: h.host, port: h.port }));
  }

  return {
    kind: p.kind,
    endpoint,
    user: p.user ?? 'default',
    spec: specOf(p),
    withCredentials(user, password) {
      if (p.kind === 'redis') {
        const u = new URL(p.url);
        u.username = encodeURIComponent(user);
        u.password = encodeURIComponent(password);
        return build({ ...p, user, password, url: u.toString() });
      }
      return build({ ...p, user, password });
    },
    async masters() {
      if (p.kind === 'cluster') {
        const cluster = await clusterOf();
        const nodes = cluster.nodes('master');
        if (nodes.length === 0) throw new CliFailure(`${endpoint}: the cluster names no master`);
        // The cluster's own node connections: every one is a master of some slots.
        await Promise.all(nodes.filter((n) => n.status !== 'ready').map((n) => n.connect().catch(() => undefined)));
        return nodes;
      }
      single ??= openSingle();
      try {
        return [await single];
      } catch (err) {
        single = null;
        throw err;
      }
    },
    async cluster() {
      return p.kind === 'cluster' ? clusterOf() : null;
    },
    async close() {
      await Promise.all(
        opened.map(async (c) => {
          try {
            await c.quit();
          } catch {
            c.disconnect();
          }
        }),
      );
      opened.length = 0;
      clusterClient = null;
      single = null;
    },
  };
}

/** Parses `--store`; throws CliFailure (exit 2) for anything it cannot use. */
export function openTarget(store: string | undefined): Target {
  const s = store ?? process.env.LARDER_REDIS_URL;
  if (s === undefined || s === '') throw new CliFailure('--store is required (or set LARDER_REDIS_URL)');
  return build(parse(s));
}
