// Sentinel, on real servers: one master, one replica, three sentinels, all password-protected.
// First the contract suite, unchanged, through the sentinels; then fail-over: the store follows the
// promotion and serves again within Sentinel's detection time + 2 s of the kill. One group for both.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { createCache, StoreTimeoutError, StoreUnavailableError } from '../../src/index.js';
import { createRedisStore } from '../../src/stores/redis/index.js';
import type { Store } from '../../src/stores/store.js';
import { startSentinelGroup, type SentinelGroup } from '../support/sentinel.js';
import { contractSuite } from './suite.js';

// Real time: a fail-over happens on the sentinels' and servers' clocks, over real connections.
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let group: SentinelGroup;
before(async () => {
  group = await startSentinelGroup();
});

const contractStores: Store[] = [];
contractSuite('redis sentinel', {
  makeStore: () => {
    const s = createRedisStore(
      {
        sentinel: {
          sentinels: group.sentinelAddresses,
          name: group.name,
          password: group.password,
          sentinelPassword: group.sentinelPassword,
        },
      },
      { commandTimeoutMs: 1000 },
    );
    contractStores.push(s);
    return s;
  },
  close: async () => {
    await Promise.all(contractStores.map((s) => s.close()));
  },
});

describe('redis sentinel: fail-over', () => {
  const stores: Store[] = [];
  const open = (extra: { sentinelPassword?: string } = {}) => {
    const s = createRedisStore(
      {
        sentinel: {
          sentinels: group.sentinelAddresses,
          name: group.name,
          password: group.password,
          sentinelPassword: group.sentinelPassword,
          ...extra,
        },
      },
      { commandTimeoutMs: 500 },
    );
    stores.push(s);
    return s;
  };
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
  });

  test('connects through password-protected sentinels to the password-protected master', async () => {
    const store = open();
    assert.equal(store.kind, 'sentinel');
    await store.set('s:hello', Buffer.from('v'));
    const master = await group.currentMaster();
    assert.equal((await master.cli('GET', 's:hello')).trim(), 'v');
  });

  test('a wrong sentinel password fails within commandTimeoutMs as a store error, never hangs (F4)', async () => {
    const store = open({ sentinelPassword: 'wrong' });
    const t0 = performance.now();
    await assert.rejects(store.set('s:x', Buffer.from('v')), (e: unknown) => e instanceof StoreUnavailableError || e instanceof StoreTimeoutError);
    assert.ok(performance.now() - t0 < 500 + 100);
  });

  test('LK7: waitReplicas 1 confirms a grant on the replica; 2 (more than exist) releases it and fails', async () => {
    const cache = createCache({ namespace: 'sentinel-wait', store: open() });
    const lock = await cache.lock('w', { waitReplicas: 1, waitTimeoutMs: 400 });
    await lock.release();
    await assert.rejects(cache.lock('w', { waitReplicas: 2, waitTimeoutMs: 100, waitMs: 0 }), StoreUnavailableError);
    const again = await cache.tryLock('w');
    assert.ok(again !== null, 'the unconfirmed grant was released');
    await again.release();
    await cache.close();
  });

  test('the master killed: the store follows the promotion and serves within detection (down-after + 1 s desync) + 2 s; a near cache tracks again on the new master (N3)', async () => {
    const cache = createCache({ namespace: 'sentinel-fo', onStoreError: 'throw', store: open() });
    const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
    await cache.setMany(keys.map((k) => [k, 1]));
    // And a near cache (N1-N3) on its own Sentinel connections: it must follow the promotion too.
    const near = createCache({
      namespace: 'sentinel-fo',
      nearCache: { maxEntries: 1000 },
      store: { sentinel: { sentinels: group.sentinelAddresses, name: group.name, password: group.password, sentinelPassword: group.sentinelPassword } },
    });
    await near.exists('warm-up');
    await near.core.near!.whenActive();
    assert.deepEqual(await near.getMany(keys), keys.map(() => 1));
    assert.equal(near.core.near!.size, keys.length);
    let killedAt = 0;
    let onKilled!: () => void;
    const killed = new Promise<void>((r) => (onKilled = r));
    const failover = group.killMaster({
      onKilled: () => {
        killedAt = performance.now();
        onKilled();
      },
    });
    await killed;
    const seen = new Set<string>();
    let servedAfter = Infinity;
    while (performance.now() - killedAt < 20_000) {
      const ok = await Promise.all(
        keys.map((k) =>
          cache.setValue(k, 2).then(
            () => true,
            (e: unknown) => {
              seen.add((e as { code?: string }).code ?? String(e));
              return false;
            },
          ),
        ),
      );
      if (ok.every(Boolean)) {
        servedAfter = performance.now() - killedAt;
        break;
      }
      await sleep(20);
    }
    const { promoted } = await failover;
    // Sentinel's own detection time: down-after-milliseconds, plus the random delay of up to 1 s
    // (SENTINEL_MAX_DESYNC) a sentinel waits before it starts a fail-over. Then 2 s for the rest.
    assert.ok(servedAfter < group.downAfterMs + 1000 + 2000, `served again after ${Math.round(servedAfter)} ms`);
    // In the window calls failed fast as unavailable (or timed out), never hung.
    for (const code of seen) assert.match(code, /^E_STORE_(UNAVAILABLE|TIMEOUT)$/);
    assert.deepEqual(await cache.getMany(keys), keys.map(() => 2));
    assert.equal((await promoted.cli('ROLE')).split('\n')[0], 'master');
    // The near cache lost its connections with the old master (emptied, N3), tracks on the new one,
    // and serves the values written there; another client's next write reaches it.
    const deadline = performance.now() + 5000;
    while (!near.core.near!.active && performance.now() < deadline) await sleep(20);
    assert.ok(near.core.near!.active, 'near cache tracking again on the promoted master');
    assert.deepEqual(await near.getMany(keys), keys.map(() => 2));
    const inv = near.core.near!.nextInvalidation();
    await cache.setValue('k0', 3);
    await inv;
    assert.equal(await near.getValue('k0'), 3);
    await near.close();
    await cache.close();
  });
});

after(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- before() may have thrown before assigning it
  await group?.stop();
});
