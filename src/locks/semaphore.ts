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
import { Acquisition, strict, type LockContext } from './acquisition.js';
import { resolveLockOptions, runHolding, type Lock, type LockOptions, type ResolvedLockOptions } from './lock.js';
import { leaseExtend, leaseRelease, semaphoreAcquire } from './scripts.js';

export interface SemaphoreOptions {
  /** How many holders at once. A positive integer. */
  permits: number;
  shared?: boolean;
  user?: string | true;
}

/** Per-call options of acquire(): those of cache.lock, minus the scope (fixed by the semaphore). */
export type PermitOptions = Omit<LockOptions, 'shared' | 'user' | 'waitReplicas' | 'waitTimeoutMs'>;

export function validatePermits(permits: unknown): asserts permits is number {
  if (typeof permits !== 'number' || !Number.isSafeInteger(permits) || permits < 1) {
    throw new TypeError(`permits must be a positive integer, got ${String(permits)}`);
  }
}

class PermitAcquisition extends Acquisition {
  protected override readonly operation: string = 'permit';

  constructor(ctx: LockContext, name: string, readonly holders: string, readonly fence: string, readonly permits: number, o: ResolvedLockOptions) {
    // The channel is the holders' key: namespaced as the key is (LK6).
    super(ctx, name, holders, o);
  }

  protected tryOnce(): Promise<unknown> {
    return strict(this.ctx, 'permit acquire', () =>
      this.store.eval(semaphoreAcquire, [this.holders, this.fence], [this.token, this.options.ttlMs, this.permits]),
    );
  }

  async release(): Promise<boolean> {
    // '0': every release wakes the waiters, since every release frees a permit.
    return (await strict(this.ctx, 'permit release', () => this.store.eval(leaseRelease, [this.holders], [this.token, this.holders, '0']))) === 1;
  }

  async extend(ms: number): Promise<boolean> {
    return (await strict(this.ctx, 'permit extend', () => this.store.eval(leaseExtend, [this.holders], [this.token, ms]))) === 1;
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
  acquire(opts?: PermitOptions): Promise<Lock> {
    return new PermitAcquisition(this.#ctx, this.name, this.#holders, this.#fence, this.permits, resolveLockOptions(opts, 'semaphore')).acquire();
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
