/**
 * The exclusive lock behind cache.lock / tryLock / withLock (LK1–LK7).
 *
 * One round trip to acquire: `lockAcquire` sets the lock with SET NX PX and, only when that
 * succeeded, increments the fencing counter kept beside it (same hash tag, so the same Redis
 * Cluster slot). One round trip to release: `lockRelease` compares the token, deletes, and
 * publishes to waiters, all in one script.
 *
 * Every store call goes through `guard.strict`: a lock is never granted, renewed or released
 * without the store having said so (LK7, F5), whatever `onStoreError` says for cache reads.
 */
import { StoreTimeoutError, StoreUnavailableError } from '../errors.js';
import { siblingKey } from '../keys.js';
import type { StoreGuard } from '../guard.js';
import type { CacheStats } from '../observability.js';
import type { Store } from '../stores/store.js';
import { Lock, newToken, type ResolvedLockOptions } from './lock.js';
import { lockAcquire, lockExtend, lockRelease } from './scripts.js';
import { acquireWithWait, type Attempt } from './wait.js';

/** What the lock family needs from a cache. */
export interface LockContext {
  store: Store;
  guard: StoreGuard;
  stats: CacheStats;
  random: () => number;
}

/**
 * Runs one lock call through the guard, strictly (LK7). A call that timed out becomes a
 * StoreUnavailableError (its cause the timeout): for a lock, a store that does not answer in time
 * is a store that is not there.
 */
export async function strict<T>(ctx: LockContext, what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await ctx.guard.strict(what, op);
  } catch (err) {
    if (err instanceof StoreTimeoutError) throw new StoreUnavailableError(err.message, { cause: err });
    throw err;
  }
}

/**
 * Wraps an acquire attempt: if the store did not answer, the script may still have run and granted
 * the lock to a token nobody will use; a best-effort release spares the next holder the lease.
 */
export async function attemptOrClean<T>(attempt: () => Promise<T>, release: () => Promise<unknown>): Promise<T> {
  try {
    return await attempt();
  } catch (err) {
    if (err instanceof StoreUnavailableError && err.cause instanceof StoreTimeoutError) void release().catch(() => {});
    throw err;
  }
}

/** The reply shape of every acquire script: {1, token} or {0, ms left on the blocking lease}. */
export function parseAttempt(reply: unknown): Attempt<number> {
  const r = reply as [number, number];
  return r[0] === 1 ? { ok: true, value: Number(r[1]) } : { ok: false, retryInMs: Number(r[1]) };
}

/**
 * Acquires the mutex at physical key `pk`. The fencing counter is its `F` sibling; waiters listen
 * on a channel named after the key, so channels are namespaced exactly as keys are (LK6).
 */
export async function acquireMutex(ctx: LockContext, pk: string, name: string, o: ResolvedLockOptions): Promise<Lock> {
  const { store } = ctx;
  const fence = siblingKey(pk, 'F');
  const token = newToken();
  let startedAt = 0;
  const holder = {
    release: async () => (await strict(ctx, 'lock release', () => store.eval(lockRelease, [pk], [token, pk]))) === 1,
    extend: async (ms: number) => (await strict(ctx, 'lock extend', () => store.eval(lockExtend, [pk], [token, ms]))) === 1,
  };
  const fencingToken = await acquireWithWait<number>({
    name,
    store,
    channel: pk,
    waitMs: o.waitMs,
    signal: o.signal,
    random: ctx.random,
    stats: ctx.stats.locks,
    attempt: async () => {
      startedAt = performance.now();
      const reply = await attemptOrClean(() => strict(ctx, 'lock acquire', () => store.eval(lockAcquire, [pk, fence], [token, o.ttlMs])), holder.release);
      return parseAttempt(reply);
    },
    undo: async () => {
      await holder.release();
    },
  });
  return new Lock({ name, fencingToken, holder, ttlMs: o.ttlMs, autoExtend: o.autoExtend, startedAt });
}
