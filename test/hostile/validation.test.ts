/**
 * Z3: every public method validates its arguments the same way whatever the configuration —
 * embedded store, Redis with and without a near cache, either onStoreError policy, and a Redis
 * that is not there at all (which also proves the check comes before any I/O: a call that reached
 * for that store would fail as unavailable, not as a TypeError).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { createCache, createMemoryStore, type Cache } from '../../src/index.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

let server: RedisServer;
let deadPort: number;
const open: Cache[] = [];

before(async () => {
  server = await startRedis();
  // A port nobody listens on: taken and released.
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  deadPort = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
});
after(async () => {
  for (const c of open) await c.close().catch(() => undefined);
  await server.stop();
});

type Call = [what: string, run: (c: Cache) => unknown];

const f = async (x: unknown) => x;
const BAD: Call[] = [
  ['peek(42)', (c) => c.peek(42 as never)],
  ["peek('')", (c) => c.peek('')],
  ["peek('k', 42)", (c) => c.peek('k', 42 as never)],
  ["peek('k', { user: 5 })", (c) => c.peek('k', { user: 5 as never })],
  ["peek('k', { shared: 'yes' })", (c) => c.peek('k', { shared: 'yes' as never })],
  ['getValue(42)', (c) => c.getValue(42 as never)],
  ["getValue('k', 42)", (c) => c.getValue('k', 42 as never)],
  ["getValue('k', { generator: 5 })", (c) => c.getValue('k', { generator: 5 as never })],
  ["getValue('k', { expiresInSec: -1 })", (c) => c.getValue('k', { expiresInSec: -1 })],
  ["getValue('k', { user: 5 })", (c) => c.getValue('k', { user: 5 as never })],
  ['setValue(42, 1)', (c) => c.setValue(42 as never, 1)],
  ["setValue('k', undefined)", (c) => c.setValue('k', undefined)],
  ["setValue('k', fn)", (c) => c.setValue('k', () => 1)],
  ["setValue('k', 1, { expiresInSec: 0 })", (c) => c.setValue('k', 1, { expiresInSec: 0 })],
  ['deleteValue(42)', (c) => c.deleteValue(42 as never)],
  ['deleteValue([42])', (c) => c.deleteValue([42 as never])],
  ['exists(42)', (c) => c.exists(42 as never)],
  ["expire('k', -1)", (c) => c.expire('k', -1)],
  ['ttl(42)', (c) => c.ttl(42 as never)],
  ["incr('k', 1.5)", (c) => c.incr('k', 1.5)],
  ["getMany('k')", (c) => c.getMany('k' as never)],
  ['getMany([42])', (c) => c.getMany([42 as never])],
  ["setMany('x')", (c) => c.setMany('x' as never)],
  ["setMany([['k']])", (c) => c.setMany([['k'] as never])],
  ['getKeys(42)', (c) => c.getKeys(42 as never)],
  ['deleteKeys(42)', (c) => c.deleteKeys(42 as never)],
  ['clearCache({ user: 42 })', (c) => c.clearCache({ user: 42 as never })],
  ['clearCache(42)', (c) => c.clearCache(42 as never)],
  ["hset('h', 42, 1)", (c) => c.hset('h', 42 as never, 1)],
  ["hget('h', 42)", (c) => c.hget('h', 42 as never)],
  ['hgetall(42)', (c) => c.hgetall(42 as never)],
  ["hdel('h', [42])", (c) => c.hdel('h', [42 as never])],
  ["hexists('h', 42)", (c) => c.hexists('h', 42 as never)],
  ['hkeys(42)', (c) => c.hkeys(42 as never)],
  ["lpush('l')", (c) => c.lpush('l')],
  ["lrange('l', 'a', 1)", (c) => c.lrange('l', 'a' as never, 1)],
  ["ltrim('l', 1.5, 2)", (c) => c.ltrim('l', 1.5, 2)],
  ['sadd(42, 1)', (c) => c.sadd(42 as never, 1)],
  ['sismember(42, 1)', (c) => c.sismember(42 as never, 1)],
  ['memoize(5)', (c) => c.memoize(5 as never)],
  ["memoize(f)(fn-argument)", (c) => c.memoize(f, { name: 'z3' })(() => 1 as never)],
  ['processCached(5)', (c) => c.processCached(5 as never)],
  ['tryLock(42)', (c) => c.tryLock(42 as never)],
  ["withLock('x', 5)", (c) => c.withLock('x', 5 as never)],
  ["lock('x', { ttlMs: -1 })", (c) => c.lock('x', { ttlMs: -1 })],
  ['readWriteLock(42)', (c) => c.readWriteLock(42 as never)],
  ["semaphore('s', { permits: 0 })", (c) => c.semaphore('s', { permits: 0 })],
  ['documents({ load: 5 })', (c) => c.documents({ load: 5 as never })],
  ['getCachedDoc(42)', (c) => c.documents({ load: () => ({}) }).getCachedDoc(42 as never)],
  ["clearDocumentCache('A::B')", (c) => c.documents({ load: () => ({}) }).clearDocumentCache('A::B')],
  ['forNamespace(42)', (c) => c.forNamespace(42 as never)],
  ["expire('k', 1, 42)", (c) => c.expire('k', 1, 42 as never)],
  ["expire('k', 'x')", (c) => c.expire('k', 'x' as never)],
  ["getMany(['a'], 42)", (c) => c.getMany(['a'], 42 as never)],
  ["hget('h', 'f', { generator: 5 })", (c) => c.hget('h', 'f', { generator: 5 as never })],
  ["incr('k', 'x')", (c) => c.incr('k', 'x' as never)],
  ["incr('k', 1, { expiresInSec: -1 })", (c) => c.incr('k', 1, { expiresInSec: -1 })],
  ['lpop(42)', (c) => c.lpop(42 as never)],
  ['rpop({ key: 42 })', (c) => c.rpop({ key: 42 } as never)],
  ['llen(42)', (c) => c.llen(42 as never)],
  ['rpush(42, 1)', (c) => c.rpush(42 as never, 1)],
  ['smembers(42)', (c) => c.smembers(42 as never)],
  ['scard(42)', (c) => c.scard(42 as never)],
  ['srem(42, 1)', (c) => c.srem(42 as never, 1)],
  ["sadd('s', fn)", (c) => c.sadd('s', () => 1)],
  ["hset('h', 'f', 1, { expiresInSec: 0 })", (c) => c.hset('h', 'f', 1, { expiresInSec: 0 })],
  ['requestCached(5)', (c) => c.requestCached(5 as never)],
  ['runInContext(42, fn)', (c) => c.runInContext(42 as never, async () => 1)],
  ["runInContext({ namespace: '' }, fn)", (c) => c.runInContext({ namespace: '' }, async () => 1)],
  ['cached(42)', (c) => c.cached(42 as never)],
  ["readWriteLock('x', 42)", (c) => c.readWriteLock('x', 42 as never)],
  ['semaphore(42, { permits: 1 })', (c) => c.semaphore(42 as never, { permits: 1 })],
  ["clearDocumentCache('Item', 42)", (c) => c.documents({ load: () => ({}) }).clearDocumentCache('Item', 42 as never)],
  ["getCachedValue('Item', 'x', 42)", (c) => c.documents({ load: () => ({}) }).getCachedValue('Item', 'x', 42 as never)],
  ["peek('k', { user: true }) outside a context", (c) => c.peek('k', { user: true })],
];

/** What a call did: threw synchronously, rejected, or succeeded; with the error's class and code. */
async function outcome(c: Cache, run: (c: Cache) => unknown): Promise<string> {
  let p: unknown;
  try {
    p = run(c);
  } catch (err) {
    return `throws ${describe(err)}`;
  }
  try {
    await p;
    return 'resolves';
  } catch (err) {
    return `rejects ${describe(err)}`;
  }
}

function describe(err: unknown): string {
  const e = err as { name?: string; code?: string };
  return `${e.name ?? typeof err}/${e.code ?? '-'}${err instanceof TypeError ? ' (TypeError)' : ''}`;
}

test('Z3: bad arguments meet the same validation on every store, near cache on or off, reachable or not', { timeout: 120_000 }, async () => {
  const configs: Array<[string, () => Promise<Cache>]> = [
    ['memory', async () => createCache({ store: createMemoryStore() })],
    ['memory, throw', async () => createCache({ store: createMemoryStore(), onStoreError: 'throw' })],
    ['redis', async () => createCache({ store: server.url })],
    [
      'redis + near cache',
      async () => {
        const c = createCache({ store: server.url, nearCache: { maxEntries: 100 } });
        await c.exists('warm-up');
        await c.core.near!.whenActive();
        // Remember physical keys so the near cache's fast paths are the ones taken.
        c.peek('k');
        await c.getValue('k');
        return c;
      },
    ],
    ['redis unreachable + near cache', async () => createCache({ store: `redis://127.0.0.1:${deadPort}`, nearCache: { maxEntries: 100 }, commandTimeoutMs: 200 })],
  ];
  const table = new Map<string, string[]>();
  for (const [name, make] of configs) {
    const c = await make();
    open.push(c);
    for (const [what, run] of BAD) {
      const o = await outcome(c, run);
      const row = table.get(what) ?? [];
      row.push(`${name}: ${o}`);
      table.set(what, row);
    }
  }
  const differing: string[] = [];
  for (const [what, row] of table) {
    const kinds = new Set(row.map((r) => r.slice(r.indexOf(': ') + 2)));
    if (kinds.size !== 1) differing.push(`${what}\n    ${row.join('\n    ')}`);
    else {
      const only = [...kinds][0]!;
      // Bad arguments are TypeErrors (C6); `user: true` outside a context is a ContextError (K2).
      if (!only.includes('(TypeError)') && !only.includes('E_CONTEXT')) differing.push(`${what}: not a TypeError: ${only}`);
    }
  }
  assert.deepEqual(differing, [], `validated differently:\n  ${differing.join('\n  ')}`);
});
