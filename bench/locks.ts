/**
 * Issue 4's figures: larder's lock against redlock 4.2.0 and redis-semaphore 5.8.0 (Mutex), each
 * with its defaults, on one local redis-server, in one process run; raw ioredis SET NX PX + DEL as
 * the upper bound (no token check on release, no fencing, no waiting).
 *
 *   node --conditions=larder-source --import tsx bench/locks.ts [--quick]
 *
 *  1. Uncontended acquire+release: a worker acquires a lock nobody else wants and releases it, in
 *     a closed loop; throughput at concurrency 1 (one lock) and 16 (one lock per worker), and the
 *     latency of one acquire+release at concurrency 1.
 *  2. Hand-off: a holder holds the lock, a waiter (its own client and connections) is blocked on
 *     it; 20–30 ms later the holder releases. Measured: from the holder calling release() to the
 *     waiter's grant resolving. larder is woken by the release itself (pub/sub); redis-semaphore
 *     polls every 10 ms; redlock retries every 200 ms + up to 100 ms jitter.
 *
 * Starts its own redis-server on a free port (persistence off) and stops it afterwards.
 */
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import { Mutex } from 'redis-semaphore';
import { createCache } from '../src/index.js';
import { startRedis } from '../test/support/redis-server.js';
import { compare, fmt, machine, percentile, table, type System } from './lib.js';

// redlock 4 ships no type declarations: the little of it used here.
interface RedlockLock {
  unlock(): Promise<void>;
}
type RedlockCtor = new (clients: Redis[], opts?: object) => { lock(resource: string, ttl: number): Promise<RedlockLock> };
const Redlock = createRequire(import.meta.url)('redlock') as RedlockCtor;

const quick = process.argv.includes('--quick');
// Many short rounds, systems alternating within each: on a shared machine, noise then hits all alike.
const rounds = quick ? 3 : 11;
const durationMs = quick ? 500 : 700;
const TTL = 30_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Adapter {
  name: string;
  acquire(name: string): Promise<unknown>;
  release(handle: unknown): Promise<void>;
}

const server = await startRedis();
const clients: Redis[] = [];
const client = () => {
  const c = new Redis(server.url);
  clients.push(c);
  return c;
};

// Each adapter gets two independent clients: one for the holder, one for the waiter.
function larder(): Adapter {
  const cache = createCache({ store: server.url, namespace: 'bench' });
  return {
    name: 'larder',
    acquire: (name) => cache.lock(name, { ttlMs: TTL, waitMs: 60_000 }),
    release: (l) => (l as Awaited<ReturnType<typeof cache.lock>>).release(),
  };
}
function redlock(): Adapter {
  const rl = new Redlock([client()]);
  return {
    name: 'redlock 4.2.0',
    acquire: (name) => rl.lock(`rl:${name}`, TTL),
    release: async (l) => {
      await (l as RedlockLock).unlock();
    },
  };
}
function semaphore(): Adapter {
  const c = client();
  return {
    name: 'redis-semaphore 5.8.0',
    acquire: async (name) => {
      const m = new Mutex(c, `rs:${name}`); // defaults: lockTimeout 10 s, refresh, retryInterval 10 ms
      await m.acquire();
      return m;
    },
    release: (m) => (m as Mutex).release(),
  };
}
function rawIoredis(): Adapter {
  const c = client();
  let n = 0;
  return {
    name: 'raw ioredis SET NX PX + DEL',
    acquire: async (name) => {
      const key = `raw:${name}`;
      if ((await c.set(key, String(++n), 'PX', TTL, 'NX')) !== 'OK') throw new Error('held');
      return key;
    },
    release: async (key) => {
      await c.del(key as string);
    },
  };
}

const holders = [larder(), redlock(), semaphore(), rawIoredis()];
const waiters = [larder(), redlock(), semaphore()];

console.log(`# locks: larder vs redlock vs redis-semaphore — ${machine()}`);
console.log(`# command: node --conditions=larder-source --import tsx bench/locks.ts${quick ? ' --quick' : ''}; ${rounds} rounds × ${durationMs} ms, medians; each library with its defaults`);
console.log('# larder runs from its TypeScript source through tsx; the others from their published JavaScript\n');

// 1. Uncontended throughput and latency.
const cycle = (a: Adapter, name: string) => async () => a.release(await a.acquire(name));
const systems = (c: number): System[] =>
  holders.map((a) => ({ name: a.name, op: (i: number) => cycle(a, c === 1 ? 'solo' : `solo-${i % c}`)() }));
const thr = new Map<number, Map<string, number>>();
for (const c of [1, 16]) {
  // Distinct keys per worker at concurrency 16: worker w starts at i = w * 7919 and counts up, so
  // `i % c` would collide; give each worker its own key through a closure instead.
  const sys = c === 1 ? systems(1) : holders.map((a) => {
    let next = 0;
    const keyOf = new Map<number, string>();
    return {
      name: a.name,
      op: (i: number) => {
        const w = Math.floor(i / 7919);
        let k = keyOf.get(w);
        if (k === undefined) keyOf.set(w, (k = `solo-${next++}`));
        return cycle(a, k)();
      },
    };
  });
  thr.set(c, await compare(sys, c, { rounds, durationMs }));
}
const lat = new Map<string, number[]>(holders.map((a) => [a.name, []]));
for (let chunk = 0; chunk < (quick ? 4 : 12); chunk++) {
  const order = chunk % 2 === 0 ? holders : [...holders].reverse();
  for (const a of order) {
    const xs = lat.get(a.name)!;
    const op = cycle(a, 'lat');
    for (let i = 0; i < 250; i++) {
      const t0 = performance.now();
      await op();
      xs.push(performance.now() - t0);
    }
  }
}

// 2. Hand-off latency with a waiter blocked.
async function handoff(holder: Adapter, waiter: Adapter, samples: number): Promise<number[]> {
  const out: number[] = [];
  const name = `handoff-${holder.name.split(' ')[0]}`;
  for (let i = 0; i < samples; i++) {
    const h = await holder.acquire(name);
    let granted = 0;
    const w = waiter.acquire(name).then((l) => {
      granted = performance.now();
      return l;
    });
    await sleep(20 + Math.random() * 10);
    const t0 = performance.now();
    await holder.release(h);
    const l = await w;
    out.push(granted - t0);
    await waiter.release(l);
  }
  return out;
}
const hand = new Map<string, number[]>();
for (let i = 0; i < waiters.length; i++) {
  const samples = waiters[i]!.name.startsWith('redlock') ? (quick ? 30 : 60) : quick ? 150 : 400;
  hand.set(waiters[i]!.name, await handoff(holders[i]!, waiters[i]!, samples));
}

const ms = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
const L = 'larder';
const rows = [['system', 'acq+rel ops/s c=1', 'c=16', 'acq+rel p50 ms', 'p99 ms', 'hand-off p50 ms', 'hand-off p99 ms']];
for (const a of holders) {
  const x = lat.get(a.name)!;
  const h = hand.get(a.name);
  rows.push([
    a.name,
    fmt(thr.get(1)!.get(a.name)!),
    fmt(thr.get(16)!.get(a.name)!),
    ms(percentile(x, 50)),
    ms(percentile(x, 99)),
    h ? ms(percentile(h, 50)) : '—',
    h ? ms(percentile(h, 99)) : '—',
  ]);
}
console.log(table(rows));
console.log('\n# ratios: larder relative to each (throughput: larder / other; hand-off: other / larder, higher is better for larder)\n');
const ratios = [['vs', 'uncontended c=1', 'uncontended c=16', 'hand-off p50', 'hand-off p99']];
const lh = hand.get(L)!;
for (const a of holders.slice(1)) {
  const h = hand.get(a.name);
  ratios.push([
    a.name,
    `${(thr.get(1)!.get(L)! / thr.get(1)!.get(a.name)!).toFixed(2)}×`,
    `${(thr.get(16)!.get(L)! / thr.get(16)!.get(a.name)!).toFixed(2)}×`,
    h ? `${(percentile(h, 50) / percentile(lh, 50)).toFixed(1)}×` : '—',
    h ? `${(percentile(h, 99) / percentile(lh, 99)).toFixed(1)}×` : '—',
  ]);
}
console.log(table(ratios));
console.log('\n# larder does 1 round trip to acquire (SET NX PX + fencing INCR in one script) and 1 to release (compare-and-delete + PUBLISH); raw ioredis does 1 + 1 with no safety.');

for (const c of clients) c.disconnect();
await server.stop();
process.exit(0);
