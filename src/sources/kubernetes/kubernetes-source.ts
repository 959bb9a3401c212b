/**
 * The Kubernetes API source: one reflector per kind feeding the cluster view through the same
 * slimming as the objects file. Ready once every kind has listed; after that an outage keeps the
 * last known records serving and marks the data stale.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Metrics } from '../../ops/metrics.ts';
import type { Settings } from '../../settings/schema.ts';
import { servesNamespace } from '../../settings/served-namespaces.ts';
import type { ClusterView } from '../../view/cluster-view.ts';
import { slimObject } from '../api-objects.ts';
import { loadKubeConfig } from './kube-config.ts';
import { getJson } from './api-get.ts';
import { type KindApi, type ListPage, Reflector, type ReflectorSink, describeApiError, statusOf } from './reflector.ts';
import type { WatchedKind } from '../../view/types.ts';

type ListParams = Parameters<KindApi['list']>[1];

/** A list response as the API server sends it: only what the reflector reads is typed. */
interface ListBody {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: unknown[] | null;
}

/**
 * One page of a list, as plain JSON (api-get.ts): the typed APIs' class instances would be slimmed
 * and dropped at once, which at 100,000 endpoints cost more CPU than slimming itself and a heap of
 * copies during the first sync.
 */
export async function listPage(config: KubeConfig, path: string, params: ListParams): Promise<ListPage> {
  const body = (await getJson(config, path, {
    limit: String(params.limit),
    continue: params.continueToken,
    labelSelector: params.labelSelector,
    fieldSelector: params.fieldSelector,
  })) as ListBody;
  return { items: body.items ?? [], resourceVersion: body.metadata?.resourceVersion ?? '', continueToken: body.metadata?.continue || undefined };
}

/** The kinds lbdns watches, each listed and watched at its cluster-wide collection path. */
export function kindApis(settings: Settings, endpointSlices: boolean): KindApi[] {
  const labels = settings.kubernetes.labels;
  const kind = (kind: WatchedKind, path: string, selectors: { labelSelector?: string; fieldSelector?: string } = {}): KindApi => ({
    kind,
    path,
    ...selectors,
    list: (config, params) => listPage(config, path, params),
  });
  const apis: KindApi[] = [
    kind('Namespace', '/api/v1/namespaces', { labelSelector: settings.kubernetes.namespaceLabels }),
    kind('Service', '/api/v1/services', { labelSelector: labels }),
    endpointSlices ? kind('EndpointSlice', '/apis/discovery.k8s.io/v1/endpointslices', { labelSelector: labels }) : kind('Endpoints', '/api/v1/endpoints', { labelSelector: labels }),
    // Where clients are: each Node's pod CIDRs and zone (balance/client.ts). The Service label selector does not apply.
    kind('Node', '/api/v1/nodes'),
  ];
  if (settings.pods === 'verified') {
    // The Service label selector does not apply: pods are found by IP, whatever their labels.
    // As CoreDNS: finished pods no longer own their IP.
    apis.push(kind('Pod', '/api/v1/pods', { fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown' }));
  }
  return apis;
}

export class KubernetesSource {
  private readonly settings: Settings;
  private readonly view: ClusterView;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private reflectors: Reflector[] = [];
  private config: KubeConfig;
  private stopped = false;
  private wasStale = false;
  private readyListeners: Array<() => void> = [];

  constructor(settings: Settings, view: ClusterView, log: Logger, metrics: Metrics) {
    this.settings = settings;
    this.view = view;
    this.log = log.child({ source: 'kubernetes' });
    this.metrics = metrics;
    const choice = loadKubeConfig(settings.kubeconfig);
    this.config = choice.config;
    this.log.info({ server: this.config.getCurrentCluster()?.server, credentials: choice.origin }, 'using the Kubernetes API');
  }

  /**
   * True once every kind has completed its first list. Nodes only place clients for balancing:
   * answers never wait for them (a ClusterRole not yet granting nodes must not keep lbdns unready).
   */
  get ready(): boolean {
    return this.reflectors.length > 0 && this.reflectors.every((r) => r.synced || r.kind === 'Node');
  }

  /** Whether answers may be out of date; a failing Node watch is not (it only places clients, and logs its own errors). */
  get stale(): boolean {
    return this.reflectors.some((r) => !r.healthy && r.kind !== 'Node');
  }

  onReady(listener: () => void): void {
    if (this.ready) listener();
    else this.readyListeners.push(listener);
  }

  /** Starts in the background; never rejects. */
  start(): void {
    void this.discoverAndRun();
  }

  stop(): void {
    this.stopped = true;
    for (const reflector of this.reflectors) reflector.stop();
  }

  /** Whether the cluster serves discovery.k8s.io/v1; retried until the API answers. */
  private async hasEndpointSlices(): Promise<boolean | null> {
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        await getJson(this.config, '/apis/discovery.k8s.io/v1/');
        return true;
      } catch (error) {
        const code = statusOf(error);
        if (code === 404) {
          this.log.warn('the cluster has no discovery.k8s.io/v1 EndpointSlice API; watching v1 Endpoints');
          return false;
        }
        if (code === 401 || code === 403) this.reloadCredentials();
        this.metrics.apiErrors.inc({ kind: 'discovery', code: String(code) });
        const delay = Math.min(this.settings.kubernetes.retryMaxSeconds * 1000, 500 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2);
        this.log.error({ err: describeApiError(error, 'discovery'), code, retryInMs: Math.round(delay) }, 'Kubernetes API discovery failed; retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    return null;
  }

  private async discoverAndRun(): Promise<void> {
    const endpointSlices = await this.hasEndpointSlices();
    if (endpointSlices === null) return;
    const sink: ReflectorSink = {
      upsert: (kind, object) => this.upsert(kind, object),
      remove: (kind, namespace, name) => {
        if (kind === 'Namespace' || kind === 'Node') this.view.apply({ op: 'delete', kind, name });
        else if (servesNamespace(this.settings, namespace)) this.view.apply({ op: 'delete', kind, namespace, name });
      },
    };
    const options = {
      pageSize: this.settings.kubernetes.pageSize,
      idleMs: this.settings.kubernetes.watchIdleSeconds * 1000,
      backoffMaxMs: this.settings.kubernetes.retryMaxSeconds * 1000,
      onUnauthorized: () => this.reloadCredentials(),
    };
    this.reflectors = kindApis(this.settings, endpointSlices).map(
      (api) => new Reflector(api, sink, () => this.config, this.log, this.metrics, options, () => this.stateChanged()),
    );
    for (const reflector of this.reflectors) {
      this.metrics.synced.set({ kind: reflector.kind }, 0);
      void reflector.run();
    }
  }

  /** Slims on arrival: only served namespaces and served fields are kept. */
  private upsert(kind: WatchedKind, object: unknown): void {
    // The list says the kind; its items carry none (and copying each to add it cost a copy of every object).
    const slim = slimObject(object, kind);
    if (slim === null) return;
    if (slim.kind !== 'Namespace' && slim.kind !== 'Node' && !servesNamespace(this.settings, slim.record.namespace)) return;
    this.view.apply({ op: 'upsert', ...slim });
  }

  /**
   * Bound service-account tokens rotate hourly; the client re-reads the token file only every
   * minute, so on 401/403 lbdns reloads its credentials at once.
   */
  private reloadCredentials(): void {
    try {
      this.config = loadKubeConfig(this.settings.kubeconfig).config;
      this.log.info('reloaded Kubernetes credentials');
    } catch (error) {
      this.log.error({ err: (error as Error).message }, 'cannot reload Kubernetes credentials');
    }
  }

  private stateChanged(): void {
    const stale = this.stale;
    this.metrics.stale.set(stale ? 1 : 0);
    if (stale !== this.wasStale) {
      this.wasStale = stale;
      if (stale) this.log.warn('Kubernetes API unreachable or failing: serving the last known records (stale)');
      else this.log.info('Kubernetes API reachable again: records are current');
    }
    if (this.ready && this.readyListeners.length > 0) {
      const listeners = this.readyListeners;
      this.readyListeners = [];
      this.log.info({ kinds: this.reflectors.map((r) => r.kind) }, 'first sync complete');
      for (const listener of listeners) listener();
    }
  }
}
