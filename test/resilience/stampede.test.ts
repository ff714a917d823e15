// S5 across real processes on one real redis-server: 4 processes × 200 concurrent misses run the
// generator once; a holder SIGKILLed mid-compute is replaced after its lease, and nobody waits forever.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCache, type Cache } from '../../src/index.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import { killChildren, spawnFixture } from './children.js';

let server: RedisServer;
let cache: Cache;
before(async () => {
  server = await startRedis();
  cache = createCache({ store: server.url });
});
after(async () => {
  killChildren();
  await cache.close();
  await server.stop();
});

interface Done {
  values: number[];
  runs: number;
  errors: number;
  maxMs: number;
}

test('S5: 200 concurrent misses in each of 4 processes, generator taking 200 ms, run the generator exactly once in total', async () => {
  const key = 's5-four';
  const children = Array.from({ length: 4 }, () => spawnFixture('stampede-child.ts', [server.url, key, '200', '200', '10000']));
  await Promise.all(children.map((c) => c.next('ready')));
  for (const c of children) c.send({ type: 'go' });
  const results = await Promise.all(children.map((c) => c.next<Done>('done')));
  const runs = results.reduce((n, r) => n + r.runs, 0);
  assert.equal(runs, 1, 'one generator run across the 4 processes');
  assert.equal(await cache.getValue(`${key}:runs`), 1, 'the INCR inside the generator agrees');
  assert.ok(results.every((r) => r.errors === 0));
  const producers = new Set(results.flatMap((r) => r.values));
  assert.equal(producers.size, 1, 'all 800 callers got the one computed value');
});

test('S5: a holder SIGKILLed mid-compute is replaced once its lease runs out; every waiter gets a value within the lease plus one run', async () => {
  const key = 's5-killed';
  const leaseMs = 800;
  const holder = spawnFixture('stampede-child.ts', [server.url, key, '1', '60000', String(leaseMs)]);
  const waiters = Array.from({ length: 3 }, () => spawnFixture('stampede-child.ts', [server.url, key, '50', '200', String(leaseMs)]));
  await Promise.all([holder, ...waiters].map((c) => c.next('ready')));
  holder.send({ type: 'go' });
  await holder.next('generating');
  for (const w of waiters) w.send({ type: 'go' });
  holder.proc.kill('SIGKILL');
  const results = await Promise.all(waiters.map((w) => w.next<Done>('done', 10_000)));
  const runs = results.reduce((n, r) => n + r.runs, 0);
  assert.equal(runs, 1, 'after the dead holder, exactly one other process computed');
  assert.ok(results.every((r) => r.errors === 0));
  const producers = new Set(results.flatMap((r) => r.values));
  assert.equal(producers.size, 1);
  assert.ok(!producers.has(holder.proc.pid!), 'the value is not the dead holder\'s');
  const slowest = Math.max(...results.map((r) => r.maxMs));
  // Behavioural bound: the dead holder's lease, then one 200 ms run, plus polling and loaded-machine slack.
  assert.ok(slowest < leaseMs + 200 + 1500, `the slowest waiter took ${slowest.toFixed(0)} ms`);
});
