/**
 * What every file of the Store contract shares: the factory a target hands in, a per-test store
 * and key space, twin scripts (Lua and local, written side by side), and a bounded poll in place of
 * fixed sleeps. Library code comes only through the public exports (src/index.ts) and the Store
 * types (src/stores/store.ts), so the suite does not care where a store's files live.
 */
import { performance } from 'node:perf_hooks';
import type { LocalData, Script, ScriptArg, ScriptReply, Store } from '../../../src/stores/store.js';

/** A fresh store over the target's backing data, and how to let go of it. */
export interface StoreUnderTest {
  store: Store;
  /** Closes the store (and whatever the target opened for it); safe after the test closed it itself. */
  cleanup: () => Promise<void>;
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

export type StoreTest = (store: Store, k: Keys) => Promise<void>;

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
      const { store, cleanup } = await factory();
      try {
        await body(store, keysFor());
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `condition` every few ms until it holds, for at most `timeoutMs`: the way to wait for a
 * short TTL to run out or a message to arrive without a fixed sleep sized for a loaded machine.
 */
export async function until(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** Resolves once `key` no longer exists: its TTL ran out (bounded; see `until`). */
export function expired(store: Store, key: string): Promise<void> {
  return until(async () => !(await store.exists(key)), `${key} expired`);
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
