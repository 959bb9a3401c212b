/**
 * A histogram kept as plain per-bucket counts (a few nanoseconds per observation), and its
 * numbers as plain data a worker thread can post to the primary. The bounds are CoreDNS's, so
 * that its dashboards and alert rules read lbdns's histograms as they read its own.
 */

/** Seconds: CoreDNS's plugin.TimeBuckets (0.25 ms doubling 16 times), for every duration histogram. */
export const DURATION_BUCKETS = [0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192];
/** Bytes: CoreDNS's plugin.SizeBuckets, for request and response sizes. */
export const SIZE_BUCKETS = [0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000, 48000, 64000];

/** A histogram's numbers: per-bucket (not cumulative) counts, their sum and count. */
export interface BucketCounts {
  counts: number[];
  sum: number;
  count: number;
}

export class Buckets {
  readonly bounds: number[];
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(bounds: number[]) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length);
  }
  observe(value: number): void {
    this.sum += value;
    this.count++;
    for (let i = 0; i < this.bounds.length; i++) {
      if (value <= (this.bounds[i] as number)) {
        this.counts[i]!++;
        return;
      }
    }
  }
  snapshot(): BucketCounts {
    return { counts: [...this.counts], sum: this.sum, count: this.count };
  }
}

/** The bucket counts of several histograms with the same bounds, added up. */
export function addBuckets(total: BucketCounts | undefined, one: BucketCounts): BucketCounts {
  const sum: BucketCounts = total ?? { counts: one.counts.map(() => 0), sum: 0, count: 0 };
  one.counts.forEach((value, i) => (sum.counts[i]! += value));
  sum.sum += one.sum;
  sum.count += one.count;
  return sum;
}
