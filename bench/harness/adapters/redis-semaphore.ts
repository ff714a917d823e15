/**
 * redis-semaphore 5.8.0's Mutex with its defaults (lockTimeout 10 s with refresh, acquireTimeout
 * 10 s, retryInterval 10 ms) over one ioredis client. A waiter polls every 10 ms: no wake-up on release.
 */
import { Redis } from 'ioredis';
import { Mutex } from 'redis-semaphore';
import type { LockSystem } from '../adapter.js';

export const redisSemaphore: LockSystem = {
  info: { name: 'redis-semaphore', role: 'peer', tier: 'redis' },
  async create(setup) {
    const client = new Redis(setup.redisUrl);
    return {
      ...this.info,
      async ready() {
        await client.ping();
      },
      async acquire(name) {
        const m = new Mutex(client, `rs:${name}`);
        await m.acquire();
        return m;
      },
      release: (m) => (m as Mutex).release(),
      async close() {
        client.disconnect();
      },
    };
  },
};
