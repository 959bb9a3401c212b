/**
 * Prometheus metrics (prom-client): one registry per process, instruments named like CoreDNS's
 * where the meaning matches. Everything that records a metric gets this object passed in.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { liveCounter, registerQueryMetrics } from './query-metrics.ts';
import type { ServingStats } from '../server/serving.ts';
import { type TcpCloses, noTcpCloses } from '../server/tcp.ts';

const snakeCase = (name: string): string => name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

export class Metrics {
  readonly registry = new Registry();

  readonly watchRestarts = new Counter({
    name: 'lbdns_kubernetes_watch_restarts_total',
    help: 'Watches of the Kubernetes API started again, by kind and reason (closed, idle, error).',
    labelNames: ['kind', 'reason'] as const,
    registers: [this.registry],
  });

  readonly relists = new Counter({
    name: 'lbdns_kubernetes_relists_total',
    help: 'Full lists of a kind, by reason (initial, expired, error).',
    labelNames: ['kind', 'reason'] as const,
    registers: [this.registry],
  });

  readonly apiErrors = new Counter({
    name: 'lbdns_kubernetes_errors_total',
    help: 'Failed Kubernetes API requests, by kind and HTTP status (0: no response).',
    labelNames: ['kind', 'code'] as const,
    registers: [this.registry],
  });

  readonly synced = new Gauge({
    name: 'lbdns_kubernetes_synced',
    help: '1 once the kind has completed its first list.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly stale = new Gauge({
    name: 'lbdns_kubernetes_stale',
    help: '1 while a watch of the API is failing: answers come from the last known view.',
    registers: [this.registry],
  });

  readonly lastEvent = new Gauge({
    name: 'lbdns_kubernetes_last_event_timestamp_seconds',
    help: 'Unix time of the last list or watch event received from the API server.',
    registers: [this.registry],
  });

  readonly configReloads = new Counter({
    name: 'lbdns_config_reloads_total',
    help: 'Settings reloads, by result (success, failure: rejected, the last good settings serve).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly configLastReloadSuccessful = new Gauge({
    name: 'lbdns_config_last_reload_successful',
    help: '1 when the last settings reload was accepted, 0 when it was rejected.',
    registers: [this.registry],
  });

  readonly workerRestarts = new Counter({
    name: 'lbdns_worker_restarts_total',
    help: 'Serving workers that died and were started again while the others served.',
    registers: [this.registry],
  });

  /** Read at scrape time; set by whoever owns the cluster view. */
  viewCounts: (() => Record<string, number>) | null = null;

  readonly viewObjects = new Gauge({
    name: 'lbdns_view_objects',
    help: 'Objects in the cluster view, by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
    collect: () => {
      for (const [kind, count] of Object.entries(this.viewCounts?.() ?? {})) this.viewObjects.set({ kind }, count);
    },
  });

  /** Read at scrape time; set by whoever audits the Services' ports (balance/service-audit.ts). */
  portMismatch: (() => { clusterIP: number; endpoints: number }) | null = null;

  readonly portMismatchServices = new Gauge({
    name: 'lbdns_port_mismatch_services',
    help: 'Services in endpoint mode with a port whose targetPort differs, by what their A/AAAA records answer: clusterIP (kept for safety; SRV still gives endpoint ports) or endpoints (lbdns.io/ignore-target-port: "true").',
    labelNames: ['answer'] as const,
    registers: [this.registry],
    collect: () => {
      const counts = this.portMismatch?.() ?? { clusterIP: 0, endpoints: 0 };
      this.portMismatchServices.set({ answer: 'clusterIP' }, counts.clusterIP);
      this.portMismatchServices.set({ answer: 'endpoints' }, counts.endpoints);
    },
  });

  /** Read at scrape time: the numbers of every serving thread (the main thread's, or each worker's). */
  serving: (() => ServingStats[]) | null = null;
  /** Awaited before a scrape: fetches the workers' numbers. */
  beforeScrape: (() => Promise<void>) | null = null;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'lbdns_' });
    const threads = () => this.serving?.() ?? [];
    const sum = (read: (s: ServingStats) => number) => threads().reduce((total, s) => total + read(s), 0);
    const total = (read: (s: ServingStats) => number) => [{ labels: {}, value: sum(read) }];
    registerQueryMetrics(this.registry, () => threads().map((s) => s.queries));
    this.registry.registerMetric(liveCounter('lbdns_cache_hits_total', 'Forwarded names answered from the cache.', () => total((s) => s.forward.cacheHits)));
    this.registry.registerMetric(liveCounter('lbdns_cache_misses_total', 'Forwarded names not (freshly) in the cache.', () => total((s) => s.forward.cacheMisses)));
    this.registry.registerMetric(liveCounter('lbdns_cache_stale_served_total', 'Expired answers served because every upstream failed.', () => total((s) => s.forward.staleServed)));
    this.registry.registerMetric(
      liveCounter(
        'lbdns_cache_entries',
        'Answers in the forwarding caches (one per serving thread), by kind.',
        () => [
          { labels: { type: 'success' }, value: sum((s) => s.forward.cacheEntries.positive) },
          { labels: { type: 'denial' }, value: sum((s) => s.forward.cacheEntries.negative) },
        ],
        'gauge',
      ),
    );
    this.registry.registerMetric(
      liveCounter('lbdns_rate_limited_responses_total', 'UDP responses held back by response rate limiting, by action (dropped, slipped: sent truncated).', () => [
        { labels: { action: 'dropped' }, value: sum((s) => s.rateLimited.dropped) },
        { labels: { action: 'slipped' }, value: sum((s) => s.rateLimited.slipped) },
      ]),
    );
    this.registry.registerMetric(
      liveCounter('lbdns_udp_send_errors_total', 'UDP replies not sent, by reason (port_zero: the query came from source port 0; failed: the send was refused).', () => [
        { labels: { reason: 'port_zero' }, value: sum((s) => s.udpSendErrors.portZero) },
        { labels: { reason: 'failed' }, value: sum((s) => s.udpSendErrors.failed) },
      ]),
    );
    this.registry.registerMetric(liveCounter('lbdns_tcp_connections', 'Open DNS-over-TCP connections.', () => total((s) => s.tcp.connections), 'gauge'));
    const closes = Object.keys(noTcpCloses()) as Array<keyof TcpCloses>;
    this.registry.registerMetric(
      liveCounter(
        'lbdns_tcp_connections_closed_total',
        'DNS-over-TCP connections lbdns refused or closed, by reason (prefix_full, server_full: refused at accept; evicted: made room for a quieter prefix; idle; malformed; unread).',
        () => closes.map((reason) => ({ labels: { reason: snakeCase(reason) }, value: sum((s) => s.tcp.closes[reason]) })),
      ),
    );
    const perUpstream = (read: (u: ServingStats['forward']['upstreams'][number]) => number, average = false) => () => {
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
    this.registry.registerMetric(liveCounter('lbdns_forward_requests_total', 'Queries sent upstream, by upstream.', perUpstream((u) => u.requests)));
    this.registry.registerMetric(
      liveCounter('lbdns_forward_request_duration_seconds_total', 'Seconds spent waiting for each upstream (divide its rate by lbdns_forward_requests_total for the mean latency).', perUpstream((u) => u.seconds)),
    );
    this.registry.registerMetric(liveCounter('lbdns_forward_failures_total', 'Upstream queries that failed (timeout, network), by upstream.', perUpstream((u) => u.errors)));
    this.registry.registerMetric(
      liveCounter('lbdns_forward_healthy', 'Whether an upstream is in use (1) or held down after failures (0); with several workers, the share of them using it.', perUpstream((u) => (u.healthy ? 1 : 0), true), 'gauge'),
    );
    this.registry.registerMetric(
      liveCounter('lbdns_serving_heap_used_bytes', 'V8 heap in use by each serving thread (worker 0 is the main thread when workers is 1).', () => threads().map((s, worker) => ({ labels: { worker: String(worker) }, value: s.heapUsedBytes })), 'gauge'),
    );
  }
}
