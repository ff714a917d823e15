/**
 * Waiting for a lock (LK5): woken by the release itself, with polling as the fallback.
 *
 * Every release script PUBLISHes on the lock's channel; waiters listen through the cache's
 * ChannelHub (one subscription per channel, lingering a few seconds after its last waiter, so a
 * lock handed around in a loop does not pay SUBSCRIBE/UNSUBSCRIBE per hand-off) and wait with the
 * one wait loop of waiting/wait.ts: woken by a release, else polling every 50–100 ms, so a lease
 * that ends without a release (a crashed holder) is noticed too.
 */
import type { Clock } from '../clock.js';
import { abortedError, LockTimeoutError } from '../errors.js';
import { ignore } from '../ignore.js';
import type { CacheStats } from '../observability.js';
import type { ChannelHub } from '../waiting/channel-hub.js';
import { Waiter } from '../waiting/wait.js';

/** One try: the grant, or how long the current holder's lease has left (-1: unknown). */
export type Attempt<T> = { ok: true; value: T } | { ok: false; retryInMs: number };

export interface WaitPlan<T> {
  /** The lock's name as the caller wrote it, for errors. */
  name: string;
  /** Where release messages arrive (one subscription per channel per cache). */
  hub: ChannelHub;
  clock: Clock;
  channel: string;
  waitMs: number;
  signal: AbortSignal | undefined;
  random(): number;
  stats: CacheStats['locks'] | undefined;
  /** One atomic try; `waiting` is false for the first (fast path) try. */
  attempt(waiting: boolean): Promise<Attempt<T>>;
  /** Undoes a grant that arrived after the wait was aborted. */
  undo(value: T): Promise<void>;
  /** Called once when a wait gives up after a refused first try (a writer withdraws its intent). */
  giveUp?(): Promise<void>;
}

/**
 * Tries once; if refused and `waitMs > 0`, waits for a release message or the next poll and tries
 * again, until granted, past `waitMs` (LockTimeoutError) or aborted (E_ABORTED). An attempt in
 * flight is never abandoned: if the signal fires meanwhile and the attempt won, the grant is undone
 * before the abort is reported, so an aborted wait never leaves a lock behind.
 */
/** A try-once call (tryLock, tryAcquire) answered null: no LockTimeoutError reached its caller (O2). */
export function uncountTimeout(stats: CacheStats['locks']): void {
  stats.timeouts--;
}

export async function acquireWithWait<T>(plan: WaitPlan<T>, refusedAt?: number): Promise<T> {
  const { signal, clock } = plan;
  const aborted = () => abortedError(signal?.reason, `waiting for lock ${JSON.stringify(plan.name)}`);
  let started: number;
  if (refusedAt === undefined) {
    if (signal?.aborted) throw aborted();
    started = clock.monotonic();
    const first = await plan.attempt(false);
    if (first.ok) return afterGrant(plan, first.value);
  } else {
    // The caller made the first try itself, at `refusedAt` (the fast path, see Acquisition.acquire).
    started = refusedAt;
  }
  if (plan.waitMs <= 0) throw timeout(plan);
  if (plan.stats) plan.stats.waits++;

  const waiter = new Waiter({
    hub: plan.hub,
    channel: plan.channel,
    clock,
    random: () => plan.random(),
    deadline: started + plan.waitMs,
    signal,
    onAbort: aborted,
  });
  try {
    await waiter.subscribed();
    for (;;) {
      const r = await plan.attempt(true);
      if (r.ok) return await afterGrant(plan, r.value);
      if (signal?.aborted) throw aborted();
      if (waiter.left <= 0) throw timeout(plan);
      await waiter.pause(r.retryInMs);
    }
  } catch (err) {
    if (plan.giveUp) await plan.giveUp().catch(ignore);
    throw err;
  } finally {
    waiter.leave();
  }
}

async function afterGrant<T>(plan: WaitPlan<T>, value: T): Promise<T> {
  if (plan.signal?.aborted) {
    await plan.undo(value).catch(ignore);
    throw abortedError(plan.signal.reason, `waiting for lock ${JSON.stringify(plan.name)}`);
  }
  if (plan.stats) plan.stats.acquired++;
  return value;
}

function timeout(plan: Pick<WaitPlan<unknown>, 'name' | 'waitMs' | 'stats'>): LockTimeoutError {
  // O2: every LockTimeoutError counts, `waitMs: 0` too. (tryLock and tryAcquire, which answer
  // null instead of throwing it, take theirs back: see uncountTimeout.)
  if (plan.stats) plan.stats.timeouts++;
  return new LockTimeoutError(
    plan.waitMs <= 0
      ? `lock ${JSON.stringify(plan.name)} is held by someone else`
      : `lock ${JSON.stringify(plan.name)} was not acquired within ${plan.waitMs} ms`,
    { lockName: plan.name },
  );
}
