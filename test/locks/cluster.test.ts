// The lock suite, unchanged, against a real six-node Redis Cluster (three masters, three replicas).
// A lock's key, its fencing counter and its wake-up channel share one hash slot (K5).
import { createRedisStore } from '../../src/stores/redis.js';
import type { Store } from '../../src/stores/store.js';
import { startCluster, type RedisCluster } from '../support/cluster.js';
import { lockSuite } from './suite.js';

let cluster: RedisCluster;
const stores: Store[] = [];
lockSuite({
  name: 'a redis cluster',
  setup: async () => {
    cluster = await startCluster();
  },
  makeStore: () => {
    const s = createRedisStore({ cluster: { nodes: cluster.startupNodes } }, { commandTimeoutMs: 1000 });
    stores.push(s);
    return s;
  },
  teardown: async () => {
    await Promise.all(stores.map((s) => s.close()));
    await cluster?.stop();
  },
});
