/**
 * Prometheus metrics (prom-client): one registry per process, built with the sources it reads at
 * scrape time. lbdns's own `lbdns_*` families, and next to them CoreDNS's (`coredns_*`, same
 * names, types, labels and buckets as CoreDNS 1.11/1.12), so that CoreDNS's dashboards and the
 * kubernetes-mixin alerts work unchanged. Instruments others record into (watch restarts,
 * reloads) are fields; everything a serving thread counts is read from its numbers.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { addNumbers, keyedCounter, keyedHistogram, liveCounter, regroup, registerCorednsQueryMetrics, registerQueryMetrics } from './query-metrics.ts';
import type { ServingStats } from '../server/serving.ts';
import { type TcpCloses, noTcpCloses } from '../server/tcp.ts';
import { parseListenAddress } from '../server/listen-address.ts';
import type { Settings } from '../settings/schema.ts';
import { DURATION_BUCKETS, addBuckets } from '../util/histogram.ts';
import { packageVersion } from '../util/package-root.ts';

const snakeCase = (name: string): string => name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

/** What the metrics read when scraped. */
export interface MetricSources {
  /** The settings as last accepted. */
  settings: () => Settings;
  /** Objects in the cluster view, by kind. */
  viewCounts: () => Record<string, number>;
  /**
   * The numbers of every serving thread, the main thread's first: with workers, its numbers also
   * hold what they relayed to it (its one forwarder, failures of relayed queries; it counts no
   * relayed query, the worker that received it does).
   */
  serving: () => ServingStats[];
  /** Awaited before a scrape: fetches the workers' numbers. */
  beforeScrape?: () => Promise<void>;
  /** Serving workers started again so far. */
  workerRestarts?: () => number;
  /** Services in endpoint mode with a port whose targetPort differs, by what their A/AAAA records answer (balance/service-audit.ts). */
  portMismatch?: () => { clusterIP: number; endpoints: number };
  /** How serving threads move UDP datagrams, chosen once at startup (io: auto may fall back to dgram). */
  udpIo?: 'batch' | 'dgram';
}

type Upstream = ServingStats['forward']['upstreams'][number];

/** CoreDNS's server label for a server block listening on every address of a port: "dns://:53". */
function corednsServer(settings: Settings): string {
  const first = settings.listen[0];
  return `dns://:${first === undefined ? 53 : parseListenAddress(first).port}`;
}

/** The CoreDNS plugins whose work lbdns does with these settings, for coredns_plugin_enabled. */
function corednsPlugins(settings: Settings): string[] {
  const plugins = ['errors', 'health', 'ready', 'kubernetes', 'prometheus', 'forward', 'loadbalance'];
  if (settings.cache.positiveSize > 0 || settings.cache.negativeSize > 0) plugins.push('cache');
  if (settings.autopath) plugins.push('autopath');
  if (settings.queryLogSampleRate > 0) plugins.push('log');
  return plugins.sort();
}

export class Metrics {
  readonly registry = new Registry();
  private readonly sources: MetricSources;

  private counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  readonly watchRestarts = this.counter('lbdns_kubernetes_watch_restarts_total', 'Watches of the Kubernetes API started again, by kind and reason (closed, idle, error).', ['kind', 'reason'] as const);
  readonly relists = this.counter('lbdns_kubernetes_relists_total', 'Full lists of a kind, by reason (initial, expired, error).', ['kind', 'reason'] as const);
  readonly apiErrors = this.counter('lbdns_kubernetes_errors_total', 'Failed Kubernetes API requests, by kind and HTTP status (0: no response).', ['kind', 'code'] as const);
  readonly synced = this.gauge('lbdns_kubernetes_synced', '1 once the kind has completed its first list.', ['kind'] as const);
  readonly stale = this.gauge('lbdns_kubernetes_stale', '1 while a watch of the API is failing: answers come from the last known view.');
  readonly lastEvent = this.gauge('lbdns_kubernetes_last_event_timestamp_seconds', 'Unix time of the last list or watch event received from the API server.');
  readonly configReloads = this.counter('lbdns_config_reloads_total', 'Settings reloads, by result (success, failure: rejected, the last good settings serve).', ['result'] as const);
  readonly configLastReloadSuccessful = this.gauge('lbdns_config_last_reload_successful', '1 when the last settings reload was accepted, 0 when it was rejected.');

  constructor(sources: MetricSources) {
    this.sources = sources;
    this.configLastReloadSuccessful.set(1);
    collectDefaultMetrics({ register: this.registry, prefix: 'lbdns_' });
    const register = this.registry.registerMetric.bind(this.registry);
    const threads = sources.serving;
    const sum = (read: (s: ServingStats) => number) => threads().reduce((total, s) => total + read(s), 0);
    const total = (read: (s: ServingStats) => number) => [{ labels: {}, value: sum(read) }];
    register(liveCounter('lbdns_worker_restarts_total', 'Serving workers that died and were started again while the others served.', () => [{ labels: {}, value: sources.workerRestarts?.() ?? 0 }]));
    const udpIo = sources.udpIo;
    if (udpIo !== undefined) {
      // Both values always present, so a dashboard or alert can tell a fallback to dgram (0 → 1) from a missing series.
      register(liveCounter('lbdns_udp_io', 'How serving threads move UDP datagrams: 1 for the one in use (batch: the native addon, recvmmsg/sendmmsg; dgram: node:dgram).', () => (['batch', 'dgram'] as const).map((io) => ({ labels: { io }, value: io === udpIo ? 1 : 0 })), 'gauge'));
    }
    register(liveCounter('lbdns_view_objects', 'Objects in the cluster view, by kind.', () => Object.entries(sources.viewCounts()).map(([kind, value]) => ({ labels: { kind }, value })), 'gauge'));
    registerQueryMetrics(this.registry, () => threads().map((s) => s.queries));
    register(
      liveCounter(
        'lbdns_port_mismatch_services',
        'Services in endpoint mode with a port whose targetPort differs, by what their A/AAAA records answer: clusterIP (kept for safety; SRV still gives endpoint ports) or endpoints (lbdns.io/ignore-target-port: "true").',
        () => {
          const counts = sources.portMismatch?.() ?? { clusterIP: 0, endpoints: 0 };
          return [
            { labels: { answer: 'clusterIP' }, value: counts.clusterIP },
            { labels: { answer: 'endpoints' }, value: counts.endpoints },
          ];
        },
        'gauge',
      ),
    );
    register(liveCounter('lbdns_cache_hits_total', 'Forwarded names answered from the cache.', () => total((s) => s.forward.cacheHits)));
    register(liveCounter('lbdns_cache_misses_total', 'Forwarded names not (freshly) in the cache.', () => total((s) => s.forward.cacheMisses)));
    register(liveCounter('lbdns_cache_stale_served_total', 'Expired answers served because every upstream failed.', () => total((s) => s.forward.staleServed)));
    register(
      liveCounter(
        'lbdns_cache_entries',
        'Answers in the forwarding cache (with workers, the main thread\'s one), by kind.',
        () => [
          { labels: { type: 'success' }, value: sum((s) => s.forward.cacheEntries.positive) },
          { labels: { type: 'denial' }, value: sum((s) => s.forward.cacheEntries.negative) },
        ],
        'gauge',
      ),
    );
    register(
      liveCounter('lbdns_rate_limited_responses_total', 'UDP responses held back by response rate limiting, by action (dropped, slipped: sent truncated).', () => [
        { labels: { action: 'dropped' }, value: sum((s) => s.rateLimited.dropped) },
        { labels: { action: 'slipped' }, value: sum((s) => s.rateLimited.slipped) },
      ]),
    );
    register(
      liveCounter('lbdns_udp_send_errors_total', 'UDP replies not sent, by reason (port_zero: the query came from source port 0; failed: the send was refused).', () => [
        { labels: { reason: 'port_zero' }, value: sum((s) => s.udpSendErrors.portZero) },
        { labels: { reason: 'failed' }, value: sum((s) => s.udpSendErrors.failed) },
      ]),
    );
    register(liveCounter('lbdns_tcp_connections', 'Open DNS-over-TCP connections.', () => total((s) => s.tcp.connections), 'gauge'));
    const closes = Object.keys(noTcpCloses()) as Array<keyof TcpCloses>;
    register(
      liveCounter(
        'lbdns_tcp_connections_closed_total',
        'DNS-over-TCP connections lbdns refused or closed, by reason (prefix_full, server_full: refused at accept; evicted: made room for a quieter prefix; idle; malformed; unread).',
        () => closes.map((reason) => ({ labels: { reason: snakeCase(reason) }, value: sum((s) => s.tcp.closes[reason]) })),
      ),
    );
    const perUpstream = (read: (u: Upstream) => number, average = false) => () => {
      const sums = new Map<string, { value: number; threads: number }>();
      for (const thread of threads()) {
        for (const upstream of thread.forward.upstreams) {
          const entry = sums.get(upstream.label) ?? { value: 0, threads: 0 };
          entry.value += read(upstream);
          entry.threads++;
          sums.set(upstream.label, entry);
        }
      }
      return [...sums].map(([to, { value, threads: count }]) => ({ labels: { to }, value: average ? value / count : value }));
    };
    register(liveCounter('lbdns_forward_requests_total', 'Queries sent upstream, by upstream.', perUpstream((u) => u.requests)));
    register(
      liveCounter('lbdns_forward_request_duration_seconds_total', 'Seconds spent waiting for each upstream (divide its rate by lbdns_forward_requests_total for the mean latency).', perUpstream((u) => u.seconds)),
    );
    register(liveCounter('lbdns_forward_failures_total', 'Upstream queries that failed (timeout, network), by upstream.', perUpstream((u) => u.errors)));
    register(
      liveCounter('lbdns_forward_healthy', 'Whether an upstream is in use (1) or held down after failures (0).', perUpstream((u) => (u.healthy ? 1 : 0), true), 'gauge'),
    );
    register(
      liveCounter('lbdns_serving_heap_used_bytes', 'V8 heap in use by each serving thread (worker 0 is the main thread).', () => threads().map((s, worker) => ({ labels: { worker: String(worker) }, value: s.heapUsedBytes })), 'gauge'),
    );
    register(
      liveCounter(
        'lbdns_worker_relays_total',
        "Queries serving workers handed to the main thread (a name they hold no route for, a forwarded name, a client they cannot place), by result: answered, full (relay.maxInFlight reached: SERVFAIL at once), timeout (no reply within relay.timeoutMs: SERVFAIL).",
        () => [
          { labels: { result: 'answered' }, value: sum((s) => s.relays.answered) },
          { labels: { result: 'full' }, value: sum((s) => s.relays.full) },
          { labels: { result: 'timeout' }, value: sum((s) => s.relays.timedOut) },
        ],
      ),
    );
    this.registerCoredns(sum, perUpstream);
  }

  /** CoreDNS's families, from the same numbers as lbdns's own. */
  private registerCoredns(sum: (read: (s: ServingStats) => number) => number, perUpstream: (read: (u: Upstream) => number) => () => Array<{ labels: { to: string }; value: number }>): void {
    const register = this.registry.registerMetric.bind(this.registry);
    const { settings, serving: threads } = this.sources;
    const server = () => corednsServer(settings());
    registerCorednsQueryMetrics(this.registry, () => threads().map((s) => s.queries), server());
    // The cache plugin's numbers are the forwarding cache's: lbdns's cluster answers are prepared, not cached.
    const cache = (extra: Record<string, string>, value: number) => ({ labels: { server: server(), ...extra, zones: '.', view: '' }, value });
    register(
      liveCounter(
        'coredns_cache_entries',
        'The number of elements in the cache.',
        () => [cache({ type: 'success' }, sum((s) => s.forward.cacheEntries.positive)), cache({ type: 'denial' }, sum((s) => s.forward.cacheEntries.negative))],
        'gauge',
      ),
    );
    register(
      liveCounter('coredns_cache_hits_total', 'The count of cache hits.', () => [
        cache({ type: 'success' }, sum((s) => s.forward.cacheHits - s.forward.cacheDenialHits)),
        cache({ type: 'denial' }, sum((s) => s.forward.cacheDenialHits)),
      ]),
    );
    register(liveCounter('coredns_cache_misses_total', 'The count of cache misses. Deprecated, derive misses from cache hits/requests counters.', () => [cache({}, sum((s) => s.forward.cacheMisses))]));
    register(liveCounter('coredns_cache_requests_total', 'The count of cache requests.', () => [cache({}, sum((s) => s.forward.cacheHits + s.forward.cacheMisses))]));
    register(liveCounter('coredns_cache_served_stale_total', 'The number of requests served from stale cache entries.', () => [cache({}, sum((s) => s.forward.staleServed))]));
    register(liveCounter('coredns_forward_requests_total', 'Counter of requests made per upstream.', perUpstream((u) => u.requests)));
    const answers = () => regroup(threads().flatMap((s) => s.forward.upstreams.map((u) => u.answers.map(([rcode, buckets]) => [`${u.label}\t${rcode}`, buckets] as [string, typeof buckets]))), (values) => values, addBuckets);
    register(
      keyedCounter('coredns_forward_responses_total', 'Counter of responses received per upstream.', ['to', 'rcode'], () => new Map([...answers()].map(([key, buckets]) => [key, buckets.count]))),
    );
    register(keyedHistogram('coredns_forward_request_duration_seconds', 'Histogram of the time each request took.', ['to', 'rcode'], DURATION_BUCKETS, answers));
    // lbdns has no separate health probe: a failed upstream query is its failed health check.
    register(liveCounter('coredns_forward_healthcheck_failures_total', 'Counter of the number of failed healthchecks.', perUpstream((u) => u.errors)));
    register(liveCounter('coredns_forward_healthcheck_broken_total', 'Counter of the number of complete failures of the healthchecks.', () => [{ labels: {}, value: sum((s) => s.forward.allDown) }]));
    register(liveCounter('coredns_forward_max_concurrent_rejects_total', 'Counter of the number of queries rejected because the concurrent queries were at maximum.', () => [{ labels: {}, value: sum((s) => s.forward.overloaded) }]));
    const version = packageVersion();
    register(liveCounter('coredns_build_info', 'A metric with a constant \'1\' value labeled by version, revision, and goversion from which CoreDNS was built.', () => [{ labels: { version, revision: '', goversion: process.version }, value: 1 }], 'gauge'));
    register(
      keyedCounter('coredns_plugin_enabled', 'A metric that indicates whether a plugin is enabled on per server and zone basis.', ['server', 'zone', 'view', 'name'], () => new Map(corednsPlugins(settings()).map((name) => [`${server()}\t.\t\t${name}`, 1])), 'gauge'),
    );
  }

  /** The exposition text: the workers' numbers fetched first. */
  async scrape(): Promise<string> {
    await this.sources.beforeScrape?.();
    return this.registry.metrics();
  }
}
