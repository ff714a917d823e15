/**
 * Frappe's `@request_cache` (X2): results kept in the current context only (one request, one job).
 */
import { currentContext } from '../context.js';
import { canonicalArgumentBytes } from './digest.js';
import type { AnyFunction } from './memoize.js';

export type RequestCached<F extends AnyFunction> = F;

/**
 * Frappe's `@request_cache`: results kept in the current context (one request, one job) and shared
 * by every call there with equal arguments (X2). The function's return value itself is kept: the
 * same object, or the same promise for an async function (a rejected promise is dropped, so a
 * failure is not remembered). Outside a context, and for arguments the codec cannot key (class
 * instances, functions), it just calls through, as Frappe's does for unhashable arguments.
 */
export function requestCached<F extends AnyFunction>(fn: F): RequestCached<F> {
  if (typeof fn !== 'function') throw new TypeError('requestCached needs a function');
  const id = {};
  const wrapper = function (this: unknown, ...args: unknown[]) {
    const ctx = currentContext();
    if (ctx === undefined) return fn.apply(this, args);
    let key: string;
    try {
      key = canonicalArgumentBytes(args).toString('latin1');
    } catch {
      return fn.apply(this, args);
    }
    let results = ctx.memo.get(id);
    if (results === undefined) ctx.memo.set(id, (results = new Map<string, unknown>()));
    if (results.has(key)) return results.get(key);
    const value = fn.apply(this, args);
    results.set(key, value);
    if (value instanceof Promise) {
      const memo = results;
      value.catch(() => {
        if (memo.get(key) === value) memo.delete(key);
      });
    }
    return value;
  };
  Object.defineProperty(wrapper, 'name', { value: fn.name });
  return wrapper as F;
}

