// Every suite, unchanged, against one real six-node Redis Cluster (three masters, three replicas):
// the third store configuration (STYLE 3). The contract suite (K5 and P2 are what a cluster adds),
// the lock suite (a lock, its fencing counter and its wake-up channel share one slot) and the
// memo/process-cache/document suite (X3 clears by pub/sub across nodes). One cluster for all three,
// to keep CI light; topology changes (reshard, fail-over) are in test/ha/cluster.test.ts.
import { after, before } from 'node:test';
import { createRedisStore } from '../../src/stores/redis/index.js';
import type { Store } from '../../src/stores/store.js';
import { startCluster, type RedisCluster } from '../support/cluster.js';
import { lockSuite } from '../locks/suite.js';
import { memoSuite } from '../memo/suite.js';
import { contractSuite } from './suite.js';

let cluster: RedisCluster;
before(async () => {
  cluster = await startCluster();
});

/** Stores of one suite, closed by that suite; the cluster is stopped once, after every suite. */
function storesFor(): { make: () => Store; close: () => Promise<void> } {
  const stores: Store[] = [];
  return {
    make: () => {
      const s = createRedisStore({ cluster: { nodes: cluster.startupNodes } }, { commandTimeoutMs: 1000 });
      stores.push(s);
      return s;
    },
    close: async () => {
      await Promise.all(stores.map((s) => s.close()));
    },
  };
}

const contract = storesFor();
contractSuite('redis cluster', { makeStore: contract.make, close: contract.close });

const locks = storesFor();
lockSuite({ name: 'a redis cluster', setup: async () => {}, makeStore: locks.make, teardown: locks.close });

const memo = storesFor();
memoSuite('redis cluster', { makeStore: memo.make, close: memo.close });

after(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- before() may have thrown before assigning it
  await cluster?.stop();
});
