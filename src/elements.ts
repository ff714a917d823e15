/**
 * Walks over arrays that came from a caller or a store, at a cost linear in what they hold (Z1).
 *
 * An array's `length` says nothing about its size: `a = []; a[7] = 1; a.length = 2 ** 32 - 1` is
 * one element and four billion holes, and `for…of`, `map`, `every` or `forEach` visit (or probe)
 * every index, holes included — minutes of a blocked event loop. These helpers walk the dense
 * start of an array index by index (the common case, no allocation), and from the first hole on
 * only the array's own keys, as the codec's encoder does.
 */

/**
 * Calls `fn` for every own element of `a`, in ascending index order, skipping holes. Cost: the
 * dense prefix plus the own keys after it; never the declared length.
 */
export function forEachElement(a: readonly unknown[], fn: (value: unknown, index: number) => void): void {
  const n = a.length;
  let i = 0;
  for (; i < n; i++) {
    const x = a[i];
    if (x === undefined && !Object.hasOwn(a, i)) break;
    fn(x, i);
  }
  if (i >= n) return;
  const from = i;
  // Own keys list an array's indices first, in ascending order, then its other properties.
  for (const k of Object.keys(a)) {
    const idx = Number(k);
    if (!(idx >= from && idx < n && String(idx) === k)) continue;
    fn(a[idx], idx);
  }
}

/**
 * The elements of a caller's list, checked one by one in index order: `check` is called for each
 * index until it throws, a hole reading as `undefined` (so the first hole fails a check that
 * wants a string, at once, whatever the declared length). Returns the list for chaining.
 */
export function checkEach<T>(list: readonly T[], check: (value: T, index: number) => void): readonly T[] {
  for (let i = 0; i < list.length; i++) check(list[i]!, i);
  return list;
}

/** True if `v` is an array whose every index holds a string (false at the first hole or non-string). */
export function isStringArray(v: unknown): v is string[] {
  if (!Array.isArray(v)) return false;
  // An index loop on purpose: for…of would walk a sparse array's whole declared length.
  // eslint-disable-next-line @typescript-eslint/prefer-for-of
  for (let i = 0; i < v.length; i++) if (typeof v[i] !== 'string') return false;
  return true;
}

const OBJECT_PROTO: object = Object.prototype;

/**
 * Sets `o[k] = v` as an own data property without running anything inherited (Z2): a plain
 * assignment of a key that `Object.prototype` has (a setter someone defined there, `__proto__`)
 * would run that setter with store data, or change the prototype, and lose the field. The codec
 * builds decoded objects the same way.
 */
export function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k in OBJECT_PROTO) Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  else o[k] = v;
}
