/**
 * Same-tick coalescing of the Redis store's reads and writes: what makes many concurrent callers
 * cheap.
 *
 *  - Reads: `get` calls made in one tick become one MGET (one per slot on a cluster); a lone `get`
 *    is a plain GET.
 *  - Writes (standalone and Sentinel): `set` calls made in one tick are sent together, in call
 *    order, in one pipeline (one socket write), with each run of plain sets (no TTL, no NX) as one
 *    MSET. A command that touches a key of a held-back get or set sends that batch first
 *    (Connection.exec; a get sends held-back sets of its key first; held-back gets of a key go
 *    before the sets or the command that write it), so no command overtakes one made before it on
 *    the same key: a get never sees a write made after it (the embedded store's order). A tick of
 *    gets and sets, even of the same keys, still makes one MGET and one pipeline of sets. On a cluster the keys of one tick sit in about
 *    as many slots as there are keys: each set is sent at once.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import { StoreUnavailableError } from '../../errors.js';
import { slotGroups, tryAgain } from './cluster.js';
import type { Connection, PendingWrites, Touches } from './connection.js';

// ---------------------------------------------------------------------------------------------
// Reads

/**
 * What a read batch's own commands touch, for exec: nothing. A set of one of its keys made before
 * the get was sent first when the get joined (ReadBatch.get); one made after it must not overtake it.
 */
const OWN_READS: Touches = { keys: [], readOnly: true };

interface GetWaiter {
  resolve: (v: Buffer | null) => void;
  reject: (e: unknown) => void;
  /** Other callers of the same key in this batch. */
  next: GetWaiter | null;
}

function settleWaiters(w: GetWaiter, v: Buffer | null): void {
  w.resolve(v);
  // Callers of a duplicated key each get their own bytes: one caller mutating its Buffer must
  // not change what another one decodes.
  for (let x = w.next; x !== null; x = x.next) x.resolve(v === null ? null : Buffer.from(v));
}

function failWaiters(w: GetWaiter, err: unknown): void {
  for (let x: GetWaiter | null = w; x !== null; x = x.next) x.reject(err);
}

/** The `get` calls of one tick, sent together when the tick ends or before any other command. */
export class ReadBatch implements PendingWrites {
  private gets: Map<string, GetWaiter> | null = null;

  constructor(private readonly conn: Connection) {}

  get(key: string): Promise<Buffer | null> {
    return new Promise<Buffer | null>((resolve, reject) => {
      // A set of this key made earlier in the tick goes first.
      const writes = this.conn.pendingWrites;
      if (writes?.holds(key) === true) writes.flush();
      let batch = this.gets;
      if (batch === null) {
        batch = this.gets = new Map();
        this.conn.pendingReads = this;
        // nextTick, not a microtask: callers that arrive through promise chains resolved in the
        // same microtask drain (a previous batch's readers, say) still join this batch.
        process.nextTick(this.flush);
      }
      batch.set(key, { resolve, reject, next: batch.get(key) ?? null });
    });
  }

  holds(key: string): boolean {
    return this.gets?.has(key) === true;
  }

  readonly flush = (): void => {
    const batch = this.gets;
    if (batch === null) return;
    this.gets = null;
    const conn = this.conn;
    if (conn.pendingReads === this) conn.pendingReads = null;
    if (batch.size === 1) {
      for (const [key, w] of batch) {
        conn.exec('GET', () => conn.client.getBuffer(key), OWN_READS).then(
          (v) => settleWaiters(w, v),
          (e: unknown) => failWaiters(w, e),
        );
      }
      return;
    }
    const keys = [...batch.keys()];
    const waiters = [...batch.values()];
    for (const group of slotGroups(keys, conn.isCluster)) {
      if (group.length === 1) {
        const i = group[0]!;
        conn.exec('GET', () => conn.client.getBuffer(keys[i]!), OWN_READS).then(
          (v) => settleWaiters(waiters[i]!, v),
          (e: unknown) => failWaiters(waiters[i]!, e),
        );
        continue;
      }
      const groupKeys = group.map((i) => keys[i]!);
      conn.exec('MGET', () => tryAgain(conn, () => conn.client.mgetBuffer(groupKeys)), OWN_READS).then(
        (values) => {
          for (let j = 0; j < group.length; j++) settleWaiters(waiters[group[j]!]!, values[j] ?? null);
        },
        (e: unknown) => {
          for (const i of group) failWaiters(waiters[i]!, e);
        },
      );
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Writes

export interface SetWaiter {
  key: string;
  value: Buffer;
  /** Whole milliseconds, or null: no TTL. */
  px: number | null;
  nx: boolean;
  resolve: (set: boolean) => void;
  reject: (e: unknown) => void;
}

/** One SET as its caller asked for it, on a connection or a pipeline. Its reply is null when NX found the key. */
function sendSet(c: Redis | ChainableCommander, w: SetWaiter): unknown {
  if (w.px === null) return w.nx ? c.set(w.key, w.value, 'NX') : c.set(w.key, w.value);
  return w.nx ? c.set(w.key, w.value, 'PX', w.px, 'NX') : c.set(w.key, w.value, 'PX', w.px);
}

/** A set that MSET can carry: no TTL (MSET, like SET, clears an existing one) and not NX. */
function plainSet(w: SetWaiter): boolean {
  return w.px === null && !w.nx;
}

/** The `set` calls of one tick, sent together when the tick ends or before any other command. */
export class WriteBatch implements PendingWrites {
  private sets: SetWaiter[] | null = null;
  /** The keys of `sets`. */
  private readonly keys = new Set<string>();

  constructor(private readonly conn: Connection) {}

  add(w: SetWaiter): void {
    // A get of this key made earlier in the tick must go first: exec sees to it when these sets
    // are sent (their keys are its touches), so the tick's gets still make one MGET.
    // On a cluster the keys of one tick sit in about as many slots as there are keys: send each now.
    if (this.conn.isCluster) {
      this.sendSet(w);
      return;
    }
    let batch = this.sets;
    if (batch === null) {
      batch = this.sets = [];
      this.conn.pendingWrites = this;
      process.nextTick(this.flush);
    }
    batch.push(w);
    this.keys.add(w.key);
  }

  holds(key: string): boolean {
    return this.sets !== null && this.keys.has(key);
  }

  /** One set on its own, as a SET command. */
  private sendSet(w: SetWaiter): void {
    const conn = this.conn;
    conn.exec('SET', () => sendSet(conn.client, w) as Promise<unknown>, { keys: w.key }).then((r) => w.resolve(r !== null), w.reject);
  }

  /** Sends the sets made in this tick: a lone one as a SET, more as one pipeline (see the header). */
  readonly flush = (): void => {
    const batch = this.sets;
    if (batch === null) return;
    this.sets = null;
    this.keys.clear();
    const conn = this.conn;
    if (conn.pendingWrites === this) conn.pendingWrites = null;
    if (batch.length === 1) {
      this.sendSet(batch[0]!);
      return;
    }
    // Which pipeline command answers for each set: a run of plain sets shares one MSET.
    const commandOf = new Array<number>(batch.length);
    conn.exec('SET (batch)', () => {
      const pipeline = conn.client.pipeline();
      let commands = 0;
      for (let i = 0; i < batch.length; ) {
        let j = i;
        while (j < batch.length && plainSet(batch[j]!)) j++;
        if (j - i >= 2) {
          const args: Array<string | Buffer> = [];
          for (let k = i; k < j; k++) {
            args.push(batch[k]!.key, batch[k]!.value);
            commandOf[k] = commands;
          }
          pipeline.mset(...args);
          commands++;
          i = j;
        } else {
          sendSet(pipeline, batch[i]!);
          commandOf[i] = commands++;
          i++;
        }
      }
      return pipeline.exec();
    }, { keys: batch.map((w) => w.key) }).then(
      (results) => {
        if (results === null) {
          const err = new StoreUnavailableError('redis pipeline was aborted');
          for (const w of batch) w.reject(err);
          return;
        }
        for (let i = 0; i < batch.length; i++) {
          const [err, reply] = results[commandOf[i]!]!;
          if (err) batch[i]!.reject(conn.mapError(err));
          else batch[i]!.resolve(reply !== null);
        }
      },
      (e: unknown) => {
        for (const w of batch) w.reject(e);
      },
    );
  };
}
