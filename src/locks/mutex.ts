/**
 * The exclusive lock behind cache.lock / tryLock / withLock (LK1–LK7).
 *
 * One round trip to acquire: `lockAcquire` sets the lock with SET NX PX and, only when that
 * succeeded, increments the fencing counter kept beside it (same hash tag, so the same Redis
 * Cluster slot). One round trip to release: `lockRelease` compares the token, deletes, and
 * publishes to waiters, all in one script. Waiters listen on a channel named after the lock's key,
 * so channels are namespaced exactly as keys are (LK6).
 */
import { DEFAULTS } from '../defaults.js';
import { StoreUnavailableError } from '../errors.js';
import { siblingKey } from '../keys.js';
import type { Store } from '../stores/store.js';
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
  if (o.waitReplicas !== undefined && o.waitReplicas > 0) return acquireReplicated(ctx, pk, name, o, o.waitReplicas);
  return new MutexAcquisition(ctx, pk, name, o).acquire();
}

// --- WAIT after acquire (issue 6) ------------------------------------------------------------

/**
 * The grant, then `WAIT n timeout` on the connection that made it (so on the master holding the
 * key): Redis replicates asynchronously, and a master that fails right after granting may take the
 * grant with it, letting the promoted replica grant the lock again. Waiting for replicas narrows
 * that window to writes the replicas had not acknowledged; it cannot close it (Redis has no
 * synchronous replication; a replica acknowledging is not a replica that will be promoted).
 * Fewer acknowledgements than asked: the lock is released and the caller gets
 * StoreUnavailableError, as for a store that is not there (LK7: fail closed).
 */
/** A store that can wait for replicas (Redis): its optional waitReplicas is there. */
function canWaitReplicas(store: Store): store is Store & Required<Pick<Store, 'waitReplicas'>> {
  return typeof store.waitReplicas === 'function';
}

async function acquireReplicated(ctx: LockContext, pk: string, name: string, o: ResolvedLockOptions, replicas: number): Promise<Lock> {
  const store = ctx.store;
  if (!canWaitReplicas(store)) {
    throw new TypeError(`waitReplicas needs a replicated store (Redis); this ${store.kind} store has no replicas`);
  }
  const timeoutMs = o.waitTimeoutMs ?? DEFAULTS.lockWaitTimeoutMs;
  const lock = await new MutexAcquisition(ctx, pk, name, o).acquire();
  let acked: number;
  try {
    acked = await strict(ctx, 'lock WAIT', () => store.waitReplicas(pk, replicas, timeoutMs));
  } catch (err) {
    await lock.release().catch(() => undefined);
    throw err;
  }
  if (acked < replicas) {
    await lock.release().catch(() => undefined);
    throw new StoreUnavailableError(
      `lock "${name}": ${acked} of ${replicas} replicas acknowledged the grant within ${timeoutMs} ms; released it`,
    );
  }
  return lock;
}
