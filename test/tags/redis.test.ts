// The tag suite (T1–T8) on Redis standalone, with the near cache's tests (N2 through tracking).
import { before } from 'node:test';
import { createRedisStore } from '../../src/stores/redis/index.js';
import type { Store } from '../../src/stores/store.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import { tagSuite } from './suite.js';

let server: RedisServer;
const stores: Store[] = [];
before(async () => {
  server = await startRedis();
});

tagSuite('redis standalone', {
  makeStore: () => {
    const s = createRedisStore(server.url, { commandTimeoutMs: 1000 });
    stores.push(s);
    return s;
  },
  nearUrl: () => server.url,
  close: async () => {
    await Promise.all(stores.map((s) => s.close()));
    await server.stop();
  },
});
