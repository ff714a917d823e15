/**
 * Redlock (LK10): one lock over N independent Redis servers, granted when a majority grants it.
 *
 * An attempt sends the mutex acquire script (SET NX PX + fencing counter) to every server at once,
 * each bounded by `nodeTimeoutMs`. It succeeds if a majority granted it and the time it took, plus
 * a drift allowance (`driftFactor` × ttl + 2 ms), is still less than the lease; the lock is then
 * valid for `ttl − elapsed − drift` by the local clock. Otherwise it is released on every server
 * (also on those that answered too late: their late grant is released when it arrives) and tried
 * again after `retryDelayMs` plus up to `retryJitterMs`, `retryCount` times.
 *
 * Fencing tokens across servers. Each server keeps its own counter, and the counters drift apart,
 * so the largest counter of one quorum need not exceed the largest of the previous quorum. A
 * second round fixes that: the granting servers raise their counters to the agreed token (the
 * largest they returned) while they still hold the lock for us, and the lock is only granted if a
 * majority confirmed. Any later majority shares at least one server with this one; that server's
 * counter was raised before the lock could be taken from it, so the later token is larger (LK3).
 * This holds as long as servers keep their data: a server that restarts empty, with a majority of
 * others, can break both mutual exclusion and fencing (the known Redlock caveat: run them with
 * `appendfsync always`, or keep a restarted server out for one max lease).
 *
 * Redlock's safety also assumes bounded clock drift and process pauses shorter than the lease;
 * see lock.ts for what the fencing token buys when that does not hold.
 */
import { abortedError, LockTimeoutError, StoreTimeoutError, StoreUnavailableError, isUnavailability } from '../errors.js';
import { ignore } from '../ignore.js';
import { isObject } from '../input.js';
import { physicalKey, siblingKey, validateKey, validateScopePart } from '../keys.js';
import type { ScriptReply, Store } from '../stores/store.js';
import { Lock, newToken, resolveLockOptions, runHolding, type LockHolder, type LockOptions } from './lock.js';
import { fenceRaise, lockAcquire, lockExtend, lockRelease } from './scripts.js';
import { resolveClock, type Clock } from '../clock.js';
import { quote } from '../options-check.js';

export interface RedlockOptions {
  /** Clock drift allowed, as a fraction of the lease. Default 0.01. */
  driftFactor?: number | undefined;
  /** Attempts after the first. Default 10. */
  retryCount?: number | undefined;
  /** Pause between attempts. Default 200. */
  retryDelayMs?: number | undefined;
  /** Random extra pause, up to this, so that contenders do not retry in step. Default 100. */
  retryJitterMs?: number | undefined;
  /** How long one server may take to answer one call. Default: a tenth of the lease, 10 to 500 ms. */
  nodeTimeoutMs?: number | undefined;
  /** The namespace lock names belong to (LK6), as a cache's. Default 'default'. */
  namespace?: string | undefined;
  /** Randomness in [0, 1), injectable for tests. Default Math.random. */
  random?: (() => number) | undefined;
  /**
   * Time for the attempts' elapsed time and node timeouts, the pauses between attempts, and the
   * locks' validity and renewals, injectable for tests. Default: the system clock.
   */
  clock?: Clock | undefined;
}

/** Per-call options: cache.lock's, where `waitMs` (if given) also bounds the retries. */
export type RedlockLockOptions = Omit<LockOptions, 'user'> & { retryCount?: number | undefined };

export interface Redlock {
  readonly stores: readonly Store[];
  /** How many servers must agree. */
  readonly quorum: number;
  lock(name: string, opts?: RedlockLockOptions): Promise<Lock>;
  /** One attempt, no retries: a Lock or null. */
  tryLock(name: string, opts?: Omit<RedlockLockOptions, 'retryCount' | 'waitMs'>): Promise<Lock | null>;
  withLock<T>(name: string, fn: (lock: Lock) => T | Promise<T>, opts?: RedlockLockOptions): Promise<T>;
  readonly stats: { acquired: number; waits: number; timeouts: number };
}

type NodeResult<T> = { ok: true; value: T } | { ok: false; err: unknown; late?: Promise<unknown> };

/** Runs `call`, failing with StoreTimeoutError after `ms`; a late answer is still handed to `late`. */
function bounded<T>(clock: Clock, call: () => Promise<T>, ms: number): Promise<NodeResult<T>> {
  let p: Promise<T>;
  try {
    p = call();
  } catch (err) {
    return Promise.resolve({ ok: false, err });
  }
  return new Promise((resolve) => {
    const timer = clock.setTimeout(() => resolve({ ok: false, err: new StoreTimeoutError(`redlock node did not answer within ${ms} ms`), late: p }), ms);
    p.then(
      (value) => {
        timer.cancel();
        resolve({ ok: true, value });
      },
      (err: unknown) => {
        timer.cancel();
        resolve({ ok: false, err });
      },
    );
  });
}

function nonNegative(name: string, v: unknown, def: number, integer = false): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v))) {
    // Printed as every option message prints a bad value, whatever a JavaScript caller passed.
    throw new TypeError(`${name} must be a non-negative ${integer ? 'integer' : 'number'}, got ${quote(v)}`);
  }
  return v;
}

export function createRedlock(stores: readonly Store[], opts: RedlockOptions = {}): Redlock {
  // Checked as a JavaScript caller may pass it (Array.isArray would narrow `stores` to any[]).
  const given: unknown = stores;
  if (!Array.isArray(given) || given.length === 0) throw new TypeError('createRedlock needs a non-empty array of stores');
  if (!isObject(opts)) throw new TypeError('redlock options must be an object');
  const driftFactor = nonNegative('driftFactor', opts.driftFactor, 0.01);
  if (driftFactor >= 1) throw new TypeError('driftFactor must be less than 1');
  const retryCount = nonNegative('retryCount', opts.retryCount, 10, true);
  const retryDelayMs = nonNegative('retryDelayMs', opts.retryDelayMs, 200);
  const retryJitterMs = nonNegative('retryJitterMs', opts.retryJitterMs, 100);
  const fixedNodeTimeout = opts.nodeTimeoutMs === undefined ? undefined : nonNegative('nodeTimeoutMs', opts.nodeTimeoutMs, 0);
  const namespace = opts.namespace ?? 'default';
  validateScopePart(namespace, 'namespace');
  const random = opts.random ?? Math.random;
  const clock = resolveClock(opts.clock, undefined, '');
  const nodes = [...stores];
  const quorum = Math.floor(nodes.length / 2) + 1;
  const stats = { acquired: 0, waits: 0, timeouts: 0 };
  const drift = (ms: number) => Math.floor(ms * driftFactor) + 2;

  /** One round of one script on every node, each bounded. */
  const onAll = <T>(fn: (s: Store) => Promise<T>, timeoutMs: number) => Promise.all(nodes.map((s) => bounded(clock, () => fn(s), timeoutMs)));

  /** Releases on every node; a node whose acquire answers late is released once it does. */
  const releaseAll = async (pk: string, token: string, timeoutMs: number, late: Array<[Store, Promise<unknown>]> = []) => {
    for (const [s, p] of late) {
      p.then(
        () => s.eval(lockRelease, [pk], [token, pk]).catch(ignore),
        ignore,
      );
    }
    return onAll((s) => s.eval(lockRelease, [pk], [token, pk]), timeoutMs);
  };

  /** One Redlock attempt: the fencing token and the time the lease was counted from, or why not. */
  async function attempt(pk: string, token: string, ttlMs: number, nodeTimeoutMs: number) {
    const fence = siblingKey(pk, 'F');
    const started = clock.monotonic();
    const acquired = await onAll((s) => s.eval(lockAcquire, [pk, fence], [token, ttlMs]), nodeTimeoutMs);
    const granted: Store[] = [];
    const late: Array<[Store, Promise<unknown>]> = [];
    let unavailable = 0;
    let agreed = 0;
    acquired.forEach((r, i) => {
      if (r.ok) {
        // {1, fencing token} or {0, ms left}: integers from Lua, read as numbers whatever the store hands back.
        const [ok, n] = r.value as readonly ScriptReply[];
        if (ok === 1) {
          granted.push(nodes[i]!);
          agreed = Math.max(agreed, Number(n));
        }
      } else {
        if (isUnavailability(r.err)) unavailable++;
        if (r.late) late.push([nodes[i]!, r.late]);
      }
    });
    let confirmed = 0;
    if (granted.length >= quorum) {
      const raised = await Promise.all(granted.map((s) => bounded(clock, () => s.eval(fenceRaise, [pk, fence], [token, agreed]), nodeTimeoutMs)));
      confirmed = raised.filter((r) => r.ok && r.value === 1).length;
    }
    const elapsed = clock.monotonic() - started;
    if (confirmed >= quorum && elapsed + drift(ttlMs) < ttlMs) return { ok: true as const, fencingToken: agreed, started };
    await releaseAll(pk, token, nodeTimeoutMs, late);
    return { ok: false as const, unavailable };
  }

  async function lock(name: string, o: RedlockLockOptions | undefined, tryOnce: boolean): Promise<Lock> {
    validateKey(name, 'lock name');
    const r = resolveLockOptions(o, 'Redlock lock');
    const retries = tryOnce ? 0 : nonNegative('retryCount', o?.retryCount, retryCount, true);
    const waitMs = tryOnce || o?.waitMs === undefined ? Infinity : r.waitMs;
    if (o?.shared !== undefined && typeof o.shared !== 'boolean') throw new TypeError('shared must be a boolean');
    const pk = physicalKey({ namespace, user: null, shared: o?.shared === true }, 'L', name);
    const nodeTimeoutMs = fixedNodeTimeout ?? Math.min(500, Math.max(10, Math.floor(r.ttlMs / 10)));
    const token = newToken();
    const began = clock.monotonic();
    const signal = r.signal;
    let last: { unavailable: number } = { unavailable: 0 };
    for (let i = 0; ; i++) {
      if (signal?.aborted) throw abortedError(signal.reason, `waiting for lock ${JSON.stringify(name)}`);
      const a = await attempt(pk, token, r.ttlMs, nodeTimeoutMs);
      if (a.ok) {
        const holder = makeHolder(pk, token, nodeTimeoutMs);
        if (signal?.aborted) {
          await holder.release().catch(ignore);
          throw abortedError(signal.reason, `waiting for lock ${JSON.stringify(name)}`);
        }
        stats.acquired++;
        return new Lock({ name, fencingToken: a.fencingToken, holder, ttlMs: r.ttlMs, autoExtend: r.autoExtend, startedAt: a.started, clock, driftMs: drift });
      }
      last = a;
      const delay = retryDelayMs + random() * retryJitterMs;
      if (i >= retries || clock.monotonic() - began + delay > waitMs) break;
      if (i === 0) stats.waits++;
      await pause(clock, delay, signal, name);
    }
    // LK7: if a majority could not even be reached, say so: this is not contention.
    if (nodes.length - last.unavailable < quorum) {
      throw new StoreUnavailableError(`redlock: only ${nodes.length - last.unavailable} of ${nodes.length} servers reachable, ${quorum} needed, for lock ${JSON.stringify(name)}`, { lockName: name });
    }
    if (!tryOnce) stats.timeouts++;
    throw new LockTimeoutError(`redlock: lock ${JSON.stringify(name)} was not acquired on a majority (${quorum} of ${nodes.length}) after ${retries + 1} attempts`, { lockName: name });
  }

  function makeHolder(pk: string, token: string, nodeTimeoutMs: number): LockHolder {
    /** Succeeds on a majority: true; refused by too many: false; too many unreachable: throws. */
    const decide = (results: Array<NodeResult<unknown>>, what: string): boolean => {
      const yes = results.filter((x) => x.ok && x.value === 1).length;
      if (yes >= quorum) return true;
      const unreachable = results.filter((x) => !x.ok).length;
      if (yes + unreachable >= quorum) {
        throw new StoreUnavailableError(`redlock: ${what} confirmed by ${yes} of ${nodes.length} servers, ${unreachable} unreachable`);
      }
      return false;
    };
    return {
      release: async () => decide(await releaseAll(pk, token, nodeTimeoutMs), 'release'),
      extend: async (ms: number) => {
        const started = clock.monotonic();
        const results = await onAll((s) => s.eval(lockExtend, [pk], [token, ms]), nodeTimeoutMs);
        // A renewal that took most of the new lease is no renewal at all.
        return decide(results, 'extend') && clock.monotonic() - started + drift(ms) < ms;
      },
    };
  }

  return {
    stores: nodes,
    quorum,
    stats,
    lock: (name, o) => lock(name, o, false),
    tryLock: async (name, o) => {
      try {
        return await lock(name, o, true);
      } catch (err) {
        if (err instanceof LockTimeoutError) return null;
        throw err;
      }
    },
    withLock: async (name, fn, o) => runHolding(await lock(name, o, false), fn),
  };
}

function pause(clock: Clock, ms: number, signal: AbortSignal | undefined, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal === undefined) {
      clock.setTimeout(resolve, ms);
      return;
    }
    const onAbort = () => {
      timer.cancel();
      reject(abortedError(signal.reason, `waiting for lock ${JSON.stringify(name)}`));
    };
    const timer = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
