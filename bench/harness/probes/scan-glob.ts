/**
 * Probe behind the pattern-delete figures: how long one full SCAN (COUNT 1000, nothing deleted)
 * of 1,000,000 keys takes with the glob each side sends. larder's keys are
 * `<ns prefix>{<tag>}k-:<name>`, so its glob has a `*` after a prefix every key of the namespace
 * shares (`lr:bench:{*}k-:del:*`), and Redis must try that `*` for every key; the raw keys
 * `raw:bg:<n>` / `raw:del:<n>` fail `raw:del:*` at their fifth character. Each keyspace in a
 * database of its own; 3 alternating rounds.
 *
 *   node --conditions=larder-source --import tsx bench/harness/probes/scan-glob.ts [keys=1000000]
 */
import { Redis } from 'ioredis';
import { createCache } from '../../../src/index.js';
import { startRedis } from '../../../test/support/redis-server.js';
import { median } from '../../lib.js';

const total = Number(process.argv[2] ?? 1_000_000);
const server = await startRedis();
try {
  const larderDb = new Redis(`${server.url}/1`);
  const rawDb = new Redis(`${server.url}/2`);
  const cache = createCache({ store: `${server.url}/1`, namespace: 'bench' });
  for (let i = 0; i < total; i += 10_000) {
    const n = Math.min(10_000, total - i);
    const name = (j: number) => (i + j < total / 100 ? `del:${i + j}` : `bg:${i + j}`);
    await cache.setMany(Array.from({ length: n }, (_, j) => [name(j), j] as [string, unknown]));
    const p = rawDb.pipeline();
    for (let j = 0; j < n; j++) p.set(`raw:${name(j)}`, '1');
    await p.exec();
  }
  const scanUsec = async () => Number(/cmdstat_scan:calls=\d+,usec=(\d+)/.exec(await rawDb.info('commandstats'))?.[1] ?? 0);
  const scan = async (c: Redis, glob: string) => {
    const u0 = await scanUsec();
    const t = performance.now();
    let cursor = '0';
    let found = 0;
    do {
      const [next, keys] = await c.scan(cursor, 'MATCH', glob, 'COUNT', 1000);
      cursor = next;
      found += keys.length;
    } while (cursor !== '0');
    const ms = performance.now() - t;
    return { ms, serverMs: ((await scanUsec()) - u0) / 1000, found };
  };
  const cases: Array<[string, Redis, string]> = [
    ['larder keyspace, larder glob', larderDb, `${cache.keyPrefix}{*}k-:del:*`],
    ['larder keyspace, MATCH *', larderDb, '*'],
    ['raw keyspace, raw:del:*', rawDb, 'raw:del:*'],
    ['raw keyspace, MATCH *', rawDb, '*'],
  ];
  const out = new Map<string, number[]>(cases.map(([n]) => [n, []]));
  const server_ = new Map<string, number[]>(cases.map(([n]) => [n, []]));
  const found = new Map<string, number>();
  for (let r = 0; r < 3; r++) {
    for (const [n, c, glob] of r % 2 ? [...cases].reverse() : cases) {
      const x = await scan(c, glob);
      out.get(n)!.push(x.ms);
      server_.get(n)!.push(x.serverMs);
      found.set(n, x.found);
    }
  }
  console.log(`full SCAN COUNT 1000 over ${total.toLocaleString('en')} keys (median of 3): wall time, and time inside redis-server (INFO commandstats)`);
  for (const [n, xs] of out) console.log(`${n.padEnd(32)} ${median(xs).toFixed(0).padStart(6)} ms wall, ${median(server_.get(n)!).toFixed(0).padStart(5)} ms in the server   (${found.get(n)} keys returned)`);
  larderDb.disconnect();
  rawDb.disconnect();
  await cache.close();
} finally {
  await server.stop();
}
process.exit(0);
