/**
 * A fixed-bucket latency histogram for published telemetry (OP4): cheap to record (one loop over
 * a dozen bounds), mergeable, and enough to estimate p50/p99 by interpolating inside a bucket, as
 * Prometheus's histogram_quantile does.
 */

/** Upper bounds in ms: from 50 µs (an embedded-store call) to 1 s (the default command timeout). */
export const LATENCY_BOUNDS_MS: readonly number[] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000];

export class LatencyHistogram {
  /** counts[i]: samples ≤ bounds[i] and > bounds[i-1]; the last slot holds those past every bound. */
  readonly counts: number[];
  count = 0;
  max = 0;

  constructor(readonly bounds: readonly number[] = LATENCY_BOUNDS_MS) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  record(ms: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && ms > b[i]!) i++;
    this.counts[i]!++;
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  /** The q-quantile (0 < q ≤ 1) in ms, or null without samples. */
  quantile(q: number): number | null {
    if (this.count === 0) return null;
    const rank = q * this.count;
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const c = this.counts[i]!;
      if (c === 0) continue;
      if (seen + c >= rank) {
        const lo = i === 0 ? 0 : this.bounds[i - 1]!;
        // Past the last bound the best estimate is the largest sample seen.
        const hi = i < this.bounds.length ? Math.min(this.bounds[i]!, this.max) : this.max;
        return lo + (Math.max(hi, lo) - lo) * ((rank - seen) / c);
      }
      seen += c;
    }
    return this.max;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.max = 0;
  }
}
