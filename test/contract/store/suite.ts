/**
 * The Store contract (STYLE habit 3): every behaviour of the Store interface (src/stores/store.ts)
 * that a layer above may rely on, written once and run unchanged against every store: the
 * embedded store, Redis standalone, Redis Cluster, Sentinel, and the chaos wrapper (one test file
 * per target, beside this one). A difference between two stores is a bug in one of them.
 *
 * What is truly one store's own (Redis: same-tick coalescing and corking, the stall detector,
 * NOSCRIPT fallback, slot grouping; memory: LRU and byte bounds, the sweep, the injected clock) is
 * tested in that store's unit tests (test/unit/*-store.test.ts).
 *
 * The areas, one file each: strings and counters, TTLs, hashes, lists and sets, scripts (the eval
 * twins), scan, pub/sub, errors, batching order.
 */
import { describe } from 'node:test';
import { contractContext, type StoreFactory } from './helpers.js';
import { stringsContract } from './strings.js';
import { ttlContract } from './ttl.js';
import { hashesContract } from './hashes.js';
import { collectionsContract } from './collections.js';
import { scriptsContract } from './scripts.js';
import { scanContract } from './scan.js';
import { pubsubContract } from './pubsub.js';
import { errorsContract } from './errors.js';
import { batchingContract } from './batching.js';

export type { StoreFactory, StoreUnderTest } from './helpers.js';

/** Registers the whole contract for one target; `factory` gives each test a fresh store. */
export function storeContract(target: string, factory: StoreFactory): void {
  const ctx = contractContext(target, factory);
  describe(`store contract: ${target}`, () => {
    stringsContract(ctx);
    ttlContract(ctx);
    hashesContract(ctx);
    collectionsContract(ctx);
    scriptsContract(ctx);
    scanContract(ctx);
    pubsubContract(ctx);
    errorsContract(ctx);
    batchingContract(ctx);
  });
}
