/**
 * The cluster view: slim records indexed the ways answers look them up. It does not know where
 * records come from; sources call `replaceAll` (a whole file at startup), `apply` (one watch
 * event) or `applyBatch` (the events a reloaded file differs by).
 */
import type { ClusterKind, ClusterObjects, Endpoint, EndpointSlice, Namespace, NamespacedKind, Node, Pod, Service, SlimObject } from './types.ts';
import { serviceKey } from './types.ts';
import { type EndpointRef, IpIndex } from './ip-index.ts';
import { NodeIndex } from './node-index.ts';

/**
 * What changed, so caches can drop only what depends on it: one Service (its records), a whole
 * namespace (a namespace appeared or went, a Service was added or removed, a pod changed), or all;
 * 'nodes': a Node changed, which no prepared answer depends on (only where clients are placed).
 */
export type ViewChange = { scope: 'all' } | { scope: 'namespace'; namespace: string } | { scope: 'service'; namespace: string; service: string } | { scope: 'nodes' };

/** A slim record put in the view (replacing any of its kind and name), or one taken out. */
export type ViewEvent =
  | ({ op: 'upsert' } & SlimObject)
  | { op: 'delete'; kind: ClusterKind; name: string }
  | { op: 'delete'; kind: NamespacedKind; namespace: string; name: string };

/**
 * One change as a source made it, so a replica view (a serving worker's) can make the same one:
 * replicas see exactly the primary's sequence of updates, and its SOA serial.
 */
export type ViewUpdate = { kind: 'replaceAll'; objects: ClusterObjects } | { kind: 'event'; event: ViewEvent };

/** The endpoints of one Service, grouped the way their ports apply (one group per slice). */
export interface EndpointGroup {
  ports: EndpointSlice['ports'];
  endpoints: EndpointSlice['endpoints'];
}

/** Whether an endpoint is published: ready, or any endpoint of a publishNotReadyAddresses Service. */
export function isPublished(service: Service, endpoint: Endpoint): boolean {
  return endpoint.ready || service.publishNotReadyAddresses;
}

export interface ClusterViewOptions {
  /**
   * Namespaces exist only through their Namespace objects (a namespace label selector is in
   * force); otherwise a Service in a namespace is proof enough, as objects files may omit them.
   */
  requireNamespaceObjects?: boolean;
  /**
   * Keep the index by IP (PTR answers, pods by address, the server's own Service). Off only for
   * a primary whose workers serve: its view feeds theirs and answers no query.
   */
  indexByIp?: boolean;
}

export class ClusterView {
  private readonly requireNamespaceObjects: boolean;
  private namespaces = new Map<string, Namespace>();
  private services = new Map<string, Service>();
  /** Service key → slice name → slice. */
  private slices = new Map<string, Map<string, EndpointSlice>>();
  /** "namespace/slice name" → the key of the Service it belongs to. */
  private sliceOwner = new Map<string, string>();
  /** Service key → the v1 Endpoints object of that name. */
  private legacyEndpoints = new Map<string, EndpointSlice>();
  private pods = new Map<string, Pod>();
  /** Nodes by name and by pod CIDR: where clients are placed. */
  private nodeIndex = new NodeIndex();
  /**
   * Steps whenever something client placement reads changes (a Node, an endpoint, a pod), so
   * per-address placement caches know to start over.
   */
  placementGeneration = 0;
  /** Namespaces that hold at least one Service, counted. */
  private serviceCountByNamespace = new Map<string, number>();
  /** Rebuilt on a full replace, else kept up to date change by change; null when not kept. */
  private ipIndex: IpIndex | null;
  private listeners: Array<(change: ViewChange) => void> = [];
  private updateListeners: Array<(update: ViewUpdate, serial: number) => void> = [];

  /** Unix seconds of the last change: the SOA serial, as CoreDNS derives it. */
  serial = Math.floor(Date.now() / 1000);

  constructor(options: ClusterViewOptions = {}) {
    this.requireNamespaceObjects = options.requireNamespaceObjects ?? false;
    this.ipIndex = (options.indexByIp ?? true) ? new IpIndex() : null;
  }

  onChange(listener: (change: ViewChange) => void): void {
    this.listeners.push(listener);
  }

  /** Every update, after it is applied, with the serial it produced: what a replica needs. */
  onUpdate(listener: (update: ViewUpdate, serial: number) => void): void {
    this.updateListeners.push(listener);
  }

  /** Makes an update another view made, ending at the same serial. */
  replicate(update: ViewUpdate, serial: number): void {
    if (update.kind === 'replaceAll') this.replaceAll(update.objects);
    else this.apply(update.event);
    this.serial = serial;
  }

  /** Everything in the view, as a source would hand it over: seeds a new replica. */
  snapshot(): ClusterObjects {
    const endpointSlices: EndpointSlice[] = [];
    for (const byName of this.slices.values()) endpointSlices.push(...byName.values());
    return {
      namespaces: [...this.namespaces.values()],
      services: [...this.services.values()],
      endpointSlices,
      legacyEndpoints: [...this.legacyEndpoints.values()],
      pods: [...this.pods.values()],
      nodes: [...this.nodeIndex.all()],
    };
  }

  replaceAll(objects: ClusterObjects): void {
    this.namespaces = new Map(objects.namespaces.map((n) => [n.name, n]));
    this.services = new Map();
    this.serviceCountByNamespace = new Map();
    for (const service of objects.services) this.putService(service);
    this.slices = new Map();
    this.sliceOwner = new Map();
    for (const slice of objects.endpointSlices) this.putSlice(slice);
    this.legacyEndpoints = new Map(objects.legacyEndpoints.map((e) => [serviceKey(e.namespace, e.serviceName), e]));
    this.pods = new Map(objects.pods.map((p) => [serviceKey(p.namespace, p.name), p]));
    this.nodeIndex = new NodeIndex();
    for (const node of objects.nodes ?? []) this.nodeIndex.set(node);
    this.placementGeneration++;
    if (this.ipIndex) {
      this.ipIndex = new IpIndex();
      for (const key of this.services.keys()) this.reindexService(key);
      for (const [key, pod] of this.pods) this.ipIndex.setPod(key, pod);
    }
    this.changed({ scope: 'all' });
    for (const listener of this.updateListeners) listener({ kind: 'replaceAll', objects }, this.serial);
  }

  apply(event: ViewEvent): void {
    this.nextSerial();
    this.applyOne(event);
  }

  /**
   * Several events as one change of the view: one step of the serial (a reload of the objects
   * file is one new version, however many records it touches), each event still told to every
   * listener, so caches drop only what it touched and replicas make the same events.
   */
  applyBatch(events: readonly ViewEvent[]): void {
    if (events.length === 0) return;
    this.nextSerial();
    for (const event of events) this.applyOne(event);
  }

  private applyOne(event: ViewEvent): void {
    if (event.kind !== 'Namespace' && event.kind !== 'Service') this.placementGeneration++;
    const change = event.op === 'upsert' ? this.upsert(event) : this.remove(event);
    for (const listener of this.listeners) listener(change);
    for (const listener of this.updateListeners) listener({ kind: 'event', event }, this.serial);
  }

  private upsert(event: Extract<ViewEvent, { op: 'upsert' }>): ViewChange {
    switch (event.kind) {
      case 'Namespace':
        this.namespaces.set(event.record.name, event.record);
        return { scope: 'namespace', namespace: event.record.name };
      case 'Node':
        this.nodeIndex.set(event.record);
        return { scope: 'nodes' };
      case 'Service': {
        const { namespace, name } = event.record;
        const key = serviceKey(namespace, name);
        const existed = this.removeService(key);
        this.putService(event.record);
        this.reindexService(key);
        return existed ? { scope: 'service', namespace, service: name } : { scope: 'namespace', namespace };
      }
      case 'EndpointSlice': {
        const previousOwner = this.removeSlice(event.record.namespace, event.record.name);
        this.putSlice(event.record);
        const owner = serviceKey(event.record.namespace, event.record.serviceName);
        this.reindexService(owner);
        if (previousOwner !== null && previousOwner !== owner) {
          this.reindexService(previousOwner);
          return { scope: 'namespace', namespace: event.record.namespace };
        }
        return { scope: 'service', namespace: event.record.namespace, service: event.record.serviceName };
      }
      case 'Endpoints': {
        const key = serviceKey(event.record.namespace, event.record.serviceName);
        this.legacyEndpoints.set(key, event.record);
        this.reindexService(key);
        return { scope: 'service', namespace: event.record.namespace, service: event.record.serviceName };
      }
      case 'Pod': {
        const key = serviceKey(event.record.namespace, event.record.name);
        this.pods.set(key, event.record);
        this.ipIndex?.setPod(key, event.record);
        return { scope: 'namespace', namespace: event.record.namespace };
      }
    }
  }

  private remove(event: Extract<ViewEvent, { op: 'delete' }>): ViewChange {
    if (event.kind === 'Namespace') {
      this.namespaces.delete(event.name);
      return { scope: 'namespace', namespace: event.name };
    }
    if (event.kind === 'Node' || !('namespace' in event)) {
      this.nodeIndex.remove(event.name);
      return { scope: 'nodes' };
    }
    const { namespace, name } = event;
    const key = serviceKey(namespace, name);
    switch (event.kind) {
      case 'Service':
        this.removeService(key);
        this.reindexService(key);
        return { scope: 'namespace', namespace };
      case 'EndpointSlice': {
        const owner = this.removeSlice(namespace, name);
        if (owner === null) return { scope: 'namespace', namespace };
        this.reindexService(owner);
        return { scope: 'service', namespace, service: owner.slice(namespace.length + 1) };
      }
      case 'Endpoints':
        this.legacyEndpoints.delete(key);
        this.reindexService(key);
        return { scope: 'service', namespace, service: name };
      case 'Pod':
        this.pods.delete(key);
        this.ipIndex?.removePod(key);
        return { scope: 'namespace', namespace };
    }
  }

  // --- lookups used by the resolver ---

  /** A namespace exists when its object does, or when a Service lives in it. */
  hasNamespace(name: string): boolean {
    return this.namespaces.has(name) || (!this.requireNamespaceObjects && this.serviceCountByNamespace.has(name));
  }

  service(namespace: string, name: string): Service | undefined {
    return this.services.get(serviceKey(namespace, name));
  }

  allServices(): IterableIterator<Service> {
    return this.services.values();
  }

  /** EndpointSlices when the Service has any, else its v1 Endpoints, as CoreDNS chooses. */
  endpointGroups(service: Service): EndpointGroup[] {
    const key = serviceKey(service.namespace, service.name);
    const slices = this.slices.get(key);
    if (slices && slices.size > 0) {
      const groups: EndpointGroup[] = [];
      for (const slice of slices.values()) if (slice.addressType !== 'FQDN') groups.push(slice);
      return groups;
    }
    const legacy = this.legacyEndpoints.get(key);
    return legacy ? [legacy] : [];
  }

  /** The Node of that name, for client placement. */
  node(name: string): Node | undefined {
    return this.nodeIndex.get(name);
  }

  /** The Node whose pod CIDR holds `address` (longest prefix), for client placement. */
  nodeByAddress(address: Uint8Array): Node | undefined {
    return this.nodeIndex.byAddress(address);
  }

  podsByIp(ip: string): readonly Pod[] {
    return this.indexed().pods(ip);
  }

  /** Services whose ClusterIPs include `ip`. */
  servicesByClusterIp(ip: string): readonly Service[] {
    return this.indexed().services(ip);
  }

  /** Published endpoint addresses equal to `ip`, across all Services. */
  endpointsByIp(ip: string): readonly EndpointRef[] {
    return this.indexed().endpoints(ip);
  }

  /** Whether this view keeps the index by IP (endpointsByIp, podsByIp). */
  get indexesByIp(): boolean {
    return this.ipIndex !== null;
  }

  private indexed(): IpIndex {
    if (this.ipIndex === null) throw new Error('this view keeps no index by IP (indexByIp: false)');
    return this.ipIndex;
  }

  /** Brings one Service's entries in the IP index up to date. */
  private reindexService(key: string): void {
    if (this.ipIndex === null) return;
    const service = this.services.get(key);
    if (!service) return this.ipIndex.removeService(key);
    const published: Endpoint[] = [];
    for (const group of this.endpointGroups(service)) for (const endpoint of group.endpoints) if (isPublished(service, endpoint)) published.push(endpoint);
    this.ipIndex.setService(key, service, published);
  }

  counts(): { namespaces: number; services: number; endpointSlices: number; pods: number; nodes: number } {
    let endpointSlices = 0;
    for (const slices of this.slices.values()) endpointSlices += slices.size;
    return { namespaces: this.namespaces.size, services: this.services.size, endpointSlices, pods: this.pods.size, nodes: this.nodeIndex.size };
  }

  private putService(service: Service): void {
    this.services.set(serviceKey(service.namespace, service.name), service);
    this.serviceCountByNamespace.set(service.namespace, (this.serviceCountByNamespace.get(service.namespace) ?? 0) + 1);
  }

  /** Whether there was one to remove. */
  private removeService(key: string): boolean {
    const old = this.services.get(key);
    if (!old) return false;
    this.services.delete(key);
    const left = (this.serviceCountByNamespace.get(old.namespace) ?? 1) - 1;
    if (left > 0) this.serviceCountByNamespace.set(old.namespace, left);
    else this.serviceCountByNamespace.delete(old.namespace);
    return true;
  }

  private putSlice(slice: EndpointSlice): void {
    const key = serviceKey(slice.namespace, slice.serviceName);
    let byName = this.slices.get(key);
    if (!byName) this.slices.set(key, (byName = new Map()));
    byName.set(slice.name, slice);
    this.sliceOwner.set(serviceKey(slice.namespace, slice.name), key);
  }

  /** The key of the Service the removed slice belonged to, or null when there was none. */
  private removeSlice(namespace: string, name: string): string | null {
    const sliceKey = serviceKey(namespace, name);
    const owner = this.sliceOwner.get(sliceKey);
    if (owner === undefined) return null;
    this.sliceOwner.delete(sliceKey);
    const byName = this.slices.get(owner);
    byName?.delete(name);
    if (byName?.size === 0) this.slices.delete(owner);
    return owner;
  }

  private changed(change: ViewChange): void {
    this.nextSerial();
    for (const listener of this.listeners) listener(change);
  }

  private nextSerial(): void {
    this.serial = Math.max(this.serial + 1, Math.floor(Date.now() / 1000));
  }
}
