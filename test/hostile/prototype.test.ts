/**
 * Z2: data read from a store never runs code. A setter someone defined on Object.prototype must
 * not run with store data (nor swallow the field) when hgetall builds its result, on any store;
 * the memo digest builds its canonical objects the same way (M1: `{ k: 1 }` and `{}` differ).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCache, createMemoryStore, type Cache } from '../../src/index.js';
import { argumentDigest } from '../../src/memo/digest.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

let server: RedisServer;
before(async () => {
  server = await startRedis();
});
after(async () => {
  await server.stop();
});

/** Runs `fn` with a setter on Object.prototype[name] that records what it was given. */
async function withTrap<T>(name: string, fn: (ran: unknown[]) => Promise<T>): Promise<T> {
  const ran: unknown[] = [];
  Object.defineProperty(Object.prototype, name, {
    configurable: true,
    set(v: unknown) {
      ran.push(v);
    },
  });
  try {
    return await fn(ran);
  } finally {
    Reflect.deleteProperty(Object.prototype, name);
  }
}

for (const [store, make] of [
  ['memory', () => createCache({ store: createMemoryStore() })],
  ['redis', () => createCache({ store: server.url })],
] as Array<[string, () => Cache]>) {
  test(`Z2 (${store}): hgetall defines fields as own properties; no inherited setter runs`, async () => {
    const cache = make();
    try {
      await cache.hset('z2', 'trapped', { salary: 1 });
      await cache.hset('z2', 'plain', 2);
      await cache.hset('z2', '__proto__', 3);
      await withTrap('trapped', async (ran) => {
        const all = await cache.hgetall('z2');
        assert.deepEqual(ran, [], 'the setter never ran');
        assert.ok(Object.hasOwn(all, 'trapped'));
        assert.deepEqual(Object.getOwnPropertyDescriptor(all, 'trapped')?.value, { salary: 1 });
        assert.equal(all.plain, 2);
        assert.equal(Object.getPrototypeOf(all), Object.prototype, '__proto__ did not change the prototype');
        assert.equal(Object.getOwnPropertyDescriptor(all, '__proto__')?.value, 3);
      });
    } finally {
      await cache.close();
    }
  });
}

test('Z2/M1: the memo digest keeps a key that Object.prototype has a setter for', async () => {
  const empty = argumentDigest([{}]);
  await withTrap('k', async (ran) => {
    assert.notEqual(argumentDigest([{ k: 1, j: { a: 1 } }]), argumentDigest([{ j: { a: 1 } }]));
    assert.notEqual(argumentDigest([{ k: 1 }]), empty);
    assert.deepEqual(ran, []);
  });
});
