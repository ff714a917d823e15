/**
 * Hashes, lists and sets (H, L). Field values, elements and members go through the codec (C1);
 * set membership compares encoded forms (L1). Reads of a key whose delete is pending answer as
 * empty (F3); writes let that delete go first.
 */
import { MISS, type CacheCore } from '../core.js';
import { checkEach, setOwn } from '../elements.js';
import { validateKey } from '../keys.js';
import type { KeyRef, Scope, ScopeOptions } from '../scope.js';
import type { SetValueOptions } from './read.js';
import { validateSafeInteger } from './write.js';

export interface HashGetOptions<T> extends ScopeOptions {
  generator?: () => T | Promise<T>;
}

function validateField(field: unknown): asserts field is string {
  validateKey(field, 'field');
}

/** Builds a plain object from fields safely: a field named `__proto__` becomes an own property (Z2). */
function toRecord(entries: Iterable<[string, unknown]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // Z2: no setter on Object.prototype runs with store data, whatever the field is called.
  for (const [k, v] of entries) setOwn(out, k, v);
  return out;
}

async function generateOnce<T>(core: CacheCore, generator: () => T | Promise<T>): Promise<T> {
  core.stats.generatorRuns++;
  return await generator();
}

// ------------------------------------------------------------------------------- hashes (H)

/** Sets one field; `expiresInSec` sets the TTL of the whole hash (H1), absent leaves it as it is. */
export async function hset(core: CacheCore, scope: Scope, name: string, field: string, value: unknown, opts?: SetValueOptions): Promise<void> {
  const pk = scope.key(name, opts);
  validateField(field);
  const ttlMs = opts?.expiresInSec === undefined ? undefined : core.ttlMs(opts.expiresInSec);
  const bytes = core.encode(value);
  const { values: store, guard } = core;
  await core.settle(pk);
  await guard.write('HSET', () => store.hset(pk, field, bytes, ttlMs));
}

/** Reads one field; with a generator, a miss behaves as getValue's (S3, S4). */
export async function hget<T = unknown>(core: CacheCore, scope: Scope, name: string, field: string, opts?: HashGetOptions<T>): Promise<T | undefined> {
  const pk = scope.key(name, opts);
  validateField(field);
  const generator = opts?.generator;
  if (generator !== undefined && typeof generator !== 'function') throw new TypeError('generator must be a function');
  const read = async (count: boolean): Promise<unknown> => {
    const { values: store, guard } = core;
    const bytes = core.pending(pk) ? null : await guard.read('HGET', () => store.hget(pk, field), null);
    const value = bytes === null ? MISS : core.decode(bytes, null, `${name}.${field}`);
    if (count) core.count(value === MISS, name, scope.namespace);
    return value;
  };
  const hit = await read(true);
  if (hit !== MISS) return hit as T;
  if (generator === undefined) return undefined;
  // `\0h:` then the field: never the key of another flight of this pk (the value's own is the pk,
  // a background refresh's `pk\0r`): a field named `refresh` once shared the refresh's flight (D5).
  return core.flights.run(`${pk}\u0000h:${field}`, async () => {
    const again = await read(false);
    if (again !== MISS) return again;
    const value = await generateOnce(core, generator);
    if (value !== undefined) {
      const bytes = core.encode(value);
      await core.guard.write('HSET', () => core.values.hset(pk, field, bytes));
    }
    return value;
  }) as Promise<T | undefined>;
}

/** Every field of a hash, decoded; `{}` if there is none. */
export async function hgetall(core: CacheCore, scope: Scope, name: string, opts?: ScopeOptions): Promise<Record<string, unknown>> {
  const pk = scope.key(name, opts);
  const { values: store, guard } = core;
  if (core.pending(pk)) return {};
  const fields = await guard.read('HGETALL', () => store.hgetall(pk), null);
  if (fields === null) return {};
  const out: Array<[string, unknown]> = [];
  for (const [field, bytes] of fields) {
    const value = core.decode(bytes, null, `${name}.${field}`);
    if (value !== MISS) out.push([field, value]);
  }
  return toRecord(out);
}

export async function hdel(core: CacheCore, scope: Scope, name: string, fields: string | string[], opts?: ScopeOptions): Promise<number> {
  const pk = scope.key(name, opts);
  const list = Array.isArray(fields) ? fields : [fields];
  checkEach(list, validateField);
  if (list.length === 0) return 0;
  const { values: store, guard } = core;
  return (await guard.write('HDEL', () => store.hdel(pk, list))) ?? 0;
}

export async function hexists(core: CacheCore, scope: Scope, name: string, field: string, opts?: ScopeOptions): Promise<boolean> {
  const pk = scope.key(name, opts);
  validateField(field);
  const { values: store, guard } = core;
  if (core.pending(pk)) return false;
  return guard.read('HEXISTS', () => store.hexists(pk, field), false);
}

export async function hkeys(core: CacheCore, scope: Scope, name: string, opts?: ScopeOptions): Promise<string[]> {
  const pk = scope.key(name, opts);
  const { values: store, guard } = core;
  if (core.pending(pk)) return [];
  return guard.read('HKEYS', () => store.hkeys(pk), []);
}

// ---------------------------------------------------------------- lists (L)

export async function push(core: CacheCore, scope: Scope, name: KeyRef, values: unknown[], end: 'left' | 'right'): Promise<number> {
  const [pk] = scope.ref(name);
  if (values.length === 0) throw new TypeError('push needs at least one value');
  const encoded = values.map((v) => core.encode(v));
  const { values: store, guard } = core;
  await core.settle(pk);
  return (await guard.write(end === 'left' ? 'LPUSH' : 'RPUSH', () => store.push(pk, encoded, end))) ?? 0;
}

export async function pop<T>(core: CacheCore, scope: Scope, name: KeyRef, end: 'left' | 'right'): Promise<T | undefined> {
  const [pk, key] = scope.ref(name);
  const { values: store, guard } = core;
  if (core.pending(pk)) return undefined;
  // A pop changes the list, so it is a write: in degrade mode a failure reads as an empty list.
  const bytes = (await guard.write(end === 'left' ? 'LPOP' : 'RPOP', () => store.pop(pk, end))) ?? null;
  if (bytes === null) return undefined;
  const value = core.decode(bytes, null, key);
  return value === MISS ? undefined : (value as T);
}

export async function llen(core: CacheCore, scope: Scope, name: KeyRef): Promise<number> {
  const [pk] = scope.ref(name);
  const { values: store, guard } = core;
  if (core.pending(pk)) return 0;
  return guard.read('LLEN', () => store.llen(pk), 0);
}

/** Elements from start to stop inclusive; negative indices count from the end (as Redis LRANGE). */
export async function lrange<T = unknown>(core: CacheCore, scope: Scope, name: KeyRef, start: number, stop: number): Promise<T[]> {
  const [pk, key] = scope.ref(name);
  validateSafeInteger(start, 'start');
  validateSafeInteger(stop, 'stop');
  const { values: store, guard } = core;
  if (core.pending(pk)) return [];
  const items = await guard.read('LRANGE', () => store.lrange(pk, start, stop), []);
  return decodeAll<T>(core, items, key);
}

export async function ltrim(core: CacheCore, scope: Scope, name: KeyRef, start: number, stop: number): Promise<void> {
  const [pk] = scope.ref(name);
  validateSafeInteger(start, 'start');
  validateSafeInteger(stop, 'stop');
  const { values: store, guard } = core;
  await guard.write('LTRIM', () => store.ltrim(pk, start, stop));
}

function decodeAll<T>(core: CacheCore, items: Buffer[], key: string): T[] {
  const out: T[] = [];
  for (const b of items) {
    const v = core.decode(b, null, key);
    if (v !== MISS) out.push(v as T);
  }
  return out;
}

// ---------------------------------------------------------------- sets (L1)

/** Adds members (compared by their encoded form); resolves to how many were new. */
export async function sadd(core: CacheCore, scope: Scope, name: KeyRef, ...members: unknown[]): Promise<number> {
  const [pk] = scope.ref(name);
  if (members.length === 0) throw new TypeError('sadd needs at least one member');
  const encoded = members.map((m) => core.encode(m));
  const { values: store, guard } = core;
  await core.settle(pk);
  return (await guard.write('SADD', () => store.sadd(pk, encoded))) ?? 0;
}

export async function srem(core: CacheCore, scope: Scope, name: KeyRef, ...members: unknown[]): Promise<number> {
  const [pk] = scope.ref(name);
  if (members.length === 0) throw new TypeError('srem needs at least one member');
  const encoded = members.map((m) => core.encode(m));
  const { values: store, guard } = core;
  return (await guard.write('SREM', () => store.srem(pk, encoded))) ?? 0;
}

export async function smembers<T = unknown>(core: CacheCore, scope: Scope, name: KeyRef): Promise<T[]> {
  const [pk, key] = scope.ref(name);
  const { values: store, guard } = core;
  if (core.pending(pk)) return [];
  return decodeAll<T>(core, await guard.read('SMEMBERS', () => store.smembers(pk), []), key);
}

export async function sismember(core: CacheCore, scope: Scope, name: KeyRef, member: unknown): Promise<boolean> {
  const [pk] = scope.ref(name);
  const encoded = core.encode(member);
  const { values: store, guard } = core;
  if (core.pending(pk)) return false;
  return guard.read('SISMEMBER', () => store.sismember(pk, encoded), false);
}

export async function scard(core: CacheCore, scope: Scope, name: KeyRef): Promise<number> {
  const [pk] = scope.ref(name);
  const { values: store, guard } = core;
  if (core.pending(pk)) return 0;
  return guard.read('SCARD', () => store.scard(pk), 0);
}