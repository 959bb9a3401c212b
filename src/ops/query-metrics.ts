/**
 * Per-query numbers kept in plain counters and bucket arrays (a few nanoseconds per query), and
 * turned into Prometheus metrics only when scraped.
 */
import type { Metric, Registry } from 'prom-client';
import { rcodeName, typeName } from '../wire/constants.ts';

const REPORTED_TYPES = new Set(['A', 'AAAA', 'SRV', 'PTR', 'CNAME', 'TXT', 'MX', 'NS', 'SOA', 'ANY', 'HTTPS', 'SVCB']);

/** Seconds; CoreDNS's buckets for coredns_dns_request_duration_seconds. */
const DURATION_BUCKETS = [0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192];
/** Bytes; CoreDNS's buckets for coredns_dns_response_size_bytes. */
const SIZE_BUCKETS = [0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000, 48000, 64000];

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

function sumBuckets(bounds: number[], all: BucketCounts[]): BucketCounts {
  const total: BucketCounts = { counts: bounds.map(() => 0), sum: 0, count: 0 };
  for (const one of all) {
    one.counts.forEach((value, i) => (total.counts[i]! += value));
    total.sum += one.sum;
    total.count += one.count;
  }
  return total;
}

function sumKeyed(all: Array<Array<[string, number]>>): Map<string, number> {
  const total = new Map<string, number>();
  for (const one of all) for (const [key, value] of one) total.set(key, (total.get(key) ?? 0) + value);
  return total;
}

function counterMetric(name: string, help: string, labelNames: string[], read: () => Map<string, number>): Metric {
  return {
    name,
    help,
    type: 'counter',
    aggregator: 'sum',
    get: async () => ({
      name,
      help,
      type: 'counter',
      aggregator: 'sum',
      values: [...read()].map(([key, value]) => ({ labels: Object.fromEntries(key.split('\t').map((v, i) => [labelNames[i], v])), value })),
    }),
    reset: () => undefined,
  } as unknown as Metric;
}

function histogramMetric(name: string, help: string, bounds: number[], read: () => BucketCounts): Metric {
  return {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get: async () => {
      const buckets = read();
      let cumulative = 0;
      const values = bounds.map((le, i) => {
        cumulative += buckets.counts[i] as number;
        return { labels: { le }, value: cumulative, metricName: `${name}_bucket` };
      });
      values.push({ labels: { le: '+Inf' as unknown as number }, value: buckets.count, metricName: `${name}_bucket` });
      return {
        name,
        help,
        type: 'histogram',
        aggregator: 'sum',
        values: [...values, { labels: {}, value: buckets.sum, metricName: `${name}_sum` }, { labels: {}, value: buckets.count, metricName: `${name}_count` }],
      };
    },
    reset: () => undefined,
  } as unknown as Metric;
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

/** The query metrics, summed over every serving thread's counts at scrape time. */
export function registerQueryMetrics(registry: Registry, read: () => QueryCounts[]): void {
  registry.registerMetric(counterMetric('lbdns_dns_requests_total', 'DNS requests, by zone, transport and query type.', ['zone', 'proto', 'type'], () => sumKeyed(read().map((c) => c.requests))));
  registry.registerMetric(counterMetric('lbdns_dns_responses_total', 'DNS responses, by zone and rcode.', ['zone', 'rcode'], () => sumKeyed(read().map((c) => c.responses))));
  registry.registerMetric(counterMetric('lbdns_balanced_answers_total', 'Answers ordered by a balancing policy, by policy.', ['policy'], () => sumKeyed(read().map((c) => c.policies))));
  registry.registerMetric(histogramMetric('lbdns_dns_request_duration_seconds', 'Time from a request to its response.', DURATION_BUCKETS, () => sumBuckets(DURATION_BUCKETS, read().map((c) => c.duration))));
  registry.registerMetric(histogramMetric('lbdns_dns_response_size_bytes', 'Size of the responses sent.', SIZE_BUCKETS, () => sumBuckets(SIZE_BUCKETS, read().map((c) => c.size))));
}

/** Where one serving thread counts its queries. */
export class QueryMetrics {
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
    this.responses.increment(zone, '', rcodeName(response[3]! & 0xf));
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

/** A counter whose value lives elsewhere (read at scrape time), optionally per label set. */
export function liveCounter(name: string, help: string, read: () => Array<{ labels: Record<string, string>; value: number }>, type: 'counter' | 'gauge' = 'counter'): Metric {
  return {
    name,
    help,
    type,
    aggregator: 'sum',
    get: async () => ({ name, help, type, aggregator: 'sum', values: read() }),
    reset: () => undefined,
  } as unknown as Metric;
}
