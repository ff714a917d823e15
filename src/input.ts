/**
 * Checks of caller input that the types already rule out but a JavaScript caller can still send
 * (`null` for an options object, say). SPEC: bad input is a TypeError before any I/O, so these
 * checks stay; they take `unknown` because they look at what arrived, not at what the types promise.
 */

/** An object (arrays and class instances included), not `null`, not a function. */
export function isObject(v: unknown): v is object {
  return typeof v === 'object' && v !== null;
}
