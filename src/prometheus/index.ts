/**
 * `larder-cache/prometheus` (O5, O6): Prometheus metrics for one or more caches.
 *
 *   import { register } from 'larder-cache/prometheus';
 *   register(cache);                        // prom-client's default registry
 *   register(cache, registry, { maxNamespaceLabels: 100 });
 *
 * `prom-client` is an optional peer dependency: only this subpath imports it. Counts are kept in
 * plain arrays and handed to prom-client at scrape time (histogram.ts says why). Several caches may
 * be registered on one registry: they share one set of metrics (counters summed across them), so
 * registering a second cache never throws "already registered".
 *
 *   larder_cache_requests_total{namespace,layer,result}   reads: layer near|store, result hit|miss|stale|waited
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
import { Counter, Gauge, register as defaultRegistry, type Metric, type Registry } from 'prom-client';
import type { Cache } from '../cache.js';
import type { CacheCore } from '../core.js';
import { NamespaceLabels } from '../metrics/labels.js';
import { ScrapedHistogram, type Series } from './histogram.js';

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
  /**
   * Reads by namespace: [near hit, near miss, store hit, store miss], counted in plain arrays and
   * handed to the requests counter at scrape time (prom-client's inc hashes its labels per call).
   * `byLabel` holds one array per label value; `byNamespace` maps each namespace seen to its
   * label's array (bounded: past MAX_NAMESPACES the label is looked up each time).
   */
  readonly byLabel: Map<string, Float64Array>;
  readonly byNamespace: Map<string, Float64Array>;
  readonly generatorDuration: ScrapedHistogram;
  readonly storeDuration: ScrapedHistogram;
  /** storeDuration's series by command. */
  readonly commands: Map<string, Series>;
  readonly lockWait: ScrapedHistogram;
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

/** Namespaces whose counts array is remembered per registry (past it, the label is looked up each time). */
const MAX_NAMESPACES = 10_000;
const LAYERS = ['near', 'store'] as const;
const RESULTS = ['hit', 'miss', 'stale', 'waited'] as const;

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
  const histogram = (name: string, help: string, label: string | null) => {
    const h = new ScrapedHistogram(name, help, label, SECONDS_BUCKETS);
    registry.registerMetric(h as unknown as Metric);
    return h;
  };
  const m: RegistryMetrics = {
    cores: new Set(),
    retired: { generatorRuns: 0, staleServes: 0, acquired: 0, timeouts: 0, evictions: 0, errors: {} },
    labels: new NamespaceLabels(maxNamespaceLabels),
    byLabel: new Map(),
    byNamespace: new Map(),
    generatorDuration: histogram('larder_generator_duration_seconds', 'Duration of generator runs', null),
    storeDuration: histogram('larder_store_command_duration_seconds', 'Duration of store round trips by command', 'command'),
    commands: new Map(),
    lockWait: histogram('larder_lock_wait_seconds', 'Time to acquire a lock, read/write lock or permit, by outcome (acquired, timeout, error)', 'outcome'),
  };
  new Counter({
    name: 'larder_cache_requests_total',
    help: 'Cache reads by namespace, layer (near, store) and result (hit, miss, stale, waited)',
    labelNames: ['namespace', 'layer', 'result'],
    registers,
    collect() {
      this.reset();
      for (const [namespace, counts] of m.byLabel) {
        for (let l = 0; l < LAYERS.length; l++) {
          for (let r = 0; r < RESULTS.length; r++) {
            const n = counts[l * RESULTS.length + r]!;
            if (n > 0) this.inc({ namespace, layer: LAYERS[l], result: RESULTS[r] }, n);
          }
        }
      }
    },
  });
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

/** The counts array of `namespace`'s label (O6: past the cap, the shared "other" one). */
function requestCounts(m: RegistryMetrics, namespace: string): Float64Array {
  let counts = m.byNamespace.get(namespace);
  if (counts === undefined) {
    const label = m.labels.of(namespace);
    counts = m.byLabel.get(label);
    if (counts === undefined) m.byLabel.set(label, (counts = new Float64Array(LAYERS.length * RESULTS.length)));
    if (m.byNamespace.size < MAX_NAMESPACES) m.byNamespace.set(namespace, counts);
  }
  return counts;
}

/** Exposes `cache`'s metrics on `registry` (default: prom-client's global registry). */
export function register(cache: Cache, registry: Registry = defaultRegistry, opts: RegisterOptions = {}): Registration {
  const core = cache.core;
  const m = metricsOf(registry, opts.maxNamespaceLabels);
  if (m.cores.has(core)) throw new TypeError('this cache is already registered on that registry');
  m.cores.add(core);
  const generatorSeries = m.generatorDuration.series();
  const removeSink = core.tap.add({
    request: (namespace, layer, result) => {
      requestCounts(m, namespace)[(layer === 'near' ? 0 : RESULTS.length) + RESULTS.indexOf(result)]!++;
    },
    storeCall: (command, s) => {
      let series = m.commands.get(command);
      if (series === undefined) m.commands.set(command, (series = m.storeDuration.series(command)));
      m.storeDuration.observe(series, s);
    },
    generator: (s) => m.generatorDuration.observe(generatorSeries, s),
    lockAcquire: (s, outcome) => m.lockWait.observe(m.lockWait.series(outcome), s),
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
