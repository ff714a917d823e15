/**
 * Waiting for a lock (LK5): woken by the release itself, with polling as the fallback.
 *
 * Every release script PUBLISHes on the lock's channel. A process subscribes to a channel once,
 * however many of its callers wait on that lock, and fans each message out to its local waiters
 * (ReleaseHub). A subscription outlives its last waiter by a short linger, so a lock that is
 * handed around in a loop does not pay a SUBSCRIBE/UNSUBSCRIBE round trip per hand-off.
 *
 * The order matters: a waiter joins the channel and waits for the subscription to be active, and
 * only then tries again. A release that happens between a failed attempt and an active
 * subscription would otherwise be missed, and the waiter would sit until its next poll.
 *
 * Pub/sub is at-most-once (a message published while the subscriber connection is down is lost),
 * so it is never the only path: a waiter always tries again within 50–100 ms (jittered, so that
 * waiters from many processes do not poll in step), or sooner when the holder's lease runs out
 * earlier. A lease that ends without a release (a crashed holder) is noticed that way.
 */
import { abortedError, LockTimeoutError } from '../errors.js';
import type { CacheStats } from '../observability.js';
import type { Store } from '../stores/store.js';

/** How long a channel stays subscribed after its last waiter left. */
const LINGER_MS = 5_000;
/** Polling bounds (LK5: at least every 100 ms). */
const POLL_MIN_MS = 50;
const POLL_MAX_MS = 100;

interface Channel {
  readonly waiters: Set<() => void>;
  /** Resolves true once subscribed, false if subscribing failed (waiters then only poll). */
  readonly ready: Promise<boolean>;
  unsubscribe: (() => Promise<void>) | null;
  linger: NodeJS.Timeout | undefined;
}

/** One per store: the channels this process listens on, and who waits on each. */
export class ReleaseHub {
  readonly #store: Store;
  readonly #channels = new Map<string, Channel>();

  constructor(store: Store) {
    this.#store = store;
  }

  /** Adds a waiter; `wake` runs on every release message. Returns the readiness and a leave(). */
  join(name: string, wake: () => void): { ready: Promise<boolean>; leave: () => void } {
    let ch = this.#channels.get(name);
    if (ch === undefined) {
      const created: Channel = { waiters: new Set(), ready: Promise.resolve(false), unsubscribe: null, linger: undefined };
      (created as { ready: Promise<boolean> }).ready = this.#store
        .subscribe(name, () => {
          for (const w of created.waiters) w();
        })
        .then(
          (unsub) => {
            created.unsubscribe = unsub;
            // Everyone may have left (or the channel been replaced) while we subscribed.
            if (this.#channels.get(name) !== created) void unsub().catch(() => {});
            else if (created.waiters.size === 0) this.#scheduleLinger(name, created);
            return true;
          },
          () => {
            if (this.#channels.get(name) === created) this.#channels.delete(name);
            return false;
          },
        );
      ch = created;
      this.#channels.set(name, ch);
    }
    if (ch.linger !== undefined) {
      clearTimeout(ch.linger);
      ch.linger = undefined;
    }
    const channel = ch;
    channel.waiters.add(wake);
    let left = false;
    return {
      ready: channel.ready,
      leave: () => {
        if (left) return;
        left = true;
        channel.waiters.delete(wake);
        if (channel.waiters.size === 0 && channel.unsubscribe !== null) this.#scheduleLinger(name, channel);
      },
    };
  }

  #scheduleLinger(name: string, ch: Channel): void {
    if (ch.linger !== undefined) clearTimeout(ch.linger);
    ch.linger = setTimeout(() => {
      ch.linger = undefined;
      if (ch.waiters.size > 0 || this.#channels.get(name) !== ch) return;
      this.#channels.delete(name);
      void ch.unsubscribe?.().catch(() => {});
    }, LINGER_MS);
    ch.linger.unref();
  }

  /** Channels currently subscribed or being subscribed (for tests). */
  get size(): number {
    return this.#channels.size;
  }
}

const hubs = new WeakMap<Store, ReleaseHub>();

export function releaseHub(store: Store): ReleaseHub {
  let hub = hubs.get(store);
  if (hub === undefined) {
    hub = new ReleaseHub(store);
    hubs.set(store, hub);
  }
  return hub;
}

/** One try: the grant, or how long the current holder's lease has left (-1: unknown). */
export type Attempt<T> = { ok: true; value: T } | { ok: false; retryInMs: number };

export interface WaitPlan<T> {
  /** The lock's name as the caller wrote it, for errors. */
  name: string;
  store: Store;
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
export async function acquireWithWait<T>(plan: WaitPlan<T>, refusedAt?: number): Promise<T> {
  const { signal } = plan;
  let started: number;
  if (refusedAt === undefined) {
    if (signal?.aborted) throw abortedError(signal.reason, `waiting for lock ${JSON.stringify(plan.name)}`);
    started = performance.now();
    const first = await plan.attempt(false);
    if (first.ok) return afterGrant(plan, first.value);
  } else {
    // The caller made the first try itself, at `refusedAt` (the fast path, see Acquisition.acquire).
    started = refusedAt;
  }
  if (plan.waitMs <= 0) throw timeout(plan);
  if (plan.stats) plan.stats.waits++;

  const deadline = started + plan.waitMs;
  let woken = false;
  let wakeNow: (() => void) | null = null;
  const member = releaseHub(plan.store).join(plan.channel, () => {
    woken = true;
    wakeNow?.();
  });
  try {
    // Tries again only once the subscription is active (see the header), but never waits for it
    // past the deadline: a subscription that cannot be made leaves polling.
    await sleep(Math.max(0, deadline - performance.now()), signal, plan, member.ready.then(() => {}), (f) => (wakeNow = f));
    for (;;) {
      woken = false;
      const r = await plan.attempt(true);
      if (r.ok) return await afterGrant(plan, r.value);
      if (signal?.aborted) throw abortedError(signal.reason, `waiting for lock ${JSON.stringify(plan.name)}`);
      const hint = r.retryInMs;
      const left = deadline - performance.now();
      if (left <= 0) throw timeout(plan);
      if (woken) continue;
      let delay = POLL_MIN_MS + plan.random() * (POLL_MAX_MS - POLL_MIN_MS);
      if (hint >= 0) delay = Math.min(delay, hint + 1);
      await sleep(Math.min(delay, left), signal, plan, null, (f) => (wakeNow = f));
      wakeNow = null;
    }
  } catch (err) {
    if (plan.giveUp) await plan.giveUp().catch(() => {});
    throw err;
  } finally {
    member.leave();
  }
}

async function afterGrant<T>(plan: WaitPlan<T>, value: T): Promise<T> {
  if (plan.signal?.aborted) {
    await plan.undo(value).catch(() => {});
    throw abortedError(plan.signal.reason, `waiting for lock ${JSON.stringify(plan.name)}`);
  }
  if (plan.stats) plan.stats.acquired++;
  return value;
}

function timeout(plan: Pick<WaitPlan<unknown>, 'name' | 'waitMs' | 'stats'>): LockTimeoutError {
  // A refused try-once (tryLock) is an answer, not a timeout.
  if (plan.stats && plan.waitMs > 0) plan.stats.timeouts++;
  return new LockTimeoutError(
    plan.waitMs <= 0
      ? `lock ${JSON.stringify(plan.name)} is held by someone else`
      : `lock ${JSON.stringify(plan.name)} was not acquired within ${plan.waitMs} ms`,
    { lockName: plan.name },
  );
}

/** Resolves after `ms`, on a wake-up (`setWake`), or when `until` settles; rejects on abort. */
function sleep(
  ms: number,
  signal: AbortSignal | undefined,
  plan: Pick<WaitPlan<unknown>, 'name'>,
  until: Promise<void> | null,
  setWake: (f: () => void) => void,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    const onAbort = () => {
      if (timer !== undefined) clearTimeout(timer);
      reject(abortedError(signal!.reason, `waiting for lock ${JSON.stringify(plan.name)}`));
    };
    if (signal) {
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
    }
    // setTimeout takes at most 2^31-1 ms (more becomes 1 ms): `waitMs: Infinity` must not spin.
    timer = setTimeout(done, Math.min(ms, 0x7fffffff));
    until?.then(done, done);
    setWake(done);
  });
}
