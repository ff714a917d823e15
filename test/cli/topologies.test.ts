/**
 * OP1, OP2, K5 on Redis Cluster and Sentinel: the command line finds every master of a cluster
 * and scans each (a tenant's keys spread over all slots, K5), reads one key from the master of its
 * slot, and proves a per-tenant ACL on every node; on Sentinel it follows the sentinels to the
 * master, with auth on both. A cluster with slots no master serves is a doctor finding.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCache, type Cache } from '../../src/index.js';
import { aclRules, type AclCheckReport } from '../../src/cli/acl.js';
import { uncoveredRanges, type DoctorReport } from '../../src/cli/doctor.js';
import { Redis } from 'ioredis';
import type { InspectReport } from '../../src/cli/inspect.js';
import type { KeysReport } from '../../src/cli/keys.js';
import type { LocksReport } from '../../src/cli/locks.js';
import type { StatsSnapshot } from '../../src/cli/feed.js';
import { keySlot } from '../../src/stores/redis/cluster.js';
import { cli, cliJson } from '../support/cli.js';
import { startCluster, type RedisCluster } from '../support/cluster.js';
import { startRedis } from '../support/redis-server.js';
import { startSentinelGroup, type SentinelGroup } from '../support/sentinel.js';

describe('the command line on a Redis Cluster', () => {
  let cluster: RedisCluster;
  let cache: Cache;
  let store: string;
  before(async () => {
    cluster = await startCluster();
    store = `cluster:${cluster.startupNodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
    cache = createCache({ store: { cluster: { nodes: cluster.startupNodes } }, namespace: 'acme', telemetry: { publishEverySec: 1 } });
    await cache.setMany(Array.from({ length: 300 }, (_, i): [string, unknown] => [`item:${i}`, i]));
    await cache.forNamespace('tidy').setMany(Array.from({ length: 30 }, (_, i): [string, unknown] => [`k:${i}`, i]), { expiresInSec: 600 });
  });
  after(async () => {
    await cache.close();
    await cluster.stop();
  });

  test('doctor scans every master: all keys counted, the TTL-less namespace found', async () => {
    const masters = await cluster.masters();
    const { code, doc } = await cliJson<DoctorReport>(['doctor', '--store', store]);
    assert.equal(code, 1);
    assert.equal(doc.store.kind, 'cluster');
    assert.deepEqual([...doc.store.masters].sort(), masters.map((m) => `${m.host}:${m.port}`).sort(), 'every master, no replica');
    assert.equal(doc.namespaces.find((n) => n.namespace === 'acme')!.keys, 300);
    assert.equal(doc.namespaces.find((n) => n.namespace === 'tidy')!.keys, 30);
    assert.deepEqual(doc.findings.map((f) => `${f.code}:${f.namespace ?? ''}`).filter((c) => c.startsWith('NO_TTL')), ['NO_TTL_NAMESPACE:acme']);
    assert.equal(doc.tracking.allowed, true);
  });

  test('keys, inspect and locks on a cluster', async () => {
    const keys = await cliJson<KeysReport>(['keys', 'item:1', '--store', store, '--namespace', 'acme']);
    assert.equal(keys.doc.keys.length, 111, 'item:1, item:10–19, item:100–199');
    const one = await cliJson<InspectReport>(['inspect', 'item:42', '--store', store, '--namespace', 'acme']);
    assert.equal(one.doc.value, 42, 'read from the master of its slot');
    assert.equal(one.doc.slot, keySlot(one.doc.physical));
    const lock = await cache.lock('job', { ttlMs: 30_000 });
    try {
      const locks = await cliJson<LocksReport>(['locks', '--store', store]);
      assert.deepEqual(locks.doc.locks.map((l) => [l.namespace, l.name, l.fencing]), [['acme', 'job', lock.fencingToken]]);
    } finally {
      await lock.release();
    }
  });

  test('stats hears a cache on the cluster', async () => {
    await cache.getValue('item:1');
    const { doc } = await cliJson<StatsSnapshot>(['stats', '--store', store, '--seconds', '3']);
    assert.equal(doc.sources.length, 1);
    assert.ok(doc.namespaces.some((n) => n.namespace === 'acme' && n.storeHits >= 1));
  });

  test('acl --check on a cluster, the user set on every node', async () => {
    for (const s of cluster.servers) await s.cli('ACL', 'SETUSER', ...aclRules('acme', { user: 'acme', password: 'pw' }));
    const { code, doc } = await cliJson<AclCheckReport>(['acl', 'acme', '--password', 'pw', '--check', '--store', store]);
    assert.deepEqual(doc.steps.filter((s) => !s.ok), []);
    assert.equal(code, 0);
  });
});

describe('uncovered slots (OP2)', () => {
  test('the slots a real CLUSTER SLOTS reply leaves to no master are found', async () => {
    // One cluster-enabled node serving part of the slots (cluster_state: fail).
    const node = await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'] });
    const conn = new Redis({ host: node.host, port: node.port });
    try {
      await node.cli('CLUSTER', 'ADDSLOTSRANGE', '0', '8191', '9000', '16383');
      const reply = (await conn.call('CLUSTER', 'SLOTS')) as Array<[number, number]>;
      assert.deepEqual(uncoveredRanges(reply), [[8192, 8999]]);
      assert.deepEqual(uncoveredRanges([[0, 16383]]), []);
    } finally {
      conn.disconnect();
      await node.stop();
    }
  });
});

describe('the command line on Sentinel', () => {
  let group: SentinelGroup;
  let spec: string;
  before(async () => {
    group = await startSentinelGroup();
    const hosts = group.sentinelAddresses.map((a) => `${a.host}:${a.port}`).join(',');
    spec = `sentinel::${group.password}@${hosts}/${group.name}?sentinelPassword=${encodeURIComponent(group.sentinelPassword)}`;
  });
  after(() => group.stop());

  test('doctor, keys and acl --check follow the sentinels to the master, with auth on both', async () => {
    const cache = createCache({
      store: { sentinel: { sentinels: group.sentinelAddresses, name: group.name, password: group.password, sentinelPassword: group.sentinelPassword } },
      namespace: 'acme',
    });
    try {
      await cache.setMany(Array.from({ length: 20 }, (_, i): [string, unknown] => [`k:${i}`, i]));
      const master = await group.currentMaster();
      const { code, doc } = await cliJson<DoctorReport>(['doctor', '--store', spec]);
      assert.equal(code, 1);
      assert.equal(doc.store.kind, 'sentinel');
      assert.deepEqual(doc.store.masters, [`${master.host}:${master.port}`]);
      assert.equal(doc.namespaces[0]!.keys, 20);
      assert.deepEqual(doc.findings.map((f) => f.code).sort(), ['NOEVICTION_NO_TTL', 'NO_TTL_NAMESPACE']);
      const keys = await cliJson<KeysReport>(['keys', 'k:1', '--store', spec, '--namespace', 'acme']);
      assert.deepEqual(keys.doc.keys.map((k) => k.key).sort(), ['k:1', 'k:10', 'k:11', 'k:12', 'k:13', 'k:14', 'k:15', 'k:16', 'k:17', 'k:18', 'k:19']);
      for (const s of group.servers) await s.cli('ACL', 'SETUSER', ...aclRules('acme', { user: 'acme', password: 'pw' }));
      const acl = await cliJson<AclCheckReport>(['acl', 'acme', '--password', 'pw', '--check', '--store', spec]);
      assert.deepEqual(acl.doc.steps.filter((s) => !s.ok), []);
    } finally {
      await cache.close();
    }
    const bad = await cli(['doctor', '--store', spec.replace(`:${group.password}@`, ':wrong@')]);
    assert.equal(bad.code, 2);
  });
});
