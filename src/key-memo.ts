/**
 * Where unscoped calls (no `user`, no `shared`) of a key seen before go, remembered by namespace
 * and key, so a hit served from process memory skips the key layout (validation, escaping, the
 * hash tag): the near cache's entry for the key, or a reference to the embedded store's entry
 * (StoreRef), which then skips its own lookup too. The hot path is one compare and one Map
 * lookup: the namespace of a hit is nearly always the one of the hit before, so its map is kept
 * at hand.
 *
 * Only keys that passed validation are remembered (the layout ran for them once), so a remembered
 * key needs no second check. What is remembered may die (its entry evicted, deleted, expired):
 * readers then find the key anew, and each `remember` also looks at the next two remembered keys
 * in turn and forgets them if dead, so dead references cannot pile up past about the live ones
 * (they would hold memory the stores' `maxBytes` does not count). Bounded besides: a namespace's
 * map is emptied past `limit` keys, and the whole memo past 64 namespaces; forgetting costs one
 * key layout on the next read, nothing else.
 */

/** The map `get` uses before any namespace was looked up: empty, never written. */
const NO_KEYS: ReadonlyMap<string, never> = new Map<string, never>();
const MAX_NAMESPACES = 64;
/** Remembered keys examined (and forgotten if dead) per `remember`. */
const PRUNE_STEPS = 4;

class Keys<V> extends Map<string, V> {
  /** Where the pruning walk is (a live iterator of this map), or undefined to start over. */
  cursor: MapIterator<[string, V]> | undefined;
}

export class KeyMemo<V> {
  readonly #byNamespace = new Map<string, Keys<V>>();
  readonly #limit: number;
  readonly #dead: (v: V) => boolean;
  /** The namespace `get` last found, and its map (NO_KEYS while there is none). */
  #lastNs: string | undefined;
  #lastKeys: ReadonlyMap<string, V> = NO_KEYS;

  constructor(limit: number, dead: (v: V) => boolean) {
    this.#limit = limit;
    this.#dead = dead;
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
      m = new Keys();
      this.#byNamespace.set(ns, m);
    }
    if (m.size >= this.#limit) {
      m.clear();
      m.cursor = undefined;
    }
    m.set(key, to);
    this.#prune(m);
  }

  #prune(m: Keys<V>): void {
    for (let i = 0; i < PRUNE_STEPS; i++) {
      m.cursor ??= m.entries();
      const r = m.cursor.next();
      if (r.done === true) {
        m.cursor = undefined;
        return;
      }
      if (this.#dead(r.value[1])) m.delete(r.value[0]);
    }
  }
}
