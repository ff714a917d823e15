/**
 * scan (P2): every key matching a Redis glob, in batches, while others write; on a cluster, across
 * every master. Batches may repeat a key (callers dedupe), so the checks compare sets.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { b, collect, type ContractContext } from './helpers.js';
import { GLOB_CASES } from './glob-cases.js';

export function scanContract({ withStore }: ContractContext): void {
  describe('scan', () => {
    it('P2: scan yields every matching key, over several batches, and nothing else', withStore(async (store, k) => {
      // Some names with hash tags, so that on a cluster they land on every master.
      const keys = Array.from({ length: 250 }, (_, i) => k(`item:{${i % 7}}k${i}`));
      await store.setMany(keys.map((key) => [key, b('v'), null] as const));
      await store.set(k('other'), b('v'));
      await store.hset(k('item:hash'), 'f', b('v'));
      const batches = await collect(store.scan(`${k.prefix}item:*`, 20));
      assert.ok(batches.length > 1, `${batches.length} batches`);
      assert.deepEqual([...new Set(batches.flat())].sort(), [...keys, k('item:hash')].sort());
      assert.deepEqual(await collect(store.scan(`${k.prefix}none*`)), []);
    }));

    it('P2: scan skips keys whose TTL ran out, though nothing read them since', withStore(async (store, k, { expired }) => {
      await store.set(k('item:live'), b('v'));
      await store.set(k('item:expiring'), b('v'), { ttlMs: 30 });
      await store.set(k('witness'), b('v'), { ttlMs: 30 });
      await expired(store, k('witness'));
      assert.deepEqual((await collect(store.scan(`${k.prefix}item:*`))).flat(), [k('item:live')]);
    }));

    it('P2: scan sees every key present for the whole scan while others write, and ends', withStore(async (store, k) => {
      for (let i = 0; i < 100; i++) await store.set(k(`k${i}`), b('v'));
      const seen = new Set<string>();
      let n = 0;
      for await (const batch of store.scan(`${k.prefix}k*`, 10)) {
        for (const key of batch) seen.add(key);
        // Writers during the scan: overwrite, read, delete, re-create, and add new keys.
        await store.set(k(`k${99 - (n % 100)}`), b('overwritten'));
        await store.get(k(`k${n % 100}`));
        if (n < 50) {
          await store.delete([k(`k${50 + n}`)]);
          await store.set(k(`k${50 + n}`), b('recreated'));
        }
        await store.setMany(Array.from({ length: 20 }, (_, j) => [k(`k-new-${n}-${j}`), b('v'), null] as const));
        n++;
        assert.ok(n < 1000, 'the scan ends');
      }
      for (let i = 0; i < 100; i++) {
        if (i >= 50 && i < 50 + Math.min(n, 50)) continue; // deleted during the scan: may or may not be seen
        assert.ok(seen.has(k(`k${i}`)), `k${i} was present throughout`);
      }
    }));

    it('P1, P2: scan MATCH follows the Redis glob rules, quirks included', withStore(async (store, k) => {
      // One prefix per row, so no row's pattern can see another row's key.
      const rows = GLOB_CASES.map(([pattern, key, matches], i) => ({ pattern: `${k(`g${i}`)}:${pattern}`, key: `${k(`g${i}`)}:${key}`, matches }));
      await store.setMany(rows.map((r) => [r.key, b('v'), null] as const));
      const wrong: string[] = [];
      for (const r of rows) {
        const found = (await collect(store.scan(r.pattern))).flat();
        if (found.includes(r.key) !== r.matches) wrong.push(`${JSON.stringify(r.pattern)} vs ${JSON.stringify(r.key)}: expected ${r.matches}`);
      }
      assert.deepEqual(wrong, []);
    }));

    // Bad arguments are TypeErrors (STYLE habit 4), before any I/O, on every store.
    it(
      'a scan count that is not a positive integer is a TypeError',
      withStore(async (store, k) => {
        await store.set(k('k'), b('v'));
        for (const count of [0, -1, 1.5, Number.NaN]) {
          await assert.rejects(collect(store.scan(`${k.prefix}*`, count)), TypeError, String(count));
        }
      }),
    );
  });
}
