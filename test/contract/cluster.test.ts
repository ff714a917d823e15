// The contract suite, unchanged, against a real six-node Redis Cluster (three masters, three
// replicas): the third store configuration (STYLE 3). K5 and P2 are what it adds to the others.
import { before } from 'node:test';
import { createRedisStore } from '../../src/stores/redis.js';
import type { Store } from '../../src/stores/store.js';
import { startCluster, type RedisCluster } from '../support/cluster.js';
import { contractSuite } from './suite.js';

let cluster: RedisCluster;
const stores: Store[] = [];
before(async () => {
  cluster = await startCluster();
});

contractSuite('redis cluster', {
  makeStore: () => {
    const s = createRedisStore({ cluster: { nodes: cluster.startupNodes } }, { commandTimeoutMs: 1000 });
    stores.push(s);
    return s;
  },
  close: async () => {
    await Promise.all(stores.map((s) => s.close()));
    await cluster?.stop();
  },
});
