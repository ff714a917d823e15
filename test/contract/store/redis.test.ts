// The Store contract on one real redis-server (a free port, stopped after the file): a fresh
// store per test over the same server; the tests' keys never collide (helpers.ts).
import { after, before } from 'node:test';
import { createRedisStore } from '../../../src/index.js';
import { startRedis, type RedisServer } from '../../support/redis-server.js';
import { storeContract } from './suite.js';

let server: RedisServer;
before(async () => {
  server = await startRedis();
});
after(async () => {
  await (server as RedisServer | undefined)?.stop(); // undefined if before() failed
});

storeContract('redis standalone', async () => {
  const store = createRedisStore(server.url, { commandTimeoutMs: 2000 });
  return { store, cleanup: () => store.close() };
});
