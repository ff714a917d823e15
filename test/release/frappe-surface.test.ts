// Issue 13, "the rest of Frappe's surface": hincrby, hset with a mapping, hdelNames, hdelKeys,
// spop, srandmember, exists over several keys, setValue { ifAbsent }, getCachedValue's default
// field and asDict (D6), getSingleValue, and @cached under legacy decorators. Each runs on the
// embedded store and on Redis: the two must agree.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCache, createMemoryStore, NotIntegerError, type Cache } from '../../src/index.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

let server: RedisServer;
before(async () => {
  server = await startRedis();
});
after(async () => {
  await server.stop();
});

let n = 0;
function open(kind: 'memory' | 'redis'): Cache {
  return createCache({ store: kind === 'memory' ? createMemoryStore() : server.url, namespace: `frappe-${n++}` });
}

for (const kind of ['memory', 'redis'] as const) {
  describe(`${kind}: Frappe's RedisWrapper calls`, () => {
    test('hincrby creates the field at 0, adds, reads back as a number; a non-integer field is NotIntegerError', async () => {
      const cache = open(kind);
      assert.equal(await cache.hincrby('counts', 'a'), 1);
      assert.equal(await cache.hincrby('counts', 'a', 41), 42);
      assert.equal(await cache.hget('counts', 'a'), 42);
      await cache.hset('counts', 'text', 'x');
      await assert.rejects(cache.hincrby('counts', 'text', 1), NotIntegerError);
      await cache.close();
    });

    test('hset with a mapping writes every field and sets the TTL of the hash', async () => {
      const cache = open(kind);
      await cache.hset('settings', { theme: 'dark', tz: 'UTC', n: 3 }, { expiresInSec: 60 });
      assert.deepEqual(await cache.hgetall('settings'), { theme: 'dark', tz: 'UTC', n: 3 });
      const ttl = await cache.ttl('settings');
      assert.ok(typeof ttl === 'number' && ttl > 0 && ttl <= 60, String(ttl));
      await cache.close();
    });

    test('hdelNames deletes one field from several hashes; hdelKeys from every hash under a prefix, leaving other kinds alone', async () => {
      const cache = open(kind);
      await cache.hset('user_settings::a', { theme: 'dark', tz: 'UTC' });
      await cache.hset('user_settings::b', { theme: 'light' });
      await cache.hset('other', { theme: 'x' });
      await cache.setValue('user_settings::plain', 'a string');
      assert.equal(await cache.hdelNames(['user_settings::a', 'other', 'missing'], 'theme'), 2);
      await cache.hset('user_settings::a', 'theme', 'dark');
      await cache.hset('other', 'theme', 'x');
      assert.equal(await cache.hdelKeys('user_settings::', 'theme'), 2);
      assert.deepEqual(await cache.hgetall('user_settings::a'), { tz: 'UTC' });
      assert.deepEqual(await cache.hgetall('other'), { theme: 'x' });
      assert.equal(await cache.getValue('user_settings::plain'), 'a string');
      await cache.close();
    });

    test('spop removes each member once, srandmember leaves it; both undefined on an empty set', async () => {
      const cache = open(kind);
      await cache.sadd('jobs', 'a', 'b', 'c');
      const any = await cache.srandmember<string>('jobs');
      assert.ok(any !== undefined && ['a', 'b', 'c'].includes(any));
      assert.equal(await cache.scard('jobs'), 3);
      const popped = await Promise.all([cache.spop<string>('jobs'), cache.spop<string>('jobs'), cache.spop<string>('jobs'), cache.spop<string>('jobs')]);
      assert.deepEqual(popped.filter((p) => p !== undefined).sort(), ['a', 'b', 'c'], 'concurrent pops never return one member twice');
      assert.equal(await cache.spop('jobs'), undefined);
      assert.equal(await cache.srandmember('jobs'), undefined);
      await cache.close();
    });

    test('exists over several keys counts them, hashes and sets included', async () => {
      const cache = open(kind);
      await cache.setValue('a', 1);
      await cache.hset('h', 'f', 1);
      await cache.sadd('s', 1);
      assert.equal(await cache.exists(['a', 'h', 's', 'missing']), 3);
      assert.equal(await cache.exists('a'), true);
      await cache.close();
    });

    test('setValue { ifAbsent: true } writes only a missing key and says whether it wrote', async () => {
      const cache = open(kind);
      assert.equal(await cache.setValue('once', 1, { ifAbsent: true, expiresInSec: 60 }), true);
      assert.equal(await cache.setValue('once', 2, { ifAbsent: true }), false);
      assert.equal(await cache.getValue('once'), 1);
      await cache.setValue('once', 3);
      assert.equal(await cache.getValue('once'), 3);
      await cache.close();
    });

    test("D6: getCachedValue's field defaults to 'name'; asDict gives an object; getSingleValue reads a single doctype", async () => {
      const cache = open(kind);
      const docs = cache.documents({ load: (doctype, name) => ({ name, doctype, item_name: 'Hex bolt', enabled: 1 }) });
      assert.equal(await docs.getCachedValue('Item', 'ITEM-001'), 'ITEM-001');
      assert.deepEqual(await docs.getCachedValue('Item', 'ITEM-001', ['item_name', 'name'], { asDict: true }), { item_name: 'Hex bolt', name: 'ITEM-001' });
      assert.deepEqual(await docs.getCachedValue('Item', 'ITEM-001', 'item_name', { asDict: true }), { item_name: 'Hex bolt' });
      assert.equal(await docs.getSingleValue('System Settings', 'enabled'), 1);
      assert.equal(await docs.getSingleValue('System Settings', 'doctype'), 'System Settings');
      await cache.close();
    });
  });
}

describe('@cached under legacy decorators (experimentalDecorators)', () => {
  test('called as (prototype, name, descriptor) it memoises by class and method name, with clearCache()', async () => {
    const cache = createCache({ store: createMemoryStore() });
    let calls = 0;
    class Prices {
      async rate(code: string): Promise<number> {
        calls++;
        return code.length;
      }
    }
    const descriptor = Object.getOwnPropertyDescriptor(Prices.prototype, 'rate')!;
    const decorate = cache.cached({ ttlSec: 60 }) as unknown as (t: object, k: string, d: PropertyDescriptor) => PropertyDescriptor;
    Object.defineProperty(Prices.prototype, 'rate', decorate(Prices.prototype, 'rate', descriptor));
    assert.equal(await new Prices().rate('abc'), 3);
    assert.equal(await new Prices().rate('abc'), 3);
    assert.equal(calls, 1);
    assert.deepEqual(await cache.getKeys(''), [], 'memo entries are not values');
    await (Prices.prototype.rate as unknown as { clearCache(): Promise<void> }).clearCache();
    await new Prices().rate('abc');
    assert.equal(calls, 2);
    await cache.close();
  });

  test('a call that is neither form says how to use it', () => {
    const cache = createCache({ store: createMemoryStore() });
    const decorate = cache.cached() as unknown as (x: unknown) => unknown;
    assert.throws(() => decorate(() => 1), /method decorator/);
  });
});
