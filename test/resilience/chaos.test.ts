// F2–F4 under chaos, across real processes on a real redis-server: steady mixed load from 2 child
// processes (each with a 'degrade' and a 'throw' cache), then the server is SIGKILLed, kept down
// 3 s and restarted (with an append-only file, so the data written before the kill comes back).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
// Real time throughout: child processes, a real server killed and stopped, ioredis reconnecting.
import { setTimeout as sleep } from 'node:timers/promises';
import { createCache, type Cache } from '../../src/index.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import { killChildren, spawnFixture, type Child } from './children.js';

const COMMAND_TIMEOUT_MS = 200;
const VICTIMS = 20;

interface Tally {
  calls: number;
  ok: number;
  maxMs: number;
  slow: Array<{ op: string; ms: number }>;
  errors: Record<string, number>;
  untyped: string[];
  lastErrorAt: number;
  lastError: string;
  lastFailAt: number;
}
interface Report {
  modes: { degrade: Tally; throw: Tally };
  staleVictimReads: number;
  pending: number;
  /** The child's worst event-loop delay over the run (perf_hooks.monitorEventLoopDelay). */
  loopDelayMaxMs: number;
}

const servers: RedisServer[] = [];
const caches: Cache[] = [];
const proxies: FaultProxy[] = [];
after(async () => {
  killChildren();
  for (const p of proxies) await p.close();
  // Closed even when a test failed half-way: a cache left open keeps redialling a stopped server.
  await Promise.all(caches.map((c) => c.close()));
  for (const s of servers) await s.stop();
});

function open(url: string): Cache {
  const c = createCache({ store: url });
  caches.push(c);
  return c;
}

function summary(reports: Report[], upAt: number): string {
  return reports
    .map((r, i) => (['degrade', 'throw'] as const)
      .map((m) => `child ${i} ${m}: ${r.modes[m].calls} calls, max ${r.modes[m].maxMs.toFixed(0)} ms (loop delay max ${r.loopDelayMaxMs.toFixed(0)} ms), last error ${r.modes[m].lastErrorAt - upAt} ms after restart (${r.modes[m].lastError}), errors ${JSON.stringify(r.modes[m].errors)}`)
      .join('; '))
    .join(' | ');
}

function checkReports(reports: Report[], upAt: number, what: string): void {
  for (const [i, r] of reports.entries()) {
    const { degrade, throw: strict } = r.modes;
    assert.deepEqual(degrade.errors, {}, `${what}: child ${i}: no caller error in 'degrade' mode`);
    assert.deepEqual(strict.untyped, [], `${what}: child ${i}: 'throw' mode throws only typed errors`);
    for (const code of Object.keys(strict.errors)) {
      assert.ok(code === 'E_STORE_UNAVAILABLE' || code === 'E_STORE_TIMEOUT', `${what}: child ${i}: unexpected ${code}`);
    }
    assert.ok(Object.keys(strict.errors).length > 0, `${what}: child ${i}: 'throw' mode saw the outage`);
    // The bound is commandTimeoutMs + 50 ms of the library's making. A child the machine starved
    // (its event loop ran late) cannot settle any call sooner than its loop lets it, so its worst
    // loop delay is allowed on top; a loop delay near a second would hide nothing real, so it fails.
    assert.ok(r.loopDelayMaxMs < 500, `${what}: child ${i}: event loop delayed ${r.loopDelayMaxMs.toFixed(0)} ms: the machine is too loaded to judge`);
    const bound = COMMAND_TIMEOUT_MS + 50 + r.loopDelayMaxMs;
    for (const t of [degrade, strict]) {
      assert.deepEqual(t.slow.filter((s) => s.ms > bound), [], `${what}: child ${i}: no call slower than commandTimeoutMs + 50 ms + the child's worst loop delay (${r.loopDelayMaxMs.toFixed(0)} ms); max ${t.maxMs.toFixed(0)} ms`);
      assert.ok(t.lastErrorAt < upAt + 1000, `${what}: child ${i}: recovered ${t.lastErrorAt - upAt} ms after the store was back`);
    }
  }
}

test('F2, F3, F4: redis-server killed for 3 s under load from 2 processes: no degrade-mode error, typed throw-mode errors, no slow call, no stale read of keys deleted during the outage, recovery within 1 s', async (t) => {
  const server = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  servers.push(server);
  assert.match(await server.cli('CONFIG', 'GET', 'appendonly'), /yes/);
  const cache = open(server.url);
  await cache.setMany(Array.from({ length: VICTIMS }, (_, i) => [`victim:${i}`, 'old'] as [string, unknown]), { expiresInSec: null });
  await cache.setValue('bystander', 'old', { expiresInSec: null });

  const children: Child[] = [0, 1].map((i) => spawnFixture('chaos-load.ts', [server.url, String(COMMAND_TIMEOUT_MS), `kill${i}`]));
  await Promise.all(children.map((c) => c.next('ready')));
  await sleep(500); // steady load before the outage

  await server.kill();
  const downAt = Date.now();
  await sleep(300);
  children[0]!.send({ type: 'delete-victims', n: VICTIMS });
  const deleted = await children[0]!.next<{ pending: number }>('deleted');
  assert.ok(deleted.pending > 0, 'the deletes could not reach the store and are remembered');
  await sleep(Math.max(0, downAt + 3000 - Date.now()));
  await server.restart();
  const upAt = Date.now();
  // Data written before the kill survives it (AOF), so a stale read of a victim would be possible
  // had the deletes been forgotten (the victims themselves may already be deleted by the retry).
  assert.notEqual((await server.cli('GET', cache.key('bystander', undefined))).trim(), '');
  await sleep(1500); // load after the recovery

  for (const c of children) c.send({ type: 'report' });
  const reports = await Promise.all(children.map((c) => c.next<Report>('report')));
  checkReports(reports, upAt, 'kill');
  t.diagnostic(summary(reports, upAt));
  assert.equal(reports[0]!.staleVictimReads, 0, 'the deleting process never read an old victim value');
  assert.equal(reports[0]!.pending, 0, 'the deletes were retried');
  const after = await cache.getMany(Array.from({ length: VICTIMS }, (_, i) => `victim:${i}`));
  assert.ok(after.every((v) => v === undefined), 'every victim is deleted on the server');
  for (const r of reports) assert.ok(r.modes.degrade.ok > 100 && r.modes.throw.ok > 100, 'the load ran');

  for (const c of children) c.send({ type: 'stop' });
  await Promise.all(children.map((c) => new Promise((r) => c.proc.once('exit', r))));
});

test('F2, F3, F4: redis-server stalled (SIGSTOP: connections accepted, nothing answered) for 3 s under load from 2 processes: same guarantees, the breaker keeps calls from waiting', async (t) => {
  const server = await startRedis();
  servers.push(server);
  const cache = open(server.url);
  await cache.setMany(Array.from({ length: VICTIMS }, (_, i) => [`victim:${i}`, 'old'] as [string, unknown]), { expiresInSec: null });

  const children: Child[] = [0, 1].map((i) => spawnFixture('chaos-load.ts', [server.url, String(COMMAND_TIMEOUT_MS), `stall${i}`]));
  await Promise.all(children.map((c) => c.next('ready')));
  await sleep(500); // steady load before the stall

  server.process.kill('SIGSTOP');
  const downAt = Date.now();
  await sleep(300);
  children[0]!.send({ type: 'delete-victims', n: VICTIMS });
  const deleted = await children[0]!.next<{ pending: number; ms: number }>('deleted');
  assert.ok(deleted.pending > 0, 'the deletes timed out and are remembered');
  assert.ok(deleted.ms < COMMAND_TIMEOUT_MS + 50, `the delete gave up within the timeout (${deleted.ms.toFixed(0)} ms)`);
  await sleep(Math.max(0, downAt + 3000 - Date.now()));
  server.process.kill('SIGCONT');
  const upAt = Date.now();
  await sleep(1500); // load after the recovery

  for (const c of children) c.send({ type: 'report' });
  const reports = await Promise.all(children.map((c) => c.next<Report>('report')));
  t.diagnostic(summary(reports, upAt));
  checkReports(reports, upAt, 'stall');
  assert.equal(reports[0]!.staleVictimReads, 0, 'the deleting process never read an old victim value');
  assert.equal(reports[0]!.pending, 0, 'the deletes were retried');
  const after = await cache.getMany(Array.from({ length: VICTIMS }, (_, i) => `victim:${i}`));
  assert.ok(after.every((v) => v === undefined), 'every victim is deleted on the server');

  for (const c of children) c.send({ type: 'stop' });
  await Promise.all(children.map((c) => new Promise((r) => c.proc.once('exit', r))));
});

test('F2, F3, F4: the network stalls (fault proxy: connections accepted and read, nothing forwarded) for 3 s under load from 2 processes: same guarantees', async (t) => {
  const server = await startRedis();
  servers.push(server);
  const proxy = await startFaultProxy({ targetPort: server.port });
  proxies.push(proxy);
  // The test itself talks to the server directly; the children go through the proxy.
  const cache = open(server.url);
  await cache.setMany(Array.from({ length: VICTIMS }, (_, i) => [`victim:${i}`, 'old'] as [string, unknown]), { expiresInSec: null });

  const children: Child[] = [0, 1].map((i) => spawnFixture('chaos-load.ts', [proxy.url, String(COMMAND_TIMEOUT_MS), `proxy${i}`]));
  await Promise.all(children.map((c) => c.next('ready')));
  await sleep(500); // steady load before the stall

  proxy.setMode('stall');
  const downAt = Date.now();
  await sleep(300);
  children[0]!.send({ type: 'delete-victims', n: VICTIMS });
  const deleted = await children[0]!.next<{ pending: number; ms: number }>('deleted');
  assert.ok(deleted.pending > 0, 'the deletes did not get through and are remembered');
  assert.ok(deleted.ms < COMMAND_TIMEOUT_MS + 50, `the delete gave up within the timeout (${deleted.ms.toFixed(0)} ms)`);
  assert.equal(await cache.getValue('victim:0'), 'old', 'the old values are still on the server: a stale read is possible');
  await sleep(Math.max(0, downAt + 3000 - Date.now()));
  proxy.setMode('pass');
  const upAt = Date.now();
  await sleep(1500); // load after the recovery

  for (const c of children) c.send({ type: 'report' });
  const reports = await Promise.all(children.map((c) => c.next<Report>('report')));
  t.diagnostic(summary(reports, upAt));
  checkReports(reports, upAt, 'proxy stall');
  assert.equal(reports[0]!.staleVictimReads, 0, 'the deleting process never read an old victim value');
  assert.equal(reports[0]!.pending, 0, 'the deletes were retried');
  const after = await cache.getMany(Array.from({ length: VICTIMS }, (_, i) => `victim:${i}`));
  assert.ok(after.every((v) => v === undefined), 'every victim is deleted on the server');

  for (const c of children) c.send({ type: 'stop' });
  await Promise.all(children.map((c) => new Promise((r) => c.proc.once('exit', r))));
});
