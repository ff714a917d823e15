import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCache } from '../../src/cache.js';
import { createRedisStore } from '../../src/stores/redis/index.js';
import type { Store } from '../../src/stores/store.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import { memoSuite } from './suite.js';

let server: RedisServer;
const stores: Store[] = [];
before(async () => {
  server = await startRedis();
});
const makeStore = () => {
  const s = createRedisStore(server.url, { commandTimeoutMs: 1000 });
  stores.push(s);
  return s;
};

memoSuite('redis standalone', {
  makeStore,
  close: async () => {
    await Promise.all(stores.map((s) => s.close()));
    await server.stop();
  },
});

describe('process caches on redis', () => {
  it('X3: a lost subscription empties every process memo, and results are kept again once it is back', async () => {
    const cache = createCache({ store: makeStore(), namespace: 'x3-lost' });
    let runs = 0;
    const cfg = cache.processCached(async function lostConfig() {
      return ++runs;
    });
    assert.equal(await cfg(), 1);
    assert.equal(await cfg(), 1);
    await server.cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
    // The memo is emptied when the store reports the loss; until then the old value may be served.
    // Real time: the loss and the reconnect are ioredis's, over real connections.
    const deadline = Date.now() + 3000;
    while ((await cfg()) === 1) {
      assert.ok(Date.now() < deadline, 'memo not emptied after the subscription was lost');
      await new Promise((r) => setTimeout(r, 5));
    }
    // Once restored, results are kept again.
    const deadline2 = Date.now() + 3000;
    for (;;) {
      const a = await cfg();
      if ((await cfg()) === a) break;
      assert.ok(Date.now() < deadline2, 'results never kept again after the subscription came back');
      await new Promise((r) => setTimeout(r, 10));
    }
    await cache.close();
  });
});
