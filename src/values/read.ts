/**
 * The read path of values: getValue (with or without a generator), getMany and peek.
 *
 * A read, step by step:
 *  1. The near cache (N1), if any: a hit answers without a store call. An unscoped call (no `user`,
 *     no `shared`) of a key seen before skips even the key layout: the physical key is remembered
 *     per namespace (near-cache.ts), so the hot path is two Map lookups and one resolved promise.
 *  2. The store: a GET, under a near-cache ticket so that a reply that raced an invalidation is
 *     returned but not kept (N2). What the near cache keeps is what the caller gets (frozen, N5).
 *  3. A miss with a generator: single flight in this process (S4), then the stampede's lease
 *     across processes (S5): the claim, the generator, and one atomic fill that writes the value,
 *     re-tracks it for the near cache, keeps it near and ends the lease. The miss caller gets the
 *     value in the form every later caller will: decoded from what was stored, frozen where the
 *     near cache keeps it.
 *  4. With a stale policy (S6, S7) the entry's metadata decides instead (refresh.ts).
 */
import { MISS, type CacheCore } from '../core.js';
import type { HeldLease } from '../flight/lease.js';
import { isObject } from '../input.js';
import type { Load } from '../flight/stampede.js';
import { NEAR_MISS, type NearCache, type Ticket } from '../near/near-cache.js';
import type { Scope, ScopeOptions } from '../scope.js';
import { ABSENT, UNSHARED, type TtlMs } from '../stores/store.js';
import { isEntry, writeEntry } from '../codec/entry.js';
import { shareable } from '../codec/frozen.js';
import { readWithPolicy, stalePolicy, type StaleOptions, type StalePolicy } from './refresh.js';
import { trackedWrite } from './tracked-write.js';

export interface SetValueOptions extends ScopeOptions {
  /** Seconds to live; absent: `defaultTtlSec`; `null`: no expiry (S1). */
  expiresInSec?: number | null;
}

export interface GetValueOptions<T> extends SetValueOptions, StaleOptions {
  /**
   * Called on a miss; its result is stored and returned (S3), once per key in flight in this
   * process (S4) and once per lease across processes (S5).
   */
  generator?: () => T | Promise<T>;
}

/** Whether options leave the key unscoped (same physical key as no options at all). */
function unscoped(opts: ScopeOptions): boolean {
  return opts.user === undefined && opts.shared === undefined;
}

/**
 * The checks getValue makes of its options whatever path it takes (Z3): the fast path must refuse
 * what the slow path refuses.
 */
function checkGetOptions<T>(core: CacheCore, opts: GetValueOptions<T>): void {
  if (opts.generator !== undefined && typeof opts.generator !== 'function') throw new TypeError('generator must be a function');
  if (opts.expiresInSec !== undefined) core.ttlMs(opts.expiresInSec);
  if (hasStalePolicy(opts)) stalePolicy(opts);
}

/**
 * Reads a value; `undefined` on a miss (C4). With a generator, a miss calls it once per key in
 * flight (S4), stores its result and returns it (S3).
 *
 * Not an async function: a near-cache hit then costs one resolved promise, not an async frame.
 */
export function getValue<T>(core: CacheCore, scope: Scope, key: string, opts: GetValueOptions<T> | undefined): Promise<T | undefined> {
  const near = core.near;
  const local = core.local;
  if ((near !== null || local !== null) && (opts === undefined || (isObject(opts) && unscoped(opts)))) {
    const namespace = scope.namespace;
    let v: unknown = NEAR_MISS;
    try {
      if (near !== null) {
        const known = core.physical.get(namespace, key);
        if (known !== undefined) {
          if (opts !== undefined) checkGetOptions(core, opts);
          const e = near.live(known);
          if (e !== undefined) {
            if (e !== known) core.physical.remember(namespace, key, e);
            v = near.read(e);
            if (v !== NEAR_MISS) return Promise.resolve(core.nearHit(v, key, namespace) as T);
          }
        }
      } else if (local !== null) {
        const ref = core.refs.get(namespace, key);
        // S6, S7 read the entry's metadata: never from a shared value.
        if (ref !== undefined && (opts === undefined || !hasStalePolicy(opts))) {
          if (opts !== undefined) checkGetOptions(core, opts);
          v = local.readShared(ref, core.sharedDecoder);
          if (v !== ABSENT && v !== UNSHARED && core.invalidations.size === 0) {
            core.count(false, key, namespace);
            return Promise.resolve(v as T);
          }
        }
      }
    } catch (err) {
      return Promise.reject(err);
    }
  }
  return slowGetValue(core, scope, key, opts);
}

/** Lets the next unscoped read of `key` skip the key layout (getValue's fast path). */
function remember(core: CacheCore, namespace: string, key: string, pk: string): void {
  if (core.near !== null) core.physical.remember(namespace, key, core.near.live(pk) ?? pk);
  else if (core.local !== null) {
    const ref = core.local.refOf(pk);
    if (ref !== null) core.refs.remember(namespace, key, ref);
  }
}

function hasStalePolicy(opts: StaleOptions): boolean {
  return opts.staleWhileRevalidateSec !== undefined || opts.staleIfErrorSec !== undefined || opts.earlyRefresh !== undefined;
}

async function slowGetValue<T>(core: CacheCore, scope: Scope, key: string, opts: GetValueOptions<T> | undefined): Promise<T | undefined> {
  const pk = scope.key(key, opts);
  if (opts !== undefined) checkGetOptions(core, opts);
  const generator = opts?.generator;
  const ttlMs = generator === undefined ? null : core.ttlMs(opts?.expiresInSec);
  const near = core.near;
  if (opts === undefined || unscoped(opts)) remember(core, scope.namespace, key, pk);
  if (near !== null) {
    const v = near.get(pk);
    if (v !== NEAR_MISS) return core.nearHit(v, key, scope.namespace) as T;
  }
  const policy = stalePolicy(opts);
  if (generator !== undefined && policy !== undefined && ttlMs !== null) {
    // S6, S7: the entry's metadata decides (refresh.ts); without an expiry there is none to use.
    const bytes = await core.guard.read('GET', () => core.values.get(pk), null);
    core.count(bytes === null, key, scope.namespace);
    const decodeStale = (b: Buffer) => {
      const v = core.decode(b, pk, key, true);
      return v === MISS ? null : { value: v };
    };
    return readWithPolicy<T>(core, policy, bytes, decodeStale, valueLoad(core, scope, pk, key, generator, ttlMs, policy));
  }
  if (generator === undefined) {
    const hit = await readValue(core, scope, pk, key, true);
    return hit === MISS ? undefined : (hit as T);
  }
  return getOrCompute(core, scope, pk, key, generator, ttlMs) as Promise<T | undefined>;
}

/** A read of `pk` that, on a miss, computes the value (below); getValue's and memoize's. */
export async function getOrCompute(core: CacheCore, scope: Scope, pk: string, key: string, generator: () => unknown, ttlMs: TtlMs): Promise<unknown> {
  const hit = await readValue(core, scope, pk, key, true);
  return hit !== MISS ? hit : compute(core, scope, pk, key, generator, ttlMs);
}

/**
 * A miss resolved by a generator: single flight, then the stampede. Inside the flight the
 * stampede's claim looks again (a flight that just finished may have stored the value: see
 * single-flight.ts) and takes the cross-process lease (S5). Also memoize's miss (memo/).
 */
export function compute(core: CacheCore, scope: Scope, pk: string, key: string, generator: () => unknown, ttlMs: TtlMs): Promise<unknown> {
  return core.flights.run(pk, () => core.stampede.load(valueLoad(core, scope, pk, key, generator, ttlMs)));
}

/** A miss of `pk` as the stampede resolves it (S5): read again, generate, fill. */
export function valueLoad<T>(
  core: CacheCore,
  scope: Scope,
  pk: string,
  key: string,
  generator: () => T | Promise<T>,
  ttlMs: TtlMs,
  policy?: StalePolicy,
): Load<T> {
  return {
    pk,
    read: async () => {
      const v = await readValue(core, scope, pk, key, false);
      return v === MISS ? null : { value: v };
    },
    generate: () => {
      core.stats.generatorRuns++;
      return core.tap.generate(scope.namespace, key, generator);
    },
    fill: (value, deltaMs, lease) => fill(core, pk, value, ttlMs, policy, deltaMs, lease),
  };
}

/**
 * Writes a generator's result, and ends its lease in the same step. With a stale policy (S6, S7)
 * the value goes in the metadata envelope (entry.ts) and the store keeps it `graceMs` past its
 * logical expiry; such entries are never kept near (their expiry is logical, not the store's).
 */
async function fill(
  core: CacheCore,
  pk: string,
  value: unknown,
  ttlMs: TtlMs,
  policy: StalePolicy | undefined,
  deltaMs: number,
  lease: HeldLease | null,
): Promise<{ value: unknown; released: boolean }> {
  const plain = core.encode(value);
  let bytes = plain;
  let storeTtl = ttlMs;
  if (policy !== undefined && ttlMs !== null) {
    bytes = writeEntry(plain, core.options.now() + ttlMs, deltaMs);
    storeTtl = ttlMs + policy.graceMs;
  }
  const near = policy === undefined ? core.near : null;
  if (lease === null && !near?.active) {
    await core.guard.write('SET', () => core.values.set(pk, bytes, { ttlMs: storeTtl }));
    return { value: ownCopy(core, plain, policy === undefined), released: false };
  }
  const decoded = near === null ? ownCopy(core, plain, policy === undefined) : core.decodeOwn(plain);
  const out = await trackedWrite(core, near, pk, bytes, storeTtl, lease, () => decoded);
  return { value: out.value, released: lease !== null && out.written };
}

/**
 * What the writer of `plain` returns: on the embedded store, frozen as every later reader gets it
 * (values that cannot be shared, and S6/S7 entries, stay a plain copy); elsewhere a copy.
 */
function ownCopy(core: CacheCore, plain: Buffer, share: boolean): unknown {
  const v = core.decodeOwn(plain);
  if (!share || core.local === null) return v;
  const shared = shareable(v);
  return shared === UNSHARED ? v : shared;
}

/** The near cache's copy of `key` right now, synchronously, without any store call (N1). */
export function peek(core: CacheCore, scope: Scope, key: string, opts: ScopeOptions | undefined): unknown {
  const near = core.near;
  if (near === null) return undefined;
  const namespace = opts === undefined ? scope.namespace : '';
  const known = opts === undefined ? core.physical.get(namespace, key) : undefined;
  let pk = typeof known === 'object' ? known.pk : known;
  if (pk === undefined) {
    pk = scope.key(key, opts);
    if (opts === undefined) core.physical.remember(namespace, key, pk);
  }
  const v = near.get(pk);
  return v === NEAR_MISS ? undefined : core.nearHit(v, key, scope.namespace);
}

/** One value read: the near cache, then the store. `count`: as a hit or miss (O1). */
export async function readValue(core: CacheCore, scope: Scope, pk: string, key: string, count: boolean): Promise<unknown> {
  const near = core.near;
  const local = core.local;
  if (local !== null) {
    // The embedded store's shared value, if it has one (no copy, no decode). Otherwise the plain
    // read below decodes a copy: values that cannot be shared, a pending delete (F3), a miss.
    const v = local.readShared(pk, core.sharedDecoder);
    if (v !== ABSENT && v !== UNSHARED && core.invalidations.size === 0) {
      if (count) core.count(false, key, scope.namespace);
      return v;
    }
  }
  let ticket: Ticket | null = null;
  if (near !== null) {
    const v = near.get(pk);
    if (v !== NEAR_MISS) return count ? core.nearHit(v, key, scope.namespace) : v;
    if (count) core.stats.near.misses++;
    ticket = near.begin(pk);
  }
  let bytes: Buffer | null;
  try {
    bytes = await core.guard.read('GET', () => core.values.get(pk), null);
  } catch (err) {
    if (near !== null && ticket !== null) near.abandon(ticket);
    throw err;
  }
  let value: unknown = bytes === null ? MISS : core.decode(bytes, pk, key);
  if (near !== null && ticket !== null) value = settle(near, ticket, value, bytes);
  if (count) core.count(value === MISS, key, scope.namespace);
  return value;
}

/** Ends a read's ticket: keeps the value near unless it is a miss or carries S6/S7 metadata. */
function settle(near: NearCache, ticket: Ticket, value: unknown, bytes: Buffer | null): unknown {
  if (value === MISS || bytes === null || isEntry(bytes)) {
    near.abandon(ticket);
    return value;
  }
  return near.settle(ticket, value, bytes);
}

/** Reads several keys in one round trip per slot; misses are `undefined`. */
export async function getMany<T>(core: CacheCore, scope: Scope, keys: string[], opts: ScopeOptions | undefined): Promise<Array<T | undefined>> {
  if (!Array.isArray(keys)) throw new TypeError('keys must be an array');
  const { physical } = scope.keys(keys, opts);
  if (physical.length === 0) return [];
  const near = core.near;
  const namespace = scope.namespace;
  const out = new Array<T | undefined>(physical.length);
  const missing: number[] = [];
  const local = core.invalidations.size === 0 ? core.local : null;
  for (let i = 0; i < physical.length; i++) {
    if (local !== null) {
      const v = local.readShared(physical[i]!, core.sharedDecoder);
      if (v === ABSENT || v === UNSHARED) missing.push(i);
      else {
        core.count(false, keys[i]!, namespace);
        out[i] = v as T;
      }
      continue;
    }
    const v = near === null ? NEAR_MISS : near.get(physical[i]!);
    if (v === NEAR_MISS) missing.push(i);
    else out[i] = core.nearHit(v, keys[i]!, namespace) as T;
  }
  if (missing.length === 0) return out;
  if (near !== null) core.stats.near.misses += missing.length;
  const tickets = near === null ? null : missing.map((i) => near.begin(physical[i]!));
  const wanted = missing.length === physical.length ? physical : missing.map((i) => physical[i]!);
  let found: Array<Buffer | null> | null;
  try {
    found = await core.guard.read('MGET', () => core.values.getMany(wanted), null);
  } catch (err) {
    if (near !== null && tickets !== null) for (const t of tickets) if (t !== null) near.abandon(t);
    throw err;
  }
  for (let j = 0; j < missing.length; j++) {
    const i = missing[j]!;
    const bytes = found?.[j] ?? null;
    let value: unknown = bytes === null ? MISS : core.decode(bytes, physical[i]!, keys[i]!);
    const t = tickets?.[j] ?? null;
    if (near !== null && t !== null) value = settle(near, t, value, bytes);
    core.count(value === MISS, keys[i]!, namespace);
    out[i] = value === MISS ? undefined : (value as T);
  }
  return out;
}
