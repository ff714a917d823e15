/**
 * O6: per-namespace metric labels are capped. The first `max` distinct namespaces a metrics
 * consumer meets keep their name; later ones are counted under `"other"`, so a host with 10,000
 * tenants gives a metrics backend 51 series per metric, not 10,000.
 */
import { OTHER_NAMESPACE } from '../telemetry.js';

export const DEFAULT_MAX_NAMESPACE_LABELS = 50;

export class NamespaceLabels {
  readonly #named = new Set<string>();
  readonly #max: number;

  constructor(max: number = DEFAULT_MAX_NAMESPACE_LABELS) {
    if (!Number.isInteger(max) || max < 0) throw new TypeError(`maxNamespaceLabels must be a non-negative integer, got ${String(max)}`);
    this.#max = max;
  }

  /** The label value for `namespace`. */
  of(namespace: string): string {
    if (this.#named.has(namespace)) return namespace;
    if (this.#named.size < this.#max) {
      this.#named.add(namespace);
      return namespace;
    }
    return OTHER_NAMESPACE;
  }
}
