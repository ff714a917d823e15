// Issue 4's fast path on a real redis-server: an uncontended acquire is one round trip (one
// script) and a release another. Counted with MONITOR, which also shows the commands a script
// runs inside Redis (source "lua"): those are not round trips and are not counted.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createCache, type Cache } from '../../src/index.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

let server: RedisServer;
let monitor: Redis | undefined;
let cache: Cache;
before(async () => {
  server = await startRedis();
  cache = createCache({ store: server.url, namespace: 'rt' });
});
after(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- before() may have thrown before assigning it
  await cache?.close();
  monitor?.disconnect();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- before() may have thrown before assigning it
  await server?.stop();
});

/** The commands clients sent (not those scripts ran) while `fn` ran. */
async function sent(fn: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const m = await (monitor ??= new Redis(server.url)).monitor();
  const marker = `rt-marker-${Math.random()}`;
  const done = new Promise<void>((resolve) =>
    m.on('monitor', (_time: string, args: string[], source: string) => {
      if (args[0]?.toLowerCase() === 'echo' && args[1] === marker) {
        resolve();
        return;
      }
      if (source !== 'lua') seen.push(args[0]!.toLowerCase());
    }),
  );
  await fn();
  const probe = new Redis(server.url);
  await probe.echo(marker);
  await done;
  probe.disconnect();
  m.disconnect();
  return seen.filter((c) => c !== 'monitor' && c !== 'info' && c !== 'client' && c !== 'hello');
}

test('LK2: an uncontended lock is one round trip to acquire and one to release', async () => {
  // Warm up: the first call connects and may load the scripts (EVALSHA → NOSCRIPT → EVAL).
  await (await cache.lock('warm')).release();
  const commands = await sent(async () => {
    const lock = await cache.lock('payroll', { ttlMs: 30_000 });
    await lock.release();
  });
  assert.deepEqual(commands, ['evalsha', 'evalsha']);
});

test('LK2: tryLock and withLock take the same fast path', async () => {
  await (await cache.lock('warm2')).release();
  assert.deepEqual(await sent(async () => (await cache.tryLock('t'))!.release()), ['evalsha', 'evalsha']);
  assert.deepEqual(await sent(() => cache.withLock('w', async () => 1)), ['evalsha', 'evalsha']);
});
