// Database change feeds against a real PostgreSQL (SPEC §16, CF1–CF3), in one process: every test
// has its own database (test/support/postgres.ts), its own embedded store and its own feed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createCache, createMemoryStore, docTag, type Cache } from 'larder-cache';
import { postgresChangeFeed, type PostgresChangeFeed, type PostgresChangeFeedOptions } from 'larder-cache/postgres';
import { usePostgres, type Postgres } from '../support/postgres.js';

let server: Postgres;
before(async () => {
  server = await usePostgres();
});
after(async () => {
  await server.dropAll();
});

interface World {
  db: string;
  sql: pg.Client;
  /** For loads, which run many at a time. */
  pool: pg.Pool;
  cache: Cache;
  feed: PostgresChangeFeed;
  /** Loads of each `doctype/name` so far. */
  loads: Map<string, number>;
  get(doctype: string, name: string, cache?: Cache): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** Waits for `cond`, polling; the deadline is a safety net, not a timing assertion. */
async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function world(
  setup: string,
  opts: Omit<PostgresChangeFeedOptions, 'connectionString'>,
  { start = true }: { start?: boolean } = {},
): Promise<World> {
  const db = await server.freshDatabase();
  const sql = new pg.Client({ connectionString: server.url(db) });
  await sql.connect();
  await sql.query(setup);
  const pool = new pg.Pool({ connectionString: server.url(db), max: 4 });
  const cache = createCache({ store: createMemoryStore() });
  const feed = postgresChangeFeed(cache, { connectionString: server.url(db), ...opts });
  await feed.install();
  if (start) await feed.start();
  const loads = new Map<string, number>();
  const docsByCache = new Map<Cache, ReturnType<Cache['documents']>>();
  const w: World = {
    db,
    sql,
    pool,
    cache,
    feed,
    loads,
    async get(doctype, name, view = cache) {
      let docs = docsByCache.get(view);
      if (docs === undefined) {
        docs = view.documents({
          load: async (dt, n) => {
            loads.set(`${dt}/${n}`, (loads.get(`${dt}/${n}`) ?? 0) + 1);
            const table = dt === 'Item' ? '"tabItem"' : `"tab${dt}"`;
            const { rows } = await pool.query<Record<string, unknown>>(`SELECT * FROM ${table} WHERE name = $1`, [n]);
            return rows[0];
          },
        });
        docsByCache.set(view, docs);
      }
      return docs.getCachedDoc(doctype, name);
    },
    async close() {
      await feed.stop();
      await cache.close();
      await sql.end();
      await pool.end();
    },
  };
  return w;
}

const ITEMS = `CREATE TABLE "tabItem" (name text PRIMARY KEY, item_name text, price int);
INSERT INTO "tabItem" SELECT 'ITEM-' || i, 'Item ' || i, i FROM generate_series(1, 20) i;`;

function backendsOf(sql: pg.Client, feed: PostgresChangeFeed) {
  return sql.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = $1`, [`larder-feed:${feed.name}`.slice(0, 63)]);
}

describe('postgres change feed (CF1–CF3)', () => {
  test('install() is idempotent and sql() is the DDL it runs', async () => {
    const w = await world(ITEMS, { tables: { tabItem: { doctype: 'Item' } } }, { start: false });
    try {
      await w.feed.install();
      await w.feed.install();
      assert.match(w.feed.sql(), /CREATE TABLE IF NOT EXISTS "larder".change_log/);
      // For a migration tool's own transaction: no BEGIN or COMMIT of its own. Run it by hand, twice.
      assert.doesNotMatch(w.feed.sql(), /^(BEGIN|COMMIT);/m);
      await w.sql.query(`BEGIN; ${w.feed.sql()} COMMIT;`);
      const { rows } = await w.sql.query<{ tgname: string }>(`SELECT tgname FROM pg_trigger WHERE tgrelid = '"tabItem"'::regclass AND NOT tgisinternal ORDER BY tgname`);
      assert.deepEqual(rows.map((r) => r.tgname), ['larder_larder_del', 'larder_larder_ins', 'larder_larder_trunc', 'larder_larder_upd']);
      assert.equal(w.feed.health(), 'starting');
    } finally {
      await w.close();
    }
  });

  test('CF1: an UPDATE by psql invalidates the cached doc; INSERT and DELETE do too', async () => {
    const w = await world(ITEMS, { tables: { tabItem: { doctype: 'Item' } } });
    try {
      assert.equal(w.feed.health(), 'live');
      assert.equal((await w.get('Item', 'ITEM-1')).price, 1);
      assert.equal((await w.get('Item', 'ITEM-1')).price, 1);
      assert.equal(w.loads.get('Item/ITEM-1'), 1);
      await server.psql(w.db, `UPDATE "tabItem" SET price = 100 WHERE name = 'ITEM-1'`);
      await until(async () => (await w.get('Item', 'ITEM-1')).price === 100, 'the UPDATE to invalidate ITEM-1');
      // A doc cached as missing is not cached (D4); a cached doc deleted by SQL goes away.
      await w.get('Item', 'ITEM-2');
      await server.psql(w.db, `DELETE FROM "tabItem" WHERE name = 'ITEM-2'`);
      await until(async () => !(await w.get('Item', 'ITEM-2').then(() => true, () => false)), 'the DELETE to invalidate ITEM-2');
      await server.psql(w.db, `INSERT INTO "tabItem" VALUES ('ITEM-2', 'Again', 7)`);
      await until(async () => (await w.get('Item', 'ITEM-2').then((d) => d.price, () => null)) === 7, 'the INSERT to be read');
    } finally {
      await w.close();
    }
  });

  test('CF1: a rolled-back UPDATE invalidates nothing', async () => {
    const w = await world(ITEMS, { tables: { tabItem: { doctype: 'Item' } } });
    try {
      await w.get('Item', 'ITEM-3');
      await w.get('Item', 'ITEM-4');
      await server.psql(w.db, `BEGIN; UPDATE "tabItem" SET price = 300 WHERE name = 'ITEM-3'; ROLLBACK;`);
      // A committed change made after it: once that one is applied, the rolled-back one would have been.
      await server.psql(w.db, `UPDATE "tabItem" SET price = 400 WHERE name = 'ITEM-4'`);
      await until(async () => (await w.get('Item', 'ITEM-4')).price === 400, 'the committed UPDATE');
      assert.equal((await w.get('Item', 'ITEM-3')).price, 3);
      assert.equal(w.loads.get('Item/ITEM-3'), 1, 'ITEM-3 was never invalidated');
    } finally {
      await w.close();
    }
  });

  test('CF2: a transaction that wrote first but commits last is not skipped', async () => {
    const w = await world(ITEMS, { tables: { tabItem: { doctype: 'Item' } } });
    const slow = new pg.Client({ connectionString: server.url(w.db) });
    await slow.connect();
    try {
      await w.get('Item', 'ITEM-5');
      await w.get('Item', 'ITEM-6');
      await slow.query('BEGIN');
      await slow.query(`UPDATE "tabItem" SET price = 500 WHERE name = 'ITEM-5'`); // draws the lower log id
      await server.psql(w.db, `UPDATE "tabItem" SET price = 600 WHERE name = 'ITEM-6'`);
      await until(async () => (await w.get('Item', 'ITEM-6')).price === 600, 'the later transaction');
      assert.equal((await w.get('Item', 'ITEM-5')).price, 5);
      await slow.query('COMMIT');
      await until(async () => (await w.get('Item', 'ITEM-5')).price === 500, 'the late commit to invalidate ITEM-5');
    } finally {
      await slow.end();
      await w.close();
    }
  });

  test("CF2: changes made while the feed's connection is killed are applied before it is live again", async () => {
    const w = await world(ITEMS, { tables: { tabItem: { doctype: 'Item' } } });
    try {
      for (let i = 7; i <= 10; i++) await w.get('Item', `ITEM-${i}`);
      // Keep it away: no new connection to this database until we allow it again.
      await server.admin(`ALTER DATABASE ${w.db} ALLOW_CONNECTIONS false`);
      const { rows } = await backendsOf(w.sql, w.feed);
      assert.equal(rows.length, 1);
      await w.sql.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      await until(() => w.feed.health() === 'disconnected', "the feed to notice it's disconnected");
      for (let i = 7; i <= 10; i++) await w.sql.query(`UPDATE "tabItem" SET price = price * 10 WHERE name = $1`, [`ITEM-${i}`]);
      // While it is away, nothing was invalidated.
      assert.equal((await w.get('Item', 'ITEM-7')).price, 7);
      await server.admin(`ALTER DATABASE ${w.db} ALLOW_CONNECTIONS true`);
      await until(() => w.feed.health() === 'live', 'the feed to be live again');
      for (let i = 7; i <= 10; i++) assert.equal((await w.get('Item', `ITEM-${i}`)).price, i * 10, `ITEM-${i}`);
    } finally {
      await server.admin(`ALTER DATABASE ${w.db} ALLOW_CONNECTIONS true`).catch(() => undefined);
      await w.close();
    }
  });

  test('CF1: a 10,000-row UPDATE invalidates every row', async () => {
    const w = await world(
      `CREATE TABLE "tabItem" (name text PRIMARY KEY, item_name text, price int);
       INSERT INTO "tabItem" SELECT 'ITEM-' || i, 'Item ' || i, i FROM generate_series(1, 10000) i;`,
      { tables: { tabItem: { doctype: 'Item' } } },
    );
    try {
      const invalidated = new Set<string>();
      w.cache.on('invalidate', (e) => {
        for (const k of e.tags ?? []) invalidated.add(k);
      });
      for (let i = 1; i <= 10_000; i += 500) await Promise.all(Array.from({ length: 500 }, (_, j) => w.get('Item', `ITEM-${i + j}`)));
      await server.psql(w.db, `UPDATE "tabItem" SET price = price + 1`);
      await until(() => invalidated.size === 10_000, 'every row to be invalidated');
      for (let i = 1; i <= 10_000; i += 500) {
        const docs = await Promise.all(Array.from({ length: 500 }, (_, j) => w.get('Item', `ITEM-${i + j}`)));
        docs.forEach((d, j) => assert.equal(d.price, i + j + 1));
      }
      assert.ok([...w.loads.values()].every((n) => n === 2));
    } finally {
      await w.close();
    }
  });

  test('namespace from a row column: a change invalidates its tenant only; moving a row invalidates both', async () => {
    const w = await world(
      `CREATE TABLE "tabItem" (id serial PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL, price int);
       INSERT INTO "tabItem" (tenant_id, name, price) VALUES ('a', 'ITEM-1', 1), ('b', 'ITEM-1', 2);`,
      { tables: { tabItem: { doctype: 'Item', name: 'name', namespaceColumn: 'tenant_id' } } },
    );
    try {
      const a = w.cache.forNamespace('a');
      const b = w.cache.forNamespace('b');
      // The loader reads by name only; give each tenant its own reader through the filter below.
      const docsA = a.documents({ load: async (_dt, n) => (await w.sql.query(`SELECT * FROM "tabItem" WHERE tenant_id = 'a' AND name = $1`, [n])).rows[0] as object | undefined });
      const docsB = b.documents({ load: async (_dt, n) => (await w.sql.query(`SELECT * FROM "tabItem" WHERE tenant_id = 'b' AND name = $1`, [n])).rows[0] as object | undefined });
      const price = async (docs: typeof docsA) => (await docs.getCachedDoc<{ price: number }>('Item', 'ITEM-1').then((d) => d.price, () => null));
      assert.equal(await price(docsA), 1);
      assert.equal(await price(docsB), 2);
      await w.sql.query(`UPDATE "tabItem" SET price = 10 WHERE tenant_id = 'a'`);
      await w.sql.query(`UPDATE "tabItem" SET price = 20 WHERE tenant_id = 'b'`);
      // b's change is applied after a's: once b shows it, a's is applied too.
      await until(async () => (await price(docsB)) === 20, "tenant b's change");
      assert.equal(await price(docsA), 10);
      // A change to a row of b only: a's cached doc stays (its load count would move otherwise).
      await w.sql.query(`UPDATE "tabItem" SET price = 21 WHERE tenant_id = 'b'`);
      await until(async () => (await price(docsB)) === 21, "tenant b's second change");
      await w.sql.query(`UPDATE "tabItem" SET price = 11 WHERE tenant_id = 'a'`);
      await until(async () => (await price(docsA)) === 11, "tenant a's second change");
      // Moving a's row to tenant c: a's doc goes (it no longer exists there).
      await w.sql.query(`DELETE FROM "tabItem" WHERE tenant_id = 'b'`);
      await until(async () => (await price(docsB)) === null, "b's delete");
      await w.sql.query(`UPDATE "tabItem" SET tenant_id = 'b' WHERE tenant_id = 'a'`);
      await until(async () => (await price(docsA)) === null && (await price(docsB)) === 11, 'the move to invalidate both tenants');
    } finally {
      await w.close();
    }
  });

  test('namespace from the connection: a feed per tenant database invalidates in that namespace', async () => {
    const w = await world(ITEMS, { tables: { tabItem: { doctype: 'Item' } }, namespace: 'site1.local' });
    try {
      const site = w.cache.forNamespace('site1.local');
      await w.get('Item', 'ITEM-1', site);
      await w.get('Item', 'ITEM-1');
      await server.psql(w.db, `UPDATE "tabItem" SET price = 2 WHERE name = 'ITEM-1'`);
      await until(async () => (await w.get('Item', 'ITEM-1', site)).price === 2, 'the site namespace to be invalidated');
      assert.equal((await w.get('Item', 'ITEM-1')).price, 1, 'the default namespace was not touched');
    } finally {
      await w.close();
    }
  });

  test('CF2: a stopped feed started again applies what changed meanwhile', async () => {
    const w = await world(ITEMS, { tables: { tabItem: { doctype: 'Item' } } });
    try {
      await w.get('Item', 'ITEM-11');
      await w.feed.stop();
      assert.equal(w.feed.health(), 'disconnected');
      await server.psql(w.db, `UPDATE "tabItem" SET price = 1100 WHERE name = 'ITEM-11'`);
      assert.equal((await w.get('Item', 'ITEM-11')).price, 11);
      await w.feed.start();
      assert.equal(w.feed.health(), 'live');
      assert.equal((await w.get('Item', 'ITEM-11')).price, 1100);
    } finally {
      await w.close();
    }
  });

  test("CF1 + T2: a change invalidates everything tagged with the row's doc tag, not only the doc", async () => {
    const w = await world(ITEMS, { tables: { tabItem: { doctype: 'Item' } } });
    try {
      let runs = 0;
      const label = w.cache.memoize(
        async (name: string) => {
          runs++;
          const { rows } = await w.pool.query<{ item_name: string; price: number }>('SELECT item_name, price FROM "tabItem" WHERE name = $1', [name]);
          return `${rows[0]?.item_name ?? '?'} at ${rows[0]?.price ?? '?'}`;
        },
        { name: 'item-label', tags: (name: string) => [docTag('Item', name)] },
      );
      assert.equal(await label('ITEM-12'), 'Item 12 at 12');
      assert.equal(await label('ITEM-13'), 'Item 13 at 13');
      assert.equal(await label('ITEM-12'), 'Item 12 at 12');
      assert.equal(runs, 2);
      await server.psql(w.db, `UPDATE "tabItem" SET price = 1200 WHERE name = 'ITEM-12'`);
      await until(async () => (await label('ITEM-12')) === 'Item 12 at 1200', 'the memoised label to follow the row');
      assert.equal(await label('ITEM-13'), 'Item 13 at 13');
      assert.equal(runs, 3, "another row's label was kept");
    } finally {
      await w.close();
    }
  });

  test('TRUNCATE invalidates the whole doctype', async () => {
    const w = await world(ITEMS, { tables: { tabItem: { doctype: 'Item' } } });
    try {
      await w.get('Item', 'ITEM-1');
      await server.psql(w.db, `TRUNCATE "tabItem"; INSERT INTO "tabItem" VALUES ('ITEM-1', 'New', 99)`);
      await until(async () => (await w.get('Item', 'ITEM-1')).price === 99, 'the TRUNCATE');
    } finally {
      await w.close();
    }
  });

  test('CF3: the log is pruned once read and past the retention', async () => {
    const w = await world(ITEMS, { tables: { tabItem: { doctype: 'Item' } }, retentionSec: 1, pruneEverySec: 0 });
    try {
      await w.get('Item', 'ITEM-1');
      await server.psql(w.db, `UPDATE "tabItem" SET price = price + 1`);
      await until(async () => (await w.get('Item', 'ITEM-1')).price === 2, 'the UPDATE');
      const count = async () => Number((await w.sql.query<{ n: string }>('SELECT count(*) AS n FROM larder.change_log')).rows[0]!.n);
      assert.equal(await count(), 20);
      await until(async () => ((await w.feed.prune()) ?? 0) > 0, 'a prune that deletes', 20_000);
      assert.equal(await count(), 0);
    } finally {
      await w.close();
    }
  });

  test('CF3: the log is not pruned past a fresh feed that has not read it', async () => {
    const w = await world(ITEMS, { tables: { tabItem: { doctype: 'Item' } }, retentionSec: 3600, pruneEverySec: 0 });
    try {
      await w.feed.stop();
      await server.psql(w.db, `UPDATE "tabItem" SET price = price + 1`);
      await w.sql.query(`UPDATE larder.change_log SET at = now() - interval '2 hours'`);
      assert.equal(await w.feed.prune(), 0);
    } finally {
      await w.close();
    }
  });

  test('CF3: a feed away longer than the retention invalidates its doctypes wholesale', async () => {
    const w = await world(ITEMS, { tables: { tabItem: { doctype: 'Item' } }, retentionSec: 1, pruneEverySec: 0, name: 'away' });
    try {
      await w.get('Item', 'ITEM-1');
      await w.get('Item', 'ITEM-2');
      await w.feed.stop();
      await server.psql(w.db, `UPDATE "tabItem" SET price = 200 WHERE name = 'ITEM-2'`);
      // Its saved position ages past the retention; a prune deletes what it never read.
      await until(async () => ((await w.feed.prune()) ?? 0) > 0, 'the unread change to be pruned');
      const again = postgresChangeFeed(w.cache, { connectionString: server.url(w.db), tables: { tabItem: { doctype: 'Item' } }, retentionSec: 1, pruneEverySec: 0, name: 'away' });
      await again.start();
      try {
        assert.equal((await w.get('Item', 'ITEM-2')).price, 200, 'the pruned change is covered');
        assert.equal(w.loads.get('Item/ITEM-1'), 1);
        await w.get('Item', 'ITEM-1');
        assert.equal(w.loads.get('Item/ITEM-1'), 2, 'an unchanged doc of the doctype went too (wholesale)');
      } finally {
        await again.stop();
      }
    } finally {
      await w.close();
    }
  });

  test('a feed over a database without install() says so and goes live once it is installed', async () => {
    const w = await world(ITEMS, { tables: { tabItem: { doctype: 'Item' } } }, { start: false });
    const db = await server.freshDatabase();
    const sql = new pg.Client({ connectionString: server.url(db) });
    await sql.connect();
    await sql.query(ITEMS);
    const errors: Error[] = [];
    const feed = postgresChangeFeed(w.cache, { connectionString: server.url(db), tables: { tabItem: { doctype: 'Item' } }, onError: (e) => errors.push(e) });
    try {
      const started = feed.start();
      await until(() => errors.length > 0, 'the missing change log to be reported');
      assert.match(errors[0]!.message, /run feed\.install\(\)/);
      assert.notEqual(feed.health(), 'live');
      await feed.install();
      await started;
      assert.equal(feed.health(), 'live');
    } finally {
      await feed.stop();
      await sql.end();
      await w.close();
    }
  });

  test('bad options are TypeErrors', () => {
    const cache = createCache({ store: createMemoryStore() });
    assert.throws(() => postgresChangeFeed(cache, { connectionString: '', tables: { t: {} } }), TypeError);
    assert.throws(() => postgresChangeFeed(cache, { connectionString: 'postgres://x', tables: {} }), TypeError);
    assert.throws(() => postgresChangeFeed(cache, { connectionString: 'postgres://x', tables: { 'a$b': {} } }), TypeError);
    assert.throws(() => postgresChangeFeed(cache, { connectionString: 'postgres://x', tables: { t: {} }, retentionSec: 0 }), TypeError);
    void cache.close();
  });
});
