/**
 * Stampede protection across processes (S5): concurrent misses of one key in many processes run
 * the generator once per lease.
 *
 * In one process, single flight (S4) comes first: only one caller per key gets here. Then:
 *
 *  1. claim (one atomic script, flight/lease.ts): if the value is there, read it; else take the
 *     lease; else learn how long the current holder's lease has left.
 *  2. The holder runs the generator, then writes the value and ends the lease in one atomic step
 *     (the fill: values/scripts.ts), which also publishes "landed" on the namespace's channel if a
 *     waiter marked the lease. A waiter woken by the message, or finding the lease gone, always
 *     finds the value. A cold miss is thus three round trips: the read, the claim, the fill.
 *  3. Waiters join the channel (waiting/), wait for the subscription, claim again (the value may
 *     have landed meanwhile), then wait to be woken or for the next poll, never past the holder's
 *     lease. A woken or polling waiter claims again: it finds the value, or the lease gone (the
 *     holder died: it takes the lease and computes), or a new holder (it waits for that one).
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
import type { Clock } from '../clock.js';
import { ClosedError, isUnavailability } from '../errors.js';
import { siblingKey } from '../keys.js';
import { newToken } from '../tokens.js';
import type { Emitter } from '../observability.js';
import type { StoreGuard } from '../policy/guard.js';
import type { ScriptReply, Store } from '../stores/store.js';
import { ChannelHub } from '../waiting/channel-hub.js';
import { Waiter } from '../waiting/wait.js';
import type { SingleFlight } from './single-flight.js';
import { claimLease, landedChannel, releaseLease, type HeldLease } from './lease.js';

/** What the stampede needs from a cache. */
export interface StampedePort {
  store: Store;
  guard: StoreGuard;
  flights: SingleFlight;
  events: Emitter;
  clock: Clock;
  leaseMs: number;
  random: () => number;
}

/** One cache miss to resolve, as the caller (values/read.ts) knows how to. */
export interface Load<T> {
  /** The value's physical key. */
  readonly pk: string;
  /** Reads the value again (not counted as a hit or miss): null when absent or logically expired. */
  read(): Promise<{ value: unknown } | null>;
  /** Runs the generator (and counts the run). */
  generate(): Promise<T>;
  /**
   * Writes the generated value and, with `lease`, ends it in the same step; `deltaMs` is how long
   * the generator ran (S6). Resolves to the value callers get (as later reads will return it) and
   * whether the lease was ended.
   */
  fill(value: T, deltaMs: number, lease: HeldLease | null): Promise<{ value: unknown; released: boolean }>;
}

type Claim = { kind: 'present' } | { kind: 'leased' } | { kind: 'held'; pttl: number } | { kind: 'down' };

export class Stampede {
  readonly #port: StampedePort;
  readonly #hub: ChannelHub;
  readonly #background = new Set<Promise<unknown>>();

  constructor(port: StampedePort) {
    this.#port = port;
    // Kept until the cache closes: a namespace that saw one contended miss will likely see more.
    this.#hub = new ChannelHub(port.store, { clock: port.clock, lingerMs: Infinity });
  }

  /**
   * Resolves a miss: the value someone else computed, or the generator's result under the lease.
   * `present: false` means the caller knows the stored entry is stale (S7) and means to replace it.
   */
  async load<T>(load: Load<T>, present = true): Promise<unknown> {
    const { guard, clock, leaseMs, random } = this.#port;
    if (!guard.healthy) return this.#unleased(load, false);
    const lease: HeldLease = { key: siblingKey(load.pk, 'S'), token: newToken(), channel: landedChannel(load.pk) };
    const deadline = clock.monotonic() + 2 * leaseMs;
    let checkValue = present;
    let waiter: Waiter | null = null;
    try {
      for (;;) {
        const claim = await this.#claim(load.pk, lease, checkValue);
        if (claim.kind === 'down') return await this.#unleased(load, false);
        if (claim.kind === 'present') {
          const found = await load.read();
          if (found !== null) return found.value;
          // There, but logically expired (an envelope past its expiry): take the lease regardless.
          checkValue = false;
          continue;
        }
        if (claim.kind === 'leased') return await this.#hold(load, lease, !checkValue);
        if (deadline - clock.monotonic() <= 0) return await this.#unleased(load, true);
        if (waiter === null) {
          waiter = new Waiter({ hub: this.#hub, channel: lease.channel, topic: load.pk, clock, random, deadline });
          // Claim again only once subscribed: a landing between our claim and the subscription
          // would otherwise go unheard until the next poll.
          await waiter.subscribed();
          continue;
        }
        await waiter.pause(claim.pttl);
      }
    } finally {
      waiter?.leave();
    }
  }

  /**
   * One background refresh of a key (S6, S7): takes the lease if nobody holds it and the entry is
   * still the one the caller saw (`isCurrent`), recomputes and writes. Never waits, never throws:
   * errors go to `cache.on('error')`. At most one per key at a time in this process.
   */
  refresh(load: Load<unknown>, isCurrent: () => Promise<boolean>): void {
    const { flights, events, guard } = this.#port;
    // Not `pk\0h:…`, a hash field's flight (values/collections.ts).
    const flightKey = `${load.pk}\u0000r`;
    if (flights.has(flightKey) || !guard.healthy) return;
    const p = flights
      .run(flightKey, async () => {
        const lease: HeldLease = { key: siblingKey(load.pk, 'S'), token: newToken(), channel: landedChannel(load.pk) };
        const claim = await this.#claim(load.pk, lease, false);
        if (claim.kind !== 'leased') return undefined;
        let released = false;
        try {
          if (await isCurrent()) released = (await this.#computeAndFill(load, lease)).released;
        } finally {
          if (!released) await this.#release(lease, load.pk);
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

  close(): Promise<void> {
    return this.#hub.close();
  }

  async #hold<T>(load: Load<T>, lease: HeldLease, doubleCheck: boolean): Promise<unknown> {
    let released = false;
    try {
      if (doubleCheck) {
        // We took the lease ignoring the stored entry: someone may have refreshed it just before.
        const found = await load.read();
        if (found !== null) return found.value;
      }
      const out = await this.#computeAndFill(load, lease);
      released = out.released;
      return out.value;
    } finally {
      // A fill that did not happen (undefined, a throw, a store failure) still ends the lease.
      if (!released) await this.#release(lease, load.pk);
    }
  }

  /** No lease: the store is unavailable (`fill` false: do not wait on it again) or the wait ran out. */
  async #unleased<T>(load: Load<T>, fill: boolean): Promise<unknown> {
    const { clock, guard } = this.#port;
    const t0 = clock.now();
    const value = await load.generate();
    if (fill && value !== undefined && guard.healthy) return (await load.fill(value, clock.now() - t0, null)).value;
    return value;
  }

  async #computeAndFill<T>(load: Load<T>, lease: HeldLease): Promise<{ value: unknown; released: boolean }> {
    const { clock, guard } = this.#port;
    const t0 = clock.now();
    const value = await load.generate();
    // A write after a store failure would only wait on the dead store again (F4: bounded calls).
    if (value === undefined || !guard.healthy) return { value, released: false };
    return load.fill(value, clock.now() - t0, lease);
  }

  async #claim(pk: string, lease: HeldLease, checkValue: boolean): Promise<Claim> {
    const { guard, store, leaseMs } = this.#port;
    let reply: ScriptReply;
    try {
      reply = await guard.call('EVALSHA', () =>
        store.eval(claimLease, [pk, lease.key], [lease.token, Math.max(1, Math.ceil(leaseMs)), checkValue ? '1' : '0']),
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

  async #release(lease: HeldLease, pk: string): Promise<void> {
    const { guard, store } = this.#port;
    if (!guard.healthy || guard.closed) return; // the lease runs out by itself
    try {
      await guard.call('EVALSHA', () => store.eval(releaseLease, [lease.key], [lease.token, lease.channel, pk]));
    } catch {
      // Counted and reported by the guard; the lease runs out by itself.
    }
  }
}
