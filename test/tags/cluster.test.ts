// The tag suite (T1–T8) on a six-node Redis Cluster: tag keys spread over slots, no cross-slot step;
// the near cache's tests too (tracking per node).
import { before } from 'node:test';
import { createRedisStore } from '../../src/stores/redis/index.js';
import type { Store } from '../../src/stores/store.js';
import { startCluster, type RedisCluster } from '../support/cluster.js';
import { tagSuite } from './suite.js';

let cluster: RedisCluster;
const stores: Store[] = [];
before(async () => {
  cluster = await startCluster();
});

tagSuite('redis cluster', {
  makeStore: () => {
    const s = createRedisStore({ cluster: { nodes: cluster.startupNodes } }, { commandTimeoutMs: 1000 });
    stores.push(s);
    return s;
  },
  nearUrl: () => ({ cluster: { nodes: cluster.startupNodes } }),
  close: async () => {
    await Promise.all(stores.map((s) => s.close()));
    await cluster.stop();
  },
});
