/**
 * The tag suite (SPEC §14, T1–T8), written once and run unchanged against the embedded store,
 * Redis standalone and a Redis Cluster (memory.test.ts, redis.test.ts, cluster.test.ts).
 *
 * "Two processes" are two caches (two cores, two near caches, one store), as the document suite's
 * D2 tests do; T4 is a deterministic interleaving: the generator stops on a latch the test opens.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createCache, docTag, doctypeTag, type Cache } from '../../src/index.js';
import type { CacheOptions } from '../../src/options.js';
import type { Store } from '../../src/stores/store.js';
import { keyInPrefix, SHARED_KEY_PREFIX } from '../../src/keys.js';
import { chaosStore } from '../support/chaos-store.js';

export interface TagEnv {
  /** A new Store over the same backing data. */
  makeStore(): Store;
  /** Whether caches may run a near cache on it (Redis URLs only). */
  nearUrl?: () => string | Record<string, unknown>;
  close(): Promise<void>;
}

let counter = 0;
function freshNamespace(): string {
  return `g${++counter}-${Math.random().toString(36).slice(2, 8)}`;
}

function latch(): { wait: () => Promise<void>; open: () => void; reached: Promise<void>; arrive: () => void } {
  let open!: () => void;
  let arrive!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const reached = new Promise<void>((r) => (arrive = r));
  return { wait: () => gate, open, reached, arrive };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` (real time: pub/sub and tracking pushes arrive on their own). */
async function until(cond: () => boolean | Promise<boolean>, ms = 2000): Promise<void> {
  const start = performance.now();
  while (!(await cond())) {
    if (performance.now() - start > ms) throw new Error('condition not met in time');
    await sleep(2);
  }
}

export function tagSuite(storeName: string, env: TagEnv): void {
  const opened: Cache[] = [];
  const make = (opts: Omit<CacheOptions, 'store'> & { store?: Store | CacheOptions['store'] } = {}): Cache => {
    const cache = createCache({ namespace: freshNamespace(), ...opts, store: opts.store ?? env.makeStore() });
    opened.push(cache);
    return cache;
  };
  const pair = (): [Cache, Cache] => {
    const ns = freshNamespace();
    return [make({ namespace: ns }), make({ namespace: ns })];
  };
  /** The physical key of a tag of `cache`'s namespace (or shared). */
  const tagKey = (cache: Cache, tag: string, shared = false) => keyInPrefix(shared ? SHARED_KEY_PREFIX : cache.keyPrefix, 'T', tag);

  describe(`tags on ${storeName}`, () => {
    after(async () => {
      await Promise.all(opened.map((c) => c.close()));
      await env.close();
    });

    describe('T1: every kind of entry', () => {
      it('T1: invalidateTags removes values set with the tag and leaves the others', async () => {
        const cache = make();
        await cache.setValue('a', 1, { tags: ['item:1', 'list:std'] });
        await cache.setValue('b', 2, { tags: ['item:2'] });
        await cache.setValue('c', 3);
        assert.equal(await cache.getValue('a'), 1);
        await cache.invalidateTags(['item:1']);
        assert.equal(await cache.getValue('a'), undefined);
        assert.equal(await cache.getValue('b'), 2);
        assert.equal(await cache.getValue('c'), 3);
        assert.deepEqual(await cache.getMany(['a', 'b', 'c']), [undefined, 2, 3]);
      });

      it('T1: with a lenient custom codec, a tagged entry read often is still checked on every read', async () => {
        // A codec that decodes anything: the tag header must be recognised before the codec sees it.
        const codec = { encode: (v: unknown) => Buffer.from(JSON.stringify(v)), decode: (b: Buffer) => JSON.parse(b.toString('utf8').replace(/^[^"{[0-9tfn-]*/, '')) as unknown };
        const cache = make({ codec });
        await cache.setValue('a', { v: 1 }, { tags: ['t'] });
        for (let i = 0; i < 3; i++) assert.deepEqual(await cache.getValue('a'), { v: 1 });
        await cache.invalidateTags(['t']);
        assert.equal(await cache.getValue('a'), undefined);
      });

      it('T1: a value written again after the invalidation is served', async () => {
        const cache = make();
        await cache.setValue('a', 1, { tags: ['t'] });
        await cache.invalidateTags(['t']);
        await cache.setValue('a', 2, { tags: ['t'] });
        assert.equal(await cache.getValue('a'), 2);
        await cache.invalidateTags(['t']);
        assert.equal(await cache.getValue('a'), undefined);
      });

      it('T1: setMany entries carry the tags; getMany checks them in one go', async () => {
        const cache = make();
        await cache.setMany(
          [
            ['x', 1],
            ['y', 2],
          ],
          { tags: ['batch'] },
        );
        await cache.setValue('z', 3, { tags: ['other'] });
        assert.deepEqual(await cache.getMany(['x', 'y', 'z']), [1, 2, 3]);
        await cache.invalidateTags(['batch']);
        assert.deepEqual(await cache.getMany(['x', 'y', 'z']), [undefined, undefined, 3]);
        assert.equal(await cache.getValue('x'), undefined);
      });

      it('T1: a generator fill carries the tags of getValue', async () => {
        const cache = make();
        let runs = 0;
        const read = () => cache.getValue('price', { generator: () => ++runs, tags: ['item:1'] });
        assert.equal(await read(), 1);
        assert.equal(await read(), 1);
        await cache.invalidateTags(['item:1']);
        assert.equal(await read(), 2);
        assert.equal(runs, 2);
      });

      it('T1: a stale-policy fill (S7) carries the tags too', async () => {
        const cache = make();
        let runs = 0;
        const read = () => cache.getValue('p', { generator: () => ++runs, tags: ['t'], expiresInSec: 60, staleIfErrorSec: 60 });
        assert.equal(await read(), 1);
        assert.equal(await read(), 1);
        await cache.invalidateTags(['t']);
        assert.equal(await read(), 2);
      });

      it('S6/S7: a stale tagged entry is refreshed in the background, and keeps its tags', async () => {
        const cache = make();
        let runs = 0;
        // Real time: the store expires keys on its own clock.
        const read = () => cache.getValue('swr', { generator: () => ++runs, tags: ['t'], expiresInSec: 0.05, staleWhileRevalidateSec: 30 });
        assert.equal(await read(), 1);
        await sleep(80);
        assert.equal(await read(), 1, 'stale, served at once');
        await until(async () => (await read()) === 2);
        await cache.invalidateTags(['t']);
        assert.equal(await read(), 3);
      });

      it('T3: a key rewritten with other tags is read with its new tags', async () => {
        const cache = make();
        await cache.setValue('k', 1, { tags: ['a'] });
        assert.equal(await cache.getValue('k'), 1);
        await cache.setValue('k', 2, { tags: ['b'] });
        assert.equal(await cache.getValue('k'), 2);
        assert.equal(await cache.getValue('k'), 2);
        await cache.invalidateTags(['a']);
        assert.equal(await cache.getValue('k'), 2);
        await cache.invalidateTags(['b']);
        assert.equal(await cache.getValue('k'), undefined);
      });

      it('T1: hset with tags covers the whole hash (hget, hgetall, hkeys, hexists)', async () => {
        const cache = make();
        await cache.hset('h', 'f1', 1);
        await cache.hset('h', 'f2', 2, { tags: ['hash:h'] });
        await cache.hset('h', 'f3', 3);
        assert.deepEqual(await cache.hgetall('h'), { f1: 1, f2: 2, f3: 3 });
        assert.deepEqual((await cache.hkeys('h')).sort(), ['f1', 'f2', 'f3']);
        assert.equal(await cache.hget('h', 'f1'), 1);
        await cache.invalidateTags(['hash:h']);
        assert.equal(await cache.hget('h', 'f1'), undefined);
        assert.equal(await cache.hget('h', 'f3'), undefined);
        assert.deepEqual(await cache.hgetall('h'), {});
        assert.deepEqual(await cache.hkeys('h'), []);
        assert.equal(await cache.hexists('h', 'f2'), false);
        // A tagged write after the invalidation starts the hash afresh.
        await cache.hset('h', 'f4', 4, { tags: ['hash:h'] });
        assert.deepEqual(await cache.hgetall('h'), { f4: 4 });
        assert.equal(await cache.hget('h', 'f4'), 4);
      });

      it('T1: hashes merge the tags of every tagged hset', async () => {
        const cache = make();
        await cache.hset('h', 'a', 1, { tags: ['one'] });
        await cache.hset('h', 'b', 2, { tags: ['two'] });
        await cache.invalidateTags(['one']);
        assert.deepEqual(await cache.hgetall('h'), {});
        await cache.hset('h', 'a', 1, { tags: ['one'] });
        await cache.hset('h', 'b', 2, { tags: ['two'] });
        await cache.invalidateTags(['two']);
        assert.equal(await cache.hget('h', 'a'), undefined);
      });

      it('T1: the reserved field of a tagged hash is no field a caller may name', async () => {
        const cache = make();
        await assert.rejects(cache.hset('h', '\u0000larder:tags', 1), TypeError);
        await assert.rejects(cache.hget('h', '\u0000larder:tags'), TypeError);
      });

      it('T1, T8: memoize tags are a function of the arguments; only the results carrying the tag go', async () => {
        const cache = make();
        let runs = 0;
        const price = cache.memoize(async (item: string, list: string) => `${item}@${list}#${++runs}`, {
          name: 'price',
          tags: (item: string) => [`item:${item}`],
        });
        assert.equal(await price('A', 'std'), 'A@std#1');
        assert.equal(await price('B', 'std'), 'B@std#2');
        assert.equal(await price('A', 'std'), 'A@std#1');
        await cache.invalidateTags(['item:A']);
        assert.equal(await price('A', 'std'), 'A@std#3');
        assert.equal(await price('B', 'std'), 'B@std#2');
      });

      it('T1: the @cached decorator takes tags too', async () => {
        const cache = make();
        let runs = 0;
        class Prices {
          @cache.cached({ name: 'Prices.rate', tags: (code: string) => [`item:${code}`] })
          async rate(code: string) {
            return `${code}#${++runs}`;
          }
        }
        const p = new Prices();
        assert.equal(await p.rate('A'), 'A#1');
        assert.equal(await p.rate('A'), 'A#1');
        await cache.invalidateTags(['item:A']);
        assert.equal(await p.rate('A'), 'A#2');
      });

      it('T1, T2: documents carry doctype: and doc: tags, and their own', async () => {
        const cache = make();
        let loads = 0;
        const docs = cache.documents({
          load: (doctype, name) => ({ doctype, name, n: ++loads, group: 'G1' }),
          tags: (_dt, _name, doc) => [`group:${doc.group}`],
        });
        assert.equal((await docs.getCachedDoc('Item', 'A')).n, 1);
        assert.equal((await docs.getCachedDoc('Item', 'B')).n, 2);
        assert.equal((await docs.getCachedDoc('Customer', 'A')).n, 3);
        assert.equal((await docs.getCachedDoc('Item', 'A')).n, 1);
        await cache.invalidateTags([docTag('Item', 'A')]);
        assert.equal((await docs.getCachedDoc('Item', 'A')).n, 4);
        assert.equal((await docs.getCachedDoc('Item', 'B')).n, 2);
        await cache.invalidateTags([doctypeTag('Item')]);
        assert.equal((await docs.getCachedDoc('Item', 'A')).n, 5);
        assert.equal((await docs.getCachedDoc('Item', 'B')).n, 6);
        assert.equal((await docs.getCachedDoc('Customer', 'A')).n, 3, 'another doctype is untouched');
        await cache.invalidateTags(['group:G1']);
        assert.equal((await docs.getCachedDoc('Customer', 'A')).n, 7);
      });

      it("T2: Frappe's clear_cache(doctype=) is one invalidateTags reaching docs, values and memos", async () => {
        const cache = make();
        let n = 0;
        const docs = cache.documents({ load: () => ({ n: ++n }) });
        const memo = cache.memoize(async (code: string) => ({ code, n: ++n }), { name: 'itemInfo', tags: () => [doctypeTag('Item')] });
        await docs.getCachedDoc('Item', 'X');
        await memo('X');
        await cache.setValue('item-list', ['X'], { tags: [doctypeTag('Item')] });
        await cache.invalidateTags([doctypeTag('Item')]);
        assert.equal(await cache.getValue('item-list'), undefined);
        assert.equal((await docs.getCachedDoc('Item', 'X')).n, 3);
        assert.equal((await memo('X')).n, 4);
      });

      it('T1: processCached results given tags are dropped here at once and in another process', async () => {
        const [a, b] = pair();
        let runs = 0;
        const mk = (c: Cache) =>
          c.processCached(async function rates(item: string) {
            return `${item}#${++runs}`;
          }, { tags: (item: string) => [`item:${item}`] });
        const fa = mk(a);
        const fb = mk(b);
        assert.equal(await fa('A'), 'A#1');
        assert.equal(await fb('A'), 'A#2');
        assert.equal(await fa('B'), 'B#3');
        assert.equal(await fa('A'), 'A#1');
        await a.invalidateTags(['item:A']);
        assert.equal(await fa('A'), 'A#4', 'this process: at once');
        assert.equal(await fa('B'), 'B#3');
        await until(async () => (await fb('A')) !== 'A#2');
      });

      it('T1: a tag invalidated in another process is not served by this one', async () => {
        const [a, b] = pair();
        await a.setValue('k', 1, { tags: ['t'] });
        assert.equal(await b.getValue('k'), 1);
        await b.invalidateTags(['t']);
        assert.equal(await a.getValue('k'), undefined);
        assert.equal(await b.getValue('k'), undefined);
      });
    });

    describe('T2: namespaces and shared entries', () => {
      it('T2: a tag invalidated in one namespace never touches another namespace', async () => {
        const a = make();
        const b = a.forNamespace(`${a.namespace}x`);
        await a.setValue('k', 'a', { tags: ['t'] });
        await b.setValue('k', 'b', { tags: ['t'] });
        await a.invalidateTags(['t']);
        assert.equal(await a.getValue('k'), undefined);
        assert.equal(await b.getValue('k'), 'b');
      });

      it('T2: namespaces and tags of any characters never meet', async () => {
        const base = make();
        const odd = ['a:b', 'a', 'x|y', '*', '{}', 'ü ?[]\\'];
        for (const ns of odd) {
          for (const tag of odd) await base.forNamespace(`${base.namespace}${ns}`).setValue('k', `${ns}/${tag}`, { tags: [tag] });
        }
        await base.forNamespace(`${base.namespace}a`).invalidateTags(['a:b']);
        for (const ns of odd) {
          const v = await base.forNamespace(`${base.namespace}${ns}`).getValue('k');
          // Each namespace's `k` was written last with the tag odd[last]; only ns 'a' lost nothing
          // written with 'a:b' since its last write carried another tag.
          assert.equal(v, `${ns}/${odd.at(-1)}`);
        }
        const c = base.forNamespace(`${base.namespace}a`);
        await c.setValue('j', 1, { tags: ['a:b'] });
        await base.forNamespace(`${base.namespace}a:b`).invalidateTags(['a:b']);
        await base.forNamespace(`${base.namespace}a`).invalidateTags(['a:b ']);
        assert.equal(await c.getValue('j'), 1);
        assert.notEqual(tagKey(base.forNamespace('a:b'), 'c'), tagKey(base.forNamespace('a'), 'b:c'));
      });

      it('T2: shared: true invalidates the tag on shared entries only', async () => {
        const cache = make();
        const key = `sh-${freshNamespace()}`;
        await cache.setValue(key, 'shared', { tags: ['t'], shared: true });
        await cache.setValue(key, 'mine', { tags: ['t'] });
        await cache.invalidateTags(['t'], { shared: true });
        assert.equal(await cache.getValue(key, { shared: true }), undefined);
        assert.equal(await cache.getValue(key), 'mine');
        await cache.setValue(key, 'shared', { tags: ['t'], shared: true });
        await cache.invalidateTags(['t']);
        assert.equal(await cache.getValue(key, { shared: true }), 'shared');
        assert.equal(await cache.getValue(key), undefined);
      });

      it('T2: user-scoped entries carry the namespace tags', async () => {
        const cache = make();
        await cache.setValue('k', 1, { tags: ['t'], user: 'a@x.com' });
        await cache.invalidateTags(['t']);
        assert.equal(await cache.getValue('k', { user: 'a@x.com' }), undefined);
      });

      it('T2, T8: docTag and doctypeTag are escaped so no two (doctype, name) pairs share one', () => {
        assert.equal(doctypeTag('Item'), 'doctype:Item');
        assert.equal(docTag('Item', 'ITEM-001'), 'doc:Item/ITEM-001');
        assert.equal(docTag('System Settings'), docTag('System Settings', 'System Settings'));
        const pairs: Array<[string, string]> = [
          ['a/b', 'c'],
          ['a', 'b/c'],
          ['Payroll:', 'x'],
          ['Payroll', ':x'],
          ['a%2Fb', 'c'],
          ['a%', '2Fb/c'],
        ];
        const tags = pairs.map(([d, n]) => docTag(d, n));
        assert.equal(new Set(tags).size, tags.length);
        const long = 'x'.repeat(1000);
        assert.ok(Buffer.byteLength(docTag(long, long)) <= 256);
        assert.notEqual(docTag(long, long), docTag(long, `${long}y`));
        assert.ok(Buffer.byteLength(doctypeTag(long)) <= 256);
        assert.throws(() => docTag(''), TypeError);
      });
    });

    describe('T4: no stale fill', () => {
      for (const where of ['this process', 'another process'] as const) {
        it(`T4: a fill whose generator started before an invalidation in ${where} is returned, never served`, async () => {
          const [reader, other] = pair();
          const writer = where === 'this process' ? reader : other;
          const gate = latch();
          let version = 1;
          let runs = 0;
          const read = (c: Cache) =>
            c.getValue('price', {
              tags: ['item:1'],
              generator: async () => {
                runs++;
                const v = version;
                if (runs === 1) {
                  gate.arrive();
                  await gate.wait();
                }
                return v;
              },
            });
          const first = read(reader);
          await gate.reached; // the generator has read version 1 and holds it
          version = 2;
          await writer.invalidateTags(['item:1']);
          gate.open();
          assert.equal(await first, 1, 'the overlapping caller still gets what it computed');
          assert.equal(await read(reader), 2);
          assert.equal(await read(other), 2);
          assert.equal(runs, 2);
        });

        it(`T4: a memoised call that overlaps an invalidation in ${where} is never served`, async () => {
          const [reader, other] = pair();
          const writer = where === 'this process' ? reader : other;
          const gate = latch();
          let version = 1;
          let runs = 0;
          const mk = (c: Cache) =>
            c.memoize(
              async (item: string) => {
                runs++;
                const v = `${item}@${version}`;
                if (runs === 1) {
                  gate.arrive();
                  await gate.wait();
                }
                return v;
              },
              { name: 'memoT4', tags: (item: string) => [`item:${item}`] },
            );
          const fr = mk(reader);
          const first = fr('A');
          await gate.reached;
          version = 2;
          await writer.invalidateTags(['item:A']);
          gate.open();
          assert.equal(await first, 'A@1');
          assert.equal(await fr('A'), 'A@2');
          assert.equal(await mk(other)('A'), 'A@2');
        });

        it(`T4: a document load that overlaps an invalidation of its doctype tag in ${where} is never served`, async () => {
          const [reader, other] = pair();
          const writer = where === 'this process' ? reader : other;
          const gate = latch();
          let rev = 1;
          let loads = 0;
          const docs = reader.documents({
            load: async () => {
              loads++;
              const doc = { rev };
              if (loads === 1) {
                gate.arrive();
                await gate.wait();
              }
              return doc;
            },
          });
          const first = docs.getCachedDoc('Item', 'X');
          await gate.reached;
          rev = 2;
          await writer.invalidateTags([doctypeTag('Item')]);
          gate.open();
          assert.equal((await first).rev, 1);
          assert.equal((await docs.getCachedDoc('Item', 'X')).rev, 2);
          assert.equal(loads, 2);
        });
      }

      it('T4: without an overlapping invalidation the fill is kept', async () => {
        const cache = make();
        let runs = 0;
        const read = () => cache.getValue('k', { tags: ['t'], generator: () => ++runs });
        await read();
        await cache.invalidateTags(['other']);
        await read();
        assert.equal(runs, 1);
      });
    });

    describe('T3, T5, T6, T7', () => {
      it('T3: an invalidation costs the same store calls for 1 entry or 500', async () => {
        const calls = async (n: number) => {
          const store = chaosStore(env.makeStore());
          const cache = make({ store });
          for (let i = 0; i < n; i++) await cache.setValue(`k${i}`, i, { tags: ['wide'] });
          const before = store.totalCalls();
          await cache.invalidateTags(['wide']);
          const made = store.totalCalls() - before;
          for (let i = 0; i < n; i++) assert.equal(await cache.getValue(`k${i}`), undefined);
          return made;
        };
        assert.equal(await calls(1), await calls(500));
      });

      it('T3: an untagged read is one get; a tagged one adds one get per tag, sent together after it', async () => {
        const store = chaosStore(env.makeStore());
        const cache = make({ store });
        await cache.setValue('plain', 1);
        await cache.setValue('tagged', 1, { tags: ['a', 'b', 'c'] });
        let before = store.totalCalls();
        await cache.getValue('plain');
        assert.equal(store.totalCalls() - before, 1);
        before = store.totalCalls();
        const gets = store.calls.get('get') ?? 0;
        await cache.getValue('tagged');
        assert.equal(store.totalCalls() - before, 4);
        assert.equal((store.calls.get('get') ?? 0) - gets, 4, 'gets only: one tick of them is one MGET on Redis');
      });

      it('T5, T8: tag keys live no longer than the longest entry carrying them plus leaseMs; an invalidated tag has no key', async () => {
        const store = env.makeStore();
        const cache = make({ store, leaseMs: 5000 });
        await cache.setValue('a', 1, { tags: ['t'], expiresInSec: 10 });
        const ttl1 = await store.ttl(tagKey(cache, 't'));
        assert.ok(typeof ttl1 === 'number' && ttl1 <= 15_000 && ttl1 > 10_000, `tag TTL ${ttl1}`);
        await cache.setValue('b', 1, { tags: ['t'], expiresInSec: 100 });
        const ttl2 = await store.ttl(tagKey(cache, 't'));
        assert.ok(typeof ttl2 === 'number' && ttl2 <= 105_000 && ttl2 > 100_000, `tag TTL ${ttl2}`);
        await cache.setValue('c', 1, { tags: ['u'], expiresInSec: null });
        assert.equal(await store.ttl(tagKey(cache, 'u')), null, 'an entry without expiry: a tag key without one');
        await cache.invalidateTags(['t', 'u']);
        assert.equal(await store.ttl(tagKey(cache, 't')), undefined);
        assert.equal(await store.ttl(tagKey(cache, 'u')), undefined);
      });

      it('T5: an invalidated entry is deleted by its next reader', async () => {
        const store = env.makeStore();
        const cache = make({ store });
        await cache.setValue('a', 1, { tags: ['t'] });
        await cache.invalidateTags(['t']);
        assert.equal(await cache.getValue('a'), undefined);
        await until(async () => (await store.get(cache.key('a', undefined))) === null);
      });

      it('T6: invalidateTags(tags, { after }) invalidates now and again when after settles', async () => {
        const cache = make();
        let settle!: () => void;
        const after = new Promise<void>((r) => (settle = r));
        await cache.setValue('k', 1, { tags: ['t'] });
        await cache.invalidateTags(['t'], { after });
        assert.equal(await cache.getValue('k'), undefined);
        await cache.setValue('k', 2, { tags: ['t'] }); // a read inside the transaction, say
        const seen: unknown[] = [];
        cache.on('invalidate', (e) => seen.push(e));
        settle();
        await until(() => seen.length > 0);
        assert.equal(await cache.getValue('k'), undefined);
      });

      it('T7: at most 32 tags, each a non-empty string of at most 256 UTF-8 bytes, checked before any I/O', async () => {
        const store = chaosStore(env.makeStore());
        const cache = make({ store });
        const bad: unknown[] = [
          Array.from({ length: 33 }, (_, i) => `t${i}`),
          [''],
          ['é'.repeat(129)],
          [1],
          'tag',
          [null],
          ['\ud800'],
        ];
        const before = store.totalCalls();
        for (const tags of bad) {
          await assert.rejects(cache.setValue('k', 1, { tags: tags as string[] }), TypeError, `setValue ${JSON.stringify(tags)}`);
          await assert.rejects(cache.getValue('k', { tags: tags as string[], generator: () => 1 }), TypeError);
          await assert.rejects(cache.setMany([['k', 1]], { tags: tags as string[] }), TypeError);
          await assert.rejects(cache.hset('h', 'f', 1, { tags: tags as string[] }), TypeError);
        }
        await assert.rejects(cache.invalidateTags('t' as unknown as string[]), TypeError);
        await assert.rejects(cache.invalidateTags([''] as string[]), TypeError);
        await assert.rejects(cache.invalidateTags(['t'], { after: 5 as unknown as Promise<void> }), TypeError);
        const memo = cache.memoize(async (x: number) => x, { name: 'bad', tags: () => [''] });
        await assert.rejects(memo(1), TypeError);
        assert.throws(() => cache.memoize(async (x: number) => x, { name: 'bad2', tags: 'x' as never }), TypeError);
        assert.equal(store.totalCalls() - before, 0, 'no store call was made');
        await cache.setValue('k', 1, { tags: Array.from({ length: 32 }, (_, i) => `t${i}`) });
        await cache.setValue('k', 1, { tags: ['é'.repeat(128)] });
        assert.equal(await cache.getValue('k'), 1);
      });

      it('T7: a tagged near-cache hit validates tags as the store path does (Z3)', async () => {
        const cache = make();
        await cache.setValue('k', 1);
        assert.equal(await cache.getValue('k', { tags: ['t'] }), 1);
        await assert.rejects(cache.getValue('k', { tags: [''] }), TypeError);
      });
    });

    describe('F3: failed invalidations', () => {
      it('F3: an invalidateTags that could not reach the store is remembered, nothing carrying the tag is served, and it is retried', async () => {
        const inner = env.makeStore();
        const store = chaosStore(inner);
        const cache = make({ store, commandTimeoutMs: 200, circuitBreaker: false });
        await cache.setValue('a', 1, { tags: ['t'] });
        await cache.setValue('b', 2, { tags: ['u'] });
        store.mode = 'fail';
        await cache.invalidateTags(['t']); // degrade: resolves, remembered
        assert.ok(cache.core.invalidations.size > 0);
        store.mode = 'ok';
        // The tag key still holds its token in the store…
        assert.notEqual(await inner.get(tagKey(cache, 't')), null);
        // …but nothing carrying it is served, and no fill takes the old token.
        assert.equal(await cache.getValue('a'), undefined);
        assert.equal(await cache.getValue('b'), 2);
        assert.equal(await cache.core.invalidations.flush(), true);
        assert.equal(await inner.get(tagKey(cache, 't')), null, 'the delete was retried');
        await cache.setValue('a', 3, { tags: ['t'] });
        assert.equal(await cache.getValue('a'), 3);
      });

      it("F3: in 'throw' mode a failed invalidateTags throws and is still remembered", async () => {
        const store = chaosStore(env.makeStore());
        const cache = make({ store, onStoreError: 'throw', commandTimeoutMs: 200, circuitBreaker: false });
        await cache.setValue('a', 1, { tags: ['t'] });
        store.mode = 'fail';
        await assert.rejects(cache.invalidateTags(['t']));
        store.mode = 'ok';
        assert.equal(await cache.getValue('a'), undefined);
      });
    });

    if (env.nearUrl !== undefined) {
      const nearUrl = env.nearUrl;
      describe('near cache (N1, N2)', () => {
        const nearCache = async (namespace: string): Promise<Cache> => {
          const c = make({ store: nearUrl() as CacheOptions['store'], namespace, nearCache: { maxEntries: 1000 } });
          await c.exists('warm-up');
          await c.core.near!.whenActive();
          return c;
        };

        it('N1, T3: a tagged entry is kept near: repeated reads make no store call', async () => {
          const ns = freshNamespace();
          const a = await nearCache(ns);
          await a.setValue('k', { v: 1 }, { tags: ['t'] });
          assert.deepEqual(await a.getValue('k'), { v: 1 });
          const hits = a.stats().near.hits;
          assert.deepEqual(await a.getValue('k'), { v: 1 });
          assert.equal(a.stats().near.hits, hits + 1);
        });

        it("T1: this process's invalidation drops its near copies at once", async () => {
          const a = await nearCache(freshNamespace());
          await a.setValue('k', 1, { tags: ['t'] });
          let runs = 0;
          await a.getValue('g', { tags: ['t'], generator: () => ++runs });
          assert.equal(await a.getValue('k'), 1);
          assert.equal(a.peek('k'), 1);
          await a.invalidateTags(['t']);
          assert.equal(a.peek('k'), undefined);
          assert.equal(a.peek('g'), undefined);
          assert.equal(await a.getValue('k'), undefined);
        });

        it("T1, N2: another process's invalidation drops the near copies here through Redis's tracking", async () => {
          const ns = freshNamespace();
          const a = await nearCache(ns);
          const b = await nearCache(ns);
          await b.setValue('k', 1, { tags: ['t'] });
          await b.setValue('j', 1, { tags: ['u'] });
          assert.equal(await a.getValue('k'), 1, 'read from the store, kept near');
          assert.equal(await a.getValue('j'), 1);
          assert.equal(a.peek('k'), 1);
          await b.invalidateTags(['t']);
          await until(() => a.peek('k') === undefined, 1000);
          assert.equal(await a.getValue('k'), undefined);
          assert.equal(a.peek('j'), 1, 'an entry of another tag stays near');
        });

        it('T4: a near-cached fill that overlaps another process invalidating its tag is not kept', async () => {
          const ns = freshNamespace();
          const a = await nearCache(ns);
          const b = await nearCache(ns);
          const gate = latch();
          let version = 1;
          let runs = 0;
          const read = () =>
            a.getValue('p', {
              tags: ['t'],
              generator: async () => {
                runs++;
                const v = version;
                if (runs === 1) {
                  gate.arrive();
                  await gate.wait();
                }
                return v;
              },
            });
          const first = read();
          await gate.reached;
          version = 2;
          await b.invalidateTags(['t']);
          // The push reaches a's tracking in real time; give it the chance the test means to close.
          await until(() => a.core.near!.invalidations > 0, 1000).catch(() => {});
          gate.open();
          assert.equal(await first, 1);
          assert.equal(await read(), 2);
          assert.equal(a.peek('p'), 2);
        });
      });
    }
  });
}
