/**
 * Values every reader may share: primitives, and plain objects and arrays deep-frozen once (N5,
 * and the embedded store's decoded values). A value holding a Map, Set, Date or byte array is not
 * shareable: those cannot be frozen (their contents stay mutable), so each reader gets its own
 * copy, decoded from bytes.
 */
import { isDate, isMap, isSet, isUint8Array } from 'node:util/types';
import { UNSHARED } from '../stores/store.js';

/** True if `v` holds only plain objects, arrays and primitives (no Map, Set, Date, bytes). */
export function plainOnly(v: object): boolean {
  if (isMap(v) || isSet(v) || isDate(v) || isUint8Array(v)) return false;
  if (Array.isArray(v)) {
    for (const x of v as readonly unknown[]) if (typeof x === 'object' && x !== null && !plainOnly(x)) return false;
    return true;
  }
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k];
    if (typeof x === 'object' && x !== null && !plainOnly(x)) return false;
  }
  return true;
}

export function freeze<T>(v: T): T {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return v;
  Object.freeze(v);
  if (Array.isArray(v)) for (const x of v) freeze(x);
  else for (const k in v) freeze((v as Record<string, unknown>)[k]);
  return v;
}

/** `v` as every reader may get it (frozen in place), or UNSHARED. */
export function shareable(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  return plainOnly(v) ? freeze(v) : UNSHARED;
}
