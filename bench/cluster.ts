/**
 * Issue 6's figures, on a local six-node Redis Cluster (three masters, three replicas), in one
 * process run:
 *  1. larder getValue (hit) and setValue against raw ioredis Cluster get/set with the same codec,
 *     at concurrency 1 and 64 (larder coalesces same-tick reads into one MGET per slot);
 *  2. lock wake-up messages: raw PUBLISH (broadcast over the cluster bus to every node) against raw
 *     SPUBLISH (one shard), the choice larder makes for lock channels;
 *  3. deleteKeys of 5,000 keys spread over every master, against a raw SCAN per master with the
 *     UNLINKs of each batch sent together.
 *
 *   node --conditions=larder-source --import tsx bench/cluster.ts [--quick]
 *
 * Starts its own cluster on free ports (persistence off) and stops it afterwards.
 */
import { Cluster } from 'ioredis';
import { createCache } from '../src/index.js';
import { decodeValue, encodeValue } from '../src/codec/index.js';
import { physicalKey } from '../src/keys.js';
import { startCluster } from '../test/support/cluster.js';
import { compare, fmt, machine, median, table, type System } from './lib.js';

const quick = process.argv.includes('--quick');
const rounds = quick ? 3 : 5;
const durationMs = quick ? 500 : 1500;
const KEYS = 1000;
const value = { name: 'ITEM-0001', rate: 120.5, uom: 'Nos', tags: ['a', 'b'], updated: new Date(1_700_000_000_000) };

const cluster = await startCluster();
try {
  const raw = new Cluster(cluster.startupNodes);
  const cache = createCache({ store: { cluster: { nodes: cluster.startupNodes } }, namespace: 'bench' });
  const max = 64 * 1024 * 1024;
  const physical = Array.from({ length: KEYS }, (_, i) => physicalKey({ namespace: 'bench', user: null, shared: false }, 'k', `item:${i}`));
  for (let i = 0; i < KEYS; i++) await cache.setValue(`item:${i}`, value);

  const readers: System[] = [
    { name: 'raw', op: async (i) => decodeValue((await raw.getBuffer(physical[i % KEYS]!))!) },
    { name: 'larder', op: (i) => cache.getValue(`item:${i % KEYS}`) },
  ];
  const writers: System[] = [
    { name: 'raw', op: (i) => raw.set(physical[i % KEYS]!, encodeValue(value, max)) },
    { name: 'larder', op: (i) => cache.setValue(`item:${i % KEYS}`, value) },
  ];
  // Lock channels are the lock's key: 64 different locks, so 64 shard channels.
  const channels = Array.from({ length: 64 }, (_, i) => physicalKey({ namespace: 'bench', user: null, shared: false }, 'L', `lock:${i}`));
  const empty = Buffer.alloc(0);
  const publishers: System[] = [
    { name: 'raw', op: (i) => raw.publish(channels[i % 64]!, empty) },
    { name: 'larder', op: (i) => raw.spublish(channels[i % 64]!, empty) },
  ];

  console.log(`# larder on Redis Cluster (3 masters + 3 replicas, local) — ${machine()}`);
  console.log(`# command: node --conditions=larder-source --import tsx bench/cluster.ts${quick ? ' --quick' : ''}; ${rounds} rounds × ${durationMs} ms, medians\n`);
  const rows = [['scenario', 'concurrency', 'baseline ops/s', 'larder ops/s', 'larder / baseline']];
  for (const [label, systems] of [
    ['getValue hit (baseline: raw ioredis Cluster get + decode)', readers],
    ['setValue (baseline: raw ioredis Cluster set + encode)', writers],
    ['wake-up message (baseline: PUBLISH; larder: SPUBLISH)', publishers],
  ] as const) {
    for (const c of [1, 64]) {
      const r = await compare(systems, c, { rounds, durationMs });
      const [base, ours] = [r.get('raw')!, r.get('larder')!];
      rows.push([label, String(c), fmt(base), fmt(ours), `${(ours / base).toFixed(2)}×`]);
    }
  }

  // deleteKeys: wall time for 5,000 keys, fresh each run, alternating.
  const N = 5000;
  const fill = async (prefix: string) => {
    await cache.setMany(Array.from({ length: N }, (_, i) => [`${prefix}:${i}`, i] as [string, number]));
  };
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    await fill('del');
    let t = performance.now();
    const n = await cache.deleteKeys('del:');
    ours.push(performance.now() - t);
    if (n !== N) throw new Error(`deleteKeys removed ${n}`);
    await fill('del');
    t = performance.now();
    let removed = 0;
    const match = `${cache.keyPrefix}{*}k-:del:*`;
    for (const node of raw.nodes('master')) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 100);
        cursor = next;
        // Keys of one batch hash to many slots: one UNLINK each, sent together.
        removed += (await Promise.all(keys.map((k) => node.unlink(k)))).reduce((a, b) => a + b, 0);
      } while (cursor !== '0');
    }
    theirs.push(performance.now() - t);
    if (removed !== N) throw new Error(`raw scan removed ${removed}`);
  }
  const [mo, mt] = [median(ours), median(theirs)];
  rows.push([`deleteKeys ${N} keys, ms (baseline: SCAN per master, UNLINKs of a batch sent together)`, '1', mt.toFixed(0), mo.toFixed(0), `${(mt / mo).toFixed(2)}× (speed)`]);
  console.log(table(rows));
  await cache.close();
  raw.disconnect();
} finally {
  await cluster.stop();
}
