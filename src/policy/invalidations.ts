/**
 * Invalidations that could not reach the store are not forgotten (F3).
 *
 * When a delete (`deleteValue`, the batches of `deleteKeys`/`clearCache`, memo and document
 * clears) fails because the store is unavailable, its physical keys are remembered here; when a
 * pattern scan fails, the pattern is. Then:
 *
 *  - every read of a remembered key is a miss: the core's `decode` (core.ts) asks `blocks(pk)` before it
 *    decodes anything read under a physical key, so the old value is never served, from the store
 *    or from a layer that fills from it (the near cache);
 *  - in-process copies (the near cache, N2/F3) are dropped by the caller before the delete is
 *    sent, so they are gone at once whatever the store says;
 *  - the deletes are retried as soon as the store answers again (the guard's `onRecovered`), when a
 *    read meets a remembered key, and every 200 ms while anything is pending. A key is forgotten
 *    only once its delete succeeded; a pattern once a full scan-and-delete of it succeeded.
 *
 * Bounded: past MAX_KEYS remembered keys, the keys of each namespace are folded into one pattern
 * that clears every cache entry of that namespace (or of the shared space): more is deleted than
 * was asked, which a cache may always do, and nothing stale can be served. A retried delete may
 * also remove a value written after the original delete failed; that costs a miss, never a stale read.
 *
 * Order of a retry and a read: the retry's DEL and a later GET of the same key travel on the same
 * connection (one slot), so the read either runs after the DEL, or its reply is decoded while the
 * key is still remembered (a key is forgotten only after the DEL's reply).
 */
import type { Clock, Timer } from '../clock.js';
import { isUnavailability } from '../errors.js';
import { ignore } from '../ignore.js';
import type { StoreGuard } from './guard.js';
import type { Store } from '../stores/store.js';

export const MAX_PENDING_KEYS = 10_000;
const RETRY_EVERY_MS = 200;

export interface PendingPattern {
  /** A SCAN glob covering every key the pattern may match. */
  readonly glob: string;
  /** The exact test on a physical key. */
  readonly matches: (physical: string) => boolean;
}

export class PendingInvalidations {
  readonly #store: Store;
  readonly #guard: StoreGuard;
  readonly #keys = new Set<string>();
  readonly #patterns = new Map<string, PendingPattern>();
  #flushing: Promise<boolean> | undefined;
  #timer: Timer | undefined;
  readonly #clock: Clock;
  #closed = false;
  #seq = 0;

  constructor(store: Store, guard: StoreGuard, clock: Clock) {
    this.#store = store;
    this.#guard = guard;
    this.#clock = clock;
  }

  /** How many keys and patterns are waiting to be deleted. 0 on the happy path: check it first. */
  get size(): number {
    return this.#keys.size + this.#patterns.size;
  }

  /** Whether reads of this physical key must not be served from the store yet. */
  blocks(physical: string): boolean {
    if (this.#keys.has(physical)) return true;
    for (const p of this.#patterns.values()) if (p.matches(physical)) return true;
    return false;
  }

  /**
   * Deletes keys now; if the store is unavailable, remembers them (and, in degrade mode, resolves
   * to 0 as a dropped write would). Errors the store answered with are thrown as they are.
   */
  async delete(physical: readonly string[], what = 'DEL'): Promise<number> {
    if (physical.length === 0) return 0;
    try {
      return await this.#guard.call(what, () => this.#store.delete(physical));
    } catch (err) {
      if (!isUnavailability(err)) throw err;
      this.addKeys(physical);
      if (this.#guard.policy === 'degrade') return 0;
      throw err;
    }
  }

  addKeys(physical: readonly string[]): void {
    if (this.#closed || physical.length === 0) return;
    for (const k of physical) this.#keys.add(k);
    if (this.#keys.size > MAX_PENDING_KEYS) this.#fold();
    this.#arm();
  }

  addPattern(pattern: PendingPattern): void {
    if (this.#closed) return;
    const id = `${this.#seq++}`;
    this.#patterns.set(id, pattern);
    this.#arm();
  }

  /**
   * Retries everything pending, once at a time. Resolves true if nothing is pending afterwards.
   * Never rejects.
   */
  flush(): Promise<boolean> {
    if (this.size === 0) return Promise.resolve(true);
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  async #flush(): Promise<boolean> {
    try {
      if (this.#keys.size > 0) {
        const keys = [...this.#keys];
        for (let i = 0; i < keys.length; i += 1000) {
          const batch = keys.slice(i, i + 1000);
          await this.#guard.strict('DEL', () => this.#store.delete(batch));
          for (const k of batch) this.#keys.delete(k);
        }
      }
      for (const [id, p] of [...this.#patterns]) {
        await this.#scanDelete(p);
        this.#patterns.delete(id);
      }
    } catch {
      // Still unavailable (or refused): everything not yet deleted stays pending.
    }
    if (this.size === 0) {
      this.#timer?.cancel();
      this.#timer = undefined;
    }
    return this.size === 0;
  }

  async #scanDelete(p: PendingPattern): Promise<void> {
    const it = this.#store.scan(p.glob, 1000)[Symbol.asyncIterator]();
    try {
      for (;;) {
        const step = await this.#guard.strict('SCAN', () => it.next());
        if (step.done) break;
        const doomed = step.value.filter(p.matches);
        if (doomed.length > 0) await this.#guard.strict('DEL', () => this.#store.delete(doomed));
      }
    } finally {
      await it.return?.().catch(ignore);
    }
  }

  /** Too many keys: one namespace-wide clear per prefix instead (see the header). */
  #fold(): void {
    const prefixes = new Set<string>();
    for (const k of this.#keys) {
      const brace = k.indexOf('{');
      if (brace > 0) prefixes.add(k.slice(0, brace));
    }
    this.#keys.clear();
    for (const prefix of prefixes) {
      this.addPattern({
        glob: `${prefix}{*}[kmdp]*`,
        // Cache entries only (lower-case spaces, P3), never locks or fencing counters.
        matches: (pk) => pk.startsWith(prefix) && pk.charCodeAt(pk.indexOf('}', prefix.length) + 1) >= 97,
      });
    }
  }

  readonly #tick = (): void => {
    this.#timer = undefined;
    void this.flush().then((done) => {
      if (!done) this.#arm();
    });
  };

  #arm(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = this.#clock.setTimeout(this.#tick, RETRY_EVERY_MS, true);
  }
}
