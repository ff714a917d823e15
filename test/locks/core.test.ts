// The lock family's core rules, one suite run against the embedded store (LK9) and a real
// redis-server: both must behave the same. On the embedded store the tests of time logic run on
// the fake clock; on Redis, whose leases expire on its own clock, in real time.
import { createMemoryStore } from '../../src/stores/memory/index.js';
import { createRedisStore } from '../../src/stores/redis/index.js';
import type { Store } from '../../src/stores/store.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import { lockSuite } from './suite.js';

let server: RedisServer;
lockSuite({
  name: 'the embedded store (LK9: the same guarantees within one process)',
  setup: async () => {},
  makeStore: () => createMemoryStore(),
  makeStoreOn: (clock) => createMemoryStore({ clock }),
  teardown: async () => {},
});

const redisStores: Store[] = [];
lockSuite({
  name: 'redis',
  setup: async () => {
    server = await startRedis();
  },
  makeStore: () => {
    const s = createRedisStore(server.url, { commandTimeoutMs: 1000 });
    redisStores.push(s);
    return s;
  },
  teardown: async () => {
    await Promise.all(redisStores.map((s) => s.close()));
    await server.stop();
  },
});
