/**
 * O5, O6: `larder-cache/prometheus` with the real prom-client, scraped as Prometheus does: a
 * node:http server answers /metrics with the registry's text exposition, the test GETs it over
 * TCP and parses what comes back (names, labels, values, TYPE lines).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { createCache, createMemoryStore, LockTimeoutError } from 'larder-cache';
import { register } from 'larder-cache/prometheus';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import { FakeClock, flushMicrotasks } from '../support/fake-clock.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Scrape {
  samples: Sample[];
  types: Map<string, string>;
  /** The value of the one sample of `name` whose labels include `labels`; undefined if none. */
  get(name: string, labels?: Record<string, string>): number | undefined;
  all(name: string): Sample[];
}

/** Parses the Prometheus text format (version 0.0.4). */
function parse(text: string): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `unparseable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  const all = (name: string) => samples.filter((s) => s.name === name);
  return {
    samples,
    types,
    all,
    get: (name, want = {}) => all(name).find((s) => Object.entries(want).every(([k, v]) => s.labels[k] === v))?.value,
  };
}

/** A /metrics endpoint on a free loopback port. */
async function serve(registry: Registry): Promise<{ scrape(): Promise<Scrape>; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    async scrape() {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
      return parse(await res.text());
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('larder-cache/prometheus (O5)', () => {
  test('stale and waited reads are results of their own (O5)', async () => {
    const registry = new Registry();
    const endpoint = await serve(registry);
    const clock = new FakeClock();
    const cache = createCache({ store: createMemoryStore({ clock }), clock, namespace: 'acme' });
    register(cache, registry);
    try {
      // Ten concurrent misses of one key: one runs the generator, nine wait for it (O2's waited).
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const calls = Array.from({ length: 10 }, () =>
        cache.getValue('w', {
          generator: async () => {
            await gate;
            return 1;
          },
        }),
      );
      await flushMicrotasks();
      release();
      await Promise.all(calls);
      // S7: past its TTL, inside staleWhileRevalidateSec, the old value is served and refreshed.
      const swr = { expiresInSec: 1, staleWhileRevalidateSec: 60, generator: () => 'fresh' };
      await cache.getValue('s', { ...swr, generator: () => 'old' });
      await clock.advance(1001);
      assert.equal(await cache.getValue('s', swr), 'old');
      const s = await endpoint.scrape();
      assert.equal(s.get('larder_cache_requests_total', { namespace: 'acme', layer: 'store', result: 'waited' }), 9);
      assert.equal(s.get('larder_cache_requests_total', { namespace: 'acme', layer: 'store', result: 'stale' }), 1);
      assert.equal(s.get('larder_stale_serves_total'), 1);
    } finally {
      await cache.close();
      await endpoint.close();
    }
  });

  test('a scrape of /metrics shows requests per namespace, layer and result, and every O5 metric', async () => {
    const registry = new Registry();
    const endpoint = await serve(registry);
    const cache = createCache({ store: createMemoryStore(), namespace: 'acme' });
    register(cache, registry);
    try {
      await cache.setValue('a', 1);
      await cache.getValue('a');
      await cache.getValue('nope');
      await cache.forNamespace('globex').getValue('a');
      await cache.getValue('g', { generator: () => 1 });
      const held = await cache.lock('job');
      await assert.rejects(cache.lock('job', { waitMs: 20 }), LockTimeoutError);
      await held.release();

      const s = await endpoint.scrape();
      assert.equal(s.get('larder_cache_requests_total', { namespace: 'acme', layer: 'store', result: 'hit' }), 1);
      assert.equal(s.get('larder_cache_requests_total', { namespace: 'acme', layer: 'store', result: 'miss' }), 2);
      assert.equal(s.get('larder_cache_requests_total', { namespace: 'globex', result: 'miss' }), 1);
      assert.equal(s.get('larder_generator_runs_total'), 1);
      assert.equal(s.get('larder_generator_duration_seconds_count'), 1);
      assert.ok((s.get('larder_store_command_duration_seconds_count', { command: 'GET' }) ?? 0) >= 3);
      assert.equal(s.get('larder_store_command_duration_seconds_bucket', { command: 'SET', le: '+Inf' }), s.get('larder_store_command_duration_seconds_count', { command: 'SET' }));
      assert.equal(s.get('larder_lock_acquired_total'), 1);
      assert.equal(s.get('larder_lock_timeouts_total'), 1);
      assert.equal(s.get('larder_lock_wait_seconds_count', { outcome: 'timeout' }), 1);
      assert.equal(s.get('larder_lock_wait_seconds_count', { outcome: 'acquired' }), 1);
      for (const name of ['larder_near_entries', 'larder_near_bytes', 'larder_near_evictions_total', 'larder_invalidations_pending', 'larder_stale_serves_total']) {
        assert.equal(s.get(name), 0, name);
      }
      assert.equal(s.types.get('larder_cache_requests_total'), 'counter');
      assert.equal(s.types.get('larder_store_command_duration_seconds'), 'histogram');
      assert.equal(s.types.get('larder_near_entries'), 'gauge');
      assert.ok(s.types.has('larder_store_errors_total'));
    } finally {
      await cache.close();
      await endpoint.close();
    }
  });

  test('store errors are counted by code', async () => {
    const registry = new Registry();
    const endpoint = await serve(registry);
    // A port nobody listens on: every call fails as unavailable, degraded to a miss.
    const cache = createCache({ store: 'redis://127.0.0.1:1', commandTimeoutMs: 200, circuitBreaker: false });
    register(cache, registry);
    try {
      await cache.getValue('k');
      const s = await endpoint.scrape();
      const errors = s.all('larder_store_errors_total');
      assert.ok(errors.some((e) => e.labels.code === 'E_STORE_UNAVAILABLE' && e.value >= 1), JSON.stringify(errors));
    } finally {
      await cache.close();
      await endpoint.close();
    }
  });

  test('two caches on one registry share the metrics; a closed cache leaves its counts in the totals', async () => {
    const registry = new Registry();
    const endpoint = await serve(registry);
    const a = createCache({ store: createMemoryStore(), namespace: 'a' });
    const b = createCache({ store: createMemoryStore(), namespace: 'b' });
    register(a, registry);
    register(b, registry);
    assert.throws(() => register(a, registry), TypeError);
    try {
      await a.getValue('x', { generator: () => 1 });
      await b.getValue('x', { generator: () => 2 });
      assert.equal((await endpoint.scrape()).get('larder_generator_runs_total'), 2);
      await a.close();
      await b.getValue('y', { generator: () => 3 });
      const s = await endpoint.scrape();
      assert.equal(s.get('larder_generator_runs_total'), 3, 'counters never go back');
      assert.equal(s.get('larder_cache_requests_total', { namespace: 'b', result: 'miss' }), 2);
    } finally {
      await b.close();
      await endpoint.close();
    }
  });

  test('namespaces past maxNamespaceLabels are counted under namespace="other" (O6)', async () => {
    const registry = new Registry();
    const endpoint = await serve(registry);
    const cache = createCache({ store: createMemoryStore() });
    register(cache, registry, { maxNamespaceLabels: 5 });
    try {
      for (let i = 0; i < 200; i++) await cache.forNamespace(`tenant-${i}`).getValue('k');
      const s = await endpoint.scrape();
      const ns = new Set(s.all('larder_cache_requests_total').map((x) => x.labels.namespace));
      assert.equal(ns.size, 6);
      assert.ok(ns.has('other'));
      assert.equal(s.get('larder_cache_requests_total', { namespace: 'other' }), 195);
    } finally {
      await cache.close();
      await endpoint.close();
    }
  });

  test('the default cap is 50 namespaces', async () => {
    const registry = new Registry();
    const endpoint = await serve(registry);
    const cache = createCache({ store: createMemoryStore() });
    register(cache, registry);
    try {
      for (let i = 0; i < 120; i++) await cache.forNamespace(`t${i}`).getValue('k');
      const ns = new Set((await endpoint.scrape()).all('larder_cache_requests_total').map((x) => x.labels.namespace));
      assert.equal(ns.size, 51);
    } finally {
      await cache.close();
      await endpoint.close();
    }
  });
});

describe('larder-cache/prometheus on Redis with a near cache (O5)', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- before() may have thrown
    await redis?.stop();
  });

  test('near hits, entries and evictions are scraped', async () => {
    const registry = new Registry();
    const endpoint = await serve(registry);
    const cache = createCache({ store: redis.url, namespace: 'n', nearCache: { maxEntries: 2 } });
    register(cache, registry);
    try {
      for (const k of ['a', 'b', 'c']) await cache.setValue(k, k);
      await cache.core.near?.whenActive();
      for (const k of ['a', 'b', 'c', 'c']) await cache.getValue(k);
      const s = await endpoint.scrape();
      assert.equal(s.get('larder_cache_requests_total', { namespace: 'n', layer: 'near', result: 'hit' }), 1);
      assert.equal(s.get('larder_cache_requests_total', { namespace: 'n', layer: 'store', result: 'hit' }), 3);
      assert.ok((s.get('larder_near_entries') ?? 99) <= 2);
      assert.ok((s.get('larder_near_evictions_total') ?? 0) >= 1);
      assert.ok((s.get('larder_near_bytes') ?? 0) > 0);
    } finally {
      await cache.close();
      await endpoint.close();
    }
  });
});
