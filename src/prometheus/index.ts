/**
 * `larder-cache/prometheus` (O5, O6): Prometheus metrics for one or more caches.
 *
 *   import { register } from 'larder-cache/prometheus';
 *   register(cache);                        // prom-client's default registry
 *   register(cache, registry, { maxNamespaceLabels: 100 });
 *
 * `prom-client` is an optional peer dependency: only this subpath imports it. Several caches may
 * be registered on one registry: they share one set of metrics (counters summed across them), so
 * registering a second cache never throws "already registered".
 *
 *   larder_cache_requests_total{namespace,layer,result}   reads: layer near|store, result hit|miss
 *   larder_generator_runs_total                           generator runs (stats().generatorRuns)
 *   larder_generator_duration_seconds                     histogram
 *   larder_store_command_duration_seconds{command}        histogram, one sample per round trip
 *   larder_store_errors_total{code}                       failures by error code (stats().errors)
 *   larder_lock_wait_seconds{outcome}                     histogram: every acquisition's wait
 *   larder_lock_acquired_total, larder_lock_timeouts_total
 *   larder_near_entries, larder_near_bytes                gauges
 *   larder_near_evictions_total
 *   larder_invalidations_pending                          gauge (F3)
 *   larder_stale_serves_total                             stale values served (S6, S7)
 *
 * O6: the first `maxNamespaceLabels` (default 50) namespaces seen on a registry keep their name;
 * later ones are counted under namespace="other".
 */
import { Counter, Gauge, Histogram, register as defaultRegistry, type Registry } from 'prom-client';
import type { Cache } from '../cache.js';
import type { CacheCore } from '../core.js';
import { NamespaceLabels } from '../metrics/labels.js';

export interface RegisterOptions {
  /** Namespaces given their own label (per registry) before the rest go under "other" (O6). Default 50. */
  maxNamespaceLabels?: number;
}

export interface Registration {
  /** Stops counting this cache (its cumulative counters stay in the registry's totals). */
  stop(): void;
}

/** Histogram buckets in seconds, from an embedded-store call (tens of µs) to a slow generator. */
const SECONDS_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The metrics of one registry, and the caches feeding them. */
interface RegistryMetrics {
  readonly cores: Set<CacheCore>;
  /** Counters of caches no longer registered (stopped or closed): totals never go back. */
  readonly retired: Totals;
  readonly labels: NamespaceLabels;
  /** Labelled children of `requests` by layer, result and namespace (requestCounter). */
  readonly children: Map<string, { inc(): void }>;
  readonly requests: Counter<'namespace' | 'layer' | 'result'>;
  readonly generatorDuration: Histogram;
  readonly storeDuration: Histogram<'command'>;
  readonly lockWait: Histogram<'outcome'>;
}

interface Totals {
  generatorRuns: number;
  staleServes: number;
  acquired: number;
  timeouts: number;
  evictions: number;
  errors: Record<string, number>;
}

const byRegistry = new WeakMap<Registry, RegistryMetrics>();

/** How many labelled request counters are remembered per registry (namespaces past it are looked up each time). */
const MAX_CHILDREN = 10_000;

function totals(m: RegistryMetrics): Totals {
  const t: Totals = structuredClone(m.retired);
  for (const core of m.cores) addCore(t, core);
  return t;
}

function addCore(t: Totals, core: CacheCore): void {
  const s = core.stats;
  t.generatorRuns += s.generatorRuns;
  t.staleServes += s.staleServes;
  t.acquired += s.locks.acquired;
  t.timeouts += s.locks.timeouts;
  t.evictions += core.near?.evictions ?? 0;
  for (const [code, n] of Object.entries(s.errors)) t.errors[code] = (t.errors[code] ?? 0) + n;
}

function sum(m: RegistryMetrics, f: (core: CacheCore) => number): number {
  let n = 0;
  for (const core of m.cores) n += f(core);
  return n;
}

/** A counter whose value is read from the caches at scrape time. */
function observedCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

function metricsOf(registry: Registry, maxNamespaceLabels: number | undefined): RegistryMetrics {
  const existing = byRegistry.get(registry);
  if (existing !== undefined) return existing;
  const registers = [registry];
  const m: RegistryMetrics = {
    cores: new Set(),
    retired: { generatorRuns: 0, staleServes: 0, acquired: 0, timeouts: 0, evictions: 0, errors: {} },
    labels: new NamespaceLabels(maxNamespaceLabels),
    children: new Map(),
    requests: new Counter({
      name: 'larder_cache_requests_total',
      help: 'Cache reads by namespace, layer (near, store) and result (hit, miss)',
      labelNames: ['namespace', 'layer', 'result'],
      registers,
    }),
    generatorDuration: new Histogram({ name: 'larder_generator_duration_seconds', help: 'Duration of generator runs', buckets: SECONDS_BUCKETS, registers }),
    storeDuration: new Histogram({
      name: 'larder_store_command_duration_seconds',
      help: 'Duration of store round trips by command',
      labelNames: ['command'],
      buckets: SECONDS_BUCKETS,
      registers,
    }),
    lockWait: new Histogram({
      name: 'larder_lock_wait_seconds',
      help: 'Time to acquire a lock, read/write lock or permit, by outcome (acquired, timeout, error)',
      labelNames: ['outcome'],
      buckets: SECONDS_BUCKETS,
      registers,
    }),
  };
  observedCounter(registry, 'larder_generator_runs_total', 'Generator runs', () => totals(m).generatorRuns);
  observedCounter(registry, 'larder_stale_serves_total', 'Stale values served (S6, S7)', () => totals(m).staleServes);
  observedCounter(registry, 'larder_lock_acquired_total', 'Locks, read/write locks and permits acquired', () => totals(m).acquired);
  observedCounter(registry, 'larder_lock_timeouts_total', 'Lock waits that ran out (LockTimeoutError)', () => totals(m).timeouts);
  observedCounter(registry, 'larder_near_evictions_total', 'Near-cache entries evicted by its bounds (N4)', () => totals(m).evictions);
  new Counter({
    name: 'larder_store_errors_total',
    help: 'Failures by error code',
    labelNames: ['code'],
    registers,
    collect() {
      this.reset();
      for (const [code, n] of Object.entries(totals(m).errors)) this.inc({ code }, n);
    },
  });
  const gauge = (name: string, help: string, read: (core: CacheCore) => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(sum(m, read));
      },
    });
  gauge('larder_near_entries', 'Entries in the near cache', (c) => c.near?.size ?? 0);
  gauge('larder_near_bytes', 'Approximate bytes held by the near cache', (c) => c.near?.bytes ?? 0);
  gauge('larder_invalidations_pending', 'Deletes waiting to be retried after a store failure (F3)', (c) => c.invalidations.size);
  byRegistry.set(registry, m);
  return m;
}

/**
 * The labelled child of larder_cache_requests_total for one read: looked up once per label
 * combination (prom-client hashes a label object on every inc; a hit path should not).
 */
function requestCounter(m: RegistryMetrics, namespace: string, layer: 'near' | 'store', result: 'hit' | 'miss'): { inc(): void } {
  const id = `${layer}\u0000${result}\u0000${namespace}`;
  let child = m.children.get(id);
  if (child === undefined) {
    child = m.requests.labels({ namespace: m.labels.of(namespace), layer, result });
    // Bounded like the labels: past the cap every new namespace shares the "other" child, so
    // only remember the named ones (at most maxNamespaceLabels × 3 entries).
    if (m.children.size < MAX_CHILDREN) m.children.set(id, child);
  }
  return child;
}

/** Exposes `cache`'s metrics on `registry` (default: prom-client's global registry). */
export function register(cache: Cache, registry: Registry = defaultRegistry, opts: RegisterOptions = {}): Registration {
  const core = cache.core;
  const m = metricsOf(registry, opts.maxNamespaceLabels);
  if (m.cores.has(core)) throw new TypeError('this cache is already registered on that registry');
  m.cores.add(core);
  const removeSink = core.tap.add({
    request: (namespace, layer, result) => requestCounter(m, namespace, layer, result).inc(),
    storeCall: (command, s) => m.storeDuration.observe({ command }, s),
    generator: (s) => m.generatorDuration.observe(s),
    lockAcquire: (s, outcome) => m.lockWait.observe({ outcome }, s),
  });
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    removeSink();
    addCore(m.retired, core);
    m.cores.delete(core);
    core.onClose.delete(stop);
  };
  core.onClose.add(stop);
  return { stop };
}
