/**
 * N3: a lost invalidation channel is noticed even when no connection closes. The fault proxy
 * silences the near cache's invalidation connection the way a NAT or proxy idle timeout does (the
 * client's socket stays open and receives nothing; with dropUpstream Redis also sees it leave, and
 * marks the redirect broken). Before the fix the near cache served the overwritten value forever;
 * now the heartbeat (or the broken redirect) empties and bypasses it within 5 s, it reports
 * E_TRACKING_LOST, and tracking comes back on a fresh connection. Also: a transient "redirect
 * target does not exist" refusal is retried (F1: with a code), and a chaos run of CLIENT KILLs
 * under load never serves a value overwritten longer ago than N2's propagation window.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createCache, type Cache } from '../../src/index.js';
import { RedisTracking, trackingConnections, HEARTBEAT_DEADLINE_MS, HEARTBEAT_MS } from '../../src/stores/redis/tracking.js';
import { systemClock } from '../../src/clock.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

let server: RedisServer;
const open: Cache[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  server = await startRedis();
});
after(async () => {
  for (const c of open) await c.close();
  await server.stop();
});

/** Polls `probe` until it returns true; fails after `ms` (a bound, not a timing assertion). */
async function eventually(what: string, ms: number, probe: () => Promise<boolean> | boolean): Promise<void> {
  const until = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > until) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

test('N3: the heartbeat detects within 5 s by design (deadline plus one beat)', () => {
  assert.ok(HEARTBEAT_DEADLINE_MS + HEARTBEAT_MS < 5000);
});

describe('half-open invalidation connection (fault proxy)', () => {
  const proxies: FaultProxy[] = [];
  after(async () => {
    for (const p of proxies) await p.close();
  });

  for (const dropUpstream of [false, true]) {
    test(`N3: a silenced invalidation connection${dropUpstream ? ' that Redis also dropped' : ''} stops the near cache from serving stale values`, { timeout: 60_000 }, async () => {
      const key = `half-open:${dropUpstream}`;
      const proxy = await startFaultProxy({ targetPort: server.port });
      proxies.push(proxy);
      const reader = createCache({ store: proxy.url, namespace: 'ho', nearCache: { maxEntries: 100 } });
      const writer = createCache({ store: server.url, namespace: 'ho' });
      open.push(reader, writer);
      const errors: Error[] = [];
      reader.on('error', (e) => errors.push(e));
      await reader.exists('warm-up');
      const near = reader.core.near!;
      await near.whenActive();

      await writer.setValue(key, 'old');
      assert.equal(await reader.getValue(key), 'old');
      assert.equal(await reader.getValue(key), 'old');
      assert.ok(near.has(reader.key(key, undefined)), 'kept near');

      const silenced = proxy.halfOpen((sent) => sent.includes('__redis__:invalidate'), { dropUpstream });
      assert.equal(silenced, 1, 'exactly the invalidation connection went silent');
      await writer.setValue(key, 'new');

      // Never "forever": the near cache notices and the next read goes to Redis.
      await eventually('the overwritten value is no longer served', 10_000, async () => (await reader.getValue(key)) === 'new');
      assert.ok(
        errors.some((e) => (e as { code?: string }).code === 'E_TRACKING_LOST'),
        `reported with a code: ${errors.map(String).join('; ')}`,
      );

      // Back on a fresh invalidation connection, coherent again (N2).
      await near.whenActive();
      assert.equal(await reader.getValue(key), 'new');
      const landed = near.nextInvalidation();
      await writer.setValue(key, 'newer');
      await landed;
      assert.equal(await reader.getValue(key), 'newer');
    });
  }
});

test('N3/F1: "the client ID you want redirect to does not exist" is retried, not taken as refused', { timeout: 30_000 }, async () => {
  const main = new Redis(server.port, { lazyConnect: true });
  const errors: Error[] = [];
  let active = false;
  let activations = 0;
  // The race made certain: the first CLIENT TRACKING ... REDIRECT names the id of a connection
  // that is gone, as when the invalidation connection reconnected (a new id) a moment before and
  // this process had not heard of it yet. The id is a real one, of a connection just closed.
  const gone = new Redis(server.port);
  const goneId = String(await gone.client('ID'));
  await gone.quit();
  const real = main.call.bind(main) as (...args: unknown[]) => Promise<unknown>;
  let raced = false;
  (main as unknown as { call: (...args: unknown[]) => Promise<unknown> }).call = (...args: unknown[]) => {
    if (!raced && args[0] === 'CLIENT' && args[1] === 'TRACKING' && args[3] === 'REDIRECT') {
      raced = true;
      return real(...args.slice(0, 4), goneId, ...args.slice(5));
    }
    return real(...args);
  };
  const tracking = new RedisTracking(
    trackingConnections(main, 1000),
    {
      invalidate: () => undefined,
      setActive: (a) => {
        active = a;
        if (a) activations++;
      },
      error: (e) => errors.push(e),
    },
    systemClock,
  );
  try {
    await main.connect();
    await eventually('tracking active after the transient refusal', 10_000, () => active);
    assert.ok(raced);
    const first = errors.find((e) => /redirect/i.test(e.message));
    assert.ok(first, `the refusal was reported: ${errors.map(String).join('; ')}`);
    assert.equal((first as { code?: string }).code, 'E_TRACKING_LOST');
    assert.ok(!errors.some((e) => (e as { code?: string }).code === 'E_TRACKING_REFUSED'));
    assert.equal(activations, 1);
  } finally {
    tracking.close();
    main.disconnect();
  }
});

test('N2/N3 chaos: under periodic CLIENT KILL of invalidation connections and load, no read returns a value overwritten (and acknowledged) longer than the N2 window before it began', { timeout: 60_000 }, async () => {
  const readers = [0, 1].map(() => createCache({ store: server.url, namespace: 'chaos', nearCache: { maxEntries: 100 } }));
  const writer = createCache({ store: server.url, namespace: 'chaos' });
  open.push(...readers, writer);
  for (const r of readers) r.on('error', () => undefined);
  for (const r of readers) {
    await r.exists('warm-up');
    await r.core.near!.whenActive();
  }
  const killer = new Redis(server.port);
  const keys = ['c0', 'c1', 'c2', 'c3'];
  // Per key, the acknowledged writes in order: [when acknowledged (ms), value]. Another client's
  // write reaches a near cache within N2's window, not at once; a read may return a value older
  // than a write acknowledged less than WINDOW_MS before it began, never older than one before that.
  const WINDOW_MS = 500;
  const acked = new Map<string, Array<[number, number]>>(keys.map((k) => [k, [[0, 0]]]));
  const floorOf = (k: string, start: number): number => {
    const h = acked.get(k)!;
    for (let i = h.length - 1; i >= 0; i--) if (h[i]![0] <= start - WINDOW_MS) return h[i]![1];
    return 0;
  };
  for (const k of keys) await writer.setValue(k, 0);
  let stale = 0;
  let reads = 0;
  let kills = 0;
  const run = { stop: false };
  const writing = (async () => {
    for (let v = 1; !run.stop; v++) {
      const k = keys[v % keys.length]!;
      await writer.setValue(k, v);
      acked.get(k)!.push([Date.now(), v]);
      await sleep(1);
    }
  })();
  const reading = readers.map(async (r) => {
    while (!run.stop) {
      const k = keys[Math.floor(Math.random() * keys.length)]!;
      const floor = floorOf(k, Date.now());
      const got = (await r.getValue<number>(k))!;
      reads++;
      if (got < floor) stale++;
      // A near hit resolves in a microtask: yield, or this loop would starve every timer and socket.
      await new Promise((r) => setImmediate(r));
    }
  });
  const killing = (async () => {
    while (!run.stop) {
      await sleep(150);
      await killer.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      kills++;
    }
  })();
  await sleep(4000);
  run.stop = true;
  await Promise.all([writing, killing, ...reading]);
  killer.disconnect();
  assert.ok(kills >= 5 && reads > 100, `enough chaos: ${kills} kills, ${reads} reads`);
  assert.equal(stale, 0, `${stale} of ${reads} reads returned a value older than an acknowledged write`);
});
