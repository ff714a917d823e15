/**
 * Issue 17's figures: database change feeds (SPEC §16) on a real PostgreSQL, in one process run.
 *
 *   node --conditions=larder-source --import tsx bench/change-feed.ts [--quick]
 *
 *  1. Change → invalidation latency, single-row UPDATEs: a client UPDATEs one row (autocommit) and
 *     the clock runs from the UPDATE's reply (the commit is done) to the cache's 'invalidate' event
 *     for that document's tag (`doc:Item/<name>`), in the process running the feed. On the embedded store and on Redis. The
 *     floor beside it: a bare LISTEN/NOTIFY round trip (a NOTIFY sent, its delivery to a listener
 *     on another connection), which any trigger-and-notify design pays; larder adds the log read
 *     and the invalidation.
 *  2. Bulk: one UPDATE of 10,000 rows. Measured: the statement's own time with the capture triggers
 *     and without them (the cost a writer pays), and the time from its commit to the last of the
 *     10,000 invalidations (feed throughput, rows/s).
 *
 * PostgreSQL: 127.0.0.1:5432 (trust) when it answers, else one started by test/support/postgres.ts;
 * a fresh database per run, dropped at the end. Redis: a redis-server on a free port.
 */
import pg from 'pg';
import { createCache, createMemoryStore, type Cache } from '../src/index.js';
import { postgresChangeFeed } from '../src/postgres/index.js';
import { usePostgres } from '../test/support/postgres.js';
import { startRedis } from '../test/support/redis-server.js';
import { fmt, machine, median, percentile, table } from './lib.js';

const quick = process.argv.includes('--quick');
const SINGLE = quick ? 100 : 1000;
const BULK_ROWS = 10_000;
const BULK_ROUNDS = quick ? 2 : 5;

const server = await usePostgres();
const redis = await startRedis();
const db = await server.freshDatabase();
const sql = new pg.Client({ connectionString: server.url(db) });
await sql.connect();
await sql.query(`CREATE TABLE "tabItem" (name text PRIMARY KEY, item_name text, price int);
  INSERT INTO "tabItem" SELECT 'ITEM-' || i, 'Item ' || i, i FROM generate_series(1, ${BULK_ROWS}) i;
  CREATE TABLE "tabPlain" (LIKE "tabItem" INCLUDING ALL);
  INSERT INTO "tabPlain" SELECT * FROM "tabItem";`);
const { rows: ver } = await sql.query<{ server_version: string }>('SHOW server_version');

/** Resolves when `cache` has invalidated `n` document tags. */
function invalidations(cache: Cache, n: number): Promise<number> {
  return new Promise((resolve) => {
    let left = n;
    const off = cache.on('invalidate', (e) => {
      left -= e.tags?.length ?? 0;
      if (left <= 0) {
        off();
        resolve(performance.now());
      }
    });
  });
}

async function notifyFloor(count: number): Promise<number[]> {
  const listener = new pg.Client({ connectionString: server.url(db) });
  await listener.connect();
  await listener.query('LISTEN bench_floor');
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const got = new Promise<number>((resolve) => listener.once('notification', () => resolve(performance.now())));
    await sql.query(`NOTIFY bench_floor`);
    // From the reply, as for the UPDATEs below (the delivery may even come first: then 0).
    const t0 = performance.now();
    out.push(Math.max(0, (await got) - t0));
  }
  await listener.end();
  return out;
}

interface Run {
  latencies: number[];
  bulk: Array<{ statementMs: number; drainMs: number }>;
}

async function measure(cache: Cache): Promise<Run> {
  const feed = postgresChangeFeed(cache, { connectionString: server.url(db), tables: { tabItem: { doctype: 'Item' } } });
  await feed.install();
  await feed.start();
  const latencies: number[] = [];
  for (let i = 0; i < SINGLE; i++) {
    const done = invalidations(cache, 1);
    await sql.query(`UPDATE "tabItem" SET price = price + 1 WHERE name = $1`, [`ITEM-${(i % BULK_ROWS) + 1}`]);
    const t0 = performance.now();
    latencies.push((await done) - t0);
  }
  const bulk: Run['bulk'] = [];
  for (let r = 0; r < BULK_ROUNDS; r++) {
    const done = invalidations(cache, BULK_ROWS);
    const s0 = performance.now();
    await sql.query(`UPDATE "tabItem" SET price = price + 1`);
    const t0 = performance.now();
    bulk.push({ statementMs: t0 - s0, drainMs: (await done) - t0 });
  }
  await feed.stop();
  return { latencies, bulk };
}

async function plainUpdates(): Promise<number[]> {
  const out: number[] = [];
  for (let r = 0; r < BULK_ROUNDS; r++) {
    const s0 = performance.now();
    await sql.query(`UPDATE "tabPlain" SET price = price + 1`);
    out.push(performance.now() - s0);
  }
  return out;
}

const floor = await notifyFloor(SINGLE);
const memory = createCache({ store: createMemoryStore() });
const onMemory = await measure(memory);
const onRedis = createCache({ store: redis.url });
const viaRedis = await measure(onRedis);
const plain = await plainUpdates();
await memory.close();
await onRedis.close();
await sql.end();
await redis.stop();
await server.dropAll();

const ms = (n: number) => `${n.toFixed(2)} ms`;
const floorP50 = median(floor);
const floorP99 = percentile(floor, 99);
console.log(`\n${machine()}; PostgreSQL ${ver[0]?.server_version ?? '?'} on 127.0.0.1; ${SINGLE} single-row UPDATEs, ${BULK_ROUNDS} × ${fmt(BULK_ROWS)}-row UPDATEs per store\n`);
const CF1_P99_MS = 1000;
console.log(
  table([
    ['commit → invalidation', 'p50', 'p99', 'p99 ÷ floor p99', 'CF1 target (p99 ≤ 1 s)'],
    ['bare LISTEN/NOTIFY (floor)', ms(floorP50), ms(floorP99), '1×', '—'],
    ...([['larder, embedded store', onMemory], ['larder, Redis', viaRedis]] as const).map(([name, r]) => [
      name,
      ms(median(r.latencies)),
      ms(percentile(r.latencies, 99)),
      `${(percentile(r.latencies, 99) / floorP99).toFixed(1)}×`,
      percentile(r.latencies, 99) <= CF1_P99_MS ? 'met' : '**missed**',
    ]),
  ]),
);
const plainMs = median(plain);
console.log(`\n${fmt(BULK_ROWS)}-row UPDATE, medians of ${BULK_ROUNDS}\n`);
console.log(
  table([
    ['', 'UPDATE statement', '÷ no triggers', 'commit → all invalidated', 'feed throughput'],
    ['no triggers (plain table)', ms(plainMs), '1×', '—', '—'],
    ...([['larder, embedded store', onMemory], ['larder, Redis', viaRedis]] as const).map(([name, r]) => {
      const st = median(r.bulk.map((b) => b.statementMs));
      const drain = median(r.bulk.map((b) => b.drainMs));
      return [name, ms(st), `${(st / plainMs).toFixed(2)}×`, ms(drain), `${fmt((BULK_ROWS / drain) * 1000)} rows/s`];
    }),
  ]),
);
