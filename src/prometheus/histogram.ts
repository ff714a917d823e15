/**
 * A Prometheus histogram kept in plain arrays and formatted at scrape time. prom-client's own
 * Histogram hashes and validates its label object on every observe, which on a store round trip of
 * the embedded store (a few µs) is a cost as large as the call; this one costs a bucket search and
 * three additions. It implements the part of prom-client's metric interface a Registry reads
 * (`name`, `help`, `type`, `aggregator`, `get()`, `reset()`), so it is registered with
 * `registry.registerMetric` and exposed in the registry's normal text format.
 */

/** One label combination: cumulative counts are computed at scrape time. */
export class Series {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Record<string, string>,
    buckets: number,
  ) {
    this.counts = new Float64Array(buckets + 1);
  }
}

interface Value {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

export class ScrapedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelName: string | null,
    readonly bounds: readonly number[],
  ) {}

  /** The series of one label value (the only one when the histogram has no label). */
  series(labelValue = ''): Series {
    let s = this.#series.get(labelValue);
    if (s === undefined) {
      s = new Series(this.labelName === null ? {} : { [this.labelName]: labelValue }, this.bounds.length);
      this.#series.set(labelValue, s);
    }
    return s;
  }

  observe(s: Series, value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: Value[] } {
    const values: Value[] = [];
    for (const s of this.#series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += s.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: this.bounds[i]! }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const s of this.#series.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}
