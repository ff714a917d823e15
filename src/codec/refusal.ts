/**
 * What the encoder refuses, and how it says so (C2, C5): the internal `Refusal` that carries a
 * refused part up to the top while each enclosing container adds its path segment, the wording of
 * what was refused, and the oversize `ValueError`. None of this touches the encoder's scratch
 * state and none of it runs unless a value is refused, so it lives apart from `encode.ts`.
 *
 * ## What is refused: `ValueError`, synchronously, before any I/O
 *
 * Functions, symbols, `undefined` at the top level, class instances (anything whose prototype is
 * not one of `Object.prototype`, `null`, `Array.prototype`, `Map.prototype`, `Set.prototype`,
 * `Date.prototype`, `Uint8Array.prototype`, `Buffer.prototype`: so `RegExp`, `Error`, `WeakMap`,
 * `Promise`, boxed primitives, other typed arrays, subclasses and objects of another realm), an own
 * `__proto__` key, cycles, nesting deeper than `MAX_DEPTH` containers, and an encoded size above
 * `maxBytes` (the encoder stops as soon as its output passes the limit).
 *
 * ## `ValueError.path`
 *
 * It names the offending part: `$` is the value itself, `.name` a property whose name is an
 * identifier, `["a key"]` any other property (JSON-quoted), `[3]` an array index, `<Map>[2]` the
 * value of a Map's third entry and `<Map>[2]<key>` its key, `<Set>[2]` a Set's third member: e.g.
 * `$.items[3].fn`, `$.prices<Map>[0]<key>.code`. For a cycle, the path is where the cycle closes
 * (the reference back to an ancestor). Segments are collected innermost first, on the way out of
 * the recursion, so no path is built unless something is refused.
 */

import { ValueError } from '../errors.js';

/** A refused part, on its way up to the top, collecting path segments. Internal. */
export class Refusal {
  readonly segments: string[] = [];
  constructor(
    readonly what: string,
    /** Depth of the refused part: containers at a smaller depth add their segment. */
    readonly depth: number,
  ) {}
}

export function oversize(maxBytes: number): ValueError {
  return new ValueError(`the encoded value is larger than the ${maxBytes}-byte limit (maxValueBytes)`, '$');
}

/** What a refused object is, for the message: named by its constructor where one can be read. */
export function describe(proto: unknown): string {
  let name = '';
  try {
    const ctor: unknown = proto !== null && typeof proto === 'object' ? (proto as { constructor?: unknown }).constructor : undefined;
    if (typeof ctor === 'function' && typeof ctor.name === 'string') name = ctor.name;
  } catch {
    // A throwing getter on a foreign prototype: keep the generic description.
  }
  if (['Map', 'Set', 'Date', 'Array', 'Uint8Array', 'Buffer', 'Object'].includes(name)) {
    return `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name} of another realm, of a subclass, or a forged one`;
  }
  return `${name ? `an instance of ${name}` : 'an object with a foreign prototype'} (only plain objects, arrays, Map, Set, Date, Uint8Array and Buffer are stored)`;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** The path segment of an object property: `.name` for an identifier, `["…"]` otherwise. */
export function propSegment(k: string): string {
  return IDENTIFIER.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
}
