/**
 * Where unscoped calls (no `user`, no `shared`) of a key seen before go, remembered by namespace
 * and key, so a hit served from process memory skips the key layout (validation, escaping, the
 * hash tag): the physical key for the near cache, a reference to the entry itself (StoreRef) for
 * the embedded store, which then skips its own lookup too. The hot path is one compare and one
 * Map lookup: the namespace of a hit is nearly always the one of the hit before, so its map is
 * kept at hand.
 *
 * Only keys that passed validation are remembered (the layout ran for them once), so a remembered
 * key needs no second check. Bounded: a namespace's map is emptied past `limit` keys, and the
 * whole memo past 64 namespaces; forgetting costs one layout on the next read, nothing else.
 */

/** The map physicalOf uses before any namespace was looked up: empty, never written. */
const NO_KEYS: ReadonlyMap<string, never> = new Map<string, never>();
const MAX_NAMESPACES = 64;

export class KeyMemo<V> {
  readonly #byNamespace = new Map<string, Map<string, V>>();
  readonly #limit: number;
  /** The namespace physicalOf last found, and its map (NO_KEYS while there is none). */
  #lastNs: string | undefined;
  #lastKeys: ReadonlyMap<string, V> = NO_KEYS;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** What is remembered for `key` of namespace `ns`, if anything. */
  get(ns: string, key: string): V | undefined {
    if (ns === this.#lastNs) return this.#lastKeys.get(key);
    const m = this.#byNamespace.get(ns);
    if (m === undefined) return undefined;
    this.#lastNs = ns;
    this.#lastKeys = m;
    return m.get(key);
  }

  /** Remembers where an unscoped key that passed validation goes. */
  remember(ns: string, key: string, to: V): void {
    let m = this.#byNamespace.get(ns);
    if (m === undefined) {
      if (this.#byNamespace.size >= MAX_NAMESPACES) {
        this.#byNamespace.clear();
        this.#lastNs = undefined;
        this.#lastKeys = NO_KEYS;
      }
      m = new Map();
      this.#byNamespace.set(ns, m);
    }
    if (m.size >= this.#limit) m.clear();
    m.set(key, to);
  }
}
