/**
 * K5, OP1: `larder-cache acl NAMESPACE` prints an ACL SETUSER line that confines one tenant, and
 * `--check` proves it on a real Redis: as that user every part of larder works (near cache and
 * locks included) while another tenant's keys and channels, and admin commands, are refused.
 * The server's ACL LOG then holds only the refusals the check provoked on purpose: larder itself
 * sent nothing the line does not allow.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { aclRules, LARDER_COMMANDS, operatorRules, type AclCheckReport } from '../../src/cli/acl.js';
import type { DoctorReport } from '../../src/cli/doctor.js';
import type { InspectReport } from '../../src/cli/inspect.js';
import type { KeysReport } from '../../src/cli/keys.js';
import type { LocksReport } from '../../src/cli/locks.js';
import type { StatsSnapshot } from '../../src/cli/feed.js';
import { createCache } from '../../src/index.js';
import { cli, cliJson } from '../support/cli.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) sourceFiles(p, out);
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The ACL LOG's refused objects (keys, channels, commands), as `reason:object`. */
async function aclLog(server: RedisServer): Promise<string[]> {
  const lines = (await server.cli('ACL', 'LOG')).split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] === 'reason') {
      const reason = lines[i + 1]!;
      const objectAt = lines.indexOf('object', i);
      out.push(`${reason}:${lines[objectAt + 1]!}`);
    }
  }
  return out;
}

describe('acl NAMESPACE (K5)', () => {
  test('the line confines keys and channels to the tenant prefix and allows exactly larder\'s commands', async () => {
    const { code, stdout } = await cli(['acl', 'acme.example.com', '--password', 's3cret']);
    assert.equal(code, 0);
    const line = stdout.trim();
    assert.match(line, /^ACL SETUSER acme\.example\.com reset on >s3cret ~lr:acme\.example\.com:\* &lr:acme\.example\.com:\* &__redis__:invalidate -@all /);
    for (const c of ['+evalsha', '+client|tracking', '+client|id', '+subscribe', '+scan', '+spublish']) assert.ok(line.includes(` ${c}`), c);
    for (const c of ['+keys', '+flushall', '+config', '+@all', '+client ']) assert.ok(!line.includes(` ${c}`), c);
    const placeholder = await cli(['acl', 'acme.example.com']);
    assert.match(placeholder.stdout, / ><password> /, 'no password given: a placeholder');
    const json = await cliJson<{ schema: string; rules: string[] }>(['acl', 'a:b', '--user', 'tenant-b']);
    assert.equal(json.doc.schema, 'larder-cache/acl@1');
    assert.equal(json.doc.rules[0], 'tenant-b');
    assert.ok(json.doc.rules.includes('~lr:a%3Ab:*'), 'the namespace as keys.ts escapes it');
  });

  test('every command the Lua scripts call is in the list (an ACL applies inside scripts too)', () => {
    const allowed = new Set(Object.values(LARDER_COMMANDS).flat());
    const called = new Set<string>();
    for (const f of sourceFiles('src')) {
      for (const m of readFileSync(f, 'utf8').matchAll(/redis\.p?call\('([A-Za-z]+)'/g)) called.add(m[1]!.toLowerCase());
    }
    assert.ok(called.size > 10, 'found the scripts');
    const missing = [...called].filter((c) => !allowed.has(c));
    assert.deepEqual(missing, []);
  });
});

describe('acl --check on a real Redis (K5)', () => {
  let server: RedisServer;
  before(async () => {
    server = await startRedis();
  });
  after(() => server.stop());

  test('as a user set up with the printed line, larder works and nothing else does', async () => {
    const rules = aclRules('acme.example.com', { user: 'acme', password: 'pw1' });
    assert.match(await server.cli('ACL', 'SETUSER', ...rules), /OK/);
    await server.cli('ACL', 'LOG', 'RESET');
    const { code, doc } = await cliJson<AclCheckReport>(['acl', 'acme.example.com', '--user', 'acme', '--password', 'pw1', '--check', '--store', server.url]);
    const failed = doc.steps.filter((s) => !s.ok);
    assert.deepEqual(failed, []);
    assert.equal(code, 0);
    assert.ok(doc.steps.some((s) => s.step.startsWith('near cache')));
    assert.ok(doc.steps.some((s) => s.step.startsWith('locks')));
    // Only the refusals the check asked for: another tenant, shared keys, admin commands.
    const refused = await aclLog(server);
    const other = 'lr:acme.example.com-acl-check-other:';
    const unexpected = refused.filter(
      (r) => !(r.startsWith(`key:${other}`) || r === 'key:lr::{0000}k-:x' || r === `channel:${other}process-cache` || ['command:keys', 'command:flushall', 'command:config|get'].includes(r)),
    );
    assert.deepEqual(unexpected, []);
    assert.ok(refused.length >= 5, 'the refusals were provoked');
    // The check cleaned up after itself.
    assert.equal((await server.cli('--scan', '--pattern', 'lr:acme.example.com:*k-:larder-acl-check*')).trim(), '');
  });

  test('a user without CLIENT TRACKING, or confined to another prefix, fails the check and exits 1', async () => {
    const rules = aclRules('acme.example.com', { user: 'notrack', password: 'pw2' }).filter((r) => r !== '+client|tracking');
    await server.cli('ACL', 'SETUSER', ...rules);
    const r = await cliJson<AclCheckReport>(['acl', 'acme.example.com', '--user', 'notrack', '--password', 'pw2', '--check', '--store', server.url]);
    assert.equal(r.code, 1);
    assert.deepEqual(r.doc.steps.filter((s) => !s.ok).map((s) => s.step), ['near cache (CLIENT TRACKING)', 'no store errors reported'], 'the refusal is also reported as an error (N3)');

    await server.cli('ACL', 'SETUSER', ...aclRules('globex', { user: 'globex', password: 'pw3' }));
    const wrong = await cli(['acl', 'acme.example.com', '--user', 'globex', '--password', 'pw3', '--check', '--store', server.url]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout, /FAILED/);
  });

  test('--check needs the password; a wrong one exits 1 with the reason in the table', async () => {
    assert.equal((await cli(['acl', 'acme.example.com', '--check', '--store', server.url])).code, 2);
    const r = await cli(['acl', 'acme.example.com', '--user', 'acme', '--password', 'wrong', '--check', '--store', server.url]);
    assert.notEqual(r.code, 0);
  });
});

describe('acl --operator: a read-only user for the command line', () => {
  test('doctor, keys, inspect, locks and stats work as that user, which cannot write; ACL LOG stays empty', async () => {
    const server = await startRedis();
    const cache = createCache({ store: server.url, namespace: 'acme', telemetry: { publishEverySec: 1 } });
    try {
      const printed = await cli(['acl', '--operator', '--password', 'opw']);
      assert.match(printed.stdout, /^ACL SETUSER larder-operator reset on >opw %R~lr:\* &lr:\*:telemetry &__redis__:invalidate -@all /);
      assert.match(await server.cli('ACL', 'SETUSER', ...operatorRules(undefined, { user: 'op', password: 'opw' })), /OK/);
      await server.cli('ACL', 'LOG', 'RESET');
      await cache.setValue('k', { a: 1 });
      await cache.getValue('k');
      const lock = await cache.lock('job', { ttlMs: 30_000 });
      const store = `redis://op:opw@127.0.0.1:${server.port}`;
      const doctor = await cliJson<DoctorReport>(['doctor', '--store', store]);
      assert.equal(doctor.doc.config.maxmemoryPolicy, 'noeviction', 'CONFIG GET allowed');
      assert.ok(doctor.doc.namespaces[0]!.bytes > 0, 'MEMORY USAGE allowed');
      assert.equal(doctor.doc.tracking.allowed, true);
      assert.deepEqual(doctor.doc.findings.map((f) => f.code).sort(), ['NOEVICTION_NO_TTL', 'NO_TTL_NAMESPACE']);
      assert.deepEqual((await cliJson<KeysReport>(['keys', '*', '--store', store, '--namespace', 'acme'])).doc.keys.map((k) => k.key), ['k']);
      assert.deepEqual((await cliJson<InspectReport>(['inspect', 'k', '--store', store, '--namespace', 'acme'])).doc.value, { a: 1 });
      assert.equal((await cliJson<LocksReport>(['locks', '--store', store])).doc.locks[0]!.fencing, lock.fencingToken);
      assert.equal((await cliJson<StatsSnapshot>(['stats', '--store', store, '--seconds', '2'])).doc.sources.length, 1);
      await lock.release();
      assert.deepEqual(await aclLog(server), [], 'the command line sent nothing the operator line does not allow');
      // Read-only: a write as the operator is refused.
      const { Redis } = await import('ioredis');
      const op = new Redis({ port: server.port, username: 'op', password: 'opw', lazyConnect: true, enableReadyCheck: false });
      await op.connect();
      await assert.rejects(op.set(cache.key('k', undefined), 'x'), /NOPERM/);
      op.disconnect();
    } finally {
      await cache.close();
      await server.stop();
    }
  });
});
