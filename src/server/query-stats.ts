/**
 * Per-query numbers kept in plain counters and bucket arrays (a few nanoseconds per query), as
 * plain data a worker can post to the primary; ops/query-metrics.ts turns them into Prometheus
 * metrics when scraped. Counting lives with the server that counts, so server/ needs nothing
 * from ops/.
 */
import { rcodeName, typeName } from '../wire/constants.ts';
import { headerRcode } from '../wire/header.ts';

const REPORTED_TYPES = new Set(['A', 'AAAA', 'SRV', 'PTR', 'CNAME', 'TXT', 'MX', 'NS', 'SOA', 'ANY', 'HTTPS', 'SVCB']);

/** Seconds; CoreDNS's buckets for coredns_dns_request_duration_seconds. */
export const DURATION_BUCKETS = [0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192];
/** Bytes; CoreDNS's buckets for coredns_dns_response_size_bytes. */
export const SIZE_BUCKETS = [0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000, 48000, 64000];

/** A histogram's numbers: per-bucket (not cumulative) counts, their sum and count. */
export interface BucketCounts {
  counts: number[];
  sum: number;
  count: number;
}

class Buckets {
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

/** Counts under nested keys: no string is built per query. */
class NestedCounts {
  private readonly root = new Map<string, Map<string, Map<string, number>>>();
  increment(a: string, b: string, c: string): void {
    let level1 = this.root.get(a);
    if (!level1) this.root.set(a, (level1 = new Map()));
    let level2 = level1.get(b);
    if (!level2) level1.set(b, (level2 = new Map()));
    level2.set(c, (level2.get(c) ?? 0) + 1);
  }
  /** Flattened to the tab-joined keys the counter metric reads. */
  flat(): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    for (const [a, level1] of this.root) for (const [b, level2] of level1) for (const [c, value] of level2) out.push([b === '' ? `${a}\t${c}` : `${a}\t${b}\t${c}`, value]);
    return out;
  }
}

/** One serving thread's query numbers, plain data so a worker can post them to the primary. */
export interface QueryCounts {
  requests: Array<[string, number]>;
  responses: Array<[string, number]>;
  policies: Array<[string, number]>;
  duration: BucketCounts;
  size: BucketCounts;
}

/** Where one serving thread counts its queries. */
export class QueryStats {
  private readonly requests = new NestedCounts();
  private readonly responses = new NestedCounts();
  private readonly policies = new Map<string, number>();
  private readonly duration = new Buckets(DURATION_BUCKETS);
  private readonly size = new Buckets(SIZE_BUCKETS);

  snapshot(): QueryCounts {
    return { requests: this.requests.flat(), responses: this.responses.flat(), policies: [...this.policies], duration: this.duration.snapshot(), size: this.size.snapshot() };
  }

  record(zone: string, proto: string, qtype: number, response: Buffer | null, seconds: number): void {
    const type = typeName(qtype);
    this.requests.increment(zone, proto, REPORTED_TYPES.has(type) ? type : 'other');
    if (response === null || response.length < 4) {
      this.responses.increment(zone, '', 'dropped');
      return;
    }
    this.responses.increment(zone, '', rcodeName(headerRcode(response)));
    this.duration.observe(seconds);
    this.size.observe(response.length);
  }

  balanced(policy: string): void {
    increment(this.policies, policy);
  }
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}
