/**
 * Prometheus metrics (prom-client): one registry per process, instruments named like CoreDNS's
 * where the meaning matches. Everything that records a metric gets this object passed in.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

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

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'lbdns_' });
  }
}
