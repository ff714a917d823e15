/**
 * A read-write lock (LK8): many readers or one writer, with writer preference.
 *
 * Readers are leases in a sorted set (token -> lease end), so a crashed reader's share returns
 * after its lease; the writer is a plain string lock with PX, as a mutex. A writer that has to wait
 * leaves an *intent* (another sorted set, entries living `INTENT_MS` and refreshed on every try):
 * while any intent is alive no new reader is admitted, so the readers already in drain out and the
 * writer gets in, however steady the stream of readers. The intent of a writer that gave up is
 * withdrawn at once; that of a writer that died runs out.
 *
 * Write grants take fencing tokens from the lock's counter (LK3). A read lock's `fencingToken` is
 * the token of the last write grant, so a reader can tell which write generation it saw.
 */
import { siblingKey } from '../keys.js';
import { Lock, newToken, resolveLockOptions, runHolding, type LockOptions } from './lock.js';
import { attemptOrClean, parseAttempt, strict, type LockContext } from './mutex.js';
import { leaseExtend, leaseRelease, lockExtend, lockRelease, readAcquire, withdrawIntent, writeAcquire } from './scripts.js';
import { acquireWithWait } from './wait.js';

/** How long a waiting writer's intent lives without a refresh (it is refreshed at every try, <= 100 ms apart). */
const INTENT_MS = 2_000;

/** Per-call options of read() and write(): those of cache.lock, minus the scope (fixed by the lock). */
export type RwLockOptions = Omit<LockOptions, 'shared' | 'user'>;

export class ReadWriteLock {
  readonly name: string;
  readonly #ctx: LockContext;
  readonly #readers: string;
  readonly #writer: string;
  readonly #intents: string;
  readonly #fence: string;
  /** The channel: the base key, so it is namespaced like the lock (LK6). */
  readonly #channel: string;

  /** @internal Use cache.readWriteLock(). `pk` is the lock's physical key. */
  constructor(ctx: LockContext, pk: string, name: string) {
    this.#ctx = ctx;
    this.name = name;
    // `%` never appears unescaped in an escaped name (keys.ts), so these suffixes cannot collide
    // with another lock's key, and they keep the name's hash tag.
    this.#readers = `${pk}%r`;
    this.#writer = `${pk}%w`;
    this.#intents = `${pk}%i`;
    this.#fence = siblingKey(this.#writer, 'F');
    this.#channel = `${pk}%rw`;
  }

  /** Acquires a shared (read) lock. Waits while a writer holds the lock or waits for it. */
  async read(opts?: RwLockOptions): Promise<Lock> {
    const o = resolveLockOptions(opts);
    const ctx = this.#ctx;
    const { store } = ctx;
    const token = newToken();
    const keys = [this.#readers, this.#writer, this.#intents, this.#fence];
    let startedAt = 0;
    const holder = {
      release: async () =>
        (await strict(ctx, 'read lock release', () => store.eval(leaseRelease, [this.#readers], [token, this.#channel, '1']))) === 1,
      extend: async (ms: number) =>
        (await strict(ctx, 'read lock extend', () => store.eval(leaseExtend, [this.#readers], [token, ms]))) === 1,
    };
    const fencingToken = await acquireWithWait<number>({
      name: this.name,
      store,
      channel: this.#channel,
      waitMs: o.waitMs,
      signal: o.signal,
      random: this.#ctx.random,
      stats: this.#ctx.stats.locks,
      attempt: async () => {
        startedAt = performance.now();
        return parseAttempt(await attemptOrClean(() => strict(ctx, 'read lock acquire', () => store.eval(readAcquire, keys, [token, o.ttlMs])), holder.release));
      },
      undo: async () => {
        await holder.release();
      },
    });
    return new Lock({ name: this.name, fencingToken, holder, ttlMs: o.ttlMs, autoExtend: o.autoExtend, startedAt });
  }

  /** Acquires the exclusive (write) lock, once no reader and no other writer holds it. */
  async write(opts?: RwLockOptions): Promise<Lock> {
    const o = resolveLockOptions(opts);
    const ctx = this.#ctx;
    const { store } = ctx;
    const token = newToken();
    const keys = [this.#readers, this.#writer, this.#intents, this.#fence];
    let startedAt = 0;
    const holder = {
      release: async () =>
        (await strict(ctx, 'write lock release', () => store.eval(lockRelease, [this.#writer], [token, this.#channel]))) === 1,
      extend: async (ms: number) =>
        (await strict(ctx, 'write lock extend', () => store.eval(lockExtend, [this.#writer], [token, ms]))) === 1,
    };
    const fencingToken = await acquireWithWait<number>({
      name: this.name,
      store,
      channel: this.#channel,
      waitMs: o.waitMs,
      signal: o.signal,
      random: this.#ctx.random,
      stats: this.#ctx.stats.locks,
      attempt: async (waiting) => {
        startedAt = performance.now();
        // Only a writer that is going to wait leaves an intent; a try-once never blocks readers.
        const intent = waiting || o.waitMs > 0 ? INTENT_MS : 0;
        return parseAttempt(await attemptOrClean(() => strict(ctx, 'write lock acquire', () => store.eval(writeAcquire, keys, [token, o.ttlMs, intent])), holder.release));
      },
      undo: async () => {
        await holder.release();
      },
      giveUp: async () => {
        await strict(ctx, 'write intent withdraw', () => store.eval(withdrawIntent, [this.#intents], [token, this.#channel]));
      },
    });
    return new Lock({ name: this.name, fencingToken, holder, ttlMs: o.ttlMs, autoExtend: o.autoExtend, startedAt });
  }

  /** Runs `fn` under a read lock and releases it. */
  async withRead<T>(fn: (lock: Lock) => T | Promise<T>, opts?: RwLockOptions): Promise<T> {
    return runHolding(await this.read(opts), fn);
  }

  /** Runs `fn` under the write lock and releases it. */
  async withWrite<T>(fn: (lock: Lock) => T | Promise<T>, opts?: RwLockOptions): Promise<T> {
    return runHolding(await this.write(opts), fn);
  }
}
