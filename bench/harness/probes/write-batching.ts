/**
 * Probe behind the write-heavy figures: SET throughput of one connection at a given concurrency
 * for raw ioredis (one socket write per command, its default), ioredis with auto-pipelining,
 * node-redis 5 (@redis/client, cache-manager's client through @keyv/redis: it writes every
 * command of a tick in one go), and larder's setValue. Same value, same codec, 5 alternating rounds.
 *
 *   node --conditions=larder-source --import tsx bench/harness/probes/write-batching.ts [concurrency=64]
 */
import { createClient } from '@redis/client';
import { Redis } from 'ioredis';
import { createCache, defaultCodec } from '../../../src/index.js';
import { startRedis } from '../../../test/support/redis-server.js';
import { fmt, median, throughputClocked } from '../../lib.js';
import { smallValue } from '../workload.js';

const c = Number(process.argv[2] ?? 64);
const server = await startRedis();
try {
  const raw = new Redis(server.url);
  const auto = new Redis(server.url, { enableAutoPipelining: true });
  const nr = createClient({ url: server.url });
  await nr.connect();
  const cache = createCache({ store: server.url, namespace: 'probe' });
  await Promise.all([raw.ping(), auto.ping(), cache.exists('warm-up')]);
  const v = smallValue(1);
  const systems: Array<[string, (i: number) => Promise<unknown>]> = [
    ['raw ioredis SET', (i) => raw.set(`r:${i & 1023}`, defaultCodec.encode(v), 'EX', 3600)],
    ['ioredis auto-pipelining SET', (i) => auto.set(`a:${i & 1023}`, defaultCodec.encode(v), 'EX', 3600)],
    ['node-redis 5 SET', (i) => nr.set(`n:${i & 1023}`, defaultCodec.encode(v), { expiration: { type: 'EX', value: 3600 } })],
    ['larder setValue', (i) => cache.setValue(`item:${i & 1023}`, v, { expiresInSec: 3600 }).then(() => true)],
  ];
  const out = new Map<string, number[]>(systems.map(([n]) => [n, []]));
  for (let r = 0; r < 5; r++) {
    for (const [n, op] of r % 2 ? [...systems].reverse() : systems) out.get(n)!.push((await throughputClocked(op, c, 800)).opsPerSec);
  }
  console.log(`SET throughput, concurrency ${c}, 5 rounds × 800 ms (median, then every round)`);
  for (const [n, xs] of out) console.log(`${n.padEnd(30)} ${fmt(median(xs)).padStart(7)}   ${xs.map(fmt).join(' ')}`);
  raw.disconnect();
  auto.disconnect();
  await nr.quit();
  await cache.close();
} finally {
  await server.stop();
}
process.exit(0);
