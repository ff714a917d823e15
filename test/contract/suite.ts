/**
 * The contract suite: every rule of SPEC §1–§5, §11, §12 that the core cache promises, written
 * once and run unchanged against every store configuration (memory.test.ts, redis.test.ts, and
 * the cluster later). A behaviour that differs between stores is a bug.
 *
 * Tests of time logic (TTLs, generators that take a while, call deadlines) take their time from
 * `timed()`: the fake clock where the store runs on it (the embedded store: TTLs then read exactly
 * what was set), real time on Redis, which expires keys on its own clock.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createCache, type Cache } from '../../src/cache.js';
import type { CacheOptions } from '../../src/options.js';
import type { Store } from '../../src/stores/store.js';
import { physicalKey } from '../../src/keys.js';
import { defaultCodec } from '../../src/codec/index.js';
import {
  ContextError,
  DecodeError,
  KeyError,
  LarderError,
  NotIntegerError,
  StoreTimeoutError,
  StoreUnavailableError,
  ValueError,
  WrongTypeError,
} from '../../src/errors.js';
import { chaosStore } from '../support/chaos-store.js';
import { FakeClock } from '../support/fake-clock.js';
import { fakeTime, realTime, type TestTime } from '../support/test-time.js';

export interface StoreEnv {
  /** A new Store over the same backing data (same server, or the same embedded store). */
  makeStore(): Store;
  /** A new store on `clock`, where the store can run on one; without it, time tests wait for real time. */
  makeStoreOn?(clock: FakeClock): Store;
  /** Called once after the suite. */
  close(): Promise<void>;
}

/** A TTL read just after it was set to `sec`: exactly that on the fake clock, on real time at most `slackSec` less. */
function freshTtl(time: TestTime, t: number | null | undefined, sec: number, slackSec = 1): void {
  if (time.fake) assert.equal(t, sec, 'no time passed since it was set');
  else assert.ok(typeof t === 'number' && t > sec - slackSec && t <= sec, `ttl ${t}, set to ${sec}`);
}

let counter = 0;
function freshNamespace(): string {
  return `t${++counter}-${Math.random().toString(36).slice(2, 8)}`;
}

export function contractSuite(storeName: string, env: StoreEnv): void {
  const opened: Cache[] = [];
  const ownStores: Store[] = [];
  const make = (opts: Omit<CacheOptions, 'store'> & { store?: Store } = {}): Cache => {
    const cache = createCache({ namespace: freshNamespace(), ...opts, store: opts.store ?? env.makeStore() });
    opened.push(cache);
    return cache;
  };
  /** A cache for a test of time logic and its time: on a new store on a fake clock if the env can, else on real time. */
  const timed = (opts: Omit<CacheOptions, 'store' | 'clock'> = {}): { cache: Cache; time: TestTime } => {
    if (env.makeStoreOn === undefined) return { cache: make(opts), time: realTime };
    const clock = new FakeClock();
    const store = env.makeStoreOn(clock);
    ownStores.push(store);
    return { cache: make({ ...opts, store, clock }), time: fakeTime(clock) };
  };
  after(async () => {
    await Promise.all(opened.map((c) => c.close()));
    await Promise.all(ownStores.map((s) => s.close()));
    await env.close();
  });

  describe(`contract: ${storeName}`, () => {
    describe('keys (K)', () => {
      it('K1: two namespaces never see each other through any method (property)', async () => {
        const store = env.makeStore();
        const a = make({ store });
        const b = a.forNamespace(`${a.namespace}:b`);
        const keyChars = fc.constantFrom('|', ':', '*', '?', '[', ']', '\\', '{', '}', ' ', 'a', 'é', '漢', '%', '-', '=', '😀');
        const keyArb = fc.array(keyChars, { minLength: 1, maxLength: 8 }).map((cs) => cs.join(''));
        await fc.assert(
          fc.asyncProperty(fc.uniqueArray(keyArb, { minLength: 1, maxLength: 5 }), keyArb, async (keys, pattern) => {
            await Promise.all(keys.map((k) => a.setValue(k, `a:${k}`)));
            for (const k of keys) {
              assert.equal(await b.getValue(k), undefined);
              assert.equal(await b.exists(k), false);
              assert.equal(await b.hget(k, 'f'), undefined);
            }
            assert.deepEqual(await b.getKeys(pattern), []);
            assert.deepEqual(await b.getKeys(''), []);
            assert.equal(await b.deleteKeys(pattern), 0);
            assert.equal(await b.deleteValue(keys), 0);
            assert.equal(await b.clearCache(), 0);
            for (const k of keys) assert.equal(await a.getValue(k), `a:${k}`);
            await a.deleteValue(keys);
          }),
          { numRuns: 40 },
        );
      });

      it('K1: a namespace that extends another name with ":" or "*" is still separate', async () => {
        const a = make({ namespace: 'site' + freshNamespace() });
        const b = a.forNamespace(`${a.namespace}:x`);
        const c = a.forNamespace(`${a.namespace}*`);
        await a.setValue('k', 1);
        assert.equal(await b.getValue('k'), undefined);
        assert.equal(await c.getValue('k'), undefined);
        assert.equal(await c.clearCache(), 0);
        assert.equal(await b.deleteKeys('*'), 0);
        assert.equal(await a.getValue('k'), 1);
      });

      it('K2: user-scoped and unscoped keys of one name are different entries', async () => {
        const cache = make();
        await cache.setValue('greeting', 'all');
        await cache.setValue('greeting', 'alice', { user: 'alice@x.com' });
        await cache.setValue('greeting', 'bob', { user: 'bob@x.com' });
        assert.equal(await cache.getValue('greeting'), 'all');
        assert.equal(await cache.getValue('greeting', { user: 'alice@x.com' }), 'alice');
        assert.equal(await cache.getValue('greeting', { user: 'bob@x.com' }), 'bob');
        assert.deepEqual(await cache.getKeys('greet'), ['greeting']);
        assert.deepEqual(await cache.getKeys('greet', { user: 'alice@x.com' }), ['greeting']);
      });

      it('K2: user: true uses the context user and throws ContextError without one', async () => {
        const cache = make();
        await assert.rejects(cache.getValue('k', { user: true }), ContextError);
        await cache.runInContext({ user: 'carol' }, () => cache.setValue('k', 'mine', { user: true }));
        assert.equal(await cache.getValue('k', { user: 'carol' }), 'mine');
        assert.equal(await cache.getValue('k'), undefined);
      });

      it('K2: shared and user together make a shared, per-user key', async () => {
        const cache = make();
        const other = cache.forNamespace(freshNamespace());
        await cache.setValue('pref', 'dark', { shared: true, user: 'dave' });
        assert.equal(await other.getValue('pref', { shared: true, user: 'dave' }), 'dark');
        assert.equal(await other.getValue('pref', { shared: true }), undefined);
        assert.equal(await other.getValue('pref', { user: 'dave' }), undefined);
        await cache.deleteValue('pref', { shared: true, user: 'dave' });
      });

      it('K3: getKeys and hkeys return keys as written, without prefixes', async () => {
        const cache = make();
        const weird = ['a|b', 'c:d', 'e*f', 'g?h', 'i[j]', 'k\\l', 'm{n}', 'o p', 'ünï', '%41'];
        for (const k of weird) await cache.setValue(k, k);
        assert.deepEqual((await cache.getKeys('')).sort(), [...weird].sort());
        await cache.hset('h', 'f:1', 1);
        await cache.hset('h', 'f*2', 2);
        assert.deepEqual((await cache.hkeys('h')).sort(), ['f*2', 'f:1']);
      });

      it('K4: bad keys throw KeyError before any I/O', async () => {
        const store = chaosStore(env.makeStore());
        const cache = make({ store });
        const bad: unknown[] = ['', 42, null, undefined, 'x'.repeat(1025), 'é'.repeat(513), '\ud800'];
        for (const k of bad) {
          await assert.rejects(cache.getValue(k as string), KeyError);
          await assert.rejects(cache.setValue(k as string, 1), KeyError);
          await assert.rejects(cache.deleteValue([k as string]), KeyError);
          await assert.rejects(cache.hget(k as string, 'f'), KeyError);
          await assert.rejects(cache.lpush(k as string, 1), KeyError);
        }
        assert.equal(store.totalCalls(), 0);
        await cache.setValue('é'.repeat(512), 'ok');
        assert.equal(await cache.getValue('é'.repeat(512)), 'ok');
      });

      it('K5: every physical key starts with keyPrefix and clearCache touches no other namespace', async () => {
        const store = env.makeStore();
        const cache = make({ store });
        assert.equal(cache.keyPrefix, `lr:${cache.namespace}:`);
        await cache.setValue('v', 1);
        await cache.hset('h', 'f', 1);
        await cache.rpush('l', 1);
        await cache.sadd('s', 1);
        const found: string[] = [];
        for await (const batch of store.scan(`${cache.keyPrefix}*`)) found.push(...batch);
        assert.equal(found.length, 4);
        for (const k of found) assert.ok(k.startsWith(cache.keyPrefix), k);
      });
    });

    describe('values (C)', () => {
      it('C1: every supported kind round-trips exactly', async () => {
        const cache = make();
        const values: unknown[] = [
          null, true, false, 0, -0, 1, -1, 2 ** 53 - 1, 3.25, NaN, Infinity, -Infinity, '', 'hé 漢 😀',
          10n ** 30n, -5n, new Date(1_700_000_000_123), new Map<unknown, unknown>([[1, 'a'], ['b', { c: [1] }]]),
          new Set([1, 'x', null]), new Uint8Array([1, 2, 3]), Buffer.from('buf'),
          { a: 1, b: [1, 2, { c: null }], d: { e: new Date(0) }, u: undefined }, [[], {}, [1, [2, [3]]]],
        ];
        for (const [i, v] of values.entries()) {
          await cache.setValue(`v${i}`, v);
          const back = await cache.getValue(`v${i}`);
          assert.deepStrictEqual(back, v, `value #${i}`);
          if (v instanceof Uint8Array) assert.equal(Buffer.isBuffer(back), Buffer.isBuffer(v), `value #${i} class`);
        }
        assert.ok(Object.is(await cache.getValue('v4'), -0), '-0 keeps its sign');
      });

      it('C1: a top-level undefined throws ValueError', async () => {
        const cache = make();
        await assert.rejects(cache.setValue('k', undefined), ValueError);
      });

      it('C2: unsupported values throw ValueError naming the path, before any I/O', async () => {
        const store = chaosStore(env.makeStore());
        const cache = make({ store });
        class Foo {}
        const cyclic: Record<string, unknown> = { a: 1 };
        cyclic.self = cyclic;
        const cases: Array<[unknown, string]> = [
          [{ items: [0, 1, 2, { fn: () => 1 }] }, '$.items[3].fn'],
          [{ s: Symbol('x') }, '$.s'],
          [{ inst: new Foo() }, '$.inst'],
          [[1, new Map([['k', new Foo()]])], '$[1]'],
        ];
        for (const [value, path] of cases) {
          const err = await cache.setValue('k', value).then(() => null, (e: unknown) => e);
          assert.ok(err instanceof ValueError, String(err));
          assert.ok(err.path?.startsWith(path), `${err.path} starts with ${path}`);
          assert.ok(err.message.includes(err.path!), err.message);
        }
        await assert.rejects(cache.setValue('k', cyclic), ValueError);
        await assert.rejects(cache.setMany([['a', 1], ['b', () => 1]]), ValueError);
        await assert.rejects(cache.rpush('l', 1, Symbol('s')), ValueError);
        assert.equal(store.totalCalls(), 0);
        assert.equal(await cache.exists('a'), false);
      });

      it('C3: a corrupt stored value is a miss, reported, and compare-and-deleted', async () => {
        const store = env.makeStore();
        const cache = make({ store });
        const errors: Error[] = [];
        cache.on('error', (e) => errors.push(e));
        const pk = physicalKey({ namespace: cache.namespace, user: null, shared: false }, 'k', 'bad');
        const valid = defaultCodec.encode({ a: 'some text', b: [1, 2, 3] });
        await store.set(pk, valid.subarray(0, valid.length - 4));
        let calls = 0;
        assert.equal(await cache.getValue('bad', { generator: () => (++calls, 'fresh') }), 'fresh');
        assert.equal(calls, 1);
        assert.ok(errors.some((e) => e instanceof DecodeError));
        assert.equal(await cache.getValue('bad'), 'fresh');
        await store.set(pk, Buffer.from([valid[0]!, 0x7f, 0x00]));
        assert.equal(await cache.getValue('bad'), undefined);
        // The delete goes out in the background, over a real connection on a server: poll for it.
        for (let i = 0; i < 50 && (await store.exists(pk)); i++) await new Promise((r) => setTimeout(r, 5));
        assert.equal(await store.exists(pk), false, 'the corrupt bytes were deleted');
      });

      it('C3: an own __proto__ key is refused; incr counters read back as numbers', async () => {
        const cache = make();
        await assert.rejects(cache.setValue('p', JSON.parse('{"__proto__": {"polluted": true}}')), ValueError);
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
        await cache.incr('n', 5);
        assert.equal(await cache.getValue('n'), 5);
        await cache.setValue('m', 41);
        assert.equal(await cache.incr('m'), 42);
      });

      it('C4: a cached null is a hit and does not call the generator', async () => {
        const cache = make();
        await cache.setValue('n', null);
        let calls = 0;
        assert.equal(await cache.getValue('n', { generator: () => (++calls, 'x') }), null);
        assert.equal(calls, 0);
        assert.equal(await cache.getValue('missing'), undefined);
      });

      it('C5: values larger than maxValueBytes throw ValueError', async () => {
        const cache = make({ maxValueBytes: 1024 });
        await assert.rejects(cache.setValue('big', 'x'.repeat(2000)), ValueError);
        await cache.setValue('small', 'x'.repeat(500));
        assert.equal(await cache.getValue('small'), 'x'.repeat(500));
      });

      it('C6: ValueError and KeyError are TypeErrors with stable codes', async () => {
        const cache = make();
        const v = await cache.setValue('k', () => 1).catch((e: unknown) => e);
        const k = await cache.getValue('').catch((e: unknown) => e);
        assert.ok(v instanceof TypeError && (v as TypeError & { code?: string }).code === 'E_VALUE');
        assert.ok(k instanceof TypeError && (k as TypeError & { code?: string }).code === 'E_KEY');
      });
    });

    describe('strings (S)', () => {
      it('S1: expiresInSec sets a TTL, null none, absent the default; ttl() answers in seconds', async () => {
        const { cache, time } = timed({ defaultTtlSec: 100 });
        await cache.setValue('a', 1, { expiresInSec: 10 });
        await cache.setValue('b', 1, { expiresInSec: null });
        await cache.setValue('c', 1);
        const ta = await cache.ttl('a');
        freshTtl(time, ta, 10);
        assert.ok(!Number.isInteger(ta) || ta === 10, 'millisecond precision');
        assert.equal(await cache.ttl('b'), null);
        freshTtl(time, await cache.ttl('c'), 100);
        assert.equal(await cache.ttl('nope'), undefined);
        if (time.fake) {
          await time.pass(1500);
          assert.equal(await cache.ttl('a'), 8.5, 'millisecond precision');
        }
      });

      it('S1: a TTL runs out', async () => {
        const { cache, time } = timed();
        await cache.setValue('short', 1, { expiresInSec: 0.05 });
        assert.equal(await cache.getValue('short'), 1);
        if (time.fake) {
          await time.pass(50);
          assert.equal(await cache.getValue('short'), 1, 'still there at its deadline');
          await time.pass(1);
        } else {
          await time.pass(120);
        }
        assert.equal(await cache.getValue('short'), undefined);
        assert.equal(await cache.exists('short'), false);
      });

      it('S1: expiresInSec <= 0 or non-finite throws TypeError before I/O', async () => {
        const cache = make();
        for (const bad of [0, -1, NaN, Infinity, '5']) {
          await assert.rejects(cache.setValue('k', 1, { expiresInSec: bad as number }), TypeError);
        }
        assert.equal(await cache.exists('k'), false);
      });

      it('S2: a hit never calls the generator', async () => {
        const cache = make();
        await cache.setValue('k', 'v');
        let calls = 0;
        assert.equal(await cache.getValue('k', { generator: () => (++calls, 'g') }), 'v');
        assert.equal(calls, 0);
      });

      it('S3: a miss calls the generator, stores and returns its result; undefined is not stored', async () => {
        const { cache, time } = timed();
        assert.equal(await cache.getValue('k', { generator: async () => 'g', expiresInSec: 30 }), 'g');
        assert.equal(await cache.getValue('k'), 'g');
        freshTtl(time, await cache.ttl('k'), 30);
        assert.equal(await cache.getValue('u', { generator: (): unknown => undefined }), undefined);
        assert.equal(await cache.exists('u'), false);
      });

      it('S4: concurrent misses call the generator once and all get its result', async () => {
        const { cache, time } = timed();
        let calls = 0;
        const gen = async () => {
          calls++;
          await time.delay(30);
          return { n: 1 };
        };
        const results = await time.run(Promise.all(Array.from({ length: 50 }, () => cache.getValue('k', { generator: gen }))));
        assert.equal(calls, 1);
        for (const r of results) assert.deepEqual(r, { n: 1 });
      });

      it('S4: a generator error reaches every waiter and nothing is stored', async () => {
        const { cache, time } = timed();
        let calls = 0;
        const gen = async () => {
          calls++;
          await time.delay(20);
          throw new Error('boom');
        };
        const settled = await time.run(Promise.allSettled(Array.from({ length: 10 }, () => cache.getValue('k', { generator: gen }))));
        assert.equal(calls, 1);
        for (const s of settled) {
          assert.equal(s.status, 'rejected');
          assert.equal((s.reason as Error).message, 'boom');
        }
        assert.equal(await cache.exists('k'), false);
        assert.equal(await cache.getValue('k', { generator: () => 'ok' }), 'ok');
      });

      it('S8: deleteValue deletes every listed key and counts those that existed', async () => {
        const cache = make();
        const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
        await cache.setMany(keys.slice(0, 60).map((k) => [k, k]));
        await cache.hset('hash', 'f', 1);
        assert.equal(await cache.deleteValue([...keys, 'hash']), 61);
        assert.deepEqual(await cache.getKeys(''), []);
        assert.equal(await cache.deleteValue('k1'), 0);
        assert.equal(await cache.deleteValue([]), 0);
      });

      it('exists, expire and ttl', async () => {
        const { cache, time } = timed();
        await cache.setValue('k', 1);
        assert.equal(await cache.exists('k'), true);
        assert.equal(await cache.expire('k', 50), true);
        freshTtl(time, await cache.ttl('k'), 50);
        assert.equal(await cache.expire('k', null), true);
        assert.equal(await cache.ttl('k'), null);
        assert.equal(await cache.expire('missing', 5), false);
        await assert.rejects(cache.expire('k', 0), TypeError);
      });

      it('incr counts, starts at 0, takes a TTL on first create only, and refuses non-integers', async () => {
        const { cache, time } = timed();
        assert.equal(await cache.incr('c'), 1);
        assert.equal(await cache.incr('c', 10), 11);
        assert.equal(await cache.incr('c', -12), -1);
        assert.equal(await cache.incr('t', 1, { expiresInSec: 30 }), 1);
        freshTtl(time, await cache.ttl('t'), 30);
        await cache.expire('t', null);
        await cache.incr('t', 1, { expiresInSec: 30 });
        assert.equal(await cache.ttl('t'), null, 'an existing counter keeps its (absent) TTL');
        await cache.setValue('s', 'text');
        await assert.rejects(cache.incr('s'), NotIntegerError);
        await assert.rejects(cache.incr('c', 1.5), TypeError);
      });

      it('getMany and setMany', async () => {
        const { cache, time } = timed();
        await cache.setMany([['a', 1], ['b', { x: 2 }], ['c', null]], { expiresInSec: 60 });
        assert.deepEqual(await cache.getMany(['a', 'b', 'zz', 'c', 'a']), [1, { x: 2 }, undefined, null, 1]);
        freshTtl(time, await cache.ttl('b'), 60);
        assert.deepEqual(await cache.getMany([]), []);
      });
    });

    describe('patterns and clearing (P)', () => {
      it('P1: only * is a wildcard; ? [ ] \\ are literal; a trailing * is implied', async () => {
        const cache = make();
        for (const k of ['item_price', 'item_price::A', 'item_prices', 'a?c', 'abc', 'x[1]', 'x1', 'p\\q', 'pq', 'lit*star', 'litXstar']) {
          await cache.setValue(k, 1);
        }
        const keys = async (p: string) => (await cache.getKeys(p)).sort();
        assert.deepEqual(await keys('item_price'), ['item_price', 'item_price::A', 'item_prices']);
        assert.deepEqual(await keys('item_price::'), ['item_price::A']);
        assert.deepEqual(await keys('a?c'), ['a?c']);
        assert.deepEqual(await keys('x[1]'), ['x[1]']);
        assert.deepEqual(await keys('p\\q'), ['p\\q']);
        assert.deepEqual(await keys('*star'), ['lit*star', 'litXstar']);
        assert.deepEqual(await keys('i*::A'), ['item_price::A']);
        assert.equal(await cache.deleteKeys('item_price'), 3);
        assert.deepEqual(await keys('item'), []);
      });

      it('P2: a scan is correct while other clients write', async () => {
        const cache = make();
        const stable = Array.from({ length: 300 }, (_, i) => `stable:${i}`);
        await cache.setMany(stable.map((k) => [k, 1]));
        let writing = true as boolean; // cleared once the scan is done
        const writer = (async () => {
          for (let i = 0; writing; i++) {
            await cache.setValue(`churn:${i}`, i);
            if (i % 3 === 0) await cache.deleteValue(`churn:${i - 1}`);
          }
        })();
        const seen = await cache.getKeys('stable:');
        writing = false;
        await writer;
        assert.deepEqual(seen.sort(), [...stable].sort());
        assert.equal(await cache.deleteKeys('stable:'), 300);
      });

      it('P3: clearCache removes every entry of the namespace but shared, persistent, lock and other-namespace keys', async () => {
        const store = env.makeStore();
        const cache = make({ store, persistentKeys: ['keep:'] });
        const other = cache.forNamespace(freshNamespace());
        await cache.setValue('v', 1);
        await cache.setValue('v', 2, { user: 'u1' });
        await cache.hset('h', 'f', 1);
        await cache.rpush('l', 1);
        await cache.sadd('s', 1);
        await cache.setValue('keep:me', 1);
        await cache.setValue('keep:me', 1, { user: 'u1' });
        await cache.setValue('shared', 1, { shared: true });
        await other.setValue('v', 1);
        const lockKey = physicalKey({ namespace: cache.namespace, user: null, shared: false }, 'L', 'job');
        const memoKey = physicalKey({ namespace: cache.namespace, user: null, shared: false }, 'm', 'fn/abc');
        await store.set(lockKey, Buffer.from('token'));
        await store.set(memoKey, Buffer.from('1'));
        assert.equal(await cache.clearCache(), 6);
        assert.deepEqual((await cache.getKeys('')).sort(), ['keep:me']);
        assert.equal(await cache.getValue('keep:me', { user: 'u1' }), 1);
        assert.equal(await cache.getValue('shared', { shared: true }), 1);
        assert.equal(await other.getValue('v'), 1);
        assert.equal(await store.exists(lockKey), true);
        assert.equal(await store.exists(memoKey), false);
        await cache.deleteValue('shared', { shared: true });
      });

      it('P3: clearCache({ user }) clears only an exact user match', async () => {
        const cache = make();
        await cache.setValue('k', 1, { user: 'a@x.com' });
        await cache.setValue('k', 2, { user: 'a@x.com.au' });
        await cache.setValue('k', 3);
        assert.equal(await cache.clearCache({ user: 'a@x.com' }), 1);
        assert.equal(await cache.getValue('k', { user: 'a@x.com' }), undefined);
        assert.equal(await cache.getValue('k', { user: 'a@x.com.au' }), 2);
        assert.equal(await cache.getValue('k'), 3);
      });

      it('P3: a literal * in a key is only matched by a wildcard', async () => {
        const cache = make();
        await cache.setValue('a*b', 1);
        await cache.setValue('axb', 1);
        assert.deepEqual((await cache.getKeys('a*b')).sort(), ['a*b', 'axb']);
        assert.deepEqual(await cache.getKeys('a\\*'), []);
      });
    });

    describe('hashes, lists, sets (H, L)', () => {
      it('H1: fields are strings, values go through the codec, expiresInSec sets the whole TTL', async () => {
        const { cache, time } = timed();
        await cache.hset('h', 'a', { deep: [1, new Date(5)] });
        await cache.hset('h', '__proto__', 'safe', { expiresInSec: 20 });
        assert.deepEqual(await cache.hget('h', 'a'), { deep: [1, new Date(5)] });
        const all = await cache.hgetall('h');
        assert.deepEqual(Object.keys(all).sort(), ['__proto__', 'a']);
        assert.equal(Object.getPrototypeOf(all), Object.prototype);
        assert.equal(await cache.hexists('h', 'a'), true);
        assert.equal(await cache.hexists('h', 'zz'), false);
        freshTtl(time, await cache.ttl('h'), 20);
        assert.equal(await cache.hdel('h', ['a', 'zz']), 1);
        assert.deepEqual(await cache.hkeys('h'), ['__proto__']);
        assert.deepEqual(await cache.hgetall('nothing'), {});
      });

      it('H1: hget with a generator behaves as S3-S4', async () => {
        const { cache, time } = timed();
        let calls = 0;
        const gen = async () => {
          calls++;
          await time.delay(20);
          return 'v';
        };
        const all = await time.run(Promise.all(Array.from({ length: 20 }, () => cache.hget('h', 'f', { generator: gen }))));
        assert.ok(all.every((v) => v === 'v'));
        assert.equal(calls, 1);
        assert.equal(await cache.hget('h', 'f'), 'v');
      });

      it('H2: deleteValue deletes a whole hash, list or set; getKeys lists them by name', async () => {
        const cache = make();
        await cache.hset('h', 'f', 1);
        await cache.rpush('l', 1, 2);
        await cache.sadd('s', 1);
        assert.deepEqual((await cache.getKeys('')).sort(), ['h', 'l', 's']);
        assert.equal(await cache.deleteValue(['h', 'l', 's']), 3);
        assert.equal(await cache.llen('l'), 0);
      });

      it('L1: lists keep order and decode values; negative indices count from the end', async () => {
        const cache = make();
        assert.equal(await cache.rpush('l', 'a', { b: 1 }), 2);
        assert.equal(await cache.lpush('l', 'x', 'y'), 4);
        assert.deepEqual(await cache.lrange('l', 0, -1), ['y', 'x', 'a', { b: 1 }]);
        assert.deepEqual(await cache.lrange('l', -2, -1), ['a', { b: 1 }]);
        await cache.ltrim('l', 1, 2);
        assert.deepEqual(await cache.lrange('l', 0, -1), ['x', 'a']);
        assert.equal(await cache.lpop('l'), 'x');
        assert.equal(await cache.rpop('l'), 'a');
        assert.equal(await cache.rpop('l'), undefined);
        assert.equal(await cache.llen('l'), 0);
        assert.equal(await cache.exists('l'), false);
      });

      it('L1: set membership compares encoded forms', async () => {
        const cache = make();
        assert.equal(await cache.sadd('s', 1, '1', { a: 1 }, 1), 3);
        assert.equal(await cache.sismember('s', { a: 1 }), true);
        assert.equal(await cache.sismember('s', 2), false);
        assert.equal(await cache.scard('s'), 3);
        assert.equal(await cache.srem('s', '1', 'nope'), 1);
        const members = await cache.smembers('s');
        assert.equal(members.length, 2);
        assert.ok(members.some((m) => m === 1));
      });

      it('L1: lists and sets take user and shared through a key reference', async () => {
        const cache = make();
        await cache.rpush({ key: 'q', user: 'u' }, 1);
        await cache.sadd({ key: 's', shared: true }, 'm');
        assert.equal(await cache.llen('q'), 0);
        assert.equal(await cache.llen({ key: 'q', user: 'u' }), 1);
        assert.equal(await cache.sismember({ key: 's', shared: true }, 'm'), true);
        await cache.deleteValue('s', { shared: true });
      });

      it('a call on a key of another type throws WrongTypeError', async () => {
        const cache = make();
        await cache.setValue('str', 1);
        await assert.rejects(cache.hget('str', 'f'), WrongTypeError);
        await assert.rejects(cache.rpush('str', 1), WrongTypeError);
      });
    });

    describe('failures (F) and observability (O)', () => {
      it('F1: every error carries a stable code', async () => {
        const cache = make();
        await cache.setValue('s', 'x');
        const e = await cache.incr('s').catch((err: unknown) => err);
        assert.ok(e instanceof LarderError);
        assert.equal(e.code, 'E_NOT_INTEGER');
      });

      it('F2: with the store down, degrade mode reads misses, serves generators, drops writes, and reports', async () => {
        const store = chaosStore(env.makeStore());
        const cache = make({ store });
        await cache.setValue('k', 'before');
        await cache.setValue('kept', 'before');
        const errors: Error[] = [];
        cache.on('error', (e) => errors.push(e));
        store.mode = 'fail';
        assert.equal(await cache.getValue('k'), undefined);
        assert.equal(await cache.getValue('k', { generator: () => 'generated' }), 'generated');
        await cache.setValue('k', 'during');
        assert.equal(await cache.deleteValue('k'), 0);
        assert.deepEqual(await cache.getKeys(''), []);
        assert.deepEqual(await cache.hgetall('h'), {});
        assert.ok(errors.length >= 5);
        assert.ok(errors.every((e) => e instanceof StoreUnavailableError));
        assert.ok((cache.stats().errors.E_STORE_UNAVAILABLE ?? 0) >= 5);
        store.mode = 'ok';
        assert.equal(await cache.getValue('kept'), 'before');
        // F3: the delete of 'k' made during the outage is retried; its old value is never served.
        assert.equal(await cache.getValue('k'), undefined);
      });

      it("F2: with onStoreError: 'throw', reads and writes throw StoreUnavailableError", async () => {
        const store = chaosStore(env.makeStore());
        const cache = make({ store, onStoreError: 'throw' });
        store.mode = 'fail';
        await assert.rejects(cache.getValue('k'), StoreUnavailableError);
        await assert.rejects(cache.setValue('k', 1), StoreUnavailableError);
        await assert.rejects(cache.getKeys(''), StoreUnavailableError);
      });

      it('F4: a stalled store call fails with StoreTimeoutError at commandTimeoutMs', async () => {
        // The stall is the chaos wrapper's, in this process: the cache's deadline runs on the fake
        // clock over every store.
        const clock = new FakeClock();
        const store = chaosStore(env.makeStore());
        const cache = make({ store, commandTimeoutMs: 100, onStoreError: 'throw', clock });
        store.mode = 'stall';
        const t0 = clock.monotonic();
        await assert.rejects(clock.runUntil(cache.getValue('k')), StoreTimeoutError);
        assert.equal(clock.monotonic() - t0, 100);
        const degraded = make({ store, commandTimeoutMs: 100, clock });
        const t1 = clock.monotonic();
        assert.equal(await clock.runUntil(degraded.getValue('k', { generator: () => 'g' })), 'g');
        assert.equal(clock.monotonic() - t1, 100, 'one timeout: the generator ran without a lease, nothing written');
      });

      it('F5: incr cannot be faked: with the store down it throws in every mode', async () => {
        const store = chaosStore(env.makeStore());
        const cache = make({ store });
        store.mode = 'fail';
        await assert.rejects(cache.incr('c'), StoreUnavailableError);
      });

      it('O1: stats count hits, misses, generator runs and errors', async () => {
        const cache = make();
        await cache.getValue('k', { generator: () => 1 });
        await cache.getValue('k');
        await cache.getValue('other');
        const s = cache.stats();
        assert.equal(s.store.hits, 1);
        assert.equal(s.store.misses, 2);
        assert.equal(s.generatorRuns, 1);
      });

      it('O2: hit, miss and invalidate events', async () => {
        const cache = make();
        const seen: string[] = [];
        cache.on('hit', (e) => seen.push(`hit:${e.key}`));
        cache.on('miss', (e) => seen.push(`miss:${e.key}`));
        cache.on('invalidate', (e) => seen.push(`inv:${e.reason}`));
        await cache.getValue('a');
        await cache.setValue('a', 1);
        await cache.getValue('a');
        await cache.deleteValue('a');
        await cache.clearCache();
        assert.deepEqual(seen, ['miss:a', 'hit:a', 'inv:delete', 'inv:clear']);
        // getMany and hget report each key they read, as getValue does.
        seen.length = 0;
        await cache.setValue('b', 2);
        await cache.getMany(['b', 'c']);
        await cache.hset('h', 'f', 1);
        await cache.hget('h', 'f');
        await cache.hget('h', 'g');
        assert.deepEqual(seen, ['hit:b', 'miss:c', 'hit:h', 'miss:h']);
      });

      it('close() makes later calls fail with a typed error', async () => {
        const cache = createCache({ namespace: freshNamespace(), store: env.makeStore() });
        await cache.close();
        const e = await cache.getValue('k').catch((err: unknown) => err);
        assert.ok(e instanceof LarderError && e.code === 'E_CLOSED');
      });
    });
  });
}
