/**
 * The near cache (N1–N3) on a real six-node Redis Cluster: every node of the client's pool has its
 * own tracking pair, so keys of every slot are kept and invalidated; a slot moved to another master
 * and a master killed (its replica promoted) leave nothing stale behind. Store reads are counted
 * with INFO commandstats summed over the masters; invalidations are awaited with a latch.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { createCache, type Cache } from '../../src/index.js';
import { keySlot } from '../../src/stores/redis/cluster.js';
import { physicalKey } from '../../src/keys.js';
import { startCluster, type RedisCluster } from '../support/cluster.js';

// Real time: invalidations come from the cluster's nodes over real connections.
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let cluster: RedisCluster;
const open: Cache[] = [];

before(async () => {
  cluster = await startCluster();
});
after(async () => {
  for (const c of open) await c.close().catch(() => {});
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- before() may have thrown before assigning it
  await cluster?.stop();
});

const store = () => ({ cluster: { nodes: cluster.startupNodes } });

/** GET and MGET calls served by the current masters. */
async function reads(): Promise<number> {
  let n = 0;
  for (const m of await cluster.masters()) {
    const info = await m.cli('INFO', 'commandstats');
    for (const x of info.matchAll(/^cmdstat_(get|mget):calls=(\d+)/gm)) n += Number(x[2]);
  }
  return n;
}

async function nearCache(namespace = 'acme'): Promise<Cache> {
  const c = createCache({ store: store(), namespace, nearCache: { maxEntries: 10_000 } });
  open.push(c);
  await c.exists('warm-up');
  await c.core.near!.whenActive();
  return c;
}

function plainCache(namespace = 'acme'): Cache {
  const c = createCache({ store: store(), namespace });
  open.push(c);
  return c;
}

async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Keys whose slots are served by every master: `n` per master. */
async function keysOnEveryMaster(prefix: string, n: number): Promise<string[]> {
  const masters = await cluster.masters();
  const per = new Map(masters.map((m) => [m.port, [] as string[]]));
  for (let i = 0; [...per.values()].some((ks) => ks.length < n); i++) {
    const key = `${prefix}${i}`;
    const owner = await cluster.ownerOf(keySlot(physicalKey({ namespace: 'acme', user: null, shared: false }, 'k', key)));
    const ks = per.get(owner.server.port)!;
    if (ks.length < n) ks.push(key);
  }
  return [...per.values()].flat();
}

describe('near cache on a Redis Cluster (N1–N3, K5)', () => {
  test('N1: repeated reads of keys on every master make no store call; own writes are visible at once', async () => {
    const a = await nearCache();
    const b = plainCache();
    const keys = await keysOnEveryMaster('c1:', 4);
    await b.setMany(keys.map((k, i) => [k, { i }]));
    assert.deepEqual(await a.getMany(keys), keys.map((_, i) => ({ i })));
    const before = await reads();
    for (let r = 0; r < 5; r++) for (const [i, k] of keys.entries()) assert.deepEqual(await a.getValue(k), { i });
    assert.equal(await reads(), before, 'no GET or MGET reached any master');
    await a.setValue(keys[0]!, 'mine');
    assert.equal(await a.getValue(keys[0]!), 'mine');
    assert.equal(await reads(), before);
  });

  test('N2: another client\'s writes and deletes on every master are invalidated, each costing one read', async () => {
    const a = await nearCache();
    const b = plainCache();
    const keys = await keysOnEveryMaster('c2:', 2);
    await b.setMany(keys.map((k) => [k, 1]));
    for (const k of keys) assert.equal(await a.getValue(k), 1);
    for (const k of keys) {
      const inv = a.core.near!.nextInvalidation();
      await b.setValue(k, 2);
      await inv;
    }
    const before = await reads();
    for (const k of keys) assert.equal(await a.getValue(k), 2);
    for (const k of keys) assert.equal(await a.getValue(k), 2);
    assert.equal(await reads(), before + keys.length);
    await b.deleteValue(keys);
    await eventually(async () => (await a.getMany(keys)).every((v) => v === undefined), 1000, 'deletes seen');
  });

  test('N2: a slot moved to another master: kept entries are dropped, and the new owner\'s invalidations arrive', async () => {
    const a = await nearCache();
    const b = plainCache();
    const [key] = await keysOnEveryMaster('c3:', 1);
    const slot = keySlot(physicalKey({ namespace: 'acme', user: null, shared: false }, 'k', key!));
    await b.setValue(key!, 'before');
    assert.equal(await a.getValue(key!), 'before');
    const from = (await cluster.ownerOf(slot)).server;
    const to = (await cluster.masters()).find((m) => m !== from)!;
    await cluster.moveSlot(slot, to);
    // MIGRATE removed the key from its old node, which reports it: the kept value is dropped.
    await eventually(async () => !a.core.near!.has(physicalKey({ namespace: 'acme', user: null, shared: false }, 'k', key!)), 2000, 'migrated key dropped');
    assert.equal(await a.getValue(key!), 'before'); // read again, now from the new owner (tracked there)
    await eventually(async () => a.core.near!.active, 5000, 'near cache active');
    assert.equal(await a.getValue(key!), 'before');
    const inv = a.core.near!.nextInvalidation();
    await b.setValue(key!, 'after');
    await inv;
    assert.equal(await a.getValue(key!), 'after');
  });

  test('N3: a master killed: the near cache is emptied, then coherent again on the promoted replica', async () => {
    const a = await nearCache();
    const b = plainCache();
    const victim = (await cluster.masters())[0]!;
    const keys = await keysOnEveryMaster('c4:', 3);
    const victimKeys: string[] = [];
    for (const k of keys) {
      if ((await cluster.ownerOf(keySlot(physicalKey({ namespace: 'acme', user: null, shared: false }, 'k', k)))).server === victim) victimKeys.push(k);
    }
    assert.equal(victimKeys.length, 3);
    await b.setMany(keys.map((k) => [k, 'v1']));
    await cluster.waitHealthy();
    for (const k of keys) assert.equal(await a.getValue(k), 'v1');
    assert.ok(a.core.near!.size >= keys.length);

    const killed = cluster.killMaster(0);
    // The victim's connections close: the whole near cache is emptied (N3). It may be active again
    // at once (the dead node leaves the pool, the other nodes' tracking never stopped, and the
    // promoted replica is tracked already); nothing kept before the loss survives it.
    await eventually(async () => a.core.near!.size === 0, 5000, 'near cache emptied after the kill');
    await killed;
    // Serving again and tracking again, on the promoted replica too.
    await eventually(async () => {
      const ok = await Promise.all(keys.map((k) => a.getValue(k).then(() => true, () => false)));
      return ok.every(Boolean) && a.core.near!.active;
    }, cluster.nodeTimeoutMs + 10_000, 'near cache active again');
    // Written before the kill and replicated (the harness waits for replicas): either value may
    // have survived the fail-over; what matters is that the next change by another client is seen.
    for (const k of victimKeys) await a.getValue(k);
    for (const k of victimKeys) {
      assert.ok(a.core.near!.has(physicalKey({ namespace: 'acme', user: null, shared: false }, 'k', k)), `${k} kept from the promoted replica`);
      const inv = a.core.near!.nextInvalidation();
      await b.setValue(k, 'v2');
      await inv;
      assert.equal(await a.getValue(k), 'v2');
    }
  });
});
