/**
 * The view's index by IP address: Services by ClusterIP, published endpoints and pods by
 * address. It is kept up to date one Service or pod at a time, so a change to one EndpointSlice
 * costs that Service's addresses, not a pass over every endpoint of the cluster: PTR answers are
 * dropped on every change, and each would otherwise rebuild the whole index.
 */
import type { Endpoint, Pod, Service } from './types.ts';

/** Endpoints as a Service's slices hold them. */
type EndpointLists = ReadonlyArray<{ readonly endpoints: readonly Endpoint[] }>;

/**
 * What one Service put in the index, so that exactly that comes out again: the slices it was
 * read from (records never change), not a copy of their endpoints (10,000 Services held 1.2 MiB
 * of such copies).
 */
interface ServiceEntries {
  service: Service;
  groups: EndpointLists;
}

/**
 * Items by address. Nearly every address has one item: it is held as it is, and only an address
 * shared by several gets a list (100,000 endpoints would otherwise cost 100,000 one-item lists).
 */
type ByIp<T extends object> = Map<string, T | T[]>;

function add<T extends object>(index: ByIp<T>, ip: string, item: T): void {
  const held = index.get(ip);
  if (held === undefined) index.set(ip, item);
  else if (Array.isArray(held)) held.push(item);
  else index.set(ip, [held, item]);
}

function remove<T extends object>(index: ByIp<T>, ip: string, item: T): void {
  const held = index.get(ip);
  if (held === undefined) return;
  if (!Array.isArray(held)) {
    if (held === item) index.delete(ip);
    return;
  }
  const at = held.indexOf(item);
  if (at >= 0) held.splice(at, 1);
  if (held.length === 1) index.set(ip, held[0] as T);
  else if (held.length === 0) index.delete(ip);
}

function itemsAt<T extends object>(index: ByIp<T>, ip: string): readonly T[] {
  const held = index.get(ip);
  return held === undefined ? [] : Array.isArray(held) ? held : [held];
}

export class IpIndex {
  private readonly servicesByIp: ByIp<Service> = new Map();
  /** Each endpoint names its Service (Endpoint.service). */
  private readonly endpointsByIp: ByIp<Endpoint> = new Map();
  private readonly podsByIp: ByIp<Pod> = new Map();
  /** Service key → what it contributed. */
  private readonly byService = new Map<string, ServiceEntries>();
  /** Pod key → the pod as indexed. */
  private readonly byPod = new Map<string, Pod>();

  /** Puts a Service's ClusterIPs and its endpoints that are `published` in place of what it had. */
  setService(key: string, service: Service, groups: EndpointLists, published: (endpoint: Endpoint) => boolean): void {
    this.removeService(key);
    for (const ip of service.clusterIPs) add(this.servicesByIp, ip, service);
    for (const group of groups) for (const endpoint of group.endpoints) if (published(endpoint)) add(this.endpointsByIp, endpoint.address, endpoint);
    this.byService.set(key, { service, groups });
  }

  removeService(key: string): void {
    const entries = this.byService.get(key);
    if (!entries) return;
    this.byService.delete(key);
    for (const ip of entries.service.clusterIPs) remove(this.servicesByIp, ip, entries.service);
    // The endpoints that were not published are not there: removing them changes nothing.
    for (const group of entries.groups) for (const endpoint of group.endpoints) remove(this.endpointsByIp, endpoint.address, endpoint);
  }

  setPod(key: string, pod: Pod): void {
    this.removePod(key);
    for (const ip of pod.ips) add(this.podsByIp, ip, pod);
    this.byPod.set(key, pod);
  }

  removePod(key: string): void {
    const pod = this.byPod.get(key);
    if (!pod) return;
    this.byPod.delete(key);
    for (const ip of pod.ips) remove(this.podsByIp, ip, pod);
  }

  services(ip: string): readonly Service[] {
    return itemsAt(this.servicesByIp, ip);
  }

  endpoints(ip: string): readonly Endpoint[] {
    return itemsAt(this.endpointsByIp, ip);
  }

  pods(ip: string): readonly Pod[] {
    return itemsAt(this.podsByIp, ip);
  }
}
