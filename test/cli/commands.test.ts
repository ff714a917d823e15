/**
 * OP1: `keys`, `inspect`, `locks` and `stats` against a real Redis, in their table and `--json`
 * forms; and the `larder-cache` executable itself, run from source as `npx` would run the built one.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createCache, type Cache } from '../../src/index.js';
import type { InspectReport } from '../../src/cli/inspect.js';
import type { KeysReport } from '../../src/cli/keys.js';
import type { LocksReport } from '../../src/cli/locks.js';
import type { StatsSnapshot } from '../../src/cli/feed.js';
import { cli, cliJson } from '../support/cli.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

describe('keys, inspect, locks (OP1)', () => {
  let server: RedisServer;
  let cache: Cache;
  before(async () => {
    server = await startRedis();
    cache = createCache({ store: server.url, namespace: 'acme' });
    await cache.setValue('item_price::A', 10, { expiresInSec: 600 });
    await cache.setValue('item_price::B', 11);
    await cache.setValue('item_price::*[odd]', 12);
    await cache.setValue('item_price::A', 13, { user: 'alice@acme.com' });
    await cache.setValue('other', 1);
    await cache.forNamespace('acme2').setValue('item_price::Z', 1);
    await cache.hset('doc', 'f', { a: [1, 2n, new Date(0)] });
  });
  after(async () => {
    await cache.close();
    await server.stop();
  });

  test('keys lists the logical keys of one namespace matching a P1 pattern, with user scope and TTL', async () => {
    const { code, doc } = await cliJson<KeysReport>(['keys', 'item_price', '--store', server.url, '--namespace', 'acme']);
    assert.equal(code, 0);
    assert.equal(doc.schema, 'larder-cache/keys@1');
    assert.deepEqual(
      doc.keys.map((k) => [k.key, k.user]),
      [['item_price::*[odd]', null], ['item_price::A', null], ['item_price::A', 'alice@acme.com'], ['item_price::B', null]],
    );
    assert.ok(doc.keys.find((k) => k.key === 'item_price::A' && k.user === null)!.ttlMs! > 500_000);
    assert.equal(doc.keys.find((k) => k.key === 'item_price::B')!.ttlMs, null);
  });

  test('keys: `*` is the only wildcard, --unscoped and --user narrow the scope', async () => {
    const lit = await cliJson<KeysReport>(['keys', 'item_price::*[', '--store', server.url, '--namespace', 'acme']);
    assert.deepEqual(lit.doc.keys.map((k) => k.key), ['item_price::*[odd]']);
    const unscoped = await cliJson<KeysReport>(['keys', 'item_price::A', '--store', server.url, '--namespace', 'acme', '--unscoped']);
    assert.deepEqual(unscoped.doc.keys.map((k) => k.user), [null]);
    const alice = await cliJson<KeysReport>(['keys', '*', '--store', server.url, '--namespace', 'acme', '--user', 'alice@acme.com']);
    assert.deepEqual(alice.doc.keys.map((k) => k.key), ['item_price::A']);
    const table = await cli(['keys', 'item', '--store', server.url, '--namespace', 'acme']);
    assert.match(table.stdout, /item_price::B/);
    assert.match(table.stdout, /4 key\(s\)/);
    assert.doesNotMatch(table.stdout, /item_price::Z/, 'another tenant never shows');
  });

  test('inspect shows the physical key, slot, type, TTL, size and the decoded value', async () => {
    const { code, doc } = await cliJson<InspectReport>(['inspect', 'item_price::A', '--store', server.url, '--namespace', 'acme']);
    assert.equal(code, 0);
    assert.equal(doc.schema, 'larder-cache/inspect@1');
    assert.equal(doc.physical, cache.key('item_price::A', undefined));
    assert.equal(doc.type, 'string');
    assert.equal(doc.value, 10);
    assert.ok(doc.slot >= 0 && doc.slot < 16384);
    assert.ok(doc.ttlMs! > 500_000);
    assert.ok(doc.encodedBytes! > 0);
    assert.equal(doc.lease.held, false);
    const user = await cliJson<InspectReport>(['inspect', 'item_price::A', '--store', server.url, '--namespace', 'acme', '--user', 'alice@acme.com']);
    assert.equal(user.doc.value, 13);
    const hash = await cliJson<InspectReport>(['inspect', 'doc', '--store', server.url, '--namespace', 'acme']);
    assert.deepEqual(hash.doc.value, { f: { a: [1, '2n', { $date: '1970-01-01T00:00:00.000Z' }] } });
  });

  test('inspect of a missing key exits 1; of a key while its generator runs shows the lease', async () => {
    const missing = await cli(['inspect', 'nope', '--store', server.url, '--namespace', 'acme']);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /type\s+│ none/);
    let release: (() => void) | null = null;
    let started!: () => void;
    const called = new Promise<void>((r) => (started = r));
    const running = cache.getValue('slow', {
      generator: () =>
        new Promise<number>((r) => {
          release = () => r(1);
          started();
        }),
    });
    // The lease is taken before the generator runs.
    await called;
    const during = await cliJson<InspectReport>(['inspect', 'slow', '--store', server.url, '--namespace', 'acme']);
    assert.equal(during.doc.lease.held, true);
    (release as (() => void) | null)?.();
    assert.equal(await running, 1);
  });

  test('locks lists held locks with lease left and fencing counter, read-write locks and semaphores included', async () => {
    const a = await cache.lock('payroll', { ttlMs: 60_000 });
    const b = await cache.forNamespace('acme2').lock('payroll', { ttlMs: 60_000 });
    const sem = await cache.semaphore('exports', { permits: 3 }).acquire({ ttlMs: 60_000 });
    const w = await cache.readWriteLock('catalog').write({ ttlMs: 60_000 });
    try {
      const { code, doc } = await cliJson<LocksReport>(['locks', '--store', server.url]);
      assert.equal(code, 0);
      assert.equal(doc.schema, 'larder-cache/locks@1');
      const rows = doc.locks.map((l) => [l.namespace, l.name, l.kind, l.holders]);
      assert.deepEqual(rows, [
        ['acme', 'catalog', 'write', 1],
        ['acme', 'exports', 'semaphore', 1],
        ['acme', 'payroll', 'mutex', 1],
        ['acme2', 'payroll', 'mutex', 1],
      ]);
      const payroll = doc.locks.find((l) => l.namespace === 'acme' && l.name === 'payroll')!;
      assert.equal(payroll.fencing, a.fencingToken);
      assert.ok(payroll.ttlMs! > 50_000 && payroll.ttlMs! <= 60_000);
      const one = await cliJson<LocksReport>(['locks', '--store', server.url, '--namespace', 'acme2']);
      assert.deepEqual(one.doc.locks.map((l) => l.name), ['payroll']);
    } finally {
      await Promise.all([a.release(), b.release(), sem.release(), w.release()]);
    }
    const none = await cli(['locks', '--store', server.url]);
    assert.match(none.stdout, /0 lock key\(s\)/);
  });
});

describe('stats (OP1, OP4)', () => {
  test('stats sums what running caches publish, per namespace', async () => {
    const server = await startRedis();
    const a = createCache({ store: server.url, namespace: 'acme', telemetry: { publishEverySec: 1 } });
    const b = createCache({ store: server.url, namespace: 'globex', telemetry: { publishEverySec: 1 } });
    try {
      await a.setValue('k', 1);
      for (let i = 0; i < 3; i++) await a.getValue('k');
      await a.getValue('missing');
      await b.getValue('g', { generator: () => 1 });
      const { code, doc } = await cliJson<StatsSnapshot>(['stats', '--store', server.url, '--seconds', '3']);
      assert.equal(code, 0);
      assert.equal(doc.schema, 'larder-cache/stats@1');
      assert.equal(doc.sources.length, 2);
      const acme = doc.namespaces.find((n) => n.namespace === 'acme')!;
      assert.equal(acme.storeHits, 3);
      assert.equal(acme.misses, 1);
      assert.equal(acme.hitRatio, 0.75);
      assert.equal(doc.generator.runs, 1);
      const table = await cli(['stats', '--store', server.url, '--seconds', '2']);
      assert.match(table.stdout, /acme/);
      assert.match(table.stdout, /globex/);
      assert.match(table.stdout, /store latency: p50/);
    } finally {
      await a.close();
      await b.close();
    }
    const silent = await cli(['stats', '--store', server.url, '--seconds', '1']);
    assert.equal(silent.code, 1, 'no cache publishing is a finding');
    assert.match(silent.stderr, /telemetry/);
    await server.stop();
  });
});

describe('the larder-cache executable', () => {
  test('package.json names it as a bin, and it runs from source with --help', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { bin: Record<string, string>; files: string[] };
    assert.equal(pkg.bin['larder-cache'], './dist/cli/main.js');
    assert.ok(pkg.files.includes('assets'), 'the dashboard page ships in the package');
    const r = spawnSync(process.execPath, ['--conditions=larder-source', '--import', 'tsx', 'src/cli/main.ts', '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    for (const c of ['doctor', 'keys', 'inspect', 'locks', 'stats', 'acl', 'dashboard']) assert.match(r.stdout, new RegExp(`\\b${c}\\b`));
    const bad = spawnSync(process.execPath, ['--conditions=larder-source', '--import', 'tsx', 'src/cli/main.ts', 'doctor', '--store', 'nonsense'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--store/);
  });
});
