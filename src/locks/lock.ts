/**
 * The handle of one lock acquisition, shared by every kind of lock (mutex, both sides of a
 * read-write lock, semaphore permits, Redlock).
 *
 * The random token that proves ownership lives here, in the handle of one acquisition, never on a
 * shared object: two acquisitions of the same name in one process are two holders, and neither can
 * release the other's lock.
 *
 * What a holder must understand (the failure timeline):
 *  1. A lock is a lease. It is granted for `ttlMs` and the store forgets it after that, whether or
 *     not the holder is done. `autoExtend` (the default) renews it every `ttlMs/3`.
 *  2. A process can stop for longer than its lease (GC pause, SIGSTOP, a VM migration, a laptop
 *     lid) without knowing it. Its renewal timer does not run either. When it wakes up, another
 *     process may hold the lock, and the paused one will go on as if it still held it, until its
 *     next renewal fails and `lock.signal` aborts.
 *  3. So `lock.signal` tells you the lock is lost *at the latest* when the next renewal fails (or
 *     the lease runs out by the local clock), never before you act. Check it between steps, but do
 *     not rely on it for safety.
 *  4. Safety comes from the fencing token: every exclusive grant of a name gets a larger
 *     `fencingToken`. Pass it with every write to the resource the lock protects and have the
 *     resource refuse a token smaller than the largest it has seen (a `WHERE fence < $token` in
 *     SQL, a conditional put). The paused holder's late write then carries an old token and is
 *     refused.
 */
import { LockLostError, LockNotOwnedError } from '../errors.js';
import { ignore } from '../ignore.js';
import { isObject } from '../input.js';
import { DEFAULTS } from '../defaults.js';
import { systemClock, type Clock, type Timer } from '../clock.js';
import { newToken } from '../tokens.js';
import { checkOptionNames, quote } from '../options-check.js';

export { newToken };

// Node 20.4+ has it; older runtimes get a well-known name so `await using` works after transpiling.
(Symbol as { asyncDispose?: symbol }).asyncDispose ??= Symbol('Symbol.asyncDispose');

export interface LockOptions {
  /** Lease in ms: the store drops the lock this long after the last grant or renewal. Default 30_000. */
  ttlMs?: number | undefined;
  /** How long to wait for the lock. Default 10_000; `0`: try once; `Infinity`: until granted or aborted. */
  waitMs?: number | undefined;
  /** Renew the lease every `ttlMs/3` while held (LK4). Default true. */
  autoExtend?: boolean | undefined;
  /** A lock outside every namespace (LK6, K1). Default false. */
  shared?: boolean | undefined;
  /** Scope the lock's name to a user inside the namespace; `true`: the context's user (K2). */
  user?: string | true | undefined;
  /** Aborts a wait (E_ABORTED). It does not release a lock already granted. */
  signal?: AbortSignal | undefined;
  // --- replication (issue 6) ---------------------------------------------------------------
  /**
   * After the grant, `WAIT waitReplicas waitTimeoutMs` on the master that holds the lock: the
   * grant is only returned once that many replicas have acknowledged it. If fewer do in time, the
   * lock is released and acquiring fails with StoreUnavailableError (fail closed, LK7). Narrows,
   * but does not close, the window in which a fail-over loses a fresh grant (README). Redis
   * stores only (TypeError on the embedded store); mutex locks (lock, tryLock, withLock) only.
   * Default 0: no WAIT.
   */
  waitReplicas?: number | undefined;
  /** How long WAIT may take, in ms; keep it below commandTimeoutMs (WAIT holds the connection meanwhile). Default 250. */
  waitTimeoutMs?: number | undefined;
}

const LOCK_DEFAULTS = DEFAULTS.lock;

export interface ResolvedLockOptions {
  ttlMs: number;
  waitMs: number;
  autoExtend: boolean;
  signal: AbortSignal | undefined;
  /** 0: no WAIT after the grant. */
  waitReplicas?: number;
  waitTimeoutMs?: number;
}

/**
 * Validates the lock options before any I/O (TypeError naming the option, C6). `kind` names a lock
 * other than the mutex (read-write lock, semaphore, Redlock): those refuse `waitReplicas` rather
 * than ignore it, since a caller who asked for replica acknowledgement must not silently go without.
 */
export function resolveLockOptions(opts: LockOptions | undefined, kind?: string): ResolvedLockOptions {
  if (opts !== undefined && !isObject(opts)) throw new TypeError('lock options must be an object');
  if (kind !== undefined && (opts?.waitReplicas !== undefined || opts?.waitTimeoutMs !== undefined)) {
    throw new TypeError(`waitReplicas and waitTimeoutMs apply to lock, tryLock and withLock, not to a ${kind}`);
  }
  checkOptionNames(kind === undefined ? 'lock' : kind === 'read-write lock' ? 'read-write lock' : kind === 'semaphore' ? 'permit' : 'Redlock lock', opts);
  const ttlMs = opts?.ttlMs ?? LOCK_DEFAULTS.ttlMs;
  if (typeof ttlMs !== 'number' || !Number.isInteger(ttlMs) || ttlMs < 3) {
    throw new TypeError(`ttlMs must be an integer number of milliseconds >= 3, got ${quote(ttlMs)}`);
  }
  const waitMs = opts?.waitMs ?? LOCK_DEFAULTS.waitMs;
  if (typeof waitMs !== 'number' || Number.isNaN(waitMs) || waitMs < 0) {
    throw new TypeError(`waitMs must be a non-negative number of milliseconds (or Infinity), got ${quote(waitMs)}`);
  }
  const autoExtend = opts?.autoExtend ?? LOCK_DEFAULTS.autoExtend;
  if (typeof autoExtend !== 'boolean') throw new TypeError('autoExtend must be a boolean');
  const signal = opts?.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal');
  const waitReplicas = opts?.waitReplicas ?? 0;
  if (typeof waitReplicas !== 'number' || !Number.isInteger(waitReplicas) || waitReplicas < 0) {
    throw new TypeError(`waitReplicas must be a non-negative integer, got ${quote(waitReplicas)}`);
  }
  const waitTimeoutMs = opts?.waitTimeoutMs ?? DEFAULTS.lockWaitTimeoutMs;
  if (typeof waitTimeoutMs !== 'number' || !Number.isInteger(waitTimeoutMs) || waitTimeoutMs < 1) {
    throw new TypeError(`waitTimeoutMs must be a positive integer number of milliseconds, got ${quote(waitTimeoutMs)}`);
  }
  if (waitReplicas === 0) return { ttlMs, waitMs, autoExtend, signal };
  return { ttlMs, waitMs, autoExtend, signal, waitReplicas, waitTimeoutMs };
}

/** What a Lock needs from the kind of lock behind it; each call is one atomic compare-and-act. */
export interface LockHolder {
  /** Resolves true if released, false if this token no longer held the lock. */
  release(): Promise<boolean>;
  /** Sets the lease to `ms` from now; resolves false if this token no longer holds the lock. */
  extend(ms: number): Promise<boolean>;
}

export interface LockInit {
  name: string;
  fencingToken: number;
  holder: LockHolder;
  ttlMs: number;
  autoExtend: boolean;
  /** `clock.monotonic()` taken before the acquire was sent: the lease is counted from there. */
  startedAt: number;
  /** Time for the lease's validity and renewals. Default: the system clock. */
  clock?: Clock;
  /** Clock drift allowance for a lease of `ms` (Redlock's drift factor). Default 1% + 2 ms. */
  driftMs?: (ms: number) => number;
  /** The locks a cache holds (A4): the lock is in it from its grant until it is released or lost. */
  heldBy?: Set<Lock>;
}

/**
 * A4: releases every lock in `held` (each release bounded by the store's deadline), stops their
 * renewals and aborts their signals. Failures are ignored: a lock that could not be released runs
 * out with its lease.
 */
export async function releaseHeld(held: Set<Lock>): Promise<void> {
  const locks = [...held];
  held.clear();
  await Promise.all(locks.map((l) => l.closeHeld()));
}

const defaultDrift = (ms: number): number => Math.floor(ms * 0.01) + 2;

export class Lock implements AsyncDisposable {
  /** The lock's name as the caller wrote it. */
  readonly name: string;
  /**
   * Larger for every exclusive grant of this name (LK3); pass it with every write the lock
   * protects and have the resource refuse one smaller than the largest it has seen. For a read
   * lock: the token of the last write grant (0 if none yet).
   */
  readonly fencingToken: number;
  readonly #holder: LockHolder;
  readonly #drift: (ms: number) => number;
  readonly #autoExtend: boolean;
  // Made on first use of `signal` (most locks are released without anyone asking for it).
  #controller: AbortController | undefined;
  #lostReason: LockLostError | undefined;
  #leaseMs: number;
  #validUntil = 0;
  #renewAt = 0;
  #renewing = false;
  #released = false;
  #releasing: Promise<void> | null = null;
  /** One timer at a time: the next renewal, or (without autoExtend, or while renewing) the lease's end. */
  #timer: Timer | undefined;
  readonly #clock: Clock;
  readonly #heldBy: Set<Lock> | undefined;

  /** @internal Locks are made by cache.lock() and friends. */
  constructor(init: LockInit) {
    this.#heldBy = init.heldBy;
    this.#heldBy?.add(this);
    this.name = init.name;
    this.fencingToken = init.fencingToken;
    this.#holder = init.holder;
    this.#leaseMs = init.ttlMs;
    this.#autoExtend = init.autoExtend;
    this.#drift = init.driftMs ?? defaultDrift;
    this.#clock = init.clock ?? systemClock;
    this.#setValidity(init.startedAt, init.ttlMs);
    this.#arm();
  }

  /**
   * Aborts (with LockLostError as its reason) when the lock is known to be lost: a renewal was
   * refused or failed, or the lease ran out by the local clock. See the header for why it can
   * only ever tell you late.
   */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#lostReason !== undefined) this.#controller.abort(this.#lostReason);
    }
    return this.#controller.signal;
  }

  /** True until released, known lost, or past the lease by the local clock. */
  get held(): boolean {
    return !this.#released && this.#lostReason === undefined && this.#clock.monotonic() < this.#validUntil;
  }

  /** Milliseconds the lease is known to have left, by the local clock (with drift taken off). */
  get validForMs(): number {
    return this.held ? Math.max(0, Math.floor(this.#validUntil - this.#clock.monotonic())) : 0;
  }

  /**
   * Releases the lock (one round trip). A second call is a no-op. Throws LockNotOwnedError if the
   * lock was no longer ours (the lease ran out and perhaps someone else holds it now: their lock
   * is left untouched), and StoreUnavailableError if the store could not be reached (the call may
   * then be retried; otherwise the lease runs out on its own).
   */
  release(): Promise<void> {
    if (this.#released) return Promise.resolve();
    if (this.#releasing !== null) return this.#releasing;
    this.#stopTimer();
    const p = this.#holder.release().then(
      (ok) => {
        this.#released = true;
        this.#heldBy?.delete(this);
        if (!ok) {
          const err = new LockNotOwnedError(`lock ${JSON.stringify(this.name)} was no longer held when released`, { lockName: this.name });
          this.#lose(err);
          throw err;
        }
      },
      (err: unknown) => {
        this.#releasing = null;
        throw err;
      },
    );
    this.#releasing = p;
    return p;
  }

  /**
   * Sets the lease to `ms` from now (default: the lock's current lease), and makes later automatic
   * renewals use it. Throws LockNotOwnedError if the lock is no longer ours.
   */
  async extend(ms: number = this.#leaseMs): Promise<void> {
    if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 3) {
      throw new TypeError(`ms must be an integer number of milliseconds >= 3, got ${quote(ms)}`);
    }
    if (this.#released || this.#releasing !== null) {
      throw new LockNotOwnedError(`lock ${JSON.stringify(this.name)} was released`, { lockName: this.name });
    }
    const sent = this.#clock.monotonic();
    const ok = await this.#holder.extend(ms);
    if (!ok) {
      const err = new LockNotOwnedError(`lock ${JSON.stringify(this.name)} is no longer held`, { lockName: this.name });
      this.#lose(err);
      throw err;
    }
    // Released, releasing or lost while the extend was in flight: TypeScript keeps the narrowing
    // of the check before the await, but these fields change under it.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
    if (this.#released || this.#releasing !== null || this.#lostReason !== undefined) return;
    this.#leaseMs = ms;
    this.#setValidity(sent, ms);
    this.#arm();
  }

  /** @internal A4, at the cache's close(): release (errors ignored), stop renewing, abort `signal`. */
  async closeHeld(): Promise<void> {
    try {
      await this.release();
    } catch {
      // Not ours any more, or the store is away: the lease runs out by itself.
    }
    this.#lose(new LockLostError(`lock ${JSON.stringify(this.name)} was released by cache.close()`, { lockName: this.name }));
  }

  /** `await using lock = await cache.lock(...)`: released at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  #setValidity(sentAt: number, ms: number): void {
    this.#validUntil = sentAt + ms - this.#drift(ms);
    this.#renewAt = sentAt + Math.max(1, Math.floor(ms / 3));
  }

  #arm(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#released || this.#releasing !== null || this.#lostReason !== undefined) return;
    const at = this.#autoExtend && !this.#renewing ? this.#renewAt : this.#validUntil;
    this.#timer = this.#clock.setTimeout(Lock.#fire, Math.max(0, at - this.#clock.monotonic()), true, this);
  }

  // A static function and the lock as the timer's argument: no closure made per lock.
  static #fire(lock: Lock): void {
    lock.#onTimer();
  }

  #onTimer(): void {
    this.#timer = undefined;
    // After a pause (SIGSTOP, a long GC) the lease may be over before the renewal was due.
    if (this.#clock.monotonic() >= this.#validUntil) {
      this.#lose(new LockLostError(`the lease of lock ${JSON.stringify(this.name)} ran out`, { lockName: this.name }));
    } else if (this.#autoExtend && !this.#renewing) {
      void this.#renew();
    } else {
      this.#arm();
    }
  }

  async #renew(): Promise<void> {
    const ms = this.#leaseMs;
    const sent = this.#clock.monotonic();
    this.#renewing = true;
    this.#arm(); // while the renewal is out: the lease's end
    let ok: boolean;
    try {
      ok = await this.#holder.extend(ms);
    } catch (cause) {
      // LK4: a renewal that fails loses the lock. The store may still hold it for us, but nobody
      // can tell until it answers again, and a store that restarted empty hands it out at once.
      this.#renewing = false;
      this.#lose(new LockLostError(`lock ${JSON.stringify(this.name)} could not be renewed`, { lockName: this.name, cause }));
      return;
    }
    this.#renewing = false;
    if (this.#released || this.#releasing !== null || this.#lostReason !== undefined) return;
    if (!ok) {
      this.#lose(new LockLostError(`lock ${JSON.stringify(this.name)} was lost: another holder or no holder`, {
        lockName: this.name,
        cause: new LockNotOwnedError('renewal refused', { lockName: this.name }),
      }));
      return;
    }
    if (ms === this.#leaseMs) this.#setValidity(sent, ms);
    this.#arm();
  }

  #lose(reason: Error): void {
    this.#stopTimer();
    this.#heldBy?.delete(this);
    if (this.#lostReason !== undefined) return;
    this.#lostReason = reason instanceof LockLostError
      ? reason
      : new LockLostError(reason.message, { lockName: this.name, cause: reason });
    this.#controller?.abort(this.#lostReason);
  }

  #stopTimer(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }
}

/** Runs `fn` holding `lock`, then releases it; an error from `fn` wins over one from the release. */
export async function runHolding<T>(lock: Lock, fn: (lock: Lock) => T | Promise<T>): Promise<T> {
  let result: T;
  try {
    result = await fn(lock);
  } catch (err) {
    await lock.release().catch(ignore);
    throw err;
  }
  await lock.release();
  return result;
}
