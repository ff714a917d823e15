// Redlock (LK10) over 3 and 5 real, independent redis-server processes: quorums, killed and
// stopped servers. Its time logic (retry pauses, renewals, their loss) runs on the fake clock over
// embedded stores at the end of the file.
import { after, before, test } from 'node:test';
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { createMemoryStore, createRedisStore, createRedlock, LockLostError, LockNotOwnedError, LockTimeoutError, StoreUnavailableError, type Clock } from '../../src/index.js';
import { physicalKey } from '../../src/keys.js';
import type { Store } from '../../src/stores/store.js';
import { chaosStore } from '../support/chaos-store.js';
import { FakeClock } from '../support/fake-clock.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lockKey = (name: string) => physicalKey({ namespace: 'default', user: null, shared: false }, 'L', name);

let servers: RedisServer[] = [];
const stores: Store[] = [];
let keepAlive: NodeJS.Timeout;

before(async () => {
  keepAlive = setInterval(() => {}, 1000);
  servers = await Promise.all(Array.from({ length: 5 }, () => startRedis()));
});
after(async () => {
  clearInterval(keepAlive);
  for (const s of servers) if (s.process.signalCode === 'SIGSTOP') s.process.kill('SIGCONT');
  await Promise.all(stores.map((s) => s.close()));
  await Promise.all(servers.map((s) => s.stop()));
});

/** Fresh stores over the first `n` servers (each test its own clients, so a dead one does not linger). */
/**
 * Stores for the first n servers, connected where their server is up: Redlock gives each server a
 * tenth of the lease (10-500 ms), less than a cold connect may take on a loaded machine, and these
 * tests are about quorums, not about the first dial. A server that is down fails its warm-up fast.
 */
async function storesFor(n: number): Promise<Store[]> {
  const list = servers.slice(0, n).map((s) => createRedisStore(s.url, { commandTimeoutMs: 1000 }));
  stores.push(...list);
  await Promise.allSettled(list.map((s) => s.exists('warm-up')));
  return list;
}

/** redis-cli, read to the end of its output ('close', not 'exit': output can arrive after exit). */
function cli(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('redis-cli', ['-p', String(port), ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', () => resolve(out));
  });
}

/** On how many of the first `n` servers (the live ones) the lock's key exists. */
async function holders(name: string, n: number): Promise<number> {
  const live = servers.slice(0, n).filter((s) => s.process.exitCode === null && s.process.signalCode === null);
  const found = await Promise.all(live.map((s) => cli(s.port, 'EXISTS', lockKey(name))));
  return found.filter((x) => x.trim() === '1').length;
}

test('LK10: with 3 servers, a lock is held on all of them and released on all of them', async () => {
  const rl = createRedlock(await storesFor(3));
  assert.equal(rl.quorum, 2);
  // A quorum lock has no single master to WAIT on: the option is refused, not ignored.
  await assert.rejects(async () => rl.lock('rl-basic', { waitReplicas: 1 }), /not to a Redlock lock/);
  const lock = await rl.lock('rl-basic', { ttlMs: 2000 });
  assert.equal(await holders('rl-basic', 3), 3);
  assert.equal(await rl.tryLock('rl-basic'), null);
  await lock.release();
  assert.equal(await holders('rl-basic', 3), 0);
  await assert.rejects(lock.extend(), LockNotOwnedError);
});

test('LK10, LK3: fencing tokens strictly increase across quorums even when the servers\' counters drift apart', async () => {
  const raw = await storesFor(3);
  const nodes = raw.map((s) => chaosStore(s));
  const rl = createRedlock(nodes, { retryCount: 0, nodeTimeoutMs: 100 });
  const tokens: number[] = [];
  const grant = async () => {
    const l = await rl.lock('rl-fence', { ttlMs: 2000 });
    tokens.push(l.fencingToken);
    await l.release();
  };
  await grant(); // A, B, C
  nodes[0]!.mode = 'fail'; // A unreachable: B and C move on
  for (let i = 0; i < 10; i++) await grant();
  nodes[0]!.mode = 'ok';
  nodes[2]!.mode = 'fail'; // A and B: B's counter decides; A's own is far behind
  await grant();
  nodes[2]!.mode = 'ok';
  nodes[1]!.mode = 'fail'; // A and C: both counters now equal B's old one, unless A was raised
  await grant();
  nodes[1]!.mode = 'ok';
  for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!, `tokens ${tokens.join(',')}`);
});

test('LK10: with 3 servers and one killed, the lock is still acquired', async () => {
  const rl = createRedlock(await storesFor(3), { retryCount: 2, retryDelayMs: 50 });
  await servers[2]!.kill();
  try {
    const lock = await rl.lock('rl-one-down', { ttlMs: 2000 });
    assert.equal(await holders('rl-one-down', 2), 2);
    await lock.release();
    assert.equal(await holders('rl-one-down', 2), 0);
  } finally {
    await servers[2]!.restart();
  }
});

test('LK10: with 3 servers and a majority killed, acquiring fails within the retry budget and leaves no lock on the survivor', async () => {
  const rl = createRedlock(await storesFor(3), { retryCount: 3, retryDelayMs: 50, retryJitterMs: 10 });
  await Promise.all([servers[1]!.kill(), servers[2]!.kill()]);
  try {
    const t0 = performance.now();
    await assert.rejects(rl.lock('rl-majority-down', { ttlMs: 2000 }), StoreUnavailableError);
    const took = performance.now() - t0;
    assert.ok(took < 4 * (50 + 10) + 500, `took ${took} ms`);
    assert.equal(await holders('rl-majority-down', 1), 0);
  } finally {
    await Promise.all([servers[1]!.restart(), servers[2]!.restart()]);
  }
});

test('LK10: with 5 servers, two killed still acquires; three killed fails and leaves no lock on the survivors', async () => {
  const rl = createRedlock(await storesFor(5), { retryCount: 2, retryDelayMs: 50, retryJitterMs: 10 });
  assert.equal(rl.quorum, 3);
  await Promise.all([servers[3]!.kill(), servers[4]!.kill()]);
  try {
    const lock = await rl.lock('rl-five', { ttlMs: 2000 });
    assert.equal(await holders('rl-five', 3), 3);
    await lock.release();
    await servers[2]!.kill();
    await assert.rejects(rl.lock('rl-five', { ttlMs: 2000 }), StoreUnavailableError);
    assert.equal(await holders('rl-five', 2), 0);
  } finally {
    await Promise.all([servers[2]!.restart(), servers[3]!.restart(), servers[4]!.restart()]);
  }
});

test('LK10: a server slowed (SIGSTOP) past the node timeout counts as a failure; the other two still grant the lock', async () => {
  const rl = createRedlock(await storesFor(3), { retryCount: 0, nodeTimeoutMs: 100 });
  servers[2]!.process.kill('SIGSTOP');
  try {
    const t0 = performance.now();
    const lock = await rl.lock('rl-slow', { ttlMs: 2000 });
    assert.ok(performance.now() - t0 < 400);
    assert.equal(await holders('rl-slow', 2), 2);
    await lock.release();
  } finally {
    servers[2]!.process.kill('SIGCONT');
  }
  await sleep(100); // real time: the woken server answers late over a real connection, then gets the release
  assert.equal(await holders('rl-slow', 3), 0, 'the slow server\'s late grant was released too');
});

test('LK10: when waiting on a slow server takes longer than the lease, the attempt fails and is released everywhere', async () => {
  const rl = createRedlock(await storesFor(3), { retryCount: 0, nodeTimeoutMs: 400 });
  servers[2]!.process.kill('SIGSTOP');
  try {
    await assert.rejects(rl.lock('rl-past-lease', { ttlMs: 300 }), LockTimeoutError);
    assert.equal(await holders('rl-past-lease', 2), 0);
  } finally {
    servers[2]!.process.kill('SIGCONT');
  }
  await sleep(100); // real time, as above: the late grant and its release travel a real network
  assert.equal(await holders('rl-past-lease', 3), 0);
});

// --- on the fake clock: three embedded stores (each its own "server") and the Redlock on one clock

/** Three embedded stores on `clock`, each behind a chaos wrapper, and how long each lock key has left. */
function fakeServers(clock: FakeClock) {
  const nodes = Array.from({ length: 3 }, () => chaosStore(createMemoryStore({ clock })));
  const pttl = (name: string) => Promise.all(nodes.map((s) => s.ttl(lockKey(name))));
  return { nodes, pttl };
}

test('LK10, LK4: a Redlock lock renews itself every ttlMs/3 on every server (autoExtend) and aborts its signal at the first renewal a majority refuses', async () => {
  const clock = new FakeClock();
  const { nodes, pttl } = fakeServers(clock);
  const rl = createRedlock(nodes, { retryCount: 0, clock });
  const lock = await rl.lock('rl-watch', { ttlMs: 300 });
  await clock.advance(700);
  assert.ok(lock.held);
  // Renewals at 100, 200, … 700 ms: each server's lease was just set to 300 ms again.
  assert.deepEqual(await pttl('rl-watch'), [300, 300, 300]);
  nodes[0]!.mode = 'fail';
  nodes[1]!.mode = 'fail';
  const t0 = clock.monotonic();
  const reason = await clock.runUntil(new Promise((resolve) => lock.signal.addEventListener('abort', () => resolve(lock.signal.reason))));
  assert.ok(reason instanceof LockLostError, String(reason));
  assert.equal(clock.monotonic() - t0, 100, 'lost at the next renewal, not at the end of the lease');
  assert.ok(!lock.held);
  nodes[0]!.mode = 'ok';
  nodes[1]!.mode = 'ok';
  await lock.release().catch(() => {});
});

test('LK10: with a majority unreachable, each attempt waits retryDelayMs + random()·retryJitterMs, retryCount times, then fails and leaves no lock on the survivor', async () => {
  const clock = new FakeClock();
  const { nodes } = fakeServers(clock);
  nodes[1]!.mode = 'fail';
  nodes[2]!.mode = 'fail';
  let tries = 0;
  const counting = new Proxy(nodes[0]!, {
    get(target, prop) {
      if (prop === 'eval') {
        return (...args: Parameters<Store['eval']>) => {
          if (args[0].name === 'lock-acquire') tries++;
          return target.eval(...args);
        };
      }
      const v: unknown = Reflect.get(target, prop);
      return typeof v === 'function' ? (v.bind(target) as unknown) : v;
    },
  });
  const rl = createRedlock([counting, nodes[1]!, nodes[2]!], { retryCount: 3, retryDelayMs: 50, retryJitterMs: 10, random: () => 0.5, clock });
  const t0 = clock.monotonic();
  await assert.rejects(clock.runUntil(rl.lock('rl-budget', { ttlMs: 2000 })), StoreUnavailableError);
  assert.equal(clock.monotonic() - t0, 3 * (50 + 0.5 * 10), 'three pauses of 55 ms between four attempts');
  assert.equal(tries, 4);
  assert.equal(await nodes[0]!.ttl(lockKey('rl-budget')), undefined, 'the survivor\'s grant was released after each attempt');
  // waitMs bounds the retries too: no pause that would end past it.
  const t1 = clock.monotonic();
  await assert.rejects(clock.runUntil(rl.lock('rl-budget', { ttlMs: 2000, waitMs: 120 })), StoreUnavailableError);
  assert.equal(clock.monotonic() - t1, 2 * 55, 'a third pause would end at 165 ms, past waitMs');
});

test('LK10: a clock without now(), monotonic() and setTimeout() is a TypeError', () => {
  assert.throws(() => createRedlock([createMemoryStore()], { clock: { now: Date.now } as unknown as Clock }), TypeError);
});
