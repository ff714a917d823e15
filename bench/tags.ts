/**
 * Issue 15's tag figures, larder beside bentocache 1.6.1's tags, in one process run:
 *  1. invalidating a tag carried by 10,000 entries: wall time of the call, the store calls larder
 *     made (one call = one round trip when they go out together), and the commands the server ran
 *     (INFO commandstats) for larder's `invalidateTags` and bentocache's `deleteByTag`; then the
 *     time to read all 10,000 again (every read a miss);
 *  2. hit throughput of tagged vs untagged entries: larder on Redis (no near cache), larder's near
 *     cache, bentocache's Redis tier; 10,000 keys, each tagged entry carrying two tags, concurrency 64;
 *  3. Redis `used_memory` per entry, 10,000 entries untagged and tagged (two tags each).
 *
 *   node --conditions=larder-source --import tsx bench/tags.ts [--quick]
 *
 * Starts its own redis-server on a free port (persistence off) and stops it afterwards.
 */
import { BentoCache, bentostore } from 'bentocache';
import { redisDriver } from 'bentocache/drivers/redis';
import { createCache, type Cache } from '../src/index.js';
import { startRedis, type RedisServer } from '../test/support/redis-server.js';
import { chaosStore } from '../test/support/chaos-store.js';
import { createRedisStore } from '../src/stores/redis/index.js';
import { fmt, machine, median, table, throughputClocked, type System } from './lib.js';

/**
 * Median ops/s per system over alternating rounds. The clocked loop: near-cache hits settle in
 * microtasks, which would starve lib.ts' timer-stopped loop.
 */
async function compare(systems: System[], concurrency: number, opts: { rounds: number; durationMs: number }): Promise<Map<string, number>> {
  for (const s of systems) await throughputClocked(s.op, concurrency, 300);
  const results = new Map<string, number[]>(systems.map((s) => [s.name, []]));
  for (let r = 0; r < opts.rounds; r++) {
    const order = r % 2 === 0 ? systems : [...systems].reverse();
    for (const s of order) results.get(s.name)!.push((await throughputClocked(s.op, concurrency, opts.durationMs)).opsPerSec);
  }
  return new Map([...results].map(([k, v]) => [k, median(v)]));
}

const quick = process.argv.includes('--quick');
const N = 10_000;
const ROUNDS = quick ? 3 : 7;
const DURATION = quick ? 300 : 800;
const value = (i: number) => ({ code: `ITEM-${i}`, rate: i * 1.5, uom: 'Nos', groups: ['a', 'b'] });
const tagsOf = (i: number) => [`item-group:${i % 100}`, 'doctype:Item'];

function bento(server: RedisServer, prefix: string) {
  return new BentoCache({
    default: 'c',
    prefix,
    stores: { c: bentostore().useL2Layer(redisDriver({ connection: { host: server.host, port: server.port } })) },
  });
}

async function commands(server: RedisServer): Promise<number> {
  const info = await server.cli('INFO', 'commandstats');
  let n = 0;
  for (const m of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) if (m[1] !== 'info') n += Number(m[2]);
  return n;
}

async function usedMemory(server: RedisServer): Promise<number> {
  const info = await server.cli('INFO', 'memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
}

const server = await startRedis();
const out: string[] = [];
const log = (s: string) => {
  out.push(s);
  console.log(s);
};
try {
  log(`# Tags (issue 15), ${new Date().toISOString()}\n\n${machine()}\n`);

  // ------------------------------------------------------------- 1. invalidation of a wide tag
  {
    const rows = [['system', 'invalidate: ms (median)', 'store calls (larder)', 'server commands', 'then read all 10,000: ms (median)']];
    const larderMs: number[] = [];
    const bentoMs: number[] = [];
    const larderReadMs: number[] = [];
    const bentoReadMs: number[] = [];
    let larderCalls = 0;
    let larderCmds = 0;
    let bentoCmds = 0;
    for (let r = 0; r < (quick ? 2 : 5); r++) {
      await server.cli('FLUSHALL');
      const store = chaosStore(createRedisStore(server.url, { commandTimeoutMs: 5000 }));
      const cache = createCache({ store, namespace: 'bench', commandTimeoutMs: 5000 });
      const b = bento(server, 'bento');
      for (let i = 0; i < N; i += 500) {
        await Promise.all(Array.from({ length: 500 }, (_, j) => cache.setValue(`k${i + j}`, value(i + j), { tags: ['wide'] })));
        await Promise.all(Array.from({ length: 500 }, (_, j) => b.set({ key: `k${i + j}`, value: value(i + j), tags: ['wide'] })));
      }
      let c0 = await commands(server);
      const s0 = store.totalCalls();
      let t0 = performance.now();
      await cache.invalidateTags(['wide']);
      larderMs.push(performance.now() - t0);
      larderCalls = store.totalCalls() - s0;
      larderCmds = (await commands(server)) - c0;
      c0 = await commands(server);
      t0 = performance.now();
      await b.deleteByTag({ tags: ['wide'] });
      bentoMs.push(performance.now() - t0);
      bentoCmds = (await commands(server)) - c0;
      t0 = performance.now();
      for (let i = 0; i < N; i += 500) {
        const got = await Promise.all(Array.from({ length: 500 }, (_, j) => cache.getValue(`k${i + j}`)));
        if (got.some((v) => v !== undefined)) throw new Error('larder served an invalidated entry');
      }
      larderReadMs.push(performance.now() - t0);
      t0 = performance.now();
      for (let i = 0; i < N; i += 500) {
        const got = await Promise.all(Array.from({ length: 500 }, (_, j) => b.get({ key: `k${i + j}` })));
        if (got.some((v) => v !== undefined && v !== null)) throw new Error('bentocache served an invalidated entry');
      }
      bentoReadMs.push(performance.now() - t0);
      await cache.close();
      await b.disconnectAll();
    }
    rows.push(['larder invalidateTags', median(larderMs).toFixed(2), String(larderCalls), String(larderCmds), median(larderReadMs).toFixed(0)]);
    rows.push(['bentocache deleteByTag', median(bentoMs).toFixed(2), '—', String(bentoCmds), median(bentoReadMs).toFixed(0)]);
    log(`## Invalidate one tag carried by ${N.toLocaleString('en')} entries (Redis standalone)\n\n${table(rows)}\n`);
  }

  // ------------------------------------------------------------- 2. tagged vs untagged hits
  {
    await server.cli('FLUSHALL');
    const plain = createCache({ store: server.url, namespace: 'hits' });
    const near = createCache({ store: server.url, namespace: 'hits', nearCache: { maxEntries: 100_000 } });
    const b = bento(server, 'bento-hits');
    for (let i = 0; i < N; i++) {
      await plain.setValue(`u${i}`, value(i));
      await plain.setValue(`t${i}`, value(i), { tags: tagsOf(i) });
      await b.set({ key: `u${i}`, value: value(i) });
      await b.set({ key: `t${i}`, value: value(i), tags: tagsOf(i) });
    }
    await near.exists('warm-up');
    await near.core.near!.whenActive();
    for (let i = 0; i < N; i++) {
      await near.getValue(`u${i}`);
      await near.getValue(`t${i}`);
    }
    const check = async (c: Cache, k: string) => {
      if ((await c.getValue(k)) === undefined) throw new Error(`miss on ${k}`);
    };
    for (let i = 0; i < 100; i++) {
      await check(plain, `t${i}`);
      await check(near, `t${i}`);
    }
    const systems: System[] = [
      { name: 'larder Redis untagged', op: (i) => plain.getValue(`u${i % N}`) },
      { name: 'larder Redis tagged', op: (i) => plain.getValue(`t${i % N}`) },
      { name: 'larder near untagged', op: (i) => near.getValue(`u${i % N}`) },
      { name: 'larder near tagged', op: (i) => near.getValue(`t${i % N}`) },
      { name: 'bentocache Redis untagged', op: (i) => b.get({ key: `u${i % N}` }) },
      { name: 'bentocache Redis tagged', op: (i) => b.get({ key: `t${i % N}` }) },
    ];
    const redisPair = await compare(systems.slice(0, 2), 64, { rounds: ROUNDS, durationMs: DURATION });
    const nearPair = await compare(systems.slice(2, 4), 64, { rounds: ROUNDS, durationMs: DURATION });
    const bentoPair = await compare(systems.slice(4, 6), 64, { rounds: ROUNDS, durationMs: DURATION });
    const rows = [['system', 'untagged ops/s', 'tagged ops/s', 'tagged ÷ untagged', 'target']];
    const row = (name: string, m: Map<string, number>, u: string, t: string, target: string) => {
      rows.push([name, fmt(m.get(u)!), fmt(m.get(t)!), `${(m.get(t)! / m.get(u)!).toFixed(2)}×`, target]);
    };
    row('larder, Redis (no near cache)', redisPair, 'larder Redis untagged', 'larder Redis tagged', '≥ 0.8×');
    row('larder, near-cache hits', nearPair, 'larder near untagged', 'larder near tagged', '≥ 0.95×');
    row('bentocache, Redis tier', bentoPair, 'bentocache Redis untagged', 'bentocache Redis tagged', '—');
    log(`## Hits: tagged vs untagged (${N.toLocaleString('en')} keys, two tags per tagged entry, concurrency 64, median of ${ROUNDS} alternating rounds)\n\n${table(rows)}\n`);
    await plain.close();
    await near.close();
    await b.disconnectAll();
  }

  // ------------------------------------------------------------- 3. memory per tagged entry
  {
    const rows = [['system', 'untagged B/entry', 'tagged B/entry', 'tag bookkeeping B/entry']];
    const measure = async (write: (i: number) => Promise<unknown>) => {
      await server.cli('FLUSHALL');
      await new Promise((r) => setTimeout(r, 50));
      const m0 = await usedMemory(server);
      for (let i = 0; i < N; i += 500) await Promise.all(Array.from({ length: 500 }, (_, j) => write(i + j)));
      return ((await usedMemory(server)) - m0) / N;
    };
    const cache = createCache({ store: server.url, namespace: 'mem' });
    const b = bento(server, 'bento-mem');
    const lu = await measure((i) => cache.setValue(`k${i}`, value(i), { expiresInSec: 3600 }));
    const lt = await measure((i) => cache.setValue(`k${i}`, value(i), { expiresInSec: 3600, tags: tagsOf(i) }));
    const bu = await measure((i) => b.set({ key: `k${i}`, value: value(i), ttl: 3600_000 }));
    const bt = await measure((i) => b.set({ key: `k${i}`, value: value(i), ttl: 3600_000, tags: tagsOf(i) }));
    rows.push(['larder', lu.toFixed(0), lt.toFixed(0), (lt - lu).toFixed(0)]);
    rows.push(['bentocache', bu.toFixed(0), bt.toFixed(0), (bt - bu).toFixed(0)]);
    log(`## Redis used_memory per entry (${N.toLocaleString('en')} entries, two tags each, 101 distinct tags)\n\n${table(rows)}\n`);
    await cache.close();
    await b.disconnectAll();
  }
} finally {
  await server.stop();
}
process.exit(0);
