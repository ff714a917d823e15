/**
 * A counting semaphore (LK8): at most `permits` holders at once, each a lease in a sorted set
 * (token -> lease end). Every acquire first drops the leases that ran out, so the permit of a
 * holder that crashed comes back after its lease, and a release of a lease that already ran out
 * is refused (LockNotOwnedError) without touching anyone else's: the count can never go above
 * `permits`, and never be inflated by a late release.
 *
 * `permits` is given by each caller; processes that disagree on it each enforce their own bound
 * against the same set of holders. Every grant takes a fencing token from the semaphore's counter.
 */
import { siblingKey } from '../keys.js';
import { Lock, newToken, resolveLockOptions, runHolding, type LockOptions } from './lock.js';
import { attemptOrClean, parseAttempt, strict, type LockContext } from './mutex.js';
import { leaseExtend, leaseRelease, semaphoreAcquire } from './scripts.js';
import { acquireWithWait } from './wait.js';

export interface SemaphoreOptions {
  /** How many holders at once. A positive integer. */
  permits: number;
  shared?: boolean;
  user?: string | true;
}

/** Per-call options of acquire(): those of cache.lock, minus the scope (fixed by the semaphore). */
export type PermitOptions = Omit<LockOptions, 'shared' | 'user'>;

export function validatePermits(permits: unknown): asserts permits is number {
  if (typeof permits !== 'number' || !Number.isSafeInteger(permits) || permits < 1) {
    throw new TypeError(`permits must be a positive integer, got ${String(permits)}`);
  }
}

export class Semaphore {
  readonly name: string;
  readonly permits: number;
  readonly #ctx: LockContext;
  readonly #holders: string;
  readonly #fence: string;

  /** @internal Use cache.semaphore(). `pk` is the semaphore's physical key. */
  constructor(ctx: LockContext, pk: string, name: string, permits: number) {
    validatePermits(permits);
    this.#ctx = ctx;
    this.name = name;
    this.permits = permits;
    // `%` never appears unescaped in an escaped name: no collision with a mutex of the same name.
    this.#holders = `${pk}%s`;
    this.#fence = siblingKey(this.#holders, 'F');
  }

  /** Acquires a permit, waiting as cache.lock does (LK5). */
  async acquire(opts?: PermitOptions): Promise<Lock> {
    const o = resolveLockOptions(opts);
    const ctx = this.#ctx;
    const { store } = ctx;
    const token = newToken();
    const channel = this.#holders;
    let startedAt = 0;
    const holder = {
      release: async () =>
        (await strict(ctx, 'permit release', () => store.eval(leaseRelease, [this.#holders], [token, channel, '0']))) === 1,
      extend: async (ms: number) =>
        (await strict(ctx, 'permit extend', () => store.eval(leaseExtend, [this.#holders], [token, ms]))) === 1,
    };
    const fencingToken = await acquireWithWait<number>({
      name: this.name,
      store,
      channel,
      waitMs: o.waitMs,
      signal: o.signal,
      random: this.#ctx.random,
      stats: this.#ctx.stats.locks,
      attempt: async () => {
        startedAt = performance.now();
        const reply = await attemptOrClean(
          () => strict(ctx, 'permit acquire', () => store.eval(semaphoreAcquire, [this.#holders, this.#fence], [token, o.ttlMs, this.permits])),
          holder.release,
        );
        return parseAttempt(reply);
      },
      undo: async () => {
        await holder.release();
      },
    });
    return new Lock({ name: this.name, fencingToken, holder, ttlMs: o.ttlMs, autoExtend: o.autoExtend, startedAt });
  }

  /** A permit if one is free now, else null. */
  async tryAcquire(opts?: Omit<PermitOptions, 'waitMs'>): Promise<Lock | null> {
    try {
      return await this.acquire({ ...opts, waitMs: 0 });
    } catch (err) {
      if ((err as { code?: string }).code === 'E_LOCK_TIMEOUT') return null;
      throw err;
    }
  }

  /** Runs `fn` holding a permit, then releases it. */
  async withPermit<T>(fn: (permit: Lock) => T | Promise<T>, opts?: PermitOptions): Promise<T> {
    return runHolding(await this.acquire(opts), fn);
  }
}
