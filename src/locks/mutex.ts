/**
 * The exclusive lock behind cache.lock / tryLock / withLock (LK1–LK7).
 *
 * One round trip to acquire: `lockAcquire` sets the lock with SET NX PX and, only when that
 * succeeded, increments the fencing counter kept beside it (same hash tag, so the same Redis
 * Cluster slot). One round trip to release: `lockRelease` compares the token, deletes, and
 * publishes to waiters, all in one script. Waiters listen on a channel named after the lock's key,
 * so channels are namespaced exactly as keys are (LK6).
 */
import { siblingKey } from '../keys.js';
import { Acquisition, strict, type LockContext } from './acquisition.js';
import type { Lock, ResolvedLockOptions } from './lock.js';
import { lockAcquire, lockExtend, lockRelease } from './scripts.js';

class MutexAcquisition extends Acquisition {
  readonly #key: string;
  readonly #fence: string;

  constructor(ctx: LockContext, pk: string, name: string, o: ResolvedLockOptions) {
    super(ctx, name, pk, o);
    this.#key = pk;
    this.#fence = siblingKey(pk, 'F');
  }

  protected tryOnce(): Promise<unknown> {
    return strict(this.ctx, 'lock acquire', () => this.store.eval(lockAcquire, [this.#key, this.#fence], [this.token, this.options.ttlMs]));
  }

  async release(): Promise<boolean> {
    return (await strict(this.ctx, 'lock release', () => this.store.eval(lockRelease, [this.#key], [this.token, this.#key]))) === 1;
  }

  async extend(ms: number): Promise<boolean> {
    return (await strict(this.ctx, 'lock extend', () => this.store.eval(lockExtend, [this.#key], [this.token, ms]))) === 1;
  }
}

/** Acquires the mutex at physical key `pk`; its fencing counter is the key's `F` sibling. */
export function acquireMutex(ctx: LockContext, pk: string, name: string, o: ResolvedLockOptions): Promise<Lock> {
  return new MutexAcquisition(ctx, pk, name, o).acquire();
}
