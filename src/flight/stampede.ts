/**
 * Stampede protection across processes (S5): concurrent misses of one key in many processes run
 * the generator once per lease.
 *
 * In one process, single flight (S4) comes first: only one caller per key gets here. Then:
 *
 *  1. claim (one atomic script): if the value is there, read it; else take the lease
 *     (`SET <lease> <token> NX PX leaseMs`, the lease key being the value key's sibling in space
 *     `S`, so one slot); else learn how long the current holder's lease has left.
 *  2. The holder runs the generator, writes the value, then releases the lease (compare-token
 *     delete) and, if a waiter marked the lease, publishes "landed" (the value's physical key) on
 *     the namespace's channel (`lr:<ns>:landed`, under the tenant prefix, so a per-tenant ACL
 *     covers it: K5). Release and publish are one script; the value is written first, so a waiter
 *     woken by the message, or one that finds the lease gone, always finds the value.
 *  3. Waiters join the channel (one subscription per namespace per process, fanned out by key to
 *     the local waiters), wait for the subscription to be active, claim again (the value may have
 *     landed meanwhile), then sleep until woken or the next poll: 50–100 ms, jittered with
 *     `options.random` so processes do not poll in step, and never past the holder's lease. A
 *     woken or polling waiter claims again: it finds the value, or the lease gone (the holder died:
 *     it takes the lease and computes), or a new holder (it waits for that one).
 *
 * Bounds: a waiter never waits more than 2 × leaseMs in all (time for a dead holder's lease to run
 * out and for its successor to finish); past that it computes without a lease. A generator slower
 * than leaseMs loses its lease and a second process may compute too (S5: once *per lease*).
 *
 * Failures (F2): if the store is unavailable for the claim (or the cache call already met an
 * unavailable store), the generator runs without a lease and its result is not written (the write
 * would only wait on the dead store again); in 'throw' mode the claim's error is thrown. A
 * generator that throws or returns `undefined` releases the lease at once, so waiters take over
 * rather than wait it out.
 */
import { ClosedError, isUnavailability } from '../errors.js';
import type { CacheCore } from '../cache.js';
import { siblingKey } from '../keys.js';
import { newToken } from '../locks/lock.js';
import type { Script, ScriptReply, Store } from '../stores/store.js';

/** Polling bounds while waiting for a holder (as lock waits, LK5). */
const POLL_MIN_MS = 50;
const POLL_MAX_MS = 100;

/**
 * Takes the lease unless the value is there. A caller that finds the lease held marks it as
 * waited on (one byte appended to the holder's token, TTL kept), so the holder publishes "landed"
 * only when someone listens: an uncontended miss costs no pub/sub traffic at all.
 *   KEYS[1]  the value key, KEYS[2]  the lease key (its sibling, same slot)
 *   ARGV[1]  token, ARGV[2]  lease ms, ARGV[3]  '1': answer "present" if the value key exists;
 *            '0': ignore the value (it is there but stale, and we mean to refresh it)
 *   reply    {1}: the value is there; {2}: the lease is ours; {0, pttl}: another holds it (pttl ms left)
 */
export const claimLease: Script = {
  name: 'stampede-claim',
  lua: `
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return {1} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
local held = redis.call('GET', KEYS[2])
if #held == #ARGV[1] then redis.call('SETRANGE', KEYS[2], #held, 'w') end
return {0, redis.call('PTTL', KEYS[2])}`,
  local(data, keys, args) {
    if (String(args[2]) === '1' && data.exists(keys[0]!)) return [1];
    const lease = keys[1]!;
    const token = String(args[0]);
    const held = data.get(lease);
    if (held === null) {
      data.set(lease, Buffer.from(token), Number(args[1]));
      return [2];
    }
    if (held.length === Buffer.byteLength(token)) data.set(lease, Buffer.concat([held, Buffer.from('w')]), 'keep');
    return [0, data.pttl(lease)];
  },
};

/**
 * Ends a lease and, if anyone waited on it, tells them the value landed.
 *   KEYS[1]  the lease key
 *   ARGV[1]  token, ARGV[2]  channel, ARGV[3]  message (the value's physical key)
 *   reply    1 if the lease was still ours and is deleted, else 0. The message is published if the
 *            lease was marked as waited on, and also when it was no longer ours (we cannot know).
 */
export const releaseLease: Script = {
  name: 'stampede-release',
  lua: `
local held = redis.call('GET', KEYS[1])
local mine = 0
local waited = 1
if held and string.sub(held, 1, #ARGV[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  mine = 1
  if #held == #ARGV[1] then waited = 0 end
end
if waited == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return mine`,
  local(data, keys, args) {
    const lease = keys[0]!;
    const token = Buffer.from(String(args[0]));
    const held = data.get(lease);
    let mine = 0;
    let waited = true;
    if (held !== null && held.length >= token.length && held.subarray(0, token.length).equals(token)) {
      data.del(lease);
      mine = 1;
      waited = held.length > token.length;
    }
    if (waited) data.publish(String(args[1]), Buffer.isBuffer(args[2]) ? args[2] : Buffer.from(String(args[2])));
    return mine;
  },
};

/** The "landed" channel of the namespace (or shared space) a physical key belongs to. */
export function landedChannel(physical: string): string {
  return physical.slice(0, physical.indexOf('{')) + 'landed';
}

/** One cache miss to resolve, as the caller (getValue, memoize) knows how to. */
export interface Load<T> {
  /** The value's physical key. */
  readonly pk: string;
  /** Reads the value again (not counted as a hit or miss): null when absent or logically expired. */
  read(): Promise<{ value: unknown } | null>;
  /** Runs the generator (and counts the run). */
  generate(): Promise<T>;
  /** Writes the generated value; `deltaMs` is how long the generator ran (S6). */
  fill(value: T, deltaMs: number): Promise<void>;
}

type Claim = { kind: 'present' } | { kind: 'leased' } | { kind: 'held'; pttl: number } | { kind: 'down' };

interface Channel {
  readonly ready: Promise<boolean>;
  readonly waiters: Map<string, Set<() => void>>;
  unsubscribe: (() => Promise<void>) | null;
}

/**
 * The "landed" subscriptions of one cache: one per namespace channel, made the first time a process
 * waits on that namespace and kept until the cache closes, fanning each message out to the local
 * waiters of that key.
 */
class LandedHub {
  readonly #store: Store;
  readonly #channels = new Map<string, Channel>();

  constructor(store: Store) {
    this.#store = store;
  }

  join(channel: string, pk: string, wake: () => void): { ready: Promise<boolean>; leave: () => void } {
    let ch = this.#channels.get(channel);
    if (ch === undefined) {
      const created: Channel = { ready: Promise.resolve(false), waiters: new Map(), unsubscribe: null };
      (created as { ready: Promise<boolean> }).ready = this.#store
        .subscribe(channel, (msg) => {
          const set = created.waiters.get(msg.toString());
          if (set !== undefined) for (const w of set) w();
        })
        .then(
          (unsub) => {
            created.unsubscribe = unsub;
            if (this.#channels.get(channel) !== created) void unsub().catch(() => {});
            return true;
          },
          () => {
            // Waiters poll; the next waiter tries to subscribe again.
            if (this.#channels.get(channel) === created) this.#channels.delete(channel);
            return false;
          },
        );
      ch = created;
      this.#channels.set(channel, ch);
    }
    let set = ch.waiters.get(pk);
    if (set === undefined) {
      set = new Set();
      ch.waiters.set(pk, set);
    }
    set.add(wake);
    const channelRef = ch;
    const setRef = set;
    return {
      ready: ch.ready,
      leave: () => {
        setRef.delete(wake);
        if (setRef.size === 0 && channelRef.waiters.get(pk) === setRef) channelRef.waiters.delete(pk);
      },
    };
  }

  async close(): Promise<void> {
    const channels = [...this.#channels.values()];
    this.#channels.clear();
    await Promise.all(channels.map((c) => c.unsubscribe?.().catch(() => {})));
  }
}

export class Stampede {
  readonly #core: CacheCore;
  readonly #hub: LandedHub;
  readonly #background = new Set<Promise<unknown>>();

  constructor(core: CacheCore) {
    this.#core = core;
    this.#hub = new LandedHub(core.store);
    core.onClose.add(() => this.#hub.close());
  }

  /**
   * Resolves a miss: the value someone else computed, or the generator's result under the lease.
   * `present: false` means the caller knows the stored entry is stale (S7) and means to replace it.
   */
  async load<T>(load: Load<T>, present = true): Promise<T | unknown> {
    const { guard, options } = this.#core;
    if (!guard.healthy) return this.#unleased(load, false);
    const leaseKey = siblingKey(load.pk, 'S');
    const channel = landedChannel(load.pk);
    const token = newToken();
    const deadline = performance.now() + 2 * options.leaseMs;
    let checkValue = present;
    let member: { ready: Promise<boolean>; leave: () => void } | null = null;
    let woken = false;
    let wakeNow: (() => void) | null = null;
    try {
      for (;;) {
        woken = false;
        const claim = await this.#claim(load.pk, leaseKey, token, checkValue);
        if (claim.kind === 'down') return await this.#unleased(load, false);
        if (claim.kind === 'present') {
          const found = await load.read();
          if (found !== null) return found.value;
          // There, but logically expired (an envelope past its expiry): take the lease regardless.
          checkValue = false;
          continue;
        }
        if (claim.kind === 'leased') return await this.#hold(load, leaseKey, channel, token, !checkValue);
        const left = deadline - performance.now();
        if (left <= 0) return await this.#unleased(load, true);
        if (member === null) {
          member = this.#hub.join(channel, load.pk, () => {
            woken = true;
            wakeNow?.();
          });
          // Claim again only once subscribed: a landing between our claim and the subscription
          // would otherwise go unheard until the next poll.
          await sleep(left, member.ready.then(() => {}), (f) => (wakeNow = f));
          wakeNow = null;
          continue;
        }
        if (woken) continue;
        let delay = POLL_MIN_MS + options.random() * (POLL_MAX_MS - POLL_MIN_MS);
        if (claim.pttl >= 0) delay = Math.min(delay, claim.pttl + 1);
        await sleep(Math.min(delay, left), null, (f) => (wakeNow = f));
        wakeNow = null;
      }
    } finally {
      member?.leave();
    }
  }

  /**
   * One background refresh of a key (S6, S7): takes the lease if nobody holds it and the entry is
   * still the one the caller saw (`seen`), recomputes and writes. Never waits, never throws: errors
   * go to `cache.on('error')`. At most one per key at a time in this process.
   */
  refresh<T>(load: Load<T>, isCurrent: () => Promise<boolean>): void {
    const { flights, events } = this.#core;
    const flightKey = `${load.pk}\u0000refresh`;
    if (flights.has(flightKey) || !this.#core.guard.healthy) return;
    const p = flights
      .run(flightKey, async () => {
        const leaseKey = siblingKey(load.pk, 'S');
        const token = newToken();
        const claim = await this.#claim(load.pk, leaseKey, token, false);
        if (claim.kind !== 'leased') return undefined;
        try {
          if (!(await isCurrent())) return undefined;
          await this.#computeAndFill(load);
        } finally {
          await this.#release(leaseKey, landedChannel(load.pk), token, load.pk);
        }
        return undefined;
      })
      .catch((err: unknown) => {
        if (!(err instanceof ClosedError)) events.emit('error', err instanceof Error ? err : new Error(String(err)));
      });
    this.#background.add(p);
    void p.finally(() => this.#background.delete(p));
  }

  /** Resolves once every background refresh running now has ended (for tests and shutdown). */
  async settled(): Promise<void> {
    while (this.#background.size > 0) await Promise.all([...this.#background]);
  }

  async #hold<T>(load: Load<T>, leaseKey: string, channel: string, token: string, doubleCheck: boolean): Promise<T | unknown> {
    try {
      if (doubleCheck) {
        // We took the lease ignoring the stored entry: someone may have refreshed it just before.
        const found = await load.read();
        if (found !== null) return found.value;
      }
      return await this.#computeAndFill(load);
    } finally {
      // After the fill: a waiter that sees the lease gone, or hears the message, finds the value.
      await this.#release(leaseKey, channel, token, load.pk);
    }
  }

  /** No lease: the store is unavailable (`fill` false: do not wait on it again) or the wait ran out. */
  async #unleased<T>(load: Load<T>, fill: boolean): Promise<T> {
    const { now } = this.#core.options;
    const t0 = now();
    const value = await load.generate();
    if (fill && value !== undefined && this.#core.guard.healthy) await load.fill(value, now() - t0);
    return value;
  }

  async #computeAndFill<T>(load: Load<T>): Promise<T> {
    const { now } = this.#core.options;
    const t0 = now();
    const value = await load.generate();
    // A write after a store failure would only wait on the dead store again (F4: bounded calls).
    if (value !== undefined && this.#core.guard.healthy) await load.fill(value, now() - t0);
    return value;
  }

  async #claim(pk: string, leaseKey: string, token: string, checkValue: boolean): Promise<Claim> {
    const { guard, store, options } = this.#core;
    let reply: ScriptReply;
    try {
      reply = await guard.call('EVALSHA', () =>
        store.eval(claimLease, [pk, leaseKey], [token, Math.max(1, Math.ceil(options.leaseMs)), checkValue ? '1' : '0']),
      );
    } catch (err) {
      if (isUnavailability(err) && guard.policy === 'degrade') return { kind: 'down' };
      throw err;
    }
    const r = reply as number[];
    if (r[0] === 1) return { kind: 'present' };
    if (r[0] === 2) return { kind: 'leased' };
    return { kind: 'held', pttl: typeof r[1] === 'number' ? r[1] : -1 };
  }

  async #release(leaseKey: string, channel: string, token: string, pk: string): Promise<void> {
    const { guard, store } = this.#core;
    if (!guard.healthy || guard.closed) return; // the lease runs out by itself
    try {
      await guard.call('EVALSHA', () => store.eval(releaseLease, [leaseKey], [token, channel, pk]));
    } catch {
      // Counted and reported by the guard; the lease runs out by itself.
    }
  }
}

/** Resolves after `ms`, on a wake-up (`setWake`), or when `until` settles. */
function sleep(ms: number, until: Promise<void> | null, setWake: (f: () => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      resolve();
    }
    until?.then(done, done);
    setWake(done);
  });
}
