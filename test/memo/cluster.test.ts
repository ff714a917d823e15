// The memoisation, process-cache and document suite, unchanged, against a real six-node Redis
// Cluster: process-cache clears (X3) travel by pub/sub across nodes, document fill guards (D2)
// keep their keys in one slot (K5).
import { before } from 'node:test';
import { createRedisStore } from '../../src/stores/redis.js';
import type { Store } from '../../src/stores/store.js';
import { startCluster, type RedisCluster } from '../support/cluster.js';
import { memoSuite } from './suite.js';

let cluster: RedisCluster;
const stores: Store[] = [];
before(async () => {
  cluster = await startCluster();
});

memoSuite('redis cluster', {
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
