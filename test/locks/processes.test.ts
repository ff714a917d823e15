// Locks across real processes on a real redis-server: mutual exclusion under contention, a holder
// paused past its lease (SIGSTOP) stopped by its fencing token, a SIGKILLed semaphore holder.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createCache, type Cache } from '../../src/index.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

// Real time: the holders are other processes (one stopped with SIGSTOP), and Redis expires their leases.
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

interface Child {
  proc: ChildProcess;
  /** The next IPC message of this type (messages are queued until asked for). */
  next<T = Record<string, unknown>>(type: string, timeoutMs?: number): Promise<T>;
  send(msg: object): void;
}

const children: ChildProcess[] = [];

function spawnFixture(file: string, args: string[]): Child {
  const proc = spawn(process.execPath, ['--conditions=larder-source', '--import', 'tsx', fixture(file), ...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(proc);
  const inbox: Array<{ type: string }> = [];
  const waiting: Array<{ type: string; resolve: (m: unknown) => void }> = [];
  proc.on('message', (m: { type: string }) => {
    const i = waiting.findIndex((w) => w.type === m.type);
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(m);
    else inbox.push(m);
  });
  return {
    proc,
    next<T>(type: string, timeoutMs = 30_000) {
      const i = inbox.findIndex((m) => m.type === type);
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0] as T);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${type} message from ${file} in ${timeoutMs} ms`)), timeoutMs);
        const exit = (code: number | null) => reject(new Error(`${file} exited (${code}) before sending ${type}`));
        proc.once('exit', exit);
        waiting.push({
          type,
          resolve: (m) => {
            clearTimeout(timer);
            proc.off('exit', exit);
            resolve(m as T);
          },
        });
      });
    },
    send(msg) {
      proc.send(msg);
    },
  };
}

let server: RedisServer;
let cache: Cache;
before(async () => {
  server = await startRedis();
  cache = createCache({ store: server.url });
});
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await cache.close();
  await server.stop();
});

test('LK1: 4 processes × 500 acquisitions: exact read-modify-write count, zero overlaps, fencing tokens in order', async () => {
  const workers = Array.from({ length: 4 }, () => spawnFixture('mutex-worker.ts', [server.url, 'lk1-procs', '500']));
  await Promise.all(workers.map((w) => w.next('ready')));
  for (const w of workers) w.send({ type: 'go' });
  const results = await Promise.all(workers.map((w) => w.next<{ overlaps: number; fencingViolations: number }>('done', 60_000)));
  for (const r of results) {
    assert.equal(r.overlaps, 0);
    assert.equal(r.fencingViolations, 0);
  }
  const record = await cache.getValue<{ count: number; lastToken: number }>('lk1-procs:record');
  assert.equal(record?.count, 2000);
  assert.equal(record.lastToken, 2000, 'one fencing token per grant, no gaps');
});

test('LK3, LK2: a holder paused (SIGSTOP) past its lease is refused by the fenced resource, and its release leaves the new holder intact', async () => {
  // The resource the lock protects: it accepts a write only with a larger token than any before.
  let last = 0;
  const write = (token: number) => {
    if (token <= last) return false;
    last = token;
    return true;
  };

  const a = spawnFixture('holder.ts', [server.url, 'fenced', '400', 'lock']);
  const { token: tokenA } = await a.next<{ token: number }>('acquired');
  a.send({ type: 'write' });
  assert.equal(write((await a.next<{ token: number }>('write')).token), true, 'the holder writes while it holds the lock');

  a.proc.kill('SIGSTOP'); // a GC pause, a VM migration, a laptop lid: the holder does not know
  await sleep(600); // past its 400 ms lease; its watchdog cannot run
  const b = await cache.lock('fenced', { ttlMs: 10_000, waitMs: 2000 });
  assert.ok(b.fencingToken > tokenA);
  assert.equal(write(b.fencingToken), true);

  a.proc.kill('SIGCONT');
  a.send({ type: 'write' });
  const late = await a.next<{ token: number; aborted: boolean }>('write');
  assert.equal(late.token, tokenA);
  assert.equal(write(late.token), false, 'the paused holder\'s late write carries an older token and is refused');

  a.send({ type: 'release' });
  assert.deepEqual(await a.next('release-error'), { type: 'release-error', code: 'E_LOCK_NOT_OWNED' });
  assert.equal(await cache.tryLock('fenced'), null, 'the new holder still holds the lock');
  await b.release(); // and it is still b's to release
  a.send({ type: 'exit' });
});

test('LK8: a SIGKILLed holder\'s semaphore permit comes back after its lease', async () => {
  const sem = cache.semaphore('sem-kill', { permits: 2 });
  const mine = await sem.acquire();
  const child = spawnFixture('holder.ts', [server.url, 'sem-kill', '500', 'permit', '2']);
  await child.next('acquired');
  assert.equal(await sem.tryAcquire(), null, 'both permits are taken');
  const killedAt = performance.now();
  child.proc.kill('SIGKILL');
  const next = await sem.acquire({ waitMs: 3000 });
  const waited = performance.now() - killedAt;
  assert.ok(waited < 500 + 200, `the permit came back after ${waited} ms`);
  assert.equal(await sem.tryAcquire(), null, 'never more than 2');
  await Promise.all([mine.release(), next.release()]);
});

test('LK4: a holder process that dies loses its lock after ttlMs', async () => {
  const child = spawnFixture('holder.ts', [server.url, 'dies', '500', 'lock']);
  await child.next('acquired');
  child.proc.kill('SIGKILL');
  const t0 = performance.now();
  const l = await cache.lock('dies', { waitMs: 3000 });
  assert.ok(performance.now() - t0 < 700);
  await l.release();
});
