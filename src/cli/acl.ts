/**
 * `larder-cache acl NAMESPACE` (OP1, K5): the ACL SETUSER line that confines one tenant to its own
 * keys (`~lr:<ns>:*`), its own pub/sub channels (`&lr:<ns>:*`, plus the near cache's
 * `__redis__:invalidate`), and only the commands larder sends, and `--check`, which proves the
 * line live: it connects as that user, exercises every part of larder that talks to Redis
 * (values, hashes, lists, sets, patterns, memoisation, documents, process caches, the near cache,
 * stampede leases, locks, read-write locks, semaphores, telemetry), and shows that the user can
 * touch no other tenant and no admin command.
 *
 * The command list is what larder sends, found by running that same exercise under MONITOR on
 * standalone, Sentinel and Cluster (test/cli/acl.test.ts keeps it honest: the check runs as a
 * user with exactly these commands, and ACL LOG must stay empty).
 *
 * `--check` writes: it creates keys named `larder-acl-check…` in the tenant's namespace and
 * deletes them again; it never clears the namespace.
 */
import { Redis } from 'ioredis';
import { createCache, type Cache } from '../cache.js';
import { namespacePrefix } from '../keys.js';
import { INVALIDATE_CHANNEL } from '../stores/redis/tracking.js';
import { TELEMETRY_CHANNEL_PATTERN, telemetryChannel } from '../telemetry.js';
import type { Target } from './target.js';

export const ACL_SCHEMA = 'larder-cache/acl@1';

/**
 * Every command larder sends, by what needs it. Subcommands are named (`client|tracking`) so the
 * user gets no other CLIENT, CLUSTER or COMMAND subcommand.
 */
export const LARDER_COMMANDS: Readonly<Record<string, readonly string[]>> = {
  // values, counters, TTLs, deletes (S, P, C3's compare-and-delete runs as a script)
  values: ['get', 'mget', 'set', 'del', 'unlink', 'exists', 'pexpire', 'persist', 'pttl', 'incrby'],
  // hashes, lists, sets (H, L)
  collections: ['hset', 'hget', 'hgetall', 'hdel', 'hexists', 'hkeys', 'lpush', 'rpush', 'lpop', 'rpop', 'llen', 'lrange', 'ltrim', 'sadd', 'srem', 'smembers', 'sismember', 'scard'],
  // pattern operations (P2: SCAN, never KEYS)
  patterns: ['scan'],
  // every atomic step (leases, locks, tracked writes, documents) is a Lua script: EVALSHA with EVAL on NOSCRIPT
  scripts: ['evalsha', 'eval'],
  // what the scripts themselves call (an ACL applies inside Lua too): locks' sorted sets, counters,
  // TIME, tagged hash reads (HMGET of a field and the tag header), hincrby, hdelKeys' TYPE check
  inScripts: ['hincrby', 'hmget', 'incr', 'setrange', 'time', 'type', 'zadd', 'zcard', 'zrange', 'zrem', 'zremrangebyscore', 'zscore'],
  // lock wake-ups, lease landings, process-cache clears, telemetry (sharded on Redis ≥ 7 clusters)
  pubsub: ['publish', 'subscribe', 'unsubscribe', 'spublish', 'ssubscribe', 'sunsubscribe'],
  // near cache (N1–N3): the invalidation connection's id, tracking redirected to it, its heartbeat
  // (PING on it, CLIENT TRACKINGINFO on the main connection to see a broken redirect)
  nearCache: ['client|id', 'client|tracking', 'client|trackinginfo', 'ping'],
  // connection set-up by ioredis (its ready check sends INFO: refused, ioredis prints a warning
  // on every connection instead; INFO shows server statistics, no keys or values)
  connection: ['auth', 'hello', 'select', 'quit', 'info'],
  // locks' waitReplicas option (WAIT after acquire)
  replication: ['wait'],
  // Redis Cluster: the slot map and ioredis' ready check, slot migrations during scans (CLUSTER
  // NODES), and the sharded pub/sub detection (COMMAND INFO SPUBLISH)
  cluster: ['cluster|slots', 'cluster|info', 'cluster|nodes', 'command|info'],
};

export interface AclOptions {
  user: string;
  /** undefined: a placeholder the operator replaces. */
  password: string | undefined;
}

/** The ACL SETUSER words, without the leading `ACL SETUSER`. */
export function aclRules(namespace: string, opts: AclOptions): string[] {
  const prefix = namespacePrefix(namespace);
  const commands = [...new Set(Object.values(LARDER_COMMANDS).flat())];
  return [
    opts.user,
    'reset',
    'on',
    opts.password === undefined ? '><password>' : `>${opts.password}`,
    `~${prefix}*`,
    `&${prefix}*`,
    `&${INVALIDATE_CHANNEL}`,
    '-@all',
    ...commands.map((c) => `+${c}`),
  ];
}

/**
 * What the command line itself sends (`acl --operator`): scans and reads for doctor, keys,
 * inspect and locks, CONFIG GET for the eviction policy, the tracking probe, and PSUBSCRIBE to
 * the telemetry channels for stats and the dashboard. Keys are granted read-only (`%R~`).
 */
export const OPERATOR_COMMANDS: readonly string[] = [
  'scan', 'dbsize', 'pttl', 'type', 'strlen', 'exists', 'get', 'hscan', 'lrange', 'sscan', 'zrange', 'zcard',
  'memory|usage', 'config|get', 'cluster|slots', 'cluster|info', 'cluster|nodes', 'command|info',
  'client|id', 'client|tracking', 'subscribe', 'unsubscribe', 'psubscribe', 'punsubscribe',
  'ping', 'auth', 'hello', 'select', 'quit', 'info',
];

/** A read-only user for the command line and the dashboard: every namespace, or one. */
export function operatorRules(namespace: string | undefined, opts: AclOptions): string[] {
  const keys = namespace === undefined ? 'lr:*' : `${namespacePrefix(namespace)}*`;
  return [
    opts.user,
    'reset',
    'on',
    opts.password === undefined ? '><password>' : `>${opts.password}`,
    `%R~${keys}`,
    `&${TELEMETRY_CHANNEL_PATTERN}`,
    `&${INVALIDATE_CHANNEL}`,
    '-@all',
    ...OPERATOR_COMMANDS.map((c) => `+${c}`),
  ];
}

/** One line for redis-cli: words quoted only where they need it. */
export function quoteRules(rules: readonly string[]): string {
  const quote = (w: string) => (/^[\w.:@&~>+|<{}*%-]+$/.test(w) ? w : JSON.stringify(w));
  return ['ACL', 'SETUSER', ...rules].map(quote).join(' ');
}

export function aclLine(namespace: string, opts: AclOptions): string {
  return quoteRules(aclRules(namespace, opts));
}

export interface CheckStep {
  step: string;
  ok: boolean;
  detail: string | null;
}

export interface AclCheckReport {
  schema: typeof ACL_SCHEMA;
  namespace: string;
  user: string;
  steps: CheckStep[];
  ok: boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const CHECK = 'larder-acl-check';

async function refused(what: () => Promise<unknown>): Promise<string | null> {
  try {
    await what();
    return 'allowed';
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    return /NOPERM|no permissions|not allowed|permission/i.test(msg) ? null : `failed otherwise: ${msg.split('\n')[0]!}`;
  }
}

/** Every part of larder that talks to Redis, through one cache confined to the tenant. */
async function exercise(cache: Cache, step: (name: string, fn: () => Promise<void>) => Promise<void>): Promise<void> {
  const expect = (cond: boolean, what: string) => {
    if (!cond) throw new Error(what);
  };
  await step('values: set, get, many, TTL, incr, delete', async () => {
    await cache.setValue(`${CHECK}:v`, { ok: true }, { expiresInSec: 60 });
    expect((await cache.getValue<{ ok: boolean }>(`${CHECK}:v`))?.ok === true, 'read back');
    await cache.setMany([[`${CHECK}:m1`, 1], [`${CHECK}:m2`, 2]], { expiresInSec: 60 });
    expect((await cache.getMany([`${CHECK}:m1`, `${CHECK}:m2`])).join() === '1,2', 'getMany');
    await cache.expire(`${CHECK}:v`, 120);
    expect(((await cache.ttl(`${CHECK}:v`)) ?? 0) > 60, 'ttl');
    await cache.expire(`${CHECK}:v`, null);
    expect((await cache.incr(`${CHECK}:n`, 2, { expiresInSec: 60 })) === 2, 'incr');
    expect(await cache.exists(`${CHECK}:n`), 'exists');
    expect((await cache.deleteValue([`${CHECK}:m1`, `${CHECK}:m2`])) === 2, 'delete');
  });
  await step('generator with a stampede lease', async () => {
    const v = await cache.getValue(`${CHECK}:gen`, { generator: () => 42, expiresInSec: 60 });
    expect(v === 42, 'generated');
  });
  await step('hashes, lists, sets', async () => {
    await cache.hset(`${CHECK}:h`, 'f', 1, { expiresInSec: 60 });
    expect((await cache.hget(`${CHECK}:h`, 'f')) === 1 && (await cache.hexists(`${CHECK}:h`, 'f')), 'hash');
    expect((await cache.hkeys(`${CHECK}:h`)).length === 1 && Object.keys(await cache.hgetall(`${CHECK}:h`)).length === 1, 'hash keys');
    await cache.hdel(`${CHECK}:h`, 'f');
    await cache.rpush(`${CHECK}:l`, 1, 2);
    await cache.lpush(`${CHECK}:l`, 0);
    expect((await cache.lrange(`${CHECK}:l`, 0, -1)).length === 3 && (await cache.llen(`${CHECK}:l`)) === 3, 'list');
    await cache.ltrim(`${CHECK}:l`, 0, 1);
    await cache.lpop(`${CHECK}:l`);
    await cache.rpop(`${CHECK}:l`);
    await cache.sadd(`${CHECK}:s`, 'a', 'b');
    expect((await cache.scard(`${CHECK}:s`)) === 2 && (await cache.sismember(`${CHECK}:s`, 'a')), 'set');
    await cache.smembers(`${CHECK}:s`);
    await cache.srem(`${CHECK}:s`, 'a');
  });
  await step('patterns (SCAN)', async () => {
    expect((await cache.getKeys(CHECK)).length > 0, 'getKeys found nothing');
  });
  await step('memoize', async () => {
    let runs = 0;
    const f = cache.memoize(async (x: number) => {
      runs++;
      return Promise.resolve(x * 2);
    }, { name: CHECK, ttlSec: 60 });
    expect((await f(2)) === 4 && (await f(2)) === 4 && runs === 1, 'memoised once');
    await f.clearCache();
  });
  await step('documents', async () => {
    const docs = cache.documents({ load: (_dt, name) => ({ name }), ttlSec: 60 });
    expect((await docs.getCachedDoc(CHECK, 'one')).name === 'one', 'doc');
    await docs.clearDocumentCache(CHECK, 'one');
  });
  await step('process cache clear (pub/sub)', async () => {
    const p = cache.processCached(() => Promise.resolve(1), { name: CHECK });
    await p();
    await p.clearCache();
  });
  await step('near cache (CLIENT TRACKING)', async () => {
    const deadline = Date.now() + 5000;
    // The near cache switches itself on once tracking is set up (core.near.active): N3.
    while (cache.core.near?.active !== true) {
      if (Date.now() > deadline) throw new Error('the near cache did not become active: tracking refused or the invalidation channel denied');
      await sleep(50);
    }
    await cache.setValue(`${CHECK}:near`, 1, { expiresInSec: 60 });
    const before = cache.stats().near.hits;
    await cache.getValue(`${CHECK}:near`);
    await cache.getValue(`${CHECK}:near`);
    expect(cache.stats().near.hits > before, 'no near-cache hit');
  });
  await step('locks: lock, contention, wake-up, fencing', async () => {
    const a = await cache.lock(`${CHECK}:lock`, { ttlMs: 5000 });
    expect((await cache.tryLock(`${CHECK}:lock`)) === null, 'second holder');
    const waiter = cache.lock(`${CHECK}:lock`, { ttlMs: 5000, waitMs: 3000 });
    await sleep(20);
    await a.release();
    const b = await waiter;
    expect(b.fencingToken > a.fencingToken, 'fencing token');
    await b.extend(5000);
    await b.release();
    await cache.withLock(`${CHECK}:lock`, () => undefined, { ttlMs: 1000, autoExtend: true });
  });
  await step('read-write lock and semaphore', async () => {
    const rw = cache.readWriteLock(`${CHECK}:rw`);
    const r = await rw.read({ ttlMs: 2000 });
    await r.release();
    const w = await rw.write({ ttlMs: 2000 });
    await w.release();
    const sem = cache.semaphore(`${CHECK}:sem`, { permits: 2 });
    const p = await sem.acquire({ ttlMs: 2000 });
    await p.release();
  });
  await step('clean up', async () => {
    await cache.deleteKeys(CHECK);
  });
}

/**
 * Connects as `user` and proves the confinement: larder works, nothing else does. `admin` (the
 * `--store` target as given) is not used for the check itself.
 */
export async function checkAcl(target: Target, namespace: string, user: string, password: string): Promise<AclCheckReport> {
  const confined = target.withCredentials(user, password);
  const steps: CheckStep[] = [];
  const errors: string[] = [];
  const step = async (name: string, fn: () => Promise<void>) => {
    try {
      await fn();
      steps.push({ step: name, ok: true, detail: null });
    } catch (err) {
      steps.push({ step: name, ok: false, detail: err instanceof Error ? err.message.split('\n')[0]! : String(err) });
    }
  };
  const cache = createCache({
    store: confined.spec,
    namespace,
    nearCache: { maxEntries: 100 },
    onStoreError: 'throw',
    commandTimeoutMs: 3000,
    telemetry: { publishEverySec: 0.5 },
  });
  cache.on('error', (err) => errors.push(err.message.split('\n')[0]!));
  try {
    await exercise(cache, step);
    await step('telemetry published on the tenant\'s channel (OP4)', async () => {
      const [node] = await confined.masters();
      if (node === undefined) throw new Error('no connection');
      const sub = node.duplicate({ lazyConnect: true, enableReadyCheck: false, retryStrategy: () => null });
      sub.on('error', () => undefined);
      try {
        await sub.connect();
        const heard = new Promise<void>((resolve) => sub.on('message', () => resolve()));
        await sub.subscribe(telemetryChannel(namespace));
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([heard, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no telemetry message within 3 s')), 3000)))]);
        clearTimeout(timer);
      } finally {
        sub.disconnect();
      }
    });
    // Before the refusals below, which are errors on purpose.
    await step('no store errors reported', () => {
      if (errors.length > 0) throw new Error([...new Set(errors)].slice(0, 3).join('; '));
      return Promise.resolve();
    });
    const other = cache.forNamespace(`${namespace}-acl-check-other`);
    await step('another tenant\'s keys are refused', async () => {
      const r = await refused(() => other.setValue('x', 1));
      if (r !== null) throw new Error(`another tenant's key was ${r}`);
    });
    // Raw commands as the same user, outside larder.
    const [raw] = await confined.masters();
    if (raw === undefined) throw new Error('no connection');
    await step('another tenant\'s channels and admin commands are refused', async () => {
      const otherPrefix = namespacePrefix(`${namespace}-acl-check-other`);
      const probe = new Redis({ ...(raw.options as object), lazyConnect: true, enableReadyCheck: false, retryStrategy: () => null });
      try {
        await probe.connect();
        const checks: Array<[string, () => Promise<unknown>]> = [
          ['GET of another tenant', () => raw.get(`${otherPrefix}{0000}k-:x`)],
          ['GET of a shared key', () => raw.get('lr::{0000}k-:x')],
          ['KEYS', () => raw.keys('*')],
          ['FLUSHALL', () => raw.flushall()],
          ['CONFIG GET', () => raw.config('GET', 'maxmemory')],
          ['SUBSCRIBE to another tenant', () => probe.subscribe(`${otherPrefix}process-cache`)],
        ];
        const leaks: string[] = [];
        for (const [what, fn] of checks) {
          const r = await refused(fn);
          if (r !== null) leaks.push(`${what}: ${r}`);
        }
        if (leaks.length > 0) throw new Error(leaks.join('; '));
      } finally {
        probe.disconnect();
      }
    });
  } finally {
    await cache.close();
    await confined.close();
  }
  return { schema: ACL_SCHEMA, namespace, user, steps, ok: steps.every((s) => s.ok) };
}
