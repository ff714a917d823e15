/**
 * Throughput probe: `RedisStore.get` (same-tick coalescing into MGET) against raw ioredis
 * `getBuffer`, one local redis-server, C concurrent callers each awaiting one get after another.
 *
 *   node --conditions=larder-source --import tsx bench/redis-get-probe.ts [seconds=3] [concurrency=64,1]
 *
 * Both sides use ioredis 6 with its defaults (RESP3), one connection each, 1,000 keys of 100 bytes.
 * Rounds alternate raw/store to even out machine noise; the best round of each is reported.
 */
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { startRedis } from '../test/support/redis-server.js';
import { createRedisStore } from '../src/stores/redis/index.js';

const seconds = Number(process.argv[2] ?? 3);
const concurrencies = (process.argv[3] ?? '64,1').split(',').map(Number);
const KEYS = Array.from({ length: 1000 }, (_, i) => `probe:{${i % 97}}:${i}`);
const VALUE = Buffer.alloc(100, 0x61);

type Get = (key: string) => Promise<Buffer | null>;

async function measure(get: Get, concurrency: number, ms: number): Promise<number> {
  let ops = 0;
  let running = true;
  const worker = async (w: number) => {
    let i = w;
    while (running) {
      const v = await get(KEYS[i % KEYS.length]!);
      if (v === null) throw new Error('miss');
      ops++;
      i += 7;
    }
  };
  const t0 = performance.now();
  const workers = Array.from({ length: concurrency }, (_, w) => worker(w));
  await new Promise((r) => setTimeout(r, ms));
  running = false;
  await Promise.all(workers);
  return ops / ((performance.now() - t0) / 1000);
}

const server = await startRedis();
const raw = new Redis(server.port, server.host);
const store = createRedisStore(server.url, { commandTimeoutMs: 1000 });
try {
  await raw.mset(...KEYS.flatMap((k) => [k, VALUE]));
  const rawGet: Get = (k) => raw.getBuffer(k);
  const storeGet: Get = (k) => store.get(k);
  console.log(`node ${process.version}, redis-server ${server.port}, ${seconds}s per round, best of 3 rounds`);
  for (const c of concurrencies) {
    await measure(rawGet, c, 500);
    await measure(storeGet, c, 500);
    let bestRaw = 0;
    let bestStore = 0;
    for (let round = 0; round < 3; round++) {
      bestRaw = Math.max(bestRaw, await measure(rawGet, c, seconds * 1000));
      bestStore = Math.max(bestStore, await measure(storeGet, c, seconds * 1000));
    }
    console.log(
      `concurrency ${String(c).padStart(3)}: raw ioredis getBuffer ${Math.round(bestRaw).toLocaleString('en')} ops/s, ` +
        `store.get ${Math.round(bestStore).toLocaleString('en')} ops/s, ratio ${(bestStore / bestRaw).toFixed(2)}x`,
    );
  }
} finally {
  raw.disconnect();
  await store.close();
  await server.stop();
}
