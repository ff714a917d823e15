/**
 * Issue 16's observability figures (O3, O5, OP4), in one process run: cache hit throughput with
 * nobody listening, with a subscriber on every larder tracing channel (larder:cache, larder:lock,
 * larder:generator, larder:store: no-op handlers, so what is measured is larder's side of the
 * cost), with prom-client metrics registered (larder-cache/prometheus), and with published
 * telemetry on (OP4, every 10 s). Two set-ups: the embedded store, and Redis with the near cache
 * (every read a near-cache hit). 10,000 keys read round robin after a prefill: every read hits.
 *
 *   node --conditions=larder-source --import tsx bench/tracing.ts [--quick]
 *
 * Subscriptions are process-wide: each variant is set up right before its round and torn down
 * right after, and rounds alternate their order (lib.alternate), so machine noise hits every
 * variant alike. Reported as medians and as ratios to the unsubscribed figure of the same set-up.
 * Starts its own redis-server on a free port (persistence off) and stops it afterwards.
 */
import { tracingChannel } from 'node:diagnostics_channel';
import { Registry } from 'prom-client';
import { createCache, createMemoryStore, type Cache } from '../src/index.js';
import { register } from '../src/prometheus/index.js';
import { startRedis } from '../test/support/redis-server.js';
import { alternate, fmt, machine, median, table, throughputClocked } from './lib.js';

const quick = process.argv.includes('--quick');
const rounds = quick ? 3 : 9;
const durationMs = quick ? 200 : 500;
const KEYS = 10_000;
const keys = Array.from({ length: KEYS }, (_, i) => `item:${i}`);

type Variant = 'unsubscribed' | 'tracing subscriber' | 'prometheus' | 'telemetry';
const VARIANTS: Variant[] = ['unsubscribed', 'tracing subscriber', 'prometheus', 'telemetry'];

/** Turns a variant on for `cache`; returns what turns it off. */
function enable(variant: Variant, cache: Cache): () => void {
  if (variant === 'tracing subscriber') {
    const noop = () => {};
    const handlers = { start: noop, end: noop, asyncStart: noop, asyncEnd: noop, error: noop };
    const channels = ['larder:cache', 'larder:lock', 'larder:generator', 'larder:store'].map((n) => tracingChannel(n));
    for (const c of channels) c.subscribe(handlers);
    return () => {
      for (const c of channels) c.unsubscribe(handlers);
    };
  }
  if (variant === 'prometheus') {
    const r = register(cache, new Registry());
    return () => r.stop();
  }
  // 'telemetry' is on from construction (its own cache); 'unsubscribed' needs nothing.
  return () => {};
}

async function main(): Promise<void> {
  const redis = await startRedis();
  const caches: Cache[] = [];
  try {
    const memStore = createMemoryStore({ maxEntries: 1_000_000 });
    const setups: Array<{ name: string; make: (telemetry: boolean) => Cache }> = [
      { name: 'embedded store', make: (t) => createCache({ store: memStore, namespace: t ? 'bench-t' : 'bench', ...(t ? { telemetry: { publishEverySec: 10 } } : {}) }) },
      {
        name: 'Redis + near cache',
        make: (t) => createCache({ store: redis.url, namespace: t ? 'bench-t' : 'bench', nearCache: { maxEntries: 20_000 }, ...(t ? { telemetry: { publishEverySec: 10 } } : {}) }),
      },
    ];
    const rows = [['set-up', 'variant', 'c=1 ops/s', '÷ unsubscribed', 'c=64 ops/s', '÷ unsubscribed']];
    for (const setup of setups) {
      // The telemetry variant needs the option at construction: a second cache, same data.
      const plain = setup.make(false);
      const telemetry = setup.make(true);
      caches.push(plain, telemetry);
      for (const c of [plain, telemetry]) {
        for (let i = 0; i < KEYS; i += 1000) await c.setMany(keys.slice(i, i + 1000).map((k, j) => [k, { id: i + j, name: `item ${i + j}` }]));
        for (const k of keys) await c.getValue(k);
        await c.core.near?.whenActive();
        for (const k of keys) await c.getValue(k);
      }
      const figures = new Map<number, Map<Variant, number>>();
      for (const concurrency of [1, 64]) {
        console.log(`${setup.name}, c=${concurrency}`);
        const samples = await alternate(VARIANTS, rounds, async (name) => {
          const variant = name as Variant;
          const cache = variant === 'telemetry' ? telemetry : plain;
          const off = enable(variant, cache);
          try {
            await throughputClocked((i) => cache.getValue(keys[i % KEYS]!), concurrency, durationMs / 3); // warm-up
            const m = await throughputClocked((i) => cache.getValue(keys[i % KEYS]!), concurrency, durationMs);
            if (m.empty > 0 || m.errors > 0) throw new Error(`${variant}: ${m.empty} misses, ${m.errors} errors`);
            return m.opsPerSec;
          } finally {
            off();
          }
        });
        const med = new Map<Variant, number>([...samples].map(([v, xs]) => [v as Variant, median(xs)]));
        for (const [v, xs] of samples) console.log(`  ${v.padEnd(20)} ${fmt(med.get(v as Variant)!).padStart(10)} ops/s   rounds: ${xs.map(fmt).join(' ')}`);
        figures.set(concurrency, med);
      }
      for (const v of VARIANTS) {
        const row = [setup.name, v];
        for (const c of [1, 64]) {
          const m = figures.get(c)!;
          row.push(fmt(m.get(v)!), `${(m.get(v)! / m.get('unsubscribed')!).toFixed(2)}×`);
        }
        rows.push(row);
      }
    }
    console.log(`\n${machine()}\nrounds ${rounds} × ${durationMs} ms per variant, medians\n`);
    console.log(table(rows));
  } finally {
    for (const c of caches) await c.close();
    await redis.stop();
  }
}

await main();
