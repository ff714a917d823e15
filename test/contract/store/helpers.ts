/**
 * What every file of the Store contract shares: the factory a target hands in, a per-test store
 * and key space, twin scripts (Lua and local, written side by side), and the waits for a TTL to
 * run out or a message to arrive: on a store that runs on the fake clock (the embedded store) by
 * moving the clock, on Redis by a bounded poll in real time. Library code comes only through the
 * public exports (src/index.ts) and the Store types (src/stores/store.ts), so the suite does not
 * care where a store's files live.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import type { LocalData, Script, ScriptArg, ScriptReply, Store } from '../../../src/stores/store.js';
import type { FakeClock } from '../../support/fake-clock.js';

/** A fresh store over the target's backing data, and how to let go of it. */
export interface StoreUnderTest {
  store: Store;
  /** Closes the store (and whatever the target opened for it); safe after the test closed it itself. */
  readonly cleanup: () => Promise<void>;
  /** The fake clock the store runs on, if it does: its TTLs then run out only when a test moves it. */
  clock?: FakeClock;
}

export type StoreFactory = () => Promise<StoreUnderTest>;

/**
 * Names for one test's keys, unique across tests and runs, so targets whose data outlives a test
 * (one Redis server for the whole file) need no flushing between tests.
 */
export interface Keys {
  /** A key of its own; on a cluster, keys of one test spread over slots. */
  (name: string): string;
  /** A key in the test's one hash slot (`{base}`), for scripts (K5) and shard channels. */
  slot(name: string): string;
  /** The literal prefix every `k(name)` starts with (no glob characters): `${prefix}*` matches them all. */
  readonly prefix: string;
}

let tests = 0;
const run = Math.random().toString(36).slice(2, 8);

function keysFor(): Keys {
  const base = `sc${run}-${++tests}`;
  const k = ((name: string) => `${base}:${name}`) as Keys;
  k.slot = (name: string) => `{${base}}:${name}`;
  Object.defineProperty(k, 'prefix', { value: `${base}:` });
  return k;
}

/** How one test waits, on its store's time. */
export interface Waits {
  /** The store's fake clock, or undefined on real time. */
  readonly clock: FakeClock | undefined;
  /** Resolves once `condition` holds: the fake clock moved on 1 ms at a time, else polled in real time. */
  readonly until: (condition: () => Promise<boolean> | boolean, what: string, timeoutMs?: number) => Promise<void>;
  /** Resolves once `key` no longer exists: its TTL ran out. */
  readonly expired: (store: Store, key: string) => Promise<void>;
  /** A TTL read just after it was set to `hi` ms: exactly `hi` on the fake clock, in (lo, hi] on real time. */
  readonly within: (t: number | null | undefined, lo: number, hi: number) => void;
}

export type StoreTest = (store: Store, k: Keys, waits: Waits) => Promise<void>;

export interface ContractContext {
  /** The target's name, for messages. */
  readonly target: string;
  readonly factory: StoreFactory;
  /** Wraps a test body: a fresh store and key space in, cleanup after, whatever the outcome. */
  readonly withStore: (body: StoreTest) => () => Promise<void>;
}

export function contractContext(target: string, factory: StoreFactory): ContractContext {
  return {
    target,
    factory,
    withStore: (body) => async () => {
      const { store, cleanup, clock } = await factory();
      try {
        await body(store, keysFor(), waitsOn(clock));
      } finally {
        await cleanup();
      }
    },
  };
}

export const b = (s: string): Buffer => Buffer.from(s);
export const str = (x: Buffer | null): string | null => (x === null ? null : x.toString());
export const strs = (xs: Buffer[]): string[] => xs.map((x) => x.toString());

/** Every batch a scan yields. */
export async function collect(batches: AsyncIterable<string[]>): Promise<string[][]> {
  const out: string[][] = [];
  for await (const batch of batches) out.push(batch);
  return out;
}

// Real time, for a server: Redis expires keys on its own clock and delivers messages over a real
// connection, so a test polls for them, bounded, instead of sleeping for a loaded machine.
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `condition` every few ms until it holds, for at most `timeoutMs`: the way to wait for a
 * short TTL to run out or a message to arrive without a fixed sleep sized for a loaded machine.
 */
async function untilReal(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** The same on the fake clock: one millisecond at a time, so a TTL is seen to end at its very ms. */
async function untilFake(clock: FakeClock, condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = clock.monotonic() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (clock.monotonic() >= deadline) throw new Error(`${what}: not within ${timeoutMs} ms on the fake clock`);
    await clock.advance(1);
  }
}

function waitsOn(clock: FakeClock | undefined): Waits {
  const until: Waits['until'] = clock === undefined ? untilReal : (condition, what, timeoutMs) => untilFake(clock, condition, what, timeoutMs);
  return {
    clock,
    until,
    expired: (store, key) => until(async () => !(await store.exists(key)), `${key} expired`),
    within: (t, lo, hi) => {
      if (clock !== undefined) assert.equal(t, hi, 'no time passed since it was set');
      else assert.ok(typeof t === 'number' && Number.isInteger(t) && t > lo && t <= hi, `ttl ${t} not an integer in (${lo}, ${hi}]`);
    },
  };
}

/**
 * A script written twice, as the Script contract asks: `lua` for Redis, `local` for the embedded
 * store. Tests run it on every target and expect the same reply, so the pair documents (and pins)
 * how a Redis reply looks once it reaches JavaScript.
 */
export function twin(name: string, lua: string, local: (data: LocalData, keys: string[], args: ScriptArg[]) => ScriptReply): Script {
  return { name, lua, local };
}

/** A script argument as text: on Redis every ARGV arrives as a string, so twins read them so. */
export const arg = (a: ScriptArg | undefined): string => (Buffer.isBuffer(a) ? a.toString() : String(a));
