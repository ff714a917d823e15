// The contract suite, unchanged, against a Sentinel group (one master, one replica, three
// sentinels, all password-protected): the store finds the master through the sentinels.
import { before } from 'node:test';
import { createRedisStore } from '../../src/stores/redis.js';
import type { Store } from '../../src/stores/store.js';
import { startSentinelGroup, type SentinelGroup } from '../support/sentinel.js';
import { contractSuite } from './suite.js';

let group: SentinelGroup;
const stores: Store[] = [];
before(async () => {
  group = await startSentinelGroup();
});

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
    stores.push(s);
    return s;
  },
  close: async () => {
    await Promise.all(stores.map((s) => s.close()));
    await group?.stop();
  },
});
