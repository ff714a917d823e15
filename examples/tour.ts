/**
 * A tour of larder on the embedded store: `npm start` runs it. Every section prints what it does
 * and what came back. Set LARDER_REDIS_URL=redis://127.0.0.1:6379 to run the same tour on Redis.
 */
import { inspect } from 'node:util';
import { createCache, KeyError, ValueError, StoreUnavailableError } from 'larder';

const cache = createCache({ namespace: 'acme.example.com', defaultTtlSec: 3600 });
const show = (label: string, value: unknown) => console.log(`  ${label.padEnd(48)} → ${format(value)}`);
function format(v: unknown): string {
  return inspect(v, { depth: 4, breakLength: Infinity, compact: true });
}
const section = (title: string) => console.log(`\n## ${title}`);

section('Strings: setValue / getValue with TTLs and generators (S1–S4)');
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
show("cached null is a hit (C4): getValue('maybe')", await cache.getValue('maybe', { generator: () => 'not called' }));
show("a miss is undefined: getValue('nothing')", await cache.getValue('nothing'));

section('Values round-trip exactly (C1)');
const rich = { when: new Date(0), big: 2n ** 70n, neg: -0, tags: new Set(['a']), prices: new Map([['EUR', 1]]), bytes: Buffer.from('hi') };
await cache.setValue('rich', rich);
const back = (await cache.getValue<typeof rich>('rich'))!;
show('Date, bigint, -0, Set, Map, Buffer come back', back);
try {
  await cache.setValue('bad', { items: [1, { fn: () => 1 }] });
} catch (err) {
  show('a function inside a value (C2)', `${(err as ValueError).name} at ${(err as ValueError).path}`);
}
try {
  await cache.getValue('');
} catch (err) {
  show('an empty key (K4)', `${(err as KeyError).name} ${(err as KeyError).code}`);
}

section('Counters, many keys, existence (incr, getMany, setMany, exists, expire)');
show("incr('visits') three times", [await cache.incr('visits'), await cache.incr('visits'), await cache.incr('visits', 10)]);
await cache.setMany([['a', 1], ['b', 2]]);
show("getMany(['a', 'b', 'c'])", await cache.getMany(['a', 'b', 'c']));
show("exists('a'), then expire('a', null)", [await cache.exists('a'), await cache.expire('a', null), await cache.ttl('a')]);

section('Users and tenants (K1, K2)');
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

section('Hashes, lists, sets (H1, L1)');
await cache.hset('user_settings', 'theme', 'dark');
await cache.hset('user_settings', 'lang', 'fr');
show("hgetall('user_settings')", await cache.hgetall('user_settings'));
show("hget with a generator on a missing field", await cache.hget('user_settings', 'tz', { generator: () => 'Europe/Paris' }));
await cache.rpush('jobs', 'first', 'second');
await cache.lpush('jobs', 'urgent');
show("lrange('jobs', 0, -1)", await cache.lrange('jobs', 0, -1));
await cache.sadd('roles', 'Stock User', 'Sales User', 'Stock User');
show("smembers('roles')", (await cache.smembers('roles')).sort());

section('Patterns and clearing (P1–P3)');
await cache.setValue('item_price::ITEM-003', 1);
show("getKeys('item_price') (trailing * implied)", (await cache.getKeys('item_price')).sort());
show("deleteKeys('item_price::ITEM-00')", await cache.deleteKeys('item_price::ITEM-00'));
show("deleteValue(['a', 'b', 'zzz'])", await cache.deleteValue(['a', 'b', 'zzz']));
show("clearCache({ user: 'alice@acme.com' })", await cache.clearCache({ user: 'alice@acme.com' }));
show('clearCache() of this tenant', await cache.clearCache());
show('the shared key survives', await other.getValue('currency_rates', { shared: true }));

section('When the store is down (F2)');
const down = createCache({ store: 'redis://127.0.0.1:1', commandTimeoutMs: 200 });
down.on('error', () => {});
show('degrade (default): a read with a generator', await down.getValue('k', { generator: () => 'computed anyway' }));
try {
  await down.incr('k');
} catch (err) {
  show('incr never pretends (F5)', `${(err as StoreUnavailableError).name} ${(err as StoreUnavailableError).code}`);
}
await down.close();

section('Counters (O1)');
show('stats()', cache.stats());
await cache.deleteValue('currency_rates', { shared: true });
await cache.close();
