/**
 * Memoisation in the store (Frappe's `@redis_cache`), shared by every process:
 *
 *   memoize(fn)        (M1–M5)
 *   @cached()          the same as a standard (TC39) method decorator (M4)
 *
 * (request.ts keeps results for one context, process.ts in this process's memory.)
 *
 * Memo keys live in space `m` as `<name>/<digest>` (digest.ts), so clearing one function is a scan
 * of that space for its name, in every user scope, and `clearCache()` of the namespace removes them
 * with everything else.
 */
import { DEFAULTS } from '../defaults.js';
import { isObject } from '../input.js';
import { joinParts, validateKey } from '../keys.js';
import type { TtlMs } from '../stores/store.js';
import { argumentDigest } from './digest.js';
import { validateTags } from '../tags/names.js';

// ------------------------------------------------------------------------------------- memoize

export interface MemoizeOptions {
  /** The entry name; default: the function's own name (an anonymous function needs one). */
  name?: string;
  /** Seconds a result lives; `null`: no expiry. Default 3600 (as Frappe's redis_cache). */
  ttlSec?: number | null;
  /** Scope results to a user; `true`: the current context's user (K2). */
  user?: string | true;
  /** Results outside every namespace (K1). */
  shared?: boolean;
  /**
   * The tags of a call's result, from the call's arguments (T1, T8); called on a miss only, before
   * the function runs (T4). `cache.invalidateTags` removes the results carrying them.
   */
  tags?: TagsOf;
}

/** Tags of a memoised call from its arguments (a function of any arguments: the memoised function's). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TagsOf = (...args: any[]) => readonly string[];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyFunction = (this: any, ...args: any[]) => unknown;

export interface Memoized<F extends AnyFunction> {
  (this: ThisParameterType<F>, ...args: Parameters<F>): Promise<Awaited<ReturnType<F>>>;
  /** Removes every cached result of this function in the namespace, for all users (M3). */
  clearCache(): Promise<number>;
  /** The name the entries are stored under. */
  readonly memoName: string;
}

export function memoName(fn: unknown, name: unknown, what: string): string {
  if (typeof fn !== 'function') throw new TypeError(`${what} needs a function`);
  const n = name ?? fn.name;
  if (typeof n !== 'string' || n.length === 0) {
    throw new TypeError(`${what}: an anonymous function needs a name option (the name is part of every key)`);
  }
  validateKey(n, 'name');
  return n;
}

/** What memoisation needs from a cache view. */
export interface MemoPort {
  /** The physical key of entry `name` in space `m` for these scope options (throws before any I/O). */
  memoKey(name: string, scope: { user?: string | true; shared?: boolean }): string;
  ttlMs(ttlSec: number | null, what: string): TtlMs;
  /** The value path's get-or-compute (values/read.ts): near cache, store, single flight, lease, fill. */
  getOrCompute(pk: string, displayKey: string, compute: () => unknown, ttlMs: TtlMs, tags?: readonly string[]): Promise<unknown>;
  /** Deletes the namespace's (or the shared space's) entries of space `m` under `prefix`, in every user scope. */
  deleteEntries(prefix: string, shared: boolean, filter: (name: string) => boolean): Promise<number>;
}

/**
 * One memoised call: the value path's get-or-compute of `m/<name>/<digest>`: the function runs once
 * per key in flight in this process (S4) and once per lease across processes (S5), and what it
 * returns is stored unless that is `undefined` (M2). A stored `null` is a hit: the store's "no
 * such key" and a cached null are different answers, so no EXISTS round trip is needed (Frappe
 * needs one).
 */
function memoCall(
  port: MemoPort,
  name: string,
  ttlSec: number | null,
  scopeOpts: { user?: string | true; shared?: boolean },
  fn: AnyFunction,
  thisArg: unknown,
  args: unknown[],
  tagsOf?: TagsOf,
): Promise<unknown> {
  try {
    // Both throw before the function runs: refused arguments (M5) and a missing context user (K2).
    const keyName = `${name}/${argumentDigest(args)}`;
    const pk = port.memoKey(keyName, scopeOpts);
    // T7: the tags are checked before any I/O, so they are computed on every call, hit or miss.
    const tags = tagsOf === undefined ? undefined : validateTags(tagsOf.apply(thisArg, args));
    return port.getOrCompute(pk, keyName, () => fn.apply(thisArg, args), port.ttlMs(ttlSec, 'ttlSec'), tags);
  } catch (err) {
    return Promise.reject(err);
  }
}

/** Deletes every entry `<name>/<digest>` of the namespace (or the shared space), in every user scope. */
function clearMemo(port: MemoPort, name: string, shared: boolean): Promise<number> {
  const prefix = `${name}/`;
  // The digest holds no `/`: a function named `a` never clears one named `a/b`.
  return port.deleteEntries(prefix, shared, (n) => !n.includes('/', prefix.length));
}

function checkMemoOptions(opts: MemoizeOptions | undefined, what: string): Required<Pick<MemoizeOptions, 'ttlSec'>> & MemoizeOptions {
  if (opts !== undefined && !isObject(opts)) throw new TypeError(`${what} options must be an object`);
  const ttlSec = opts?.ttlSec === undefined ? DEFAULTS.memoTtlSec : opts.ttlSec;
  if (ttlSec !== null && (typeof ttlSec !== 'number' || !Number.isFinite(ttlSec) || ttlSec <= 0)) {
    throw new TypeError(`ttlSec must be a positive finite number of seconds or null, got ${String(ttlSec)}`);
  }
  if (opts?.shared !== undefined && typeof opts.shared !== 'boolean') throw new TypeError('shared must be a boolean');
  if (opts?.tags !== undefined && typeof opts.tags !== 'function') throw new TypeError('tags must be a function of the arguments returning an array of tags');
  return { ...opts, ttlSec };
}

export function memoize<F extends AnyFunction>(port: MemoPort, fn: F, opts?: MemoizeOptions): Memoized<F> {
  const o = checkMemoOptions(opts, 'memoize');
  const name = memoName(fn, o.name, 'memoize');
  const scopeOpts = { user: o.user, shared: o.shared };
  // Check a fixed user now, so a bad option fails at definition, not at the first call.
  if (typeof o.user === 'string') port.memoKey(name, { user: o.user });
  const memoized = function (this: unknown, ...args: unknown[]) {
    return memoCall(port, name, o.ttlSec, scopeOpts, fn, this, args, o.tags);
  } as unknown as Memoized<F>;
  Object.defineProperty(memoized, 'name', { value: name });
  Object.defineProperty(memoized, 'memoName', { value: name, enumerable: true });
  memoized.clearCache = () => clearMemo(port, name, o.shared ?? false);
  return memoized;
}

// ------------------------------------------------------------------------------------- @cached

/**
 * A standard (TC39, TypeScript 5 without `experimentalDecorators`) method decorator. Entries are
 * named `<Class>.<method>` after the class that declares the method (joinParts with `.`: a `.` or
 * `%` in either name is escaped, so class `A.b`'s method `c` and class `A`'s method `b.c` differ: D5) (a subclass calling an
 * inherited method shares its entries); the instance is not part of the key (M4). The decorated
 * method gets a `clearCache()` of its own: `Prices.prototype.rate.clearCache()`.
 */
export function cachedDecorator(port: MemoPort, opts?: MemoizeOptions) {
  const o = checkMemoOptions(opts, '@cached');
  return function <F extends AnyFunction>(method: F, context: ClassMethodDecoratorContext): F {
    // Applied from JavaScript (or by hand), the decorator may be given any decorator's context.
    const kind: string = context.kind;
    if (kind !== 'method') throw new TypeError('@cached decorates methods');
    if (typeof context.name === 'symbol' && o.name === undefined) {
      throw new TypeError('@cached on a symbol-named method needs a name option');
    }
    const methodName = String(context.name);
    let name = o.name;
    const scopeOpts = { user: o.user, shared: o.shared };
    const replacement = function (this: unknown, ...args: unknown[]) {
      name ??= joinParts([declaringClassName(this, context, replacement), methodName], '.');
      return memoCall(port, name, o.ttlSec, scopeOpts, method, this, args, o.tags);
    };
    Object.defineProperty(replacement, 'name', { value: methodName });
    Object.defineProperty(replacement, 'clearCache', {
      value: () => {
        if (name === undefined) {
          throw new TypeError(`clearCache() of ${methodName} before its first call: give @cached a name option to clear it any time`);
        }
        return clearMemo(port, name, o.shared ?? false);
      },
    });
    return replacement as unknown as F;
  };
}

/** The name of the class whose prototype (or, for a static method, the class itself) holds `fn`. */
function declaringClassName(self: unknown, context: ClassMethodDecoratorContext, fn: unknown): string {
  let o: unknown = self;
  while (o !== null && (typeof o === 'object' || typeof o === 'function')) {
    const d = Object.getOwnPropertyDescriptor(o, context.name);
    if (d?.value === fn) {
      const cls = context.static ? o : (o as { constructor?: unknown }).constructor;
      const n = typeof cls === 'function' ? cls.name : '';
      if (n) return n;
      break;
    }
    o = Object.getPrototypeOf(o);
  }
  throw new TypeError(`@cached could not name the class of ${String(context.name)}: give it a name option`);
}

