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
import { readHeader } from '../tags/envelope.js';
import { validateTags } from '../tags/names.js';
import { hashTagState, hgetWithTags } from '../tags/scripts.js';
import type { TtlMs } from '../stores/store.js';

export interface HashGetOptions<T> extends ScopeOptions {
  generator?: () => T | Promise<T>;
}

/**
 * The field where a hash given `tags` in hset keeps its tag header (tags/envelope.ts): the tags
 * then cover the whole hash (T1). Never a field a caller may name, never listed.
 */
const TAGS_FIELD = '\u0000larder:tags';

function validateField(field: unknown): asserts field is string {
  validateKey(field, 'field');
  if (field === TAGS_FIELD) throw new TypeError('this field name is reserved for the tags of a hash');
}

/** One field and the hash's tag header: null when the hash's tags were invalidated (a miss). */
async function readField(core: CacheCore, pk: string, field: string): Promise<Buffer | null> {
  const reply = await core.guard.read('EVALSHA', () => core.values.eval(hgetWithTags, [pk], [field, TAGS_FIELD]), null);
  if (!Array.isArray(reply)) return null;
  const [bytes, header] = reply;
  if (!Buffer.isBuffer(bytes)) return null;
  if (Buffer.isBuffer(header) && !(await core.tags.checkHash(pk, header, TAGS_FIELD))) return null;
  return bytes;
}

/**
 * A tagged hset (T1): the hash's current header (kept, with its older tokens, if still valid; a
 * hash found invalidated is replaced), the new tags' tokens, then the header and the field.
 */
async function hsetTagged(core: CacheCore, pk: string, field: string, bytes: Buffer, ttlMs: TtlMs | undefined, names: readonly string[]): Promise<void> {
  const { values: store, guard, tags } = core;
  const state = await guard.read('EVALSHA', () => store.eval(hashTagState, [pk], [TAGS_FIELD]), null);
  if (!Array.isArray(state)) return; // store unavailable (degrade): the write is dropped
  const [oldHeader, pttl] = state as [Buffer | null, number];
  let old = Buffer.isBuffer(oldHeader) ? readHeader(oldHeader) : null;
  if (old !== null && Buffer.isBuffer(oldHeader) && !(await tags.checkHash(pk, oldHeader, TAGS_FIELD))) {
    // Invalidated: what the hash held is gone (checkHash deletes it); this write starts it afresh.
    await guard.write('DEL', () => store.delete([pk]));
    old = null;
  }
  // The tags live as long as the hash: its new TTL, else the one it has.
  const tagTtl = ttlMs !== undefined ? ttlMs : typeof pttl === 'number' && pttl > 0 ? pttl : null;
  const stamp = await tags.stamp(pk, names, tagTtl);
  if (stamp === null) return;
  const header = tags.merge(old, stamp);
  await guard.write('HSET', () => store.hset(pk, TAGS_FIELD, header, ttlMs));
  await guard.write('HSET', () => store.hset(pk, field, bytes, ttlMs));
}

/** Builds a plain object from fields safely: a field named `__proto__` becomes an own property (Z2). */
function toRecord(entries: Iterable<[string, unknown]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // Z2: no setter on Object.prototype runs with store data, whatever the field is called.
  for (const [k, v] of entries) setOwn(out, k, v);
  return out;
}

function generateOnce<T>(core: CacheCore, scope: Scope, name: string, generator: () => T | Promise<T>): Promise<T> {
  core.stats.generatorRuns++;
  return core.tap.generate(scope.namespace, name, generator);
}

// ------------------------------------------------------------------------------- hashes (H)

/** Sets one field; `expiresInSec` sets the TTL of the whole hash (H1), absent leaves it as it is. */
export async function hset(core: CacheCore, scope: Scope, name: string, field: string, value: unknown, opts?: SetValueOptions): Promise<void> {
  const pk = scope.key(name, opts);
  validateField(field);
  const ttlMs = opts?.expiresInSec === undefined ? undefined : core.ttlMs(opts.expiresInSec);
  const tags = opts?.tags === undefined ? undefined : validateTags(opts.tags);
  const bytes = core.encode(value);
  const { values: store, guard } = core;
  await core.settle(pk);
  if (tags !== undefined) return hsetTagged(core, pk, field, bytes, ttlMs, tags);
  await guard.write('HSET', () => store.hset(pk, field, bytes, ttlMs));
}

/** Reads one field; with a generator, a miss behaves as getValue's (S3, S4). */
export async function hget<T = unknown>(core: CacheCore, scope: Scope, name: string, field: string, opts?: HashGetOptions<T>): Promise<T | undefined> {
  const pk = scope.key(name, opts);
  validateField(field);
  const generator = opts?.generator;
  if (generator !== undefined && typeof generator !== 'function') throw new TypeError('generator must be a function');
  const read = async (count: boolean): Promise<unknown> => {
    const bytes = core.pending(pk) ? null : await readField(core, pk, field);
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
    const value = await generateOnce(core, scope, name, generator);
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
  const header = fields.get(TAGS_FIELD);
  if (header !== undefined) {
    if (!(await core.tags.checkHash(pk, header, TAGS_FIELD))) return {};
    fields.delete(TAGS_FIELD);
  }
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
  if (core.pending(pk)) return false;
  return (await readField(core, pk, field)) !== null;
}

export async function hkeys(core: CacheCore, scope: Scope, name: string, opts?: ScopeOptions): Promise<string[]> {
  const pk = scope.key(name, opts);
  const { values: store, guard } = core;
  if (core.pending(pk)) return [];
  const keys = await guard.read('HKEYS', () => store.hkeys(pk), [] as string[]);
  if (!keys.includes(TAGS_FIELD)) return keys;
  const header = await guard.read('HGET', () => store.hget(pk, TAGS_FIELD), null);
  if (header !== null && !(await core.tags.checkHash(pk, header, TAGS_FIELD))) return [];
  return keys.filter((k) => k !== TAGS_FIELD);
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