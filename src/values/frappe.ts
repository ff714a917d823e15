/**
 * The rest of Frappe's RedisWrapper surface (issue 13): hincrby, hset with a mapping, hdel_names,
 * hdel_keys, spop, srandmember, exists over several keys, and a set-if-absent write.
 *
 * Each is built from what every store already has (the Store calls and scripts with local twins),
 * so the embedded store and Redis behave alike without a new Store method. Where Redis has one
 * command the store interface lacks (SPOP, SRANDMEMBER), the members are read and one is removed
 * by compare (SREM), retried if another caller took it first: a member is popped at most once.
 */
import { MISS, type CacheCore } from '../core.js';
import { validateKey } from '../keys.js';
import { getKeys } from '../patterns.js';
import type { KeyRef, Scope, ScopeOptions } from '../scope.js';
import type { Script, ScriptArg } from '../stores/store.js';
import type { SetValueOptions } from './read.js';
import { validateSafeInteger } from './write.js';

/** How often spop re-reads a set whose chosen member another caller removed first. */
const SPOP_ATTEMPTS = 16;

/**
 * Increments an integer field of a hash (Frappe's hincrby).
 *   KEYS[1]  the hash
 *   ARGV[1]  the field
 *   ARGV[2]  the increment
 *   reply    the new value
 */
const hincrbyScript: Script = {
  name: 'hincrby',
  lua: `return redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])`,
  local: (data, keys, args) => data.hincrBy(keys[0]!, String(args[0]), Number(args[1])),
};

/**
 * Sets several fields of one hash at once (Frappe's hset with mapping=), and its TTL.
 *   KEYS[1]  the hash
 *   ARGV[1]  TTL: '' leaves it, '-1' removes it, else ms
 *   ARGV[2k], ARGV[2k+1]  field, encoded value
 *   reply    how many fields were given
 */
const hsetManyScript: Script = {
  name: 'hset-many',
  lua: `
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local t = ARGV[1]
if t == '-1' then redis.call('PERSIST', KEYS[1]) elseif t ~= '' then redis.call('PEXPIRE', KEYS[1], t) end
return (#ARGV - 1) / 2`,
  local(data, keys, args) {
    const key = keys[0]!;
    for (let i = 1; i < args.length; i += 2) data.hset(key, String(args[i]), args[i + 1] as Buffer);
    const t = String(args[0]);
    if (t === '-1') data.pexpire(key, null);
    else if (t !== '') data.pexpire(key, Number(t));
    return (args.length - 1) / 2;
  },
};

/**
 * Deletes one field of a key if it is a hash (hdel_keys walks keys of every kind).
 *   KEYS[1]  the key
 *   ARGV[1]  the field
 *   reply    1 if a field was deleted, else 0
 */
const hdelIfHashScript: Script = {
  name: 'hdel-if-hash',
  lua: `
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 0 end
return redis.call('HDEL', KEYS[1], ARGV[1])`,
  local(data, keys, args) {
    try {
      return data.hdel(keys[0]!, String(args[0]));
    } catch {
      // Not a hash (WrongTypeError): nothing to delete there.
      return 0;
    }
  },
};

function validateField(field: unknown): asserts field is string {
  validateKey(field, 'field');
}

/** hincrby: an integer field, created at 0 if missing. Never faked: throws when the store is down (F5). */
export async function hincrby(core: CacheCore, scope: Scope, name: string, field: string, by: number, opts?: ScopeOptions): Promise<number> {
  const pk = scope.key(name, opts);
  validateField(field);
  validateSafeInteger(by, 'by');
  await core.settle(pk);
  return Number(await core.guard.strict('HINCRBY', () => core.values.eval(hincrbyScript, [pk], [field, by])));
}

/** hset with a mapping: every field in one atomic step; `expiresInSec` sets the TTL of the whole hash (H1). */
export async function hsetMany(core: CacheCore, scope: Scope, name: string, mapping: Record<string, unknown>, opts?: SetValueOptions): Promise<void> {
  const pk = scope.key(name, opts);
  const m: unknown = mapping; // a JavaScript caller's mapping may be anything
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new TypeError('the mapping must be an object of field: value');
  const entries = Object.entries(mapping);
  if (entries.length === 0) return;
  // '' leaves the TTL as it is, '-1' removes it (null), else ms.
  let ttl: ScriptArg = '';
  if (opts?.expiresInSec !== undefined) ttl = core.ttlMs(opts.expiresInSec) ?? '-1';
  const args: ScriptArg[] = [ttl];
  for (const [field, value] of entries) {
    validateField(field);
    args.push(field, core.encode(value));
  }
  await core.settle(pk);
  await core.guard.write('HSET', () => core.values.eval(hsetManyScript, [pk], args));
}

/** hdel_names: one field from each of several hashes; resolves to how many fields were deleted. */
export async function hdelNames(core: CacheCore, scope: Scope, names: readonly string[], field: string, opts?: ScopeOptions): Promise<number> {
  const list: unknown = names;
  if (!Array.isArray(list)) throw new TypeError('names must be an array of hash names');
  validateField(field);
  const physical = names.map((n) => scope.key(n, opts));
  const counts = await Promise.all(physical.map((pk) => core.guard.write('HDEL', () => core.values.hdel(pk, [field]))));
  return counts.reduce<number>((a, n) => a + (n ?? 0), 0);
}

/**
 * hdel_keys: one field from every hash whose name starts with `prefix` (a P1 pattern: `*` is a
 * wildcard, a trailing one implied). Keys of other kinds are left alone.
 */
export async function hdelKeys(core: CacheCore, scope: Scope, prefix: string, field: string, opts?: ScopeOptions): Promise<number> {
  validateField(field);
  const names = await getKeys(core, scope, prefix, opts);
  const counts = await Promise.all(
    names.map((n) => {
      const pk = scope.key(n, opts);
      return core.guard.write('EVALSHA', () => core.values.eval(hdelIfHashScript, [pk], [field]));
    }),
  );
  return counts.reduce<number>((a, n) => a + Number(n ?? 0), 0);
}

/** srandmember: one member at random, or undefined for an empty set. */
export async function srandmember<T>(core: CacheCore, scope: Scope, name: KeyRef): Promise<T | undefined> {
  const [pk, key] = scope.ref(name);
  if (core.pending(pk)) return undefined;
  const members = await core.guard.read('SMEMBERS', () => core.values.smembers(pk), []);
  if (members.length === 0) return undefined;
  const v = core.decode(members[Math.floor(core.options.random() * members.length)]!, null, key);
  return v === MISS ? undefined : (v as T);
}

/** spop: removes and returns one member at random, or undefined for an empty set. */
export async function spop<T>(core: CacheCore, scope: Scope, name: KeyRef): Promise<T | undefined> {
  const [pk, key] = scope.ref(name);
  await core.settle(pk);
  for (let i = 0; i < SPOP_ATTEMPTS; i++) {
    const members = await core.guard.read('SMEMBERS', () => core.values.smembers(pk), []);
    if (members.length === 0) return undefined;
    const chosen = members[Math.floor(core.options.random() * members.length)]!;
    const removed = await core.guard.write('SREM', () => core.values.srem(pk, [chosen]));
    if (removed === undefined) return undefined; // degraded: the store is away
    if (removed === 1) {
      const v = core.decode(chosen, null, key);
      return v === MISS ? undefined : (v as T);
    }
    // Another caller popped it first: choose again.
  }
  return undefined;
}

/** exists over several keys (Frappe's exists(*names)): how many of them exist. */
export async function existsMany(core: CacheCore, scope: Scope, keys: readonly string[], opts?: ScopeOptions): Promise<number> {
  const { physical } = scope.keys(keys, opts);
  const found = await Promise.all(physical.map((pk) => (core.pending(pk) ? Promise.resolve(false) : core.guard.read('EXISTS', () => core.values.exists(pk), false))));
  return found.filter(Boolean).length;
}

/** setValue(k, v, { ifAbsent: true }): writes only if the key does not exist; whether it wrote. */
export async function setIfAbsent(core: CacheCore, scope: Scope, key: string, value: unknown, opts: SetValueOptions): Promise<boolean> {
  const pk = scope.key(key, opts);
  const ttlMs = core.ttlMs(opts.expiresInSec);
  const bytes = core.encode(value);
  await core.settle(pk);
  return (await core.guard.write('SET NX', () => core.values.set(pk, bytes, { ttlMs, ifAbsent: true }))) === true;
}
