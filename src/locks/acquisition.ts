/**
 * One acquisition of a lock of any kind (mutex, read or write side, semaphore permit): its random
 * token, its tries (for the wait loop, wait.ts) and its compare-and-act release and renewal (for
 * the Lock handle, lock.ts). A subclass supplies the three scripts.
 *
 * Written as a class rather than closures: an acquire+release is a hot path (a few µs of JS around
 * two round trips), and one object with prototype methods is the cheapest shape for it.
 *
 * Every store call goes through `guard.strict`: a lock is never granted, renewed or released
 * without the store having said so (LK7, F5), whatever `onStoreError` says for cache reads.
 */
import { LockTimeoutError, StoreTimeoutError, StoreUnavailableError } from '../errors.js';
import type { Clock } from '../clock.js';
import { ignore } from '../ignore.js';
import { parseAnyKey } from '../keys.js';
import type { MetricsTap } from '../metrics/tap.js';
import type { StoreGuard } from '../policy/guard.js';
import type { CacheStats } from '../observability.js';
import type { Store } from '../stores/store.js';
import { Lock, newToken, type LockHolder, type ResolvedLockOptions } from './lock.js';
import type { ChannelHub } from '../waiting/channel-hub.js';
import { acquireWithWait, type Attempt, type WaitPlan } from './wait.js';

/** What the lock family needs from a cache. */
export interface LockContext {
  store: Store;
  guard: StoreGuard;
  stats: CacheStats;
  random: () => number;
  clock: Clock;
  /** Where waiters hear releases (waiting/channel-hub.ts). */
  hub: ChannelHub;
  /** Acquisition timings and the `larder:lock` channel (O3–O5). */
  tap?: MetricsTap;
}

/**
 * Runs one lock call through the guard, strictly (LK7). A call that timed out becomes a
 * StoreUnavailableError (its cause the timeout): for a lock, a store that does not answer in time
 * is a store that is not there.
 */
export function strict<T>(ctx: LockContext, what: string, op: () => Promise<T>): Promise<T> {
  return ctx.guard.strict(what, op).catch(asUnavailable);
}

function asUnavailable(err: unknown): never {
  if (err instanceof StoreTimeoutError) throw new StoreUnavailableError(err.message, { cause: err });
  throw err;
}

/** The reply shape of every acquire script: {1, token} or {0, ms left on the blocking lease}. */
export function parseAttempt(reply: unknown): Attempt<number> {
  // Integers from Lua; read as numbers whatever a store's eval hands back.
  const r = reply as readonly [unknown, unknown];
  return r[0] === 1 ? { ok: true, value: Number(r[1]) } : { ok: false, retryInMs: Number(r[1]) };
}

export abstract class Acquisition implements WaitPlan<number>, LockHolder {
  readonly token = newToken();
  readonly store: Store;
  readonly hub: ChannelHub;
  readonly clock: Clock;
  readonly waitMs: number;
  readonly signal: AbortSignal | undefined;
  readonly random: () => number;
  readonly stats: CacheStats['locks'];
  /** clock.monotonic() before the last try was sent: a lease granted by it counts from there. */
  startedAt = 0;

  constructor(
    readonly ctx: LockContext,
    readonly name: string,
    readonly channel: string,
    readonly options: ResolvedLockOptions,
  ) {
    this.store = ctx.store;
    this.hub = ctx.hub;
    this.clock = ctx.clock;
    this.waitMs = options.waitMs;
    this.signal = options.signal;
    this.random = ctx.random;
    this.stats = ctx.stats.locks;
  }

  /** The acquire script's reply for this try. */
  protected abstract tryOnce(waiting: boolean): Promise<unknown>;
  abstract release(): Promise<boolean>;
  abstract extend(ms: number): Promise<boolean>;

  async attempt(waiting: boolean): Promise<Attempt<number>> {
    this.startedAt = this.clock.monotonic();
    try {
      return parseAttempt(await this.tryOnce(waiting));
    } catch (err) {
      // The store did not answer: the script may still have run and granted the lock to a token
      // nobody will use. A best-effort release spares the next holder the lease.
      if (err instanceof StoreUnavailableError && err.cause instanceof StoreTimeoutError) this.release().catch(ignore);
      throw err;
    }
  }

  async undo(): Promise<void> {
    await this.release();
  }

  /** What `larder:lock` calls this kind of acquisition (O3). */
  protected readonly operation: string = 'lock';

  /** Waits as the options say, and hands back the Lock. */
  acquire(): Promise<Lock> {
    const tap = this.ctx.tap;
    if (tap?.observesLocks === true) {
      const namespace = parseAnyKey(this.channel)?.namespace ?? null;
      return tap.acquire(this.operation, namespace, this.name, () => this.#acquire(), (err) => err instanceof LockTimeoutError);
    }
    return this.#acquire();
  }

  async #acquire(): Promise<Lock> {
    let fencingToken: number;
    if (this.signal === undefined) {
      // Fast path: one try, inline; the wait loop only for a refusal.
      const started = this.clock.monotonic();
      const first = await this.attempt(false);
      if (first.ok) {
        this.stats.acquired++;
        fencingToken = first.value;
      } else {
        fencingToken = await acquireWithWait<number>(this, started);
      }
    } else {
      fencingToken = await acquireWithWait<number>(this);
    }
    const o = this.options;
    return new Lock({ name: this.name, fencingToken, holder: this, ttlMs: o.ttlMs, autoExtend: o.autoExtend, startedAt: this.startedAt, clock: this.clock });
  }
}
