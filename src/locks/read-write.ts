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
import { Acquisition, strict, type LockContext } from './acquisition.js';
import { resolveLockOptions, runHolding, type Lock, type LockOptions, type ResolvedLockOptions } from './lock.js';
import { leaseExtend, leaseRelease, lockExtend, lockRelease, readAcquire, withdrawIntent, writeAcquire } from './scripts.js';

/** How long a waiting writer's intent lives without a refresh (it is refreshed at every try, <= 100 ms apart). */
const INTENT_MS = 2_000;

/** Per-call options of read() and write(): those of cache.lock, minus the scope (fixed by the lock). */
export type RwLockOptions = Omit<LockOptions, 'shared' | 'user' | 'waitReplicas' | 'waitTimeoutMs'>;

interface RwKeys {
  readers: string;
  writer: string;
  intents: string;
  fence: string;
  channel: string;
  /** All four keys, in the order the acquire scripts take them. */
  all: string[];
}

class ReadAcquisition extends Acquisition {
  protected override readonly operation: string = 'readLock';

  constructor(ctx: LockContext, name: string, readonly keys: RwKeys, o: ResolvedLockOptions) {
    super(ctx, name, keys.channel, o);
  }

  protected tryOnce(): Promise<unknown> {
    return strict(this.ctx, 'read lock acquire', () => this.store.eval(readAcquire, this.keys.all, [this.token, this.options.ttlMs]));
  }

  async release(): Promise<boolean> {
    // '1': only the last reader out wakes the waiters (writers).
    const k = this.keys;
    return (await strict(this.ctx, 'read lock release', () => this.store.eval(leaseRelease, [k.readers], [this.token, k.channel, '1']))) === 1;
  }

  async extend(ms: number): Promise<boolean> {
    return (await strict(this.ctx, 'read lock extend', () => this.store.eval(leaseExtend, [this.keys.readers], [this.token, ms]))) === 1;
  }
}

class WriteAcquisition extends Acquisition {
  protected override readonly operation: string = 'writeLock';

  constructor(ctx: LockContext, name: string, readonly keys: RwKeys, o: ResolvedLockOptions) {
    super(ctx, name, keys.channel, o);
  }

  protected tryOnce(waiting: boolean): Promise<unknown> {
    // Only a writer that is going to wait leaves an intent; a try-once never blocks readers.
    const intent = waiting || this.waitMs > 0 ? INTENT_MS : 0;
    return strict(this.ctx, 'write lock acquire', () => this.store.eval(writeAcquire, this.keys.all, [this.token, this.options.ttlMs, intent]));
  }

  async release(): Promise<boolean> {
    const k = this.keys;
    return (await strict(this.ctx, 'write lock release', () => this.store.eval(lockRelease, [k.writer], [this.token, k.channel]))) === 1;
  }

  async extend(ms: number): Promise<boolean> {
    return (await strict(this.ctx, 'write lock extend', () => this.store.eval(lockExtend, [this.keys.writer], [this.token, ms]))) === 1;
  }

  async giveUp(): Promise<void> {
    const k = this.keys;
    await strict(this.ctx, 'write intent withdraw', () => this.store.eval(withdrawIntent, [k.intents], [this.token, k.channel]));
  }
}

export class ReadWriteLock {
  readonly name: string;
  readonly #ctx: LockContext;
  readonly #keys: RwKeys;

  /** @internal Use cache.readWriteLock(). `pk` is the lock's physical key. */
  constructor(ctx: LockContext, pk: string, name: string) {
    this.#ctx = ctx;
    this.name = name;
    // `%` never appears unescaped in an escaped name (keys.ts), so these suffixes cannot collide
    // with another lock's key, and they keep the name's hash tag. The channel is namespaced as the
    // key is (LK6).
    const readers = `${pk}%r`;
    const writer = `${pk}%w`;
    const intents = `${pk}%i`;
    const fence = siblingKey(writer, 'F');
    this.#keys = { readers, writer, intents, fence, channel: `${pk}%rw`, all: [readers, writer, intents, fence] };
  }

  /** Acquires a shared (read) lock. Waits while a writer holds the lock or waits for it. */
  read(opts?: RwLockOptions): Promise<Lock> {
    return new ReadAcquisition(this.#ctx, this.name, this.#keys, resolveLockOptions(opts, 'read-write lock')).acquire();
  }

  /** Acquires the exclusive (write) lock, once no reader and no other writer holds it. */
  write(opts?: RwLockOptions): Promise<Lock> {
    return new WriteAcquisition(this.#ctx, this.name, this.#keys, resolveLockOptions(opts, 'read-write lock')).acquire();
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
