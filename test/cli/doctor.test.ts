/**
 * OP1, OP2: `larder-cache doctor` on real Redis servers seeded by the test: it finds a namespace
 * whose entries have no TTL, an oversized value, `noeviction` with TTL-less keys, a `volatile-*`
 * policy with them, and a user refused CLIENT TRACKING, and exits 1; on a clean Redis it exits 0;
 * on an unreachable one 2. The JSON form is the documented one.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCache, type Cache } from '../../src/index.js';
import type { DoctorReport } from '../../src/cli/doctor.js';
import { cli, cliJson } from '../support/cli.js';
import { freePort, startRedis, type RedisServer } from '../support/redis-server.js';

async function seed(cache: Cache, prefix: string, n: number, ttl: number | null): Promise<void> {
  await cache.setMany(
    Array.from({ length: n }, (_, i): [string, unknown] => [`${prefix}:${i}`, { i, pad: 'x'.repeat(50) }]),
    { expiresInSec: ttl },
  );
}

describe('doctor on a seeded Redis (OP2)', () => {
  let server: RedisServer;
  before(async () => {
    // noeviction is Redis's default; say it anyway: the finding depends on it.
    server = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
    const cache = createCache({ store: server.url, namespace: 'bloat.example.com' });
    await seed(cache, 'item', 40, null);
    const tidy = cache.forNamespace('tidy.example.com');
    await seed(tidy, 'item', 40, 600);
    await tidy.setValue('report', Buffer.alloc(2 * 1024 * 1024, 7), { expiresInSec: 600 });
    await cache.close();
    // A user that may read and write everything but not use CLIENT (no near cache for it).
    await server.cli('ACL', 'SETUSER', 'notrack', 'on', '>pw', '~*', '&*', '+@all', '-client');
  });
  after(() => server.stop());

  test('finds TTL-less namespaces, oversized values, noeviction with TTL-less keys and refused tracking, and exits 1', async () => {
    const url = `redis://notrack:pw@127.0.0.1:${server.port}`;
    const { code, doc, stderr } = await cliJson<DoctorReport>(['doctor', '--store', url]);
    assert.equal(code, 1);
    assert.equal(stderr, '', 'a scan shorter than a second draws no progress bar');
    assert.equal(doc.schema, 'larder-cache/doctor@1');
    const codes = doc.findings.map((f) => f.code).sort();
    assert.deepEqual(codes, ['NOEVICTION_NO_TTL', 'NO_TTL_NAMESPACE', 'OVERSIZED_VALUE', 'TRACKING_REFUSED']);
    const noTtl = doc.findings.find((f) => f.code === 'NO_TTL_NAMESPACE')!;
    assert.equal(noTtl.namespace, 'bloat.example.com', 'only the namespace without TTLs is flagged');
    const big = doc.findings.find((f) => f.code === 'OVERSIZED_VALUE')!;
    assert.equal(big.namespace, 'tidy.example.com');
    assert.match(big.key!, /^lr:tidy\.example\.com:\{[0-9a-f]{4}\}k-:report$/, 'the big value is named');
    assert.equal(doc.tracking.allowed, false);
    assert.equal(doc.config.maxmemoryPolicy, 'noeviction');

    const bloat = doc.namespaces.find((n) => n.namespace === 'bloat.example.com')!;
    assert.equal(bloat.keys, 40);
    assert.equal(bloat.noTtl, 40);
    assert.equal(bloat.noTtlShare, 1);
    const tidy = doc.namespaces.find((n) => n.namespace === 'tidy.example.com')!;
    assert.equal(tidy.entries, 41);
    assert.equal(tidy.noTtl, 0);
    assert.ok(tidy.bytes > 2 * 1024 * 1024, 'estimated bytes include the big value');
    assert.match(tidy.biggest[0]!.key, /k-:report$/, 'the biggest key comes first');
  });

  test('the table form names every finding, with what to do, and the user the tracking check ran as', async () => {
    const { code, stdout } = await cli(['doctor', '--store', `redis://notrack:pw@127.0.0.1:${server.port}`]);
    assert.equal(code, 1);
    for (const c of ['NO_TTL_NAMESPACE', 'OVERSIZED_VALUE', 'NOEVICTION_NO_TTL', 'TRACKING_REFUSED']) assert.match(stdout, new RegExp(c));
    assert.match(stdout, /bloat\.example\.com/);
    assert.match(stdout, /as notrack/);
    assert.match(stdout, /→ /, 'advice lines');
  });

  test('the default user may track: no TRACKING_REFUSED', async () => {
    const { doc } = await cliJson<DoctorReport>(['doctor', '--store', server.url]);
    assert.equal(doc.tracking.allowed, true);
    assert.ok(!doc.findings.some((f) => f.code === 'TRACKING_REFUSED'));
  });

  test('--namespace limits the scan to one tenant', async () => {
    const { doc } = await cliJson<DoctorReport>(['doctor', '--store', server.url, '--namespace', 'tidy.example.com']);
    assert.deepEqual(doc.namespaces.map((n) => n.namespace), ['tidy.example.com']);
    assert.deepEqual(doc.findings.map((f) => f.code), ['OVERSIZED_VALUE']);
  });

  test('a scan that takes over a second shows progress on stderr, and stdout stays JSON', async () => {
    // 81 keys at 40 keys a second: the pacing (OP1) makes the scan last about two seconds.
    const r = await cliJson<DoctorReport>(['doctor', '--store', server.url, '--count', '10', '--rate', '40']);
    assert.equal(r.doc.scanned.keys, 81);
    assert.match(r.stderr, /doctor \[.*\] \d+% \| \d+\/\d+ keys/);
  });
});

describe('doctor on other policies and on a clean Redis (OP2)', () => {
  test('volatile-lru with TTL-less keys: those are never evicted', async () => {
    const server = await startRedis({ args: ['--maxmemory-policy', 'volatile-lru'] });
    try {
      const cache = createCache({ store: server.url, namespace: 'n' });
      await seed(cache, 'k', 3, null);
      await seed(cache, 'ttl', 10, 600);
      await cache.close();
      const { code, doc } = await cliJson<DoctorReport>(['doctor', '--store', server.url]);
      assert.equal(code, 1);
      assert.deepEqual(doc.findings.map((f) => f.code), ['VOLATILE_NO_TTL'], 'a minority without TTL is not a namespace finding');
    } finally {
      await server.stop();
    }
  });

  test('a clean Redis (every entry expires, small values, default user) exits 0 with no findings', async () => {
    const server = await startRedis();
    try {
      const cache = createCache({ store: server.url, namespace: 'clean', defaultTtlSec: 600 });
      await seed(cache, 'k', 30, 600);
      const lock = await cache.lock('job', { ttlMs: 30_000 });
      const { code, doc, stdout } = await cliJson<DoctorReport>(['doctor', '--store', server.url]);
      assert.equal(code, 0, stdout);
      assert.deepEqual(doc.findings, []);
      assert.equal(doc.namespaces[0]!.coordination, 2, 'the lock and its fencing counter are counted apart from cache entries');
      await lock.release();
      await cache.close();
      const table = await cli(['doctor', '--store', server.url]);
      assert.equal(table.code, 0);
      assert.match(table.stdout, /No findings\./);
    } finally {
      await server.stop();
    }
  });

  test('an unreachable store exits 2 with a one-line reason naming the endpoint', async () => {
    const port = await freePort();
    const r = await cli(['doctor', '--store', `redis://:secret@127.0.0.1:${port}`]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.doesNotMatch(r.stderr, /secret/);
  });

  test('bad arguments exit 2', async () => {
    assert.equal((await cli(['doctor', '--store', 'memcached://x'])).code, 2);
    assert.equal((await cli(['doctor', '--store', 'redis://127.0.0.1:1', '--count', '0'])).code, 2);
    assert.equal((await cli(['no-such-command'])).code, 2);
  });
});
