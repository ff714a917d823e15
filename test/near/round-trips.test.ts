// A cold getValue with a generator on Redis with a near cache: the read, the stampede's claim, and
// one fill that writes the value, re-tracks it, keeps it near and ends the lease (S3, S5, N1). The
// next read of that key is served near, with no command at all. Counted with MONITOR on every
// master, which also shows the commands a script runs inside Redis (source "lua"): those are not
// round trips and are not counted.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createCache, type Cache, type StoreSpec } from '../../src/index.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import { startCluster, type RedisCluster } from '../support/cluster.js';

/** Commands that are bookkeeping of connections, not calls of the cache. */
const NOT_CALLS = new Set(['monitor', 'echo', 'info', 'client', 'hello', 'ping', 'cluster', 'subscribe', 'ssubscribe', 'readonly']);

/** The commands clients sent to `servers` (not those scripts ran) while `fn` ran. */
async function sent(servers: readonly RedisServer[], fn: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const clients: Redis[] = [];
  const done: Array<Promise<void>> = [];
  const marker = `rt-marker-${Math.random()}`;
  for (const s of servers) {
    const base = new Redis(s.url);
    // monitor() opens a connection of its own: both are closed below.
    const m = await base.monitor();
    clients.push(base, m);
    done.push(
      new Promise<void>((resolve) =>
        m.on('monitor', (_time: string, args: string[], source: string) => {
          if (args[0]?.toLowerCase() === 'echo' && args[1] === marker) {
            resolve();
            return;
          }
          if (source !== 'lua' && !NOT_CALLS.has(args[0]!.toLowerCase())) seen.push(args[0]!.toLowerCase());
        }),
      ),
    );
  }
  await fn();
  for (const s of servers) {
    const probe = new Redis(s.url);
    await probe.echo(marker);
    probe.disconnect();
  }
  await Promise.all(done);
  for (const c of clients) c.disconnect();
  return seen;
}

function roundTrips(name: string, setup: () => Promise<{ spec: StoreSpec; servers: () => Promise<RedisServer[]>; stop(): Promise<void> }>): void {
  describe(name, () => {
    let env: Awaited<ReturnType<typeof setup>>;
    let cache: Cache;
    before(async () => {
      env = await setup();
      cache = createCache({ store: env.spec, namespace: 'rt', nearCache: { maxEntries: 1000 } });
      // Connect, let tracking come up, and load every script a cold miss uses (EVALSHA's first
      // call on a fresh server falls back to EVAL once).
      await cache.exists('warm');
      await cache.core.near!.whenActive();
      await cache.getValue('warm', { generator: () => 1 });
    });
    after(async () => {
      // Either is undefined if before() failed.
      await (cache as Cache | undefined)?.close();
      await (env as typeof env | undefined)?.stop();
    });

    test('S5, N1: a cold generator miss is three round trips (read, claim, fill) and the next read none', async () => {
      let runs = 0;
      const generator = () => {
        runs++;
        return { sku: 'ITEM-1', price: 10, tags: ['a'] };
      };
      const servers = await env.servers();
      let first: unknown;
      const cold = await sent(servers, async () => {
        first = await cache.getValue('item', { generator, expiresInSec: 60 });
      });
      assert.deepEqual(cold, ['get', 'evalsha', 'evalsha'], 'GET, the lease claim, the fill that also ends the lease');
      assert.equal(runs, 1);
      let second: unknown;
      const warm = await sent(servers, async () => {
        second = await cache.getValue('item', { generator, expiresInSec: 60 });
      });
      assert.deepEqual(warm, [], 'the fill was kept near: no command at all');
      assert.equal(runs, 1);
      assert.deepEqual(second, { sku: 'ITEM-1', price: 10, tags: ['a'] });
      // N5: the miss caller gets the form every later caller gets: the same frozen copy.
      assert.equal(first, second);
      assert.ok(Object.isFrozen(first) && Object.isFrozen((first as { tags: string[] }).tags));
    });

    test('N1: a generator call that hits the near cache takes the plain fast path', async () => {
      await cache.setValue('plain', 'v');
      const servers = await env.servers();
      const commands = await sent(servers, async () => {
        assert.equal(await cache.getValue('plain', { generator: () => 'not called', expiresInSec: 5 }), 'v');
        assert.equal(await cache.getValue('plain'), 'v');
      });
      assert.deepEqual(commands, []);
      // The fast path still refuses what the slow path refuses (Z3).
      await assert.rejects(cache.getValue('plain', { generator: 'no' as unknown as () => string }), TypeError);
      await assert.rejects(cache.getValue('plain', { generator: () => 1, expiresInSec: -1 }), TypeError);
    });
  });
}

roundTrips('cold miss round trips on Redis standalone', async () => {
  const server = await startRedis();
  return { spec: server.url, servers: async () => [server], stop: () => server.stop() };
});

roundTrips('cold miss round trips on Redis Cluster', async () => {
  const cluster: RedisCluster = await startCluster();
  return { spec: { cluster: { nodes: cluster.startupNodes } }, servers: () => cluster.masters(), stop: () => cluster.stop() };
});
