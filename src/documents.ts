/**
 * The document cache (Frappe's `get_cached_doc`, `get_cached_value`, `clear_document_cache`), D1–D4.
 *
 * ## Keys (all in the namespace, never user-scoped)
 *
 *   d  `<doctype>/<name>`      the cached doc, stored as { e, t, doc }: the doc and the two stamps
 *                               below as they were read *before* it was loaded
 *   V  `<doctype>/<name>`      the doc's version: same name, same hash tag as the doc, so one script
 *                               can check it and write the doc atomically, on a cluster too (K5)
 *   V  `<doctype>/`            the doctype's version (bumped by a doctype-wide clear)
 *   V  `\0documents`           the namespace's document epoch (bumped by `cache.clearCache()`)
 *
 * `<doctype>/<name>` is `joinParts([doctype, name])` (keys.ts): `/` and `%` inside either part are
 * escaped, so no two (doctype, name) pairs share a key, and the doctype prefix `<doctype>/` covers
 * that doctype's docs only (D5: `('Payroll:', 'x')` and `('Payroll', ':x')` were one entry when the
 * parts were joined by a plain `::`). Doc names always hold a `/` and the epoch's does not.
 *
 * ## No stale fill (D2)
 *
 * A reader reads the epoch, the doctype version, the doc version and the doc in one MGET. On a miss
 * it loads the doc, then writes it with a script that checks, in the same atomic step, that the doc
 * version is still the one read before the load: a `clearDocumentCache(doctype, name)` that ran
 * meanwhile (it bumps that version and deletes the doc in one script) makes the fill a no-op.
 * The doctype version and the epoch live in other slots, so they cannot be checked by that script on
 * a cluster; instead the doc carries them as stamps, and a read only accepts a doc whose stamps
 * equal the current versions read in the same MGET. A fill that overlapped a doctype clear or a
 * `clearCache()` may land, but it is never served, and the next read replaces it. Versions only
 * grow, so an old stamp never becomes valid again (unless the version key itself is evicted by a
 * memory limit, see the README).
 *
 * ## Frozen docs (D1)
 *
 * Every read decodes the stored bytes, so every caller gets its own copy; plain objects and arrays
 * in it are then deep-frozen (mutating them throws in strict mode), while Map, Set, Date and byte
 * arrays, which cannot be frozen, are fresh copies on each read. The miss path returns the decoded
 * form of what it stored, never the loader's own object.
 */
import { DEFAULTS } from './defaults.js';
import { DocumentNotFoundError } from './errors.js';
import { isStringArray } from './elements.js';
import { isObject } from './input.js';
import { joinParts, physicalKey, siblingKey, validateKey, type KeyScope } from './keys.js';
import type { CacheStats } from './observability.js';
import type { Emitter } from './observability.js';
import type { SingleFlight } from './flight/single-flight.js';
import type { StoreGuard } from './policy/guard.js';
import type { Script, Store, TtlMs } from './stores/store.js';
import { isDate, isMap, isSet, isUint8Array } from 'node:util/types';
import { isTagged, withHeader } from './tags/envelope.js';
import { docTag, doctypeTag, validateTags } from './tags/names.js';
import type { Tags } from './tags/tags.js';

export interface DocumentsOptions<D extends object = Record<string, unknown>> {
  /** Loads a doc from the database; `undefined` (or `null`) when there is none (D4). */
  load: (doctype: string, name: string) => D | undefined | null | Promise<D | undefined | null>;
  /** Seconds a cached doc lives; `null`: no expiry. Default 3600. */
  ttlSec?: number | null;
  /**
   * Tags of a loaded doc besides the automatic `doctype:<doctype>` and `doc:<doctype>/<name>` (T2).
   * Computed from the doc, so they are read after the load; the automatic ones before it (T4).
   */
  tags?: (doctype: string, name: string, doc: D) => readonly string[];
}

export interface ClearDocumentOptions {
  /**
   * The transaction the change belongs to: the doc is invalidated now and again when this settles,
   * committed or rolled back (D3). `clearDocumentCache` does not wait for it.
   */
  after?: PromiseLike<unknown>;
}

/** What a cached doc looks like to its readers: frozen all the way down (D1). */
export type Frozen<T> = T extends Date | Uint8Array | Map<unknown, unknown> | Set<unknown>
  ? T
  : T extends Array<infer E>
    ? ReadonlyArray<Frozen<E>>
    : T extends object
      ? { readonly [K in keyof T]: Frozen<T[K]> }
      : T;

/** Doc version keys outlive any sane load; they only need to outlast the loads they guard. */
const DOC_VERSION_TTL_MS = 24 * 3600 * 1000;
const EPOCH_NAME = '\u0000documents';

/**
 * Writes a loaded doc only if its version is unchanged since the reader read it (D2).
 *   KEYS[1]  the doc key
 *   KEYS[2]  the doc's version key (same slot)
 *   ARGV[1]  the version read before the load ('' when there was none)
 *   ARGV[2]  the encoded { e, t, doc }
 *   ARGV[3]  TTL in ms, 0 for none
 *   reply    1 if written, 0 if the doc was invalidated meanwhile
 */
export const fillDocument: Script = {
  name: 'fill-document',
  lua: `
local v = redis.call('GET', KEYS[2]) or ''
if v ~= ARGV[1] then return 0 end
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return 1`,
  local(data, keys, args) {
    const current = data.get(keys[1]!);
    const seen = String(args[0]);
    if ((current === null ? '' : current.toString('latin1')) !== seen) return 0;
    const ttl = Number(args[2]);
    data.set(keys[0]!, args[1] as Buffer, ttl > 0 ? ttl : null);
    return 1;
  },
};

/**
 * Invalidates one doc: deletes it and bumps its version (so fills in flight are refused), atomically.
 * The delete comes first: a Redis that is out of memory refuses the INCR (a write that may grow)
 * but never a DEL, and a script's writes before its error stay done, so the doc is gone even
 * then (Z4: an invalidation is never lost to a full store).
 *   KEYS[1]  the doc key
 *   KEYS[2]  the doc's version key (same slot)
 *   ARGV[1]  TTL of the version key in ms
 *   reply    the new version
 */
export const invalidateDocument: Script = {
  name: 'invalidate-document',
  lua: `
redis.call('DEL', KEYS[1])
local v = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return v`,
  local(data, keys, args) {
    data.del(keys[0]!);
    const v = data.incrBy(keys[1]!, 1);
    data.pexpire(keys[1]!, Number(args[0]));
    return v;
  },
};


/** Anything with a then() method (a JavaScript caller's `after` may be anything at all). */
function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && v !== undefined && typeof (v as { then?: unknown }).then === 'function';
}

function validateDoctype(doctype: unknown): asserts doctype is string {
  validateKey(doctype, 'doctype');
  // `::` separates doctype and name in keys; control characters would blur the epoch's name.
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  if (doctype.includes('::') || /[\u0000-\u001f]/.test(doctype)) {
    throw new TypeError(`doctype must not contain "::" or control characters: ${JSON.stringify(doctype)}`);
  }
}

/** The entry name of one doc (D5: unambiguous, see the file comment). */
function docName(doctype: string, name: string): string {
  return joinParts([doctype, name]);
}

/** What every entry name of a doctype's docs starts with, and the name of its version key. */
function doctypePrefix(doctype: string): string {
  return joinParts([doctype]) + '/';
}

/** The namespace-wide key that `cache.clearCache()` bumps so no fill in flight is served (D2). */
export function documentEpochKey(namespace: string): string {
  return physicalKey({ namespace, user: null, shared: false }, 'V', EPOCH_NAME);
}

/** What the document cache needs from a cache view. */
export interface DocumentPort {
  /** The namespace calls use right now (the view's, the context's, the option's). */
  readonly namespace: string;
  /** The store itself (document keys are never kept near). */
  store: Store;
  guard: StoreGuard;
  stats: CacheStats;
  events: Emitter;
  flights: SingleFlight;
  encode(value: unknown): Buffer;
  /** The cache's decode policy; anything but an object means "not there" (a miss, C3, F3). */
  decode(bytes: Buffer, physical: string, key: string): unknown;
  ttlMs(ttlSec: number | null, what: string): TtlMs;
  /** Deletes the docs of `namespace` under `prefix` (space `d`), dropping what was kept of them. */
  deleteDocs(namespace: string, prefix: string): Promise<number>;
  /** Tag tokens and checks (T1, T2). */
  tags: Tags;
}

/** Called by `cache.clearCache()` of a namespace (not a user-only clear). */
export async function bumpDocumentEpoch(port: Pick<DocumentPort, 'store' | 'guard'>, namespace: string): Promise<void> {
  const { store, guard } = port;
  await guard.write('INCR', () => store.incrBy(documentEpochKey(namespace), 1, null));
}

interface Stored {
  e: string;
  t: string;
  doc: object;
}

interface Keys {
  doc: string;
  docVersion: string;
  doctypeVersion: string;
  epoch: string;
}

function stamp(b: Buffer | null | undefined): string {
  return b == null ? '' : b.toString('latin1');
}

/** Freezes plain objects and arrays, recursing into Map values and Set members too (D1). */
export function deepFreeze<T>(v: T): T {
  if (typeof v !== 'object' || v === null) return v;
  if (isDate(v) || isUint8Array(v)) return v;
  if (isMap(v)) {
    for (const [k, val] of v as unknown as Map<unknown, unknown>) {
      deepFreeze(k);
      deepFreeze(val);
    }
    return v;
  }
  if (isSet(v)) {
    for (const m of v as unknown as Set<unknown>) deepFreeze(m);
    return v;
  }
  if (Object.isFrozen(v)) return v;
  Object.freeze(v);
  for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  return v;
}

type DocTags = (doctype: string, name: string, doc: object) => readonly string[];

export class DocumentCache<D extends object = Record<string, unknown>> {
  readonly #port: DocumentPort;
  readonly #load: DocumentsOptions<D>['load'];
  readonly #ttlMs: number | null;
  // Stored without D (a cache of one doc type is passed where any doc type is wanted).
  readonly #tagsOf: DocTags | undefined;

  /** @internal Use cache.documents(). */
  constructor(port: DocumentPort, opts: DocumentsOptions<D>) {
    if (!isObject(opts) || typeof opts.load !== 'function') {
      throw new TypeError('documents() needs { load: (doctype, name) => doc | undefined }');
    }
    this.#port = port;
    this.#load = opts.load;
    this.#ttlMs = port.ttlMs(opts.ttlSec === undefined ? DEFAULTS.docTtlSec : opts.ttlSec, 'ttlSec');
    if (opts.tags !== undefined && typeof opts.tags !== 'function') throw new TypeError('tags must be a function (doctype, name, doc) returning an array of tags');
    this.#tagsOf = opts.tags as DocTags | undefined;
  }

  #keys(doctype: string, name: string, namespace = this.#port.namespace): Keys {
    const scope: KeyScope = { namespace, user: null, shared: false };
    const doc = physicalKey(scope, 'd', docName(doctype, name));
    return {
      doc,
      docVersion: siblingKey(doc, 'V'),
      doctypeVersion: physicalKey(scope, 'V', doctypePrefix(doctype)),
      epoch: physicalKey(scope, 'V', EPOCH_NAME),
    };
  }

  /**
   * Reads the versions and the doc in one round trip (one MGET on a standalone Redis). `bytes` is
   * set only for a doc that may be served (its stamps are current).
   */
  async #read(keys: Keys): Promise<{ versions: [string, string, string] | null; bytes: Buffer | null }> {
    const { store, guard } = this.#port;
    const got = await guard.read('MGET', () => store.getMany([keys.epoch, keys.doctypeVersion, keys.docVersion, keys.doc]), null);
    // Store down (degraded): no versions, so nothing will be filled.
    if (got === null) return { versions: null, bytes: null };
    const versions: [string, string, string] = [stamp(got[0]), stamp(got[1]), stamp(got[2])];
    let bytes = got[3] ?? null;
    // Every cached doc is tagged (T2): served only while its tags' tokens are current.
    if (bytes !== null && isTagged(bytes)) bytes = await this.#port.tags.check(keys.doc, bytes);
    if (bytes === null) return { versions, bytes: null };
    const stored = this.#unpack(bytes, keys);
    // A doc loaded before a doctype clear or clearCache() may have landed: never serve it.
    if (stored?.e !== versions[0] || stored.t !== versions[1]) return { versions, bytes: null };
    return { versions, bytes };
  }

  #unpack(bytes: Buffer, keys: Keys): Stored | undefined {
    // Whatever the store held: a miss (MISS), or a value written by anyone under this key.
    const stored = this.#port.decode(bytes, keys.doc, keys.doc);
    if (!isObject(stored) || !isObject((stored as Partial<Stored>).doc)) return undefined;
    return stored as Stored;
  }

  /**
   * The doc, from the cache or loaded once (per key in flight in this process) and cached,
   * deep-frozen (D1). `getCachedDoc(doctype)` reads a single doctype (name = doctype).
   * Throws DocumentNotFoundError when `load` finds none (D4); that answer is not cached.
   */
  async getCachedDoc<T extends object = D>(doctype: string, name?: string): Promise<Frozen<T>> {
    validateDoctype(doctype);
    const docName = name ?? doctype;
    validateKey(docName, 'name');
    const keys = this.#keys(doctype, docName);
    const core = this.#port;
    const first = await this.#read(keys);
    let bytes = first.bytes;
    if (bytes !== null) core.stats.store.hits++;
    else {
      core.stats.store.misses++;
      bytes = await core.flights.run(keys.doc, async () => {
        const again = await this.#read(keys);
        if (again.bytes !== null) return again.bytes;
        // T4: the automatic tags' tokens before the load, so a doc loaded across an invalidation of
        // them is never served (null: the store is unavailable, nothing will be cached).
        const tags = core.tags;
        let stamped = again.versions === null ? null : await tags.stamp(keys.doc, [doctypeTag(doctype), docTag(doctype, docName)], this.#ttlMs);
        core.stats.generatorRuns++;
        const loaded = await this.#load(doctype, docName);
        if (loaded === undefined || loaded === null) throw new DocumentNotFoundError(doctype, docName);
        if (typeof loaded !== 'object') throw new TypeError(`load(${doctype}, ${docName}) must return an object or undefined`);
        const versions = again.versions ?? ['', '', ''];
        const encoded = core.encode({ e: versions[0], t: versions[1], doc: loaded } satisfies Stored);
        if (stamped !== null && this.#tagsOf !== undefined) {
          const own = await tags.stamp(keys.doc, validateTags(this.#tagsOf(doctype, docName, loaded)), this.#ttlMs);
          stamped = own === null ? null : tags.combine(stamped, own);
        }
        // Store unavailable (no versions read), or a tag invalidated during the load: serve the
        // load, cache nothing.
        if (again.versions !== null && stamped !== null && tags.stillValid(stamped)) {
          const stored = withHeader(stamped.header, encoded);
          await core.guard.write('EVALSHA', () =>
            core.store.eval(fillDocument, [keys.doc, keys.docVersion], [versions[2], stored, this.#ttlMs ?? 0]),
          );
        }
        return encoded;
      }) as Buffer;
    }
    // Every caller decodes its own copy (waiters of one flight too): fresh Maps, Sets, Dates, bytes (D1).
    const stored = this.#unpack(bytes, keys);
    if (stored === undefined) throw new DocumentNotFoundError(doctype, docName);
    return deepFreeze(stored.doc) as Frozen<T>;
  }

  /**
   * One field of a doc (`field`), or several (`[f1, f2]`: their values in that order), read from the
   * cached doc. `undefined` when the doc does not exist (D4).
   */
  async getCachedValue(doctype: string, name: string, field: string): Promise<unknown>;
  async getCachedValue(doctype: string, name: string, fields: readonly string[]): Promise<unknown[] | undefined>;
  async getCachedValue(doctype: string, name: string, fields: string | readonly string[]): Promise<unknown> {
    const list = typeof fields === 'string' ? [fields] : fields;
    if (!isStringArray(list)) throw new TypeError('fields must be a string or an array of strings');
    let doc: Record<string, unknown>;
    try {
      doc = await this.getCachedDoc(doctype, name);
    } catch (err) {
      if (err instanceof DocumentNotFoundError) return undefined;
      throw err;
    }
    const values = list.map((f) => (Object.hasOwn(doc, f) ? doc[f] : undefined));
    return typeof fields === 'string' ? values[0] : values;
  }

  /**
   * Invalidates one doc, or (without a name) every doc of the doctype, including fills in flight in
   * any process (D2). With `after`, invalidates again when it settles (D3). Resolves once the first
   * invalidation is done; a failure of the second is reported through `cache.on('error')`.
   */
  async clearDocumentCache(doctype: string, name?: string, opts?: ClearDocumentOptions): Promise<void> {
    validateDoctype(doctype);
    if (name !== undefined) validateKey(name, 'name');
    const after = opts?.after;
    if (after !== undefined && !isThenable(after)) throw new TypeError('after must be a promise');
    // The namespace is fixed now: the second invalidation may run outside the caller's context.
    const namespace = this.#port.namespace;
    const run = () => (name === undefined ? this.#clearDoctype(namespace, doctype) : this.#clearDoc(namespace, doctype, name));
    await run();
    if (after !== undefined) {
      const again = () => {
        run().catch((err: unknown) => this.#port.guard.report(err instanceof Error ? err : new Error(String(err))));
      };
      after.then(again, again);
    }
  }

  async #clearDoc(namespace: string, doctype: string, name: string): Promise<void> {
    const keys = this.#keys(doctype, name, namespace);
    const { store, guard, events } = this.#port;
    await guard.write('EVALSHA', () => store.eval(invalidateDocument, [keys.doc, keys.docVersion], [DOC_VERSION_TTL_MS]));
    if (events.wantsInvalidate) events.emit('invalidate', { keys: [docName(doctype, name)], namespace, reason: 'delete' });
  }

  async #clearDoctype(namespace: string, doctype: string): Promise<void> {
    const { store, guard, events } = this.#port;
    const scope: KeyScope = { namespace, user: null, shared: false };
    // Bump first: from now on no doc stamped with the old version is served, wherever it lands.
    await guard.write('INCR', () => store.incrBy(physicalKey(scope, 'V', doctypePrefix(doctype)), 1, null));
    // Then free the memory of the docs cached so far.
    await this.#port.deleteDocs(namespace, doctypePrefix(doctype));
    if (events.wantsInvalidate) events.emit('invalidate', { pattern: `${doctypePrefix(doctype)}*`, namespace, reason: 'pattern' });
  }
}
