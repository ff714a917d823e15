/**
 * SCAN over the embedded store: every key matching a Redis glob, in batches, without holding the
 * event loop for long on a huge store.
 */

import { compileGlob } from '../glob.js';
import { scanCount } from '../store.js';
import type { Keyspace } from './keyspace.js';

/** How many entries a scan examines before it lets the event loop run. */
const SCAN_SLICE = 10_000;

/**
 * Walks the key Map with a live iterator: a key present for the whole scan keeps its place (an
 * overwrite updates its entry in place), so it is seen exactly once, and the walk stops at the
 * first entry created after the scan began, so writes during the scan cannot make it run forever.
 * Every SCAN_SLICE entries examined it yields a batch or, with nothing to yield, a turn of the
 * event loop, so a huge store never blocks it for long. Expired entries are skipped (and removed).
 * `checkOpen` throws ClosedError once the store is closed: checked at the start and after each pause.
 */
export async function* scan(ks: Keyspace, checkOpen: () => void, match: string, count?: number): AsyncIterable<string[]> {
  checkOpen();
  const glob = compileGlob(match);
  const size = scanCount(count, 1000);
  const lastBorn = ks.seq;
  const entries = ks.map.values();
  let batch: string[] = [];
  let examined = 0;
  for (;;) {
    const r = entries.next();
    if (r.done === true || r.value.born > lastBorn) break;
    const e = r.value;
    examined++;
    if (glob.test(e.key) && ks.exists(e.key)) {
      batch.push(e.key);
      if (batch.length >= size) {
        yield batch;
        batch = [];
        examined = 0;
        checkOpen();
      }
    }
    if (examined >= SCAN_SLICE) {
      examined = 0;
      if (batch.length > 0) {
        yield batch;
        batch = [];
      } else {
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      checkOpen();
    }
  }
  if (batch.length > 0) yield batch;
}
