/**
 * The write path of values, and the other single-key calls (exists, expire, ttl, incr).
 *
 * Every write first lets a pending delete of its key go out (F3: a write must not be undone by a
 * retried delete later). With the near cache active, setValue writes through tracked-write.ts (the key
 * read back in the same step, so Redis tracks it again) and keeps the value near at once (N1), unless
 * an invalidation raced it.
 */
import type { CacheCore } from '../core.js';
import type { Scope, ScopeOptions } from '../scope.js';
import type { SetValueOptions } from './read.js';
import type { TtlMs } from '../stores/store.js';
import { trackedWrite } from './tracked-write.js';
import { withHeader } from '../tags/envelope.js';
import { validateTags } from '../tags/names.js';

export function validateSafeInteger(n: unknown, what: string): asserts n is number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new TypeError(`${what} must be a safe integer, got ${String(n)}`);
}

/** Stores a value (S1). */
export async function setValue(core: CacheCore, scope: Scope, key: string, value: unknown, opts: SetValueOptions | undefined): Promise<void> {
  const pk = scope.key(key, opts);
  const ttlMs = core.ttlMs(opts?.expiresInSec);
  const tags = opts?.tags === undefined ? undefined : validateTags(opts.tags);
  const bytes = core.encode(value);
  const pending = core.settle(pk);
  if (pending !== undefined) await pending;
  if (tags !== undefined) return setTagged(core, pk, bytes, ttlMs, tags);
  const near = core.near;
  if (near?.active) {
    await trackedWrite(core, near, pk, bytes, ttlMs, null, () => core.decodeOwn(bytes));
    return;
  }
  await core.guard.write('SET', () => core.values.set(pk, bytes, { ttlMs }));
}

/**
 * A tagged setValue (T1): the tags' tokens first (one round trip), then the write with them in its
 * header. With the near cache, the copy kept depends on the tags (tags/tags.ts).
 */
async function setTagged(core: CacheCore, pk: string, bytes: Buffer, ttlMs: TtlMs, tags: readonly string[]): Promise<void> {
  const stamp = await core.tags.stamp(pk, tags, ttlMs);
  const near = core.near;
  if (stamp === null) {
    // The store is unavailable (degrade mode): the write is dropped, as any write would be.
    near?.drop(pk);
    return;
  }
  const tagged = withHeader(stamp.header, bytes);
  if (near?.active && core.tags.stillValid(stamp)) {
    core.tags.attach(pk, stamp.keys);
    await trackedWrite(core, near, pk, tagged, ttlMs, null, () => core.decodeOwn(bytes), bytes);
    return;
  }
  await core.guard.write('SET', () => core.values.set(pk, tagged, { ttlMs }));
}

/** A JavaScript caller's entry may be anything: a pair is an array of two. */
function isPair(e: unknown): e is [string, unknown] {
  return Array.isArray(e) && e.length === 2;
}

/** Writes several keys with one TTL (`expiresInSec`, else the default). Every value is encoded before any I/O. */
export async function setMany(core: CacheCore, scope: Scope, entries: Array<[string, unknown]>, opts: SetValueOptions | undefined): Promise<void> {
  if (!Array.isArray(entries)) throw new TypeError('entries must be an array of [key, value] pairs');
  const ttlMs = core.ttlMs(opts?.expiresInSec);
  // An index loop, not map(): a hole is not a pair (map would skip it, walking a sparse list's
  // whole declared length: Z1).
  const keys = new Array<string>(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (!isPair(e)) throw new TypeError(`entries[${i}] must be a [key, value] pair`);
    keys[i] = e[0];
  }
  const tags = opts?.tags === undefined ? undefined : validateTags(opts.tags);
  const { physical } = scope.keys(keys, opts);
  let encoded = physical.map((pk, i) => [pk, core.encode(entries[i]![1]), ttlMs] as const);
  if (encoded.length === 0) return;
  const inv = core.invalidations;
  if (inv.size !== 0 && physical.some((pk) => inv.blocks(pk))) await inv.flush();
  if (tags !== undefined) {
    // One scope, one prefix: the same tag keys for every entry, read once.
    const stamp = await core.tags.stamp(physical[0]!, tags, ttlMs);
    if (stamp === null) {
      if (core.near !== null) for (const pk of physical) core.near.drop(pk);
      return;
    }
    encoded = encoded.map(([pk, b, t]) => [pk, withHeader(stamp.header, b), t] as const);
  }
  await core.guard.write('MSET', () => core.values.setMany(encoded));
}

/** Deletes every listed key (values, hashes, lists, sets: H2) in one round trip per slot (S8). */
export async function deleteValue(core: CacheCore, scope: Scope, keys: string | string[], opts: ScopeOptions | undefined): Promise<number> {
  const list = Array.isArray(keys) ? keys : [keys];
  const { scope: resolved, physical } = scope.keys(list, opts);
  if (physical.length === 0) return 0;
  // N1, F3: kept copies go at once, even if the delete cannot reach the store; a delete that
  // cannot reach it is remembered and retried.
  if (core.near !== null) for (const pk of physical) core.near.drop(pk);
  const n = await core.invalidations.delete(physical);
  if (core.events.wantsInvalidate) core.events.emit('invalidate', { keys: list, namespace: resolved.namespace, reason: 'delete' });
  return n;
}

export async function exists(core: CacheCore, scope: Scope, key: string, opts: ScopeOptions | undefined): Promise<boolean> {
  const pk = scope.key(key, opts);
  if (core.pending(pk)) return false;
  return core.guard.read('EXISTS', () => core.values.exists(pk), false);
}

/** Sets or (with `null`) removes a key's TTL; false if the key does not exist. */
/** `seconds` left out (a JavaScript caller) is a TypeError, not the default TTL. */
export async function expire(core: CacheCore, scope: Scope, key: string, seconds: number | null | undefined, opts: ScopeOptions | undefined): Promise<boolean> {
  const pk = scope.key(key, opts);
  if (seconds === undefined) throw new TypeError('seconds must be a positive number or null');
  const ttlMs = core.ttlMs(seconds, 'seconds');
  if (core.pending(pk)) return false;
  return (await core.guard.write('PEXPIRE', () => core.values.expire(pk, ttlMs))) ?? false;
}

/** Seconds left, with millisecond precision; null: no expiry; undefined: no such key (S1). */
export async function ttl(core: CacheCore, scope: Scope, key: string, opts: ScopeOptions | undefined): Promise<number | null | undefined> {
  const pk = scope.key(key, opts);
  if (core.pending(pk)) return undefined;
  const ms = await core.guard.read('PTTL', () => core.values.ttl(pk), undefined);
  return typeof ms === 'number' ? ms / 1000 : ms;
}

/** An integer counter; created at 0 (with `expiresInSec` or the default TTL) if missing. Never faked (F5). */
export async function incr(core: CacheCore, scope: Scope, key: string, by: number, opts: SetValueOptions | undefined): Promise<number> {
  const pk = scope.key(key, opts);
  validateSafeInteger(by, 'by');
  const ttlMs = core.ttlMs(opts?.expiresInSec);
  await core.settle(pk); // F3: never count on from a value whose delete is pending
  return core.guard.strict('INCRBY', () => core.values.incrBy(pk, by, ttlMs));
}
