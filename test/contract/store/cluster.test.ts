// The Store contract on a real six-node Redis Cluster (three masters, three replicas; test/support/
// cluster.ts): keys of one test spread over slots and masters, scripts and shard channels in one.
import { after, before } from 'node:test';
import { createRedisStore } from '../../../src/index.js';
import { startCluster, type RedisCluster } from '../../support/cluster.js';
import { storeContract } from './suite.js';

let cluster: RedisCluster;
before(async () => {
  cluster = await startCluster();
});
after(async () => {
  await (cluster as RedisCluster | undefined)?.stop(); // undefined if before() failed
});

storeContract('redis cluster', async () => {
  const store = createRedisStore({ cluster: { nodes: cluster.startupNodes } }, { commandTimeoutMs: 2000 });
  return { store, cleanup: () => store.close() };
});
