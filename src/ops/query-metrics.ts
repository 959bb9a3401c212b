/**
 * The Prometheus face of the per-query numbers each serving thread counts (server/query-stats.ts):
 * summed over threads and turned into metrics only when scraped.
 */
import type { Metric, Registry } from 'prom-client';
import { type BucketCounts, DURATION_BUCKETS, type QueryCounts, SIZE_BUCKETS } from '../server/query-stats.ts';

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

/** The query metrics, summed over every serving thread's counts at scrape time. */
export function registerQueryMetrics(registry: Registry, read: () => QueryCounts[]): void {
  registry.registerMetric(counterMetric('lbdns_dns_requests_total', 'DNS requests, by zone, transport and query type.', ['zone', 'proto', 'type'], () => sumKeyed(read().map((c) => c.requests))));
  registry.registerMetric(counterMetric('lbdns_dns_responses_total', 'DNS responses, by zone and rcode.', ['zone', 'rcode'], () => sumKeyed(read().map((c) => c.responses))));
  registry.registerMetric(counterMetric('lbdns_balanced_answers_total', 'Answers ordered by a balancing policy, by policy.', ['policy'], () => sumKeyed(read().map((c) => c.policies))));
  registry.registerMetric(histogramMetric('lbdns_dns_request_duration_seconds', 'Time from a request to its response.', DURATION_BUCKETS, () => sumBuckets(DURATION_BUCKETS, read().map((c) => c.duration))));
  registry.registerMetric(histogramMetric('lbdns_dns_response_size_bytes', 'Size of the responses sent.', SIZE_BUCKETS, () => sumBuckets(SIZE_BUCKETS, read().map((c) => c.size))));
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
