/**
 * Prometheus metrics (prom-client): one registry per process, instruments named like CoreDNS's
 * where the meaning matches. Everything that records a metric gets this object passed in.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { QueryMetrics, liveCounter } from './query-metrics.ts';
import type { Forwarder } from '../forward/forwarder.ts';

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

  readonly queries = new QueryMetrics();

  /** Read at scrape time; set to the current forwarder. */
  forwarding: (() => Forwarder) | null = null;
  /** Read at scrape time: responses the rate limiter held back. */
  rateLimited: (() => { dropped: number; slipped: number }) | null = null;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'lbdns_' });
    this.queries.register(this.registry);
    const stats = () => this.forwarding?.().stats;
    this.registry.registerMetric(liveCounter('lbdns_cache_hits_total', 'Forwarded names answered from the cache.', () => [{ labels: {}, value: stats()?.cacheHits ?? 0 }]));
    this.registry.registerMetric(liveCounter('lbdns_cache_misses_total', 'Forwarded names not (freshly) in the cache.', () => [{ labels: {}, value: stats()?.cacheMisses ?? 0 }]));
    this.registry.registerMetric(liveCounter('lbdns_cache_stale_served_total', 'Expired answers served because every upstream failed.', () => [{ labels: {}, value: stats()?.staleServed ?? 0 }]));
    this.registry.registerMetric(
      liveCounter(
        'lbdns_cache_entries',
        'Answers in the forwarding cache, by kind.',
        () => {
          const size = this.forwarding?.().cacheSize ?? { positive: 0, negative: 0 };
          return [
            { labels: { type: 'success' }, value: size.positive },
            { labels: { type: 'denial' }, value: size.negative },
          ];
        },
        'gauge',
      ),
    );
    this.registry.registerMetric(
      liveCounter('lbdns_rate_limited_responses_total', 'UDP responses held back by response rate limiting, by action (dropped, slipped: sent truncated).', () => {
        const counts = this.rateLimited?.() ?? { dropped: 0, slipped: 0 };
        return [
          { labels: { action: 'dropped' }, value: counts.dropped },
          { labels: { action: 'slipped' }, value: counts.slipped },
        ];
      }),
    );
    this.registry.registerMetric(liveCounter('lbdns_forward_requests_total', 'Queries sent upstream, by upstream.', () => (this.forwarding?.().upstreams ?? []).map((u) => ({ labels: { to: u.label }, value: u.requests }))));
    this.registry.registerMetric(
      liveCounter('lbdns_forward_request_duration_seconds_total', 'Seconds spent waiting for each upstream (divide its rate by lbdns_forward_requests_total for the mean latency).', () =>
        (this.forwarding?.().upstreams ?? []).map((u) => ({ labels: { to: u.label }, value: u.seconds })),
      ),
    );
    this.registry.registerMetric(liveCounter('lbdns_forward_failures_total', 'Upstream queries that failed (timeout, network), by upstream.', () => (this.forwarding?.().upstreams ?? []).map((u) => ({ labels: { to: u.label }, value: u.errors }))));
    this.registry.registerMetric(
      liveCounter('lbdns_forward_healthy', 'Whether an upstream is in use (1) or held down after failures (0).', () => (this.forwarding?.().upstreams ?? []).map((u) => ({ labels: { to: u.label }, value: u.downUntil > Date.now() ? 0 : 1 })), 'gauge'),
    );
  }
}
