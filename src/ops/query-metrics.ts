/**
 * The Prometheus face of the per-query numbers each serving thread counts (server/query-stats.ts):
 * summed over threads and turned into metrics only when scraped. One set of counts feeds both
 * lbdns's own families and CoreDNS's (`coredns_dns_*`, with CoreDNS's names, labels and buckets).
 */
import type { Metric, Registry } from 'prom-client';
import type { Keyed, QueryCounts } from '../server/query-stats.ts';
import { type BucketCounts, DURATION_BUCKETS, SIZE_BUCKETS, addBuckets } from '../util/histogram.ts';

type Sample = { labels: Record<string, string>; value: number };

/**
 * Every thread's keyed numbers, regrouped: `labels` maps a key's values (split at tabs) to the
 * metric's label values (null: left out); numbers that land on the same labels add up.
 */
export function regroup<T>(all: Array<Keyed<T>>, labels: (values: string[]) => string[] | null, add: (total: T | undefined, one: T) => T): Map<string, T> {
  const total = new Map<string, T>();
  for (const one of all) {
    for (const [key, value] of one) {
      const values = labels(key.split('\t'));
      if (values === null) continue;
      const joined = values.join('\t');
      total.set(joined, add(total.get(joined), value));
    }
  }
  return total;
}

export const addNumbers = (total: number | undefined, one: number): number => (total ?? 0) + one;

function labelsOf(labelNames: string[], joined: string): Record<string, string> {
  if (labelNames.length === 0) return {};
  const values = joined.split('\t');
  return Object.fromEntries(labelNames.map((name, i) => [name, values[i] as string]));
}

/** A counter (or gauge) whose values live elsewhere, read at scrape time. */
export function liveCounter(name: string, help: string, read: () => Sample[], type: 'counter' | 'gauge' = 'counter'): Metric {
  return {
    name,
    help,
    type,
    aggregator: 'sum',
    get: async () => ({ name, help, type, aggregator: 'sum', values: read() }),
    reset: () => undefined,
  } as unknown as Metric;
}

/** A counter over regrouped numbers: each key's tab-separated values are `labelNames`' values. */
export function keyedCounter(name: string, help: string, labelNames: string[], read: () => Map<string, number>, type: 'counter' | 'gauge' = 'counter'): Metric {
  return liveCounter(name, help, () => [...read()].map(([key, value]) => ({ labels: labelsOf(labelNames, key), value })), type);
}

/** A histogram over regrouped bucket counts, one series per key. */
export function keyedHistogram(name: string, help: string, labelNames: string[], bounds: number[], read: () => Map<string, BucketCounts>): Metric {
  return {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get: async () => {
      const values = [];
      for (const [key, buckets] of read()) {
        const labels = labelsOf(labelNames, key);
        let cumulative = 0;
        bounds.forEach((le, i) => {
          cumulative += buckets.counts[i] as number;
          values.push({ labels: { ...labels, le }, value: cumulative, metricName: `${name}_bucket` });
        });
        values.push({ labels: { ...labels, le: '+Inf' }, value: buckets.count, metricName: `${name}_bucket` });
        values.push({ labels, value: buckets.sum, metricName: `${name}_sum` }, { labels, value: buckets.count, metricName: `${name}_count` });
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
    reset: () => undefined,
  } as unknown as Metric;
}

/** CoreDNS's zone label: the zone with its final dot. */
export const corednsZone = (zone: string): string => (zone.endsWith('.') ? zone : `${zone}.`);

/** Reads every thread's counts, picks one kind of them and regroups it: what a metric reads when scraped. */
function regrouped(read: () => QueryCounts[]) {
  return <T>(pick: (c: QueryCounts) => Keyed<T>, labels: (values: string[]) => string[] | null, add: (total: T | undefined, one: T) => T) => () => regroup(read().map(pick), labels, add);
}

/** The query metrics, summed over every serving thread's counts at scrape time. */
export function registerQueryMetrics(registry: Registry, read: () => QueryCounts[]): void {
  const counts = regrouped(read);
  registry.registerMetric(
    keyedCounter('lbdns_dns_requests_total', 'DNS requests, by zone, transport and query type.', ['zone', 'proto', 'type'], counts((c) => c.requests, ([zone, proto, , type]) => [zone!, proto!, type!], addNumbers)),
  );
  registry.registerMetric(keyedCounter('lbdns_dns_responses_total', 'DNS responses, by zone and rcode.', ['zone', 'rcode'], counts((c) => c.responses, (values) => values, addNumbers)));
  registry.registerMetric(keyedCounter('lbdns_balanced_answers_total', 'Answers ordered by a balancing policy, by policy.', ['policy'], counts((c) => c.policies, (values) => values, addNumbers)));
  registry.registerMetric(keyedHistogram('lbdns_dns_request_duration_seconds', 'Time from a request to its response.', [], DURATION_BUCKETS, counts((c) => c.duration, () => [], addBuckets)));
  registry.registerMetric(keyedHistogram('lbdns_dns_response_size_bytes', 'Size of the responses sent.', [], SIZE_BUCKETS, counts((c) => c.responseSize, () => [], addBuckets)));
}

/**
 * CoreDNS's `coredns_dns_*` families from the same counts. `server` is CoreDNS's server label
 * ("dns://:53"); `view` is always empty (lbdns has no views); a response's `plugin` is
 * "kubernetes" for the served zones and "forward" for names sent upstream (zone ".").
 */
export function registerCorednsQueryMetrics(registry: Registry, read: () => QueryCounts[], server: string): void {
  const counts = regrouped(read);
  registry.registerMetric(
    keyedCounter(
      'coredns_dns_requests_total',
      'Counter of DNS requests made per zone, protocol and family.',
      ['server', 'zone', 'view', 'proto', 'family', 'type'],
      counts((c) => c.requests, ([zone, proto, family, type]) => [server, corednsZone(zone!), '', proto!, family!, type!], addNumbers),
    ),
  );
  registry.registerMetric(
    keyedCounter(
      'coredns_dns_responses_total',
      'Counter of response status codes.',
      ['server', 'zone', 'view', 'rcode', 'plugin'],
      counts((c) => c.responses, ([zone, rcode]) => (rcode === 'dropped' ? null : [server, corednsZone(zone!), '', rcode!, zone === '.' ? 'forward' : 'kubernetes']), addNumbers),
    ),
  );
  registry.registerMetric(
    keyedHistogram(
      'coredns_dns_request_duration_seconds',
      'Histogram of the time (in seconds) each request took per zone.',
      ['server', 'zone', 'view', 'type'],
      DURATION_BUCKETS,
      counts((c) => c.duration, ([zone, type]) => [server, corednsZone(zone!), '', type!], addBuckets),
    ),
  );
  registry.registerMetric(
    keyedHistogram(
      'coredns_dns_request_size_bytes',
      'Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.',
      ['server', 'zone', 'view', 'proto'],
      SIZE_BUCKETS,
      counts((c) => c.requestSize, ([zone, proto]) => [server, corednsZone(zone!), '', proto!], addBuckets),
    ),
  );
  registry.registerMetric(
    keyedHistogram(
      'coredns_dns_response_size_bytes',
      'Size of the returned response in bytes.',
      ['server', 'zone', 'view', 'proto'],
      SIZE_BUCKETS,
      counts((c) => c.responseSize, ([zone, proto]) => [server, corednsZone(zone!), '', proto!], addBuckets),
    ),
  );
  registry.registerMetric(liveCounter('coredns_panics_total', 'A metrics that counts the number of panics.', () => [{ labels: {}, value: read().reduce((total, c) => total + c.failures, 0) }]));
  registry.registerMetric(
    liveCounter('lbdns_native_answers_total', 'UDP queries the native addon answered from the shared table of fixed answers, without JavaScript (counted in the request metrics too).', () => [
      { labels: {}, value: read().reduce((total, c) => total + c.native, 0) },
    ]),
  );
}
