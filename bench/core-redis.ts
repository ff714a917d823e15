/**
 * Issue 2's first figure: larder's getValue (hit) and setValue on Redis against raw ioredis
 * get/set with the same codec, at concurrency 1 and 64, in one process run.
 *
 *   node --conditions=larder-source --import tsx bench/core-redis.ts [--quick]
 *
 * Starts its own redis-server on a free port (persistence off) and stops it afterwards.
 */
import { Redis } from 'ioredis';
import { createCache } from '../src/index.js';
import { decodeValue, encodeValue } from '../src/codec/index.js';
import { physicalKey } from '../src/keys.js';
import { startRedis } from '../test/support/redis-server.js';
import { compare, fmt, machine, table, type System } from './lib.js';

const quick = process.argv.includes('--quick');
const rounds = quick ? 3 : 5;
const durationMs = quick ? 500 : 1500;
const KEYS = 1000;
const value = { name: 'ITEM-0001', rate: 120.5, uom: 'Nos', tags: ['a', 'b'], updated: new Date(1_700_000_000_000) };

const server = await startRedis();
const raw = new Redis(server.url, { lazyConnect: false });
const cache = createCache({ store: server.url, namespace: 'bench' });
const max = 64 * 1024 * 1024;
const physical = Array.from({ length: KEYS }, (_, i) => physicalKey({ namespace: 'bench', user: null, shared: false }, 'k', `item:${i}`));
for (let i = 0; i < KEYS; i++) await cache.setValue(`item:${i}`, value);

const readers: System[] = [
  { name: 'raw ioredis get + decode', op: async (i) => decodeValue((await raw.getBuffer(physical[i % KEYS]!))!) },
  { name: 'larder getValue', op: (i) => cache.getValue(`item:${i % KEYS}`) },
];
const writers: System[] = [
  { name: 'raw ioredis set + encode', op: (i) => raw.set(physical[i % KEYS]!, encodeValue(value, max)) },
  { name: 'larder setValue', op: (i) => cache.setValue(`item:${i % KEYS}`, value) },
];

console.log(`# larder vs raw ioredis — ${machine()}`);
console.log(`# command: node --conditions=larder-source --import tsx bench/core-redis.ts${quick ? ' --quick' : ''}; ${rounds} rounds × ${durationMs} ms, medians\n`);
const rows = [['scenario', 'concurrency', 'raw ioredis ops/s', 'larder ops/s', 'larder / raw']];
for (const [label, systems] of [['getValue hit', readers], ['setValue', writers]] as const) {
  for (const c of [1, 64]) {
    const r = await compare(systems, c, { rounds, durationMs });
    const [rawOps, larderOps] = [r.get(systems[0]!.name)!, r.get(systems[1]!.name)!];
    rows.push([label, String(c), fmt(rawOps), fmt(larderOps), `${(larderOps / rawOps).toFixed(2)}×`]);
  }
}
console.log(table(rows));
await cache.close();
raw.disconnect();
await server.stop();
