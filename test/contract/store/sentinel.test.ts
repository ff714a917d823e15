// The Store contract through Sentinel (test/support/sentinel.ts): one master, one replica, three
// sentinels, all password-protected; the store finds the master through the sentinels.
import { after, before } from 'node:test';
import { createRedisStore } from '../../../src/index.js';
import { startSentinelGroup, type SentinelGroup } from '../../support/sentinel.js';
import { storeContract } from './suite.js';

let group: SentinelGroup;
before(async () => {
  group = await startSentinelGroup();
});
after(async () => {
  await (group as SentinelGroup | undefined)?.stop(); // undefined if before() failed
});

storeContract('redis sentinel', async () => {
  const store = createRedisStore(
    {
      sentinel: {
        sentinels: group.sentinelAddresses,
        name: group.name,
        password: group.password,
        sentinelPassword: group.sentinelPassword,
      },
    },
    { commandTimeoutMs: 2000 },
  );
  return { store, cleanup: () => store.close() };
});
