/**
 * The benchmark's own redis-servers: started with the test harness' startRedis() on free ports
 * (never 6379; persistence off: `--save ''`, `--appendonly no`), registered for clean-up, and
 * described for the report (version and the configuration that matters to the figures).
 */
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../../test/support/redis-server.js';
import { track } from './cleanup.js';

export async function startBenchRedis(): Promise<RedisServer> {
  const server = await startRedis();
  const untrack = track(() => server.stop());
  const stop = server.stop.bind(server);
  server.stop = async () => {
    untrack();
    await stop();
  };
  return server;
}

export interface RedisDescription {
  version: string;
  config: Array<[string, string]>;
}

const SETTINGS = ['save', 'appendonly', 'maxmemory', 'maxmemory-policy', 'io-threads', 'hz', 'lazyfree-lazy-user-del', 'tracking-table-max-keys', 'maxclients'];

export async function describeRedis(server: RedisServer): Promise<RedisDescription> {
  const c = new Redis(server.url);
  try {
    const info = (await c.info('server')) + (await c.info('memory'));
    const field = (f: string) => new RegExp(`^${f}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? '?';
    const config: Array<[string, string]> = [
      ['bind', `${server.host} (loopback, same machine as the clients)`],
      ['multiplexing', field('multiplexing_api')],
      ['allocator', field('mem_allocator')],
    ];
    for (const name of SETTINGS) {
      const r = await c.config('GET', name);
      config.push([name, r[1] === '' ? '""' : (r[1] ?? '?')]);
    }
    return { version: field('redis_version'), config };
  } finally {
    c.disconnect();
  }
}

/** Redis `used_memory` in bytes (allocator bytes in use, not RSS). */
export async function usedMemory(client: Redis): Promise<number> {
  const info = await client.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)![1]);
}
