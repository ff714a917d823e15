// The Redis store's own deadlines run on the clock it is given (RedisStoreOptions.clock), so a test
// can reach a timeout without waiting for it. ioredis' own timers (connect, reconnect) stay real.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Clock } from '../../src/clock.js';
import { StoreTimeoutError } from '../../src/errors.js';
import { createRedisStore } from '../../src/stores/redis/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

describe('redis store: injected clock', () => {
  let server: RedisServer;
  let proxy: FaultProxy;
  before(async () => {
    server = await startRedis();
    proxy = await startFaultProxy({ targetPort: server.port });
  });
  after(async () => {
    await proxy.close();
    await server.stop();
  });

  it('a call to a stalled server fails with StoreTimeoutError once the store clock passes commandTimeoutMs, and not before', async () => {
    const clock = new FakeClock();
    const store = createRedisStore(proxy.url, { commandTimeoutMs: 1000, clock });
    try {
      await store.set('clock:warm', Buffer.from('1'));
      proxy.setMode('stall');
      let outcome: unknown = 'pending';
      const state = (): unknown => outcome;
      const read = store.get('clock:warm').then(
        (v) => (outcome = v),
        (e: unknown) => (outcome = e),
      );
      await clock.advance(999);
      assert.equal(state(), 'pending');
      await clock.advance(1);
      await read;
      const err = state();
      assert.ok(err instanceof StoreTimeoutError, String(err));
      assert.match(err.message, /^redis 127\.0\.0\.1:\d+: GET took longer than 1000 ms/);
    } finally {
      proxy.setMode('pass');
      await store.close();
    }
  });

  it('a clock without now(), monotonic() and setTimeout() is a TypeError, before any connection', () => {
    assert.throws(() => createRedisStore(server.url, { clock: { now: Date.now } as unknown as Clock }), TypeError);
  });
});
