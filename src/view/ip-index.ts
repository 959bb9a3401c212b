/**
 * The view's index by IP address: Services by ClusterIP, published endpoints and pods by
 * address. It is kept up to date one Service or pod at a time, so a change to one EndpointSlice
 * costs that Service's addresses, not a pass over every endpoint of the cluster: PTR answers are
 * dropped on every change, and each would otherwise rebuild the whole index.
 */
import type { Endpoint, Pod, Service } from './types.ts';

/** An endpoint address found by IP, with the Service it belongs to. */
export interface EndpointRef {
  service: Service;
  endpoint: Endpoint;
  address: string;
}

/** What one Service put in the index, so that exactly that comes out again. */
interface ServiceEntries {
  service: Service;
  endpoints: EndpointRef[];
}

function add<T>(index: Map<string, T[]>, ip: string, item: T): void {
  const list = index.get(ip);
  if (list) list.push(item);
  else index.set(ip, [item]);
}

function remove<T>(index: Map<string, T[]>, ip: string, item: T): void {
  const list = index.get(ip);
  if (!list) return;
  const at = list.indexOf(item);
  if (at >= 0) list.splice(at, 1);
  if (list.length === 0) index.delete(ip);
}

export class IpIndex {
  private readonly servicesByIp = new Map<string, Service[]>();
  private readonly endpointsByIp = new Map<string, EndpointRef[]>();
  private readonly podsByIp = new Map<string, Pod[]>();
  /** Service key → what it contributed. */
  private readonly byService = new Map<string, ServiceEntries>();
  /** Pod key → the pod as indexed. */
  private readonly byPod = new Map<string, Pod>();

  /** Puts a Service's ClusterIPs and published endpoint addresses in place of what it had. */
  setService(key: string, service: Service, endpoints: Iterable<Endpoint>): void {
    this.removeService(key);
    const entries: ServiceEntries = { service, endpoints: [] };
    for (const ip of service.clusterIPs) add(this.servicesByIp, ip, service);
    for (const endpoint of endpoints) {
      for (const address of endpoint.addresses) {
        const ref = { service, endpoint, address };
        entries.endpoints.push(ref);
        add(this.endpointsByIp, address, ref);
      }
    }
    this.byService.set(key, entries);
  }

  removeService(key: string): void {
    const entries = this.byService.get(key);
    if (!entries) return;
    this.byService.delete(key);
    for (const ip of entries.service.clusterIPs) remove(this.servicesByIp, ip, entries.service);
    for (const ref of entries.endpoints) remove(this.endpointsByIp, ref.address, ref);
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
    return this.servicesByIp.get(ip) ?? [];
  }

  endpoints(ip: string): readonly EndpointRef[] {
    return this.endpointsByIp.get(ip) ?? [];
  }

  pods(ip: string): readonly Pod[] {
    return this.podsByIp.get(ip) ?? [];
  }
}
