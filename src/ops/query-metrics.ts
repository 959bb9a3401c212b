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

function histogramMetric(name: string, help: string, buckets: Buckets): Metric {
  return {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get: async () => {
      let cumulative = 0;
      const values = buckets.bounds.map((le, i) => {
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
  flat(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [a, level1] of this.root) for (const [b, level2] of level1) for (const [c, value] of level2) out.set(b === '' ? `${a}\t${c}` : `${a}\t${b}\t${c}`, value);
    return out;
  }
}

export class QueryMetrics {
  private readonly requests = new NestedCounts();
  private readonly responses = new NestedCounts();
  private readonly policies = new Map<string, number>();
  private readonly duration = new Buckets(DURATION_BUCKETS);
  private readonly size = new Buckets(SIZE_BUCKETS);

  register(registry: Registry): void {
    registry.registerMetric(counterMetric('lbdns_dns_requests_total', 'DNS requests, by zone, transport and query type.', ['zone', 'proto', 'type'], () => this.requests.flat()));
    registry.registerMetric(counterMetric('lbdns_dns_responses_total', 'DNS responses, by zone and rcode.', ['zone', 'rcode'], () => this.responses.flat()));
    registry.registerMetric(counterMetric('lbdns_balanced_answers_total', 'Answers ordered by a balancing policy, by policy.', ['policy'], () => this.policies));
    registry.registerMetric(histogramMetric('lbdns_dns_request_duration_seconds', 'Time from a request to its response.', this.duration));
    registry.registerMetric(histogramMetric('lbdns_dns_response_size_bytes', 'Size of the responses sent.', this.size));
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
