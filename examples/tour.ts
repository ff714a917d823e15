/**
 * A tour of larder on the embedded store: `npm start` runs it. Every section prints what it does
 * and what came back. Set LARDER_REDIS_URL=redis://127.0.0.1:6379 to run the same tour on Redis.
 */
import { inspect } from 'node:util';
import { createCache, KeyError, ValueError, StoreUnavailableError } from 'larder-cache';

const cache = createCache({ namespace: 'acme.example.com', defaultTtlSec: 3600 });
const show = (label: string, value: unknown) => console.log(`  ${label.padEnd(48)} → ${format(value)}`);
function format(v: unknown): string {
  return inspect(v, { depth: 4, breakLength: Infinity, compact: true });
}
const section = (title: string) => console.log(`\n## ${title}`);

section('Strings: setValue / getValue with TTLs and generators');
await cache.setValue('item_price::ITEM-001', { rate: 120, currency: 'EUR' }, { expiresInSec: 600 });
show("getValue('item_price::ITEM-001')", await cache.getValue('item_price::ITEM-001'));
show("ttl('item_price::ITEM-001') in seconds", Math.round((await cache.ttl('item_price::ITEM-001'))!));
let runs = 0;
const loadRate = async () => {
  runs++;
  await new Promise((r) => setTimeout(r, 20));
  return { rate: 99 };
};
const all = await Promise.all(Array.from({ length: 5 }, () => cache.getValue('item_price::ITEM-002', { generator: loadRate })));
show('5 concurrent misses with one generator', `${all.length} answers, generator ran ${runs}×`);
await cache.setValue('maybe', null);
show("cached null is a hit: getValue('maybe')", await cache.getValue('maybe', { generator: () => 'not called' }));
show("a miss is undefined: getValue('nothing')", await cache.getValue('nothing'));

section('Values round-trip exactly');
const rich = { when: new Date(0), big: 2n ** 70n, neg: -0, tags: new Set(['a']), prices: new Map([['EUR', 1]]), bytes: Buffer.from('hi') };
await cache.setValue('rich', rich);
const back = (await cache.getValue<typeof rich>('rich'))!;
show('Date, bigint, -0, Set, Map, Buffer come back', back);
try {
  await cache.setValue('bad', { items: [1, { fn: () => 1 }] });
} catch (err) {
  show('a function inside a value', `${(err as ValueError).name} at ${(err as ValueError).path}`);
}
try {
  await cache.getValue('');
} catch (err) {
  show('an empty key', `${(err as KeyError).name} ${(err as KeyError).code}`);
}

section('Counters, many keys, existence (incr, getMany, setMany, exists, expire)');
show("incr('visits') three times", [await cache.incr('visits'), await cache.incr('visits'), await cache.incr('visits', 10)]);
await cache.setMany([['a', 1], ['b', 2]]);
show("getMany(['a', 'b', 'c'])", await cache.getMany(['a', 'b', 'c']));
show("exists('a'), then expire('a', null)", [await cache.exists('a'), await cache.expire('a', null), await cache.ttl('a')]);

section('Users and tenants');
await cache.setValue('bootinfo', 'for everyone');
await cache.setValue('bootinfo', 'for alice', { user: 'alice@acme.com' });
show("getValue('bootinfo')", await cache.getValue('bootinfo'));
show("getValue('bootinfo', { user: 'alice@acme.com' })", await cache.getValue('bootinfo', { user: 'alice@acme.com' }));
await cache.runInContext({ user: 'bob@acme.com' }, async () => {
  await cache.setValue('bootinfo', 'for bob', { user: true });
});
show("bob's value, set with user: true in his context", await cache.getValue('bootinfo', { user: 'bob@acme.com' }));
const other = cache.forNamespace('globex.example.com');
show("another tenant: getValue('bootinfo')", await other.getValue('bootinfo'));
await cache.setValue('currency_rates', { EUR: 1 }, { shared: true });
show('a shared key, seen from another tenant', await other.getValue('currency_rates', { shared: true }));
show('keyPrefix (for a Redis ACL per tenant)', cache.keyPrefix);

section('Hashes, lists, sets');
await cache.hset('user_settings', 'theme', 'dark');
await cache.hset('user_settings', 'lang', 'fr');
show("hgetall('user_settings')", await cache.hgetall('user_settings'));
show("hget with a generator on a missing field", await cache.hget('user_settings', 'tz', { generator: () => 'Europe/Paris' }));
await cache.rpush('jobs', 'first', 'second');
await cache.lpush('jobs', 'urgent');
show("lrange('jobs', 0, -1)", await cache.lrange('jobs', 0, -1));
await cache.sadd('roles', 'Stock User', 'Sales User', 'Stock User');
show("smembers('roles')", (await cache.smembers('roles')).sort());

section('Patterns and clearing');
await cache.setValue('item_price::ITEM-003', 1);
show("getKeys('item_price') (trailing * implied)", (await cache.getKeys('item_price')).sort());
show("deleteKeys('item_price::ITEM-00')", await cache.deleteKeys('item_price::ITEM-00'));
show("deleteValue(['a', 'b', 'zzz'])", await cache.deleteValue(['a', 'b', 'zzz']));
show("clearCache({ user: 'alice@acme.com' })", await cache.clearCache({ user: 'alice@acme.com' }));
show('clearCache() of this tenant', await cache.clearCache());
show('the shared key survives', await other.getValue('currency_rates', { shared: true }));

section('Memoisation: frappe @redis_cache');
let priceCalls = 0;
const getItemPrice = cache.memoize(async function getItemPrice(itemCode: string, opts: { list: string }) {
  priceCalls++;
  return itemCode === 'GONE' ? null : { itemCode, rate: 120, list: opts.list };
}, { ttlSec: 600 });
await getItemPrice('ITEM-001', { list: 'Standard Selling' });
await getItemPrice('ITEM-001', { list: 'Standard Selling' });
await getItemPrice('GONE', { list: 'x' });
await getItemPrice('GONE', { list: 'x' });
show('4 calls, 2 distinct argument lists (null cached too)', `function ran ${priceCalls}×`);
show('getItemPrice.clearCache()', await getItemPrice.clearCache());

class PriceList {
  static loads = 0;
  @cache.cached({ ttlSec: 60 })
  async rate(code: string) {
    PriceList.loads++;
    return code.length * 10;
  }
}
await new PriceList().rate('ABC');
await new PriceList().rate('ABC');
show('@cache.cached on a method, two instances', `method ran ${PriceList.loads}×`);

section('Request and process caches: request_cache, site_cache');
let areaCalls = 0;
const area = cache.requestCached((l: number, w: number) => (areaCalls++, l * w));
await cache.runInContext({ namespace: 'acme.example.com', user: 'alice@acme.com' }, async () => {
  for (let i = 0; i < 5; i++) area(120.0, 23);
  area(120, 23);
  cache.local.set('started', Date.now());
  show('6 calls in one request (120.0 and 120 are one key)', `ran ${areaCalls}×, cache.local has ${[...cache.local.keys()].join(',')}`);
});
let configLoads = 0;
const siteConfig = cache.processCached(async function siteConfig() {
  configLoads++;
  return { currency: 'EUR' };
}, { ttlSec: 300, maxEntries: 100 });
await siteConfig();
await siteConfig();
show('processCached: 2 calls in this process', `loaded ${configLoads}×`);
await siteConfig.clearCache();
show('after clearCache() (reaches every process)', (await siteConfig(), `loaded ${configLoads}×`));

section('Cached documents: get_cached_doc');
const table = new Map([['ITEM-001', { name: 'ITEM-001', item_name: 'Hex bolt', stock_uom: 'Nos', prices: [1, 2] }]]);
let docLoads = 0;
const docs = cache.documents({
  load: async (doctype, name) => (docLoads++, doctype === 'Item' ? structuredClone(table.get(name)) : undefined),
});
const item = await docs.getCachedDoc('Item', 'ITEM-001');
await docs.getCachedDoc('Item', 'ITEM-001');
show('getCachedDoc twice', `loads: ${docLoads}, frozen: ${Object.isFrozen(item)}`);
try {
  (item as { item_name: string }).item_name = 'changed';
} catch (err) {
  show('mutating a cached doc', (err as Error).constructor.name);
}
show("getCachedValue('Item', 'ITEM-001', ['item_name', 'stock_uom'])", await docs.getCachedValue('Item', 'ITEM-001', ['item_name', 'stock_uom']));
table.get('ITEM-001')!.item_name = 'Hex bolt M8';
await docs.clearDocumentCache('Item', 'ITEM-001', { after: Promise.resolve('committed') });
show('after an update and clearDocumentCache', (await docs.getCachedDoc('Item', 'ITEM-001')).item_name);
try {
  await docs.getCachedDoc('Item', 'NOPE');
} catch (err) {
  show('a missing doc', (err as Error).name);
}

section('Locks with fencing tokens');
{
  await using payroll = await cache.lock('process_payroll', { ttlMs: 5_000 });
  show("lock('process_payroll') with await using", `fencing token ${payroll.fencingToken}`);
  show('tryLock of the same name meanwhile', await cache.tryLock('process_payroll'));
}
show('withLock after the block released it', await cache.withLock('process_payroll', (l) => `token ${l.fencingToken}`));
try {
  const held = await cache.lock('inventory_sync');
  await cache.lock('inventory_sync', { waitMs: 50 }).catch((err: unknown) => show('a second lock waits 50 ms, then', (err as Error).name));
  await held.release();
} catch (err) {
  show('unexpected', err);
}
const rw = cache.readWriteLock('catalog');
const [r1, r2] = await Promise.all([rw.read(), rw.read()]);
show('two readers hold the read-write lock together', 'both granted at once');
await Promise.all([r1.release(), r2.release()]);
const exportsSem = cache.semaphore('exports', { permits: 2 });
const permits = await Promise.all([exportsSem.acquire(), exportsSem.acquire()]);
show('semaphore with 2 permits: a third tryAcquire', await exportsSem.tryAcquire());
await Promise.all(permits.map((p) => p.release()));

section('Stampede leases and stale data');
{
  // Two caches on one store stand in for two processes on one Redis: a miss takes a lease in the
  // store, so only one of them runs the generator; the other waits for the value to land.
  const other = createCache({ namespace: 'acme.example.com' });
  let builds = 0;
  const buildReport = async () => {
    builds++;
    await new Promise((r) => setTimeout(r, 50));
    return { rows: 3 };
  };
  await cache.deleteValue('daily_report');
  await Promise.all([
    ...Array.from({ length: 10 }, () => cache.getValue('daily_report', { generator: buildReport, expiresInSec: 300 })),
    ...Array.from({ length: 10 }, () => other.getValue('daily_report', { generator: buildReport, expiresInSec: 300 })),
  ]);
  show('20 misses from two caches sharing a store', `generator ran ${builds}×`);
  await other.close();

  // An injected clock shows stale-while-revalidate without waiting a minute.
  let now = Date.now();
  const clocked = createCache({ namespace: 'acme.example.com', now: () => now });
  let rate = 1.08;
  const fetchRate = async () => rate;
  const opts = { generator: fetchRate, expiresInSec: 60, staleWhileRevalidateSec: 30 };
  await clocked.deleteValue('fx:EURUSD');
  show('fx:EURUSD, first read', await clocked.getValue('fx:EURUSD', opts));
  rate = 1.09;
  now += 70_000; // 10 s past its logical expiry, inside the 30 s window
  show('70 s later: the stale value at once …', await clocked.getValue('fx:EURUSD', opts));
  await new Promise((r) => setTimeout(r, 20));
  show('… while one background refresh ran', await clocked.getValue('fx:EURUSD', opts));
  show('stale serves counted', clocked.stats().staleServes);
  await clocked.close();
}

section('When the store is down');
const down = createCache({ store: 'redis://127.0.0.1:1', commandTimeoutMs: 200 });
down.on('error', () => {});
show('degrade (default): a read with a generator', await down.getValue('k', { generator: () => 'computed anyway' }));
try {
  await down.incr('k');
} catch (err) {
  show('incr never pretends', `${(err as StoreUnavailableError).name} ${(err as StoreUnavailableError).code}`);
}
await down.close();

section('Counters');
show('stats()', cache.stats());
await cache.deleteValue('currency_rates', { shared: true });
await cache.close();
