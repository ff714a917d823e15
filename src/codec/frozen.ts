/**
 * Values every reader may share: primitives, and plain objects and arrays deep-frozen once (N5,
 * and the embedded store's decoded values). A value holding a Map, Set, Date or byte array is not
 * shareable: those cannot be frozen (their contents stay mutable), so each reader gets its own
 * copy, decoded from bytes.
 */
import { isDate, isMap, isSet, isUint8Array } from 'node:util/types';
import { forEachElement } from '../elements.js';
import { UNSHARED } from '../stores/store.js';

/** True if `v` holds only plain objects, arrays and primitives (no Map, Set, Date, bytes). */
export function plainOnly(v: object): boolean {
  if (isMap(v) || isSet(v) || isDate(v) || isUint8Array(v)) return false;
  if (Array.isArray(v)) {
    // Own elements only (Z1): a sparse array's declared length may be four billion.
    let plain = true;
    forEachElement(v as readonly unknown[], (x) => {
      if (plain && typeof x === 'object' && x !== null && !plainOnly(x)) plain = false;
    });
    return plain;
  }
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k];
    if (typeof x === 'object' && x !== null && !plainOnly(x)) return false;
  }
  return true;
}

/**
 * Deep-freezes plain objects and arrays (N5). Linear in the own properties of what it walks (Z1):
 * an array is walked by its own elements, never by its declared length, so a sparse array costs
 * what it holds.
 */
export function freeze<T>(v: T): T {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return v;
  Object.freeze(v);
  if (Array.isArray(v)) forEachElement(v as readonly unknown[], freeze);
  else for (const k in v) freeze((v as Record<string, unknown>)[k]);
  return v;
}

/** `v` as every reader may get it (frozen in place), or UNSHARED. */
export function shareable(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  return plainOnly(v) ? freeze(v) : UNSHARED;
}
