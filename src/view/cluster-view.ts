/**
 * The cluster view: slim records indexed the ways answers look them up. It does not know where
 * records come from; sources call `replaceAll` (a whole file at startup), `apply` (one watch
 * event) or `applyBatch` (the events a reloaded file differs by).
 */
import type { ClusterKind, ClusterObjects, Endpoint, EndpointSlice, Namespace, NamespacedKind, Node, Pod, Service, SlimObject } from './types.ts';
import { serviceKey } from './types.ts';
import { IpIndex } from './ip-index.ts';
import { type PortMapping, mappedPorts } from './port-map.ts';
import { NodeIndex } from './node-index.ts';
import { sharedNames } from './interner.ts';
import { type SliceSet, sliceCount, sliceNamed, slicesIn, withSlice, withoutSlice } from './slice-set.ts';

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
 * One change as a source made it, for listeners that follow the records themselves (the Service
 * and slow-start audits) rather than only what changed.
 */
export type ViewUpdate = { kind: 'replaceAll'; objects: ClusterObjects } | { kind: 'event'; event: ViewEvent };

/** The endpoints of one Service, grouped the way their ports apply (one group per slice). */
export interface EndpointGroup {
  ports: EndpointSlice['ports'];
  endpoints: EndpointSlice['endpoints'];
}

/**
 * A Service's key as the view's maps hold it: one string for all of them (at 10,000 Services the
 * maps held two or three copies of each, 18,000 strings).
 */
function sharedKey(namespace: string, name: string): string {
  return sharedNames.intern(serviceKey(namespace, name));
}

/** An endpoint found by its address, with the Service it belongs to. */
export interface EndpointRef {
  service: Service;
  endpoint: Endpoint;
}

/** Whether an endpoint is published: ready, or any endpoint of a publishNotReadyAddresses Service. */
export function isPublished(service: Service, endpoint: Endpoint): boolean {
  return endpoint.ready || service.publishNotReadyAddresses;
}

/** Ready stamps older than this are dropped (no slow start window is longer): one day. */
export const READY_SINCE_MAX_AGE_MS = 86_400_000;

/** The ready endpoints of some slices by address. */
function readyByAddress(slices: Iterable<EndpointSlice>): Map<string, Endpoint> {
  const byAddress = new Map<string, Endpoint>();
  for (const slice of slices) for (const endpoint of slice.endpoints) if (endpoint.ready) byAddress.set(endpoint.address, endpoint);
  return byAddress;
}

function withReadySince(endpoint: Endpoint, since: number | undefined): Endpoint {
  if (since !== undefined) return { ...endpoint, readySince: since };
  const { readySince: _dropped, ...rest } = endpoint;
  return rest;
}

export interface ClusterViewOptions {
  /**
   * Namespaces exist only through their Namespace objects (a namespace label selector is in
   * force); otherwise a Service in a namespace is proof enough, as objects files may omit them.
   */
  requireNamespaceObjects?: boolean;
}

export class ClusterView {
  private readonly requireNamespaceObjects: boolean;
  private namespaces = new Map<string, Namespace>();
  private services = new Map<string, Service>();
  /** Service key → its slices by name. */
  private slices = new Map<string, SliceSet>();
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
  /** By IP: PTR answers, pods and endpoints by address (client placement), the server's own Service. Rebuilt on a full replace, else kept up to date change by change. */
  private ipIndex = new IpIndex();
  /** Service key → its ports that map to another number, worked out once per change of it. */
  private portMaps = new Map<string, { service: Service; mapped: readonly PortMapping[] }>();
  /** Set once the first complete data is in (startReadyClock): endpoints that become ready after are stamped. */
  private readyClock: (() => number) | null = null;
  private listeners: Array<(change: ViewChange) => void> = [];
  private updateListeners: Array<(update: ViewUpdate, serial: number) => void> = [];

  /** Unix seconds of the last change: the SOA serial, as CoreDNS derives it. */
  serial = Math.floor(Date.now() / 1000);

  constructor(options: ClusterViewOptions = {}) {
    this.requireNamespaceObjects = options.requireNamespaceObjects ?? false;
  }

  onChange(listener: (change: ViewChange) => void): void {
    this.listeners.push(listener);
  }

  /** Every update, after it is applied, with the serial it produced. */
  onUpdate(listener: (update: ViewUpdate, serial: number) => void): void {
    this.updateListeners.push(listener);
  }

  /**
   * From now on, an endpoint that becomes ready (new, or ready again after not ready) is stamped
   * with `now()` (Endpoint.readySince) and keeps that stamp while it stays ready; the endpoints in
   * the view already are warm. The source's first full list is in when this is called, so a
   * restart of lbdns ramps nothing. Serving workers hold no view: the plans they are taught carry
   * these stamps, so every serving thread ramps by the same times.
   */
  startReadyClock(now: () => number = Date.now): void {
    this.readyClock = now;
  }

  /** Everything in the view, as a source would hand it over. */
  snapshot(): ClusterObjects {
    const endpointSlices: EndpointSlice[] = [];
    for (const set of this.slices.values()) endpointSlices.push(...slicesIn(set));
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
    if (this.readyClock) objects = this.stampAll(objects);
    this.namespaces = new Map(objects.namespaces.map((n) => [n.name, n]));
    this.services = new Map();
    this.serviceCountByNamespace = new Map();
    for (const service of objects.services) this.putService(service);
    this.slices = new Map();
    this.sliceOwner = new Map();
    for (const slice of objects.endpointSlices) this.putSlice(slice);
    this.legacyEndpoints = new Map(objects.legacyEndpoints.map((e) => [serviceKey(e.namespace, e.serviceName), e]));
    this.pods = new Map(objects.pods.map((p) => [serviceKey(p.namespace, p.name), p]));
    this.portMaps = new Map();
    this.nodeIndex = new NodeIndex();
    for (const node of objects.nodes ?? []) this.nodeIndex.set(node);
    this.placementGeneration++;
    this.ipIndex = new IpIndex();
    for (const key of this.services.keys()) this.reindexService(key);
    for (const [key, pod] of this.pods) this.ipIndex.setPod(key, pod);
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
   * listener, so caches drop only what it touched.
   */
  applyBatch(events: readonly ViewEvent[]): void {
    if (events.length === 0) return;
    this.nextSerial();
    for (const event of events) this.applyOne(event);
  }

  private applyOne(event: ViewEvent): void {
    if (this.readyClock && event.op === 'upsert') event = this.stampEvent(event);
    this.forgetPortMaps(event);
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
        this.ipIndex.setPod(key, event.record);
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
        this.ipIndex.removePod(key);
        return { scope: 'namespace', namespace };
    }
  }

  // --- ready stamps (slow start) ---

  /** The event with its endpoints stamped against the view as it is before the event. */
  private stampEvent(event: Extract<ViewEvent, { op: 'upsert' }>): ViewEvent {
    if (event.kind === 'EndpointSlice') {
      const owner = serviceKey(event.record.namespace, event.record.serviceName);
      const slices = this.slices.get(owner);
      const record = this.stampSlice(event.record, sliceNamed(slices, event.record.name), () => slicesIn(slices));
      return record === event.record ? event : { ...event, record };
    }
    if (event.kind === 'Endpoints') {
      const previous = this.legacyEndpoints.get(serviceKey(event.record.namespace, event.record.serviceName));
      const record = this.stampSlice(event.record, previous, () => []);
      return record === event.record ? event : { ...event, record };
    }
    return event;
  }

  /** A whole new version, stamped against the view it replaces. */
  private stampAll(objects: ClusterObjects): ClusterObjects {
    const endpointSlices = objects.endpointSlices.map((slice) => {
      const slices = this.slices.get(serviceKey(slice.namespace, slice.serviceName));
      return this.stampSlice(slice, sliceNamed(slices, slice.name), () => slicesIn(slices));
    });
    const legacyEndpoints = objects.legacyEndpoints.map((e) => this.stampSlice(e, this.legacyEndpoints.get(serviceKey(e.namespace, e.serviceName)), () => []));
    return { ...objects, endpointSlices, legacyEndpoints };
  }

  /**
   * The slice with each ready endpoint's readySince: kept from the same address ready before in
   * the slice's old version (or, when not there, in another slice of its Service: endpoints move
   * between slices), else now. The record is copied only when a stamp changes. Work per event:
   * the slice, plus its Service's other slices only when an address is new to the slice.
   */
  private stampSlice(record: EndpointSlice, sameBefore: EndpointSlice | undefined, othersBefore: () => Iterable<EndpointSlice>): EndpointSlice {
    const now = (this.readyClock as () => number)();
    let same: Map<string, Endpoint> | null = null;
    let others: Map<string, Endpoint> | null = null;
    let changed = false;
    const endpoints = record.endpoints.map((endpoint) => {
      let since: number | undefined;
      if (endpoint.ready) {
        same ??= readyByAddress(sameBefore ? [sameBefore] : []);
        let previous = same.get(endpoint.address) ?? null;
        if (previous === null) {
          others ??= readyByAddress(othersBefore());
          previous = others.get(endpoint.address) ?? null;
        }
        since = previous === null ? now : previous.readySince;
        if (since !== undefined && now - since >= READY_SINCE_MAX_AGE_MS) since = undefined;
      }
      if (since === endpoint.readySince) return endpoint;
      changed = true;
      return withReadySince(endpoint, since);
    });
    return changed ? { ...record, endpoints } : record;
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
    if (slices !== undefined) {
      const groups: EndpointGroup[] = [];
      for (const slice of slicesIn(slices)) if (slice.addressType !== 'FQDN') groups.push(slice);
      return groups;
    }
    const legacy = this.legacyEndpoints.get(key);
    return legacy ? [legacy] : [];
  }

  /**
   * The Service's ports that reach its pods on another number (see port-map.ts), kept until the
   * Service or one of its endpoint objects changes: queries never work it out.
   */
  portMappings(service: Service): readonly PortMapping[] {
    const key = serviceKey(service.namespace, service.name);
    const known = this.portMaps.get(key);
    if (known?.service === service) return known.mapped;
    const mapped = mappedPorts(service, this.endpointGroups(service));
    this.portMaps.set(key, { service, mapped });
    return mapped;
  }

  /** Drops the port mappings an event may change: its Service's, or the Services its slice belonged to. */
  private forgetPortMaps(event: ViewEvent): void {
    if (this.portMaps.size === 0 || event.kind === 'Namespace' || event.kind === 'Pod' || event.kind === 'Node') return;
    if (event.op === 'delete') {
      if (event.kind === 'EndpointSlice') {
        const owner = this.sliceOwner.get(serviceKey(event.namespace, event.name));
        if (owner !== undefined) this.portMaps.delete(owner);
      } else if (event.kind === 'Service') this.portMaps.delete(serviceKey(event.namespace, event.name));
      return;
    }
    if (event.kind === 'Service') return; // a new record: the memo checks the Service it was made for
    this.portMaps.delete(serviceKey(event.record.namespace, event.record.serviceName));
    const previous = this.sliceOwner.get(serviceKey(event.record.namespace, event.record.name));
    if (previous !== undefined) this.portMaps.delete(previous);
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
    return this.ipIndex.pods(ip);
  }

  /** Services whose ClusterIPs include `ip`. */
  servicesByClusterIp(ip: string): readonly Service[] {
    return this.ipIndex.services(ip);
  }

  /** Published endpoint addresses equal to `ip`, across all Services, each with its Service. */
  endpointsByIp(ip: string): EndpointRef[] {
    const refs: EndpointRef[] = [];
    for (const endpoint of this.ipIndex.endpoints(ip)) {
      // Indexed only while its Service is in the view (reindexService).
      const service = this.services.get(endpoint.service);
      if (service) refs.push({ service, endpoint });
    }
    return refs;
  }

  /** Brings one Service's entries in the IP index up to date. */
  private reindexService(key: string): void {
    const service = this.services.get(key);
    if (!service) return this.ipIndex.removeService(key);
    this.ipIndex.setService(sharedNames.intern(key), service, this.endpointGroups(service), (endpoint) => isPublished(service, endpoint));
  }

  counts(): { namespaces: number; services: number; endpointSlices: number; pods: number; nodes: number } {
    let endpointSlices = 0;
    for (const slices of this.slices.values()) endpointSlices += sliceCount(slices);
    return { namespaces: this.namespaces.size, services: this.services.size, endpointSlices, pods: this.pods.size, nodes: this.nodeIndex.size };
  }

  private putService(service: Service): void {
    this.services.set(sharedKey(service.namespace, service.name), service);
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
    const key = sharedKey(slice.namespace, slice.serviceName);
    this.slices.set(key, withSlice(this.slices.get(key), slice));
    this.sliceOwner.set(serviceKey(slice.namespace, slice.name), key);
  }

  /** The key of the Service the removed slice belonged to, or null when there was none. */
  private removeSlice(namespace: string, name: string): string | null {
    const sliceKey = serviceKey(namespace, name);
    const owner = this.sliceOwner.get(sliceKey);
    if (owner === undefined) return null;
    this.sliceOwner.delete(sliceKey);
    const slices = this.slices.get(owner);
    const left = slices === undefined ? undefined : withoutSlice(slices, name);
    if (left === undefined) this.slices.delete(owner);
    else this.slices.set(owner, left);
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

/** How many records an update carries: objects, and the endpoints each slice holds (what a bulk change is measured in). */
export function recordsIn(update: ViewUpdate): number {
  if (update.kind === 'event') {
    const { event } = update;
    return event.op === 'upsert' && (event.kind === 'EndpointSlice' || event.kind === 'Endpoints') ? 1 + event.record.endpoints.length : 1;
  }
  const { objects } = update;
  let records = objects.namespaces.length + objects.services.length + objects.pods.length + (objects.nodes?.length ?? 0);
  for (const slice of objects.endpointSlices) records += 1 + slice.endpoints.length;
  for (const slice of objects.legacyEndpoints) records += 1 + slice.endpoints.length;
  return records;
}
