/**
 * redlock 4.2.0 with its defaults (retryCount 10, retryDelay 200 ms, retryJitter 100 ms, drift
 * factor 0.01) over one ioredis client to the benchmark's server; TTL 30 s, larder's default lease.
 * A waiter retries on its timer: there is no wake-up on release.
 */
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import type { LockSystem } from '../adapter.js';

// redlock 4 ships no type declarations: the little of it used here.
interface RedlockLock {
  unlock(): Promise<void>;
}
type RedlockCtor = new (clients: Redis[], opts?: object) => { lock(resource: string, ttl: number): Promise<RedlockLock>; quit(): Promise<void> };
const Redlock = createRequire(import.meta.url)('redlock') as RedlockCtor;

export const redlock: LockSystem = {
  info: { name: 'redlock', role: 'peer', tier: 'redis' },
  async create(setup) {
    const client = new Redis(setup.redisUrl);
    const rl = new Redlock([client]);
    return {
      ...this.info,
      async ready() {
        await client.ping();
      },
      acquire: (name) => rl.lock(`rl:${name}`, 30_000),
      release: (l) => (l as RedlockLock).unlock(),
      async close() {
        client.disconnect();
      },
    };
  },
};
