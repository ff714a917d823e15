/**
 * Issue 5's near-cache figures, in one process run:
 *  1. hit throughput: larder getValue served by the near cache vs an awaited `async` Map lookup
 *     (the upper bound for any async API) vs bentocache 1.6.1 multi-tier (memory L1 + Redis L2 +
 *     Redis bus, its documented set-up), all hits, concurrency 1 and 64;
 *  2. heap bytes per entry over 100k entries: larder's near cache vs a plain Map holding the same
 *     keys and decoded values (and bentocache's memory L1 for reference);
 *  3. time until another client's write is visible to a reader (p50/p99): larder (Redis tracking
 *     invalidation) vs bentocache (its Redis bus), each polled with the same loop.
 *
 *   node --expose-gc --conditions=larder-source --import tsx bench/near-cache.ts [--quick]
 *
 * Starts its own redis-server on a free port (persistence off) and stops it afterwards.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import { createCache } from '../src/index.js';
import { decodeValue, encodeValue } from '../src/codec/index.js';
import { physicalKey } from '../src/keys.js';
import { deepFreeze } from '../src/documents.js';
import { startRedis } from '../test/support/redis-server.js';
import { fmt, machine, median, percentile, table, type System } from './lib.js';

/**
 * lib.ts' throughput() stops on a timer, which never fires while every operation settles in a
 * microtask (a Map lookup, a near-cache hit): the loop would starve the timer. Here each worker
 * reads the clock every 64 operations instead.
 */
async function throughput(op: (i: number) => Promise<unknown>, concurrency: number, durationMs: number): Promise<number> {
  let ops = 0;
  const t0 = performance.now();
  const end = t0 + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      let i = w * 7919;
      for (;;) {
        for (let k = 0; k < 64; k++) await op(i++);
        ops += 64;
        if (performance.now() >= end) return;
      }
    }),
  );
  return ops / ((performance.now() - t0) / 1000);
}

async function compare(systems: System[], concurrency: number, opts: { rounds: number; durationMs: number }): Promise<Map<string, number>> {
  for (const s of systems) await throughput(s.op, concurrency, 300);
  const results = new Map<string, number[]>(systems.map((s) => [s.name, []]));
  for (let r = 0; r < opts.rounds; r++) {
    const order = r % 2 === 0 ? systems : [...systems].reverse();
    for (const s of order) results.get(s.name)!.push(await throughput(s.op, concurrency, opts.durationMs));
  }
  return new Map([...results].map(([k, v]) => [k, median(v)]));
}

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');
const quick = process.argv.includes('--quick');
const rounds = quick ? 3 : 5;
const durationMs = quick ? 400 : 1200;
const KEYS = 1000;
const MEM_ENTRIES = 100_000;
const value = { name: 'ITEM-0001', rate: 120.5, uom: 'Nos', tags: ['a', 'b'], disabled: false };

const memArg = process.argv.find((a) => a.startsWith('--mem='))?.slice(6);
if (memArg !== undefined) {
  await memoryChild(memArg, Number(process.argv.find((a) => a.startsWith('--port='))!.slice(7)));
  process.exit(0);
}

/** One heap measurement: MEM_ENTRIES entries of `value` in the structure `kind`; prints JSON. */
async function memoryChild(kind: string, port: number): Promise<void> {
  const heap = () => {
    gc!();
    gc!();
    return process.memoryUsage().heapUsed;
  };
  const names = Array.from({ length: MEM_ENTRIES }, (_, i) => `item:${i}`);
  const scope = { namespace: 'mem', user: null, shared: false };
  const bytes = encodeValue(value, 1 << 26);
  let h0: number;
  let kept = MEM_ENTRIES;
  let keep: unknown;
  if (kind === 'map' || kind === 'frozen-map') {
    h0 = heap();
    const plain = new Map<string, unknown>();
    for (const n of names) {
      const v = decodeValue(bytes);
      plain.set(flat(physicalKey(scope, 'k', n)), kind === 'map' ? v : deepFreeze(v));
    }
    keep = plain;
  } else if (kind === 'near') {
    const url = `redis://127.0.0.1:${port}`;
    const writer = createCache({ store: url, namespace: 'mem' });
    for (let i = 0; i < MEM_ENTRIES; i += 1000) await writer.setMany(names.slice(i, i + 1000).map((n) => [n, value] as [string, unknown]));
    await writer.close();
    const cache = createCache({ store: url, namespace: 'mem', nearCache: { maxEntries: 200_000 } });
    await cache.exists('warm-up');
    await cache.core.near!.whenActive();
    await cache.getValue(names[0]!);
    h0 = heap();
    for (let i = 0; i < MEM_ENTRIES; i += 500) await Promise.all(names.slice(i, i + 500).map((n) => cache.getValue(n)));
    kept = cache.core.near!.size;
    keep = cache;
  } else {
    const l1 = new BentoCache({ default: 'm', stores: { m: bentostore().useL1Layer(memoryDriver({ maxItems: 200_000 })) } });
    await l1.set({ key: 'warm', value, ttl: '1h' });
    h0 = heap();
    for (const n of names) await l1.set({ key: n, value, ttl: '1h' });
    keep = l1;
  }
  const perEntry = (heap() - h0) / MEM_ENTRIES;
  // `names` (allocated before h0) is used after the last heap(): otherwise V8 may free it before
  // then, and a structure that does not keep the caller's key strings (the plain Map) would be
  // credited with freeing 100k strings it never held (-40 B/entry, measured).
  console.log(JSON.stringify({ perEntry, kept, alive: keep !== null && names.length === MEM_ENTRIES }));
}

const server = await startRedis();
const connection = { host: '127.0.0.1', port: server.port };
const bento = (l1: boolean) =>
  new BentoCache({
    default: 'multitier',
    stores: {
      multitier: l1
        ? bentostore()
            .useL1Layer(memoryDriver({ maxSize: '200mb' }))
            .useL2Layer(redisDriver({ connection }))
            .useBus(redisBusDriver({ connection }))
        : bentostore().useL2Layer(redisDriver({ connection })),
    },
  });

console.log(`# near cache — ${machine()}`);
console.log(`# command: node --expose-gc --conditions=larder-source --import tsx bench/near-cache.ts${quick ? ' --quick' : ''}; ${rounds} rounds × ${durationMs} ms, medians\n`);

// ------------------------------------------------------------------ 1. hit throughput
{
  const cache = createCache({ store: server.url, namespace: 'bench', nearCache: { maxEntries: 10_000 } });
  const names = Array.from({ length: KEYS }, (_, i) => `item:${i}`);
  await cache.exists('warm-up');
  await cache.core.near!.whenActive();
  for (const n of names) await cache.setValue(n, value); // own writes: kept near at once
  const map = new Map(names.map((n) => [n, Object.freeze({ ...value })]));
  const b = bento(true);
  for (const n of names) await b.set({ key: n, value, ttl: '1h' });
  for (const n of names) await b.get({ key: n });
  const systems: System[] = [
    { name: 'async Map', op: async (i) => map.get(names[i % KEYS]!) },
    { name: 'larder near', op: (i) => cache.getValue(names[i % KEYS]!) },
    { name: 'larder peek', op: async (i) => cache.peek(names[i % KEYS]!) },
    { name: 'bentocache L1+L2+bus', op: (i) => b.get({ key: names[i % KEYS]! }) },
  ];
  const rows = [['concurrency', 'async Map ops/s', 'larder getValue (near hit) ops/s', 'larder / Map', 'larder peek in async fn', 'peek / Map', 'bentocache ops/s', 'larder / bentocache']];
  for (const c of [1, 64]) {
    const r = await compare(systems, c, { rounds, durationMs });
    const m = r.get('async Map')!;
    const l = r.get('larder near')!;
    const bc = r.get('bentocache L1+L2+bus')!;
    const pk = r.get('larder peek')!;
    rows.push([String(c), fmt(m), fmt(l), `${(l / m).toFixed(2)}×`, fmt(pk), `${(pk / m).toFixed(2)}×`, fmt(bc), `${(l / bc).toFixed(1)}×`]);
  }
  const s = cache.stats();
  console.log('## hit throughput (all hits; 1,000 keys)\n');
  console.log(table(rows));
  console.log(`\n(larder store reads during the runs: ${s.store.hits + s.store.misses}; near hits: ${fmt(s.near.hits)})\n`);
  await cache.close();
  await b.disconnectAll();
}

// ------------------------------------------------------------------ 2. heap per entry
// Each structure is measured in a fresh child process (this script with --mem=<kind>), so that
// nothing freed late by an earlier phase shows up in the difference.
{
  const measureIn = (kind: string) =>
    new Promise<{ perEntry: number; kept: number }>((resolve, reject) => {
      const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), `--mem=${kind}`, `--port=${server.port}`], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!) as { perEntry: number; kept: number }) : reject(new Error(`--mem=${kind} exited ${code}`))));
    });
  const map = await measureIn('map');
  const frozen = await measureIn('frozen-map');
  const near = await measureIn('near');
  const bentoL1 = await measureIn('bento');
  console.log(`## heap per entry (${fmt(MEM_ENTRIES)} entries of ${encodeValue(value, 1 << 26).length} encoded bytes; larder kept ${near.kept})\n`);
  console.log(
    table([
      ['structure', 'bytes / entry', 'vs plain Map'],
      ['plain Map<physical key (flat string), decoded value>', map.perEntry.toFixed(0), '1.00×'],
      ['plain Map<physical key (flat string), deep-frozen value>', frozen.perEntry.toFixed(0), `${(frozen.perEntry / map.perEntry).toFixed(2)}×`],
      ['larder near cache (filled by getValue)', near.perEntry.toFixed(0), `${(near.perEntry / map.perEntry).toFixed(2)}×`],
      ['bentocache memory L1', bentoL1.perEntry.toFixed(0), `${(bentoL1.perEntry / map.perEntry).toFixed(2)}×`],
    ]),
  );
  console.log();
}

// ------------------------------------------------------------------ 3. time to see another client's write
{
  const N = quick ? 100 : 300;
  const poll = async (read: () => Promise<unknown>, want: number) => {
    for (;;) {
      if ((await read()) === want) return;
      await new Promise((r) => setImmediate(r));
    }
  };
  const measure = async (read: () => Promise<unknown>, write: (v: number) => Promise<unknown>) => {
    const lags: number[] = [];
    for (let i = 0; i < N; i++) {
      await write(2 * i);
      await poll(read, 2 * i);
      await read(); // now kept near
      const t0 = performance.now();
      await write(2 * i + 1);
      await poll(read, 2 * i + 1);
      lags.push(performance.now() - t0);
    }
    return lags;
  };
  const reader = createCache({ store: server.url, namespace: 'lag', nearCache: { maxEntries: 100 } });
  const writer = createCache({ store: server.url, namespace: 'lag' });
  await reader.exists('warm-up');
  await reader.core.near!.whenActive();
  const larder = await measure(() => reader.getValue('k'), (v) => writer.setValue('k', v));
  await reader.close();
  await writer.close();

  const br = bento(true);
  const bw = bento(true);
  const bento1 = await measure(() => br.get({ key: 'k' }), (v) => bw.set({ key: 'k', value: v, ttl: '1h' }));
  await br.disconnectAll();
  await bw.disconnectAll();

  const ms = (x: number) => `${x.toFixed(2)} ms`;
  console.log(`## time until another client's write is visible (write issued → reader returns the new value; ${N} writes, reader polling)\n`);
  console.log(
    table([
      ['system', 'p50', 'p99', 'max'],
      ['larder near (CLIENT TRACKING)', ms(percentile(larder, 50)), ms(percentile(larder, 99)), ms(Math.max(...larder))],
      ['bentocache L1 (Redis bus)', ms(percentile(bento1, 50)), ms(percentile(bento1, 99)), ms(Math.max(...bento1))],
    ]),
  );
}

await server.stop();
process.exit(0);

/**
 * A flat copy of a string. physicalKey() builds a cons string (a tree of its parts, ~170 bytes
 * more here); V8 hashes it for a Map without flattening it, while the near cache's keys are
 * flattened when the GET is written to the socket (and GC then drops the tree). A baseline of
 * cons strings would flatter the near cache by that much, so the baseline holds flat keys.
 */
function flat(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}
