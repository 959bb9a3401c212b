/**
 * What a cluster-zone name stands for: nothing (NXDOMAIN), a list of addresses with ports and the
 * names they answer as (CoreDNS calls them msg.Service), or an ExternalName's target name. Record
 * types are chosen later; here only existence and content are decided.
 */
import { ipFamily, ipToBytes, bytesToIp } from '../net/ip.ts';
import { unmapIpv4 } from '../net/cidr.ts';
import type { Settings } from '../settings/schema.ts';
import { servesNamespace } from '../settings/served-namespaces.ts';
import { type ClusterView, isPublished } from '../view/cluster-view.ts';
import type { Endpoint, Service } from '../view/types.ts';
import { type ClusterRequest, podLabelToIp } from './cluster-name.ts';
import { ignoresTargetPort, serviceBalance } from '../balance/policy.ts';
import { NameError, encodeName } from '../wire/name.ts';
import { endpointHostname, serviceFqdn } from '../view/names.ts';

/** An address a name stands for: a ClusterIP, an endpoint's address (`endpoint` set) or a pod's. */
export interface NamedAddress {
  /** A canonical IP. */
  ip: string;
  /** -1 when there is no port (pods, portless services). */
  port: number;
  /** The full name this address answers as, lowercase: the SRV target and glue owner. */
  name: string;
  /** Set for endpoints' addresses: what balancing policies read. */
  endpoint?: Endpoint;
}

/**
 * What a cluster-zone name stands for. `missing`: the name does not exist (NXDOMAIN). `addresses`:
 * it exists, and an empty list means it has no records of any type (NODATA), as an empty
 * non-terminal or a Service without ready endpoints does. `alias`: an ExternalName Service, a CNAME
 * to `target`.
 */
export type Lookup = { kind: 'missing' } | { kind: 'addresses'; addresses: readonly NamedAddress[] } | { kind: 'alias'; target: string };
/** A name that exists: what the answers are built from. */
export type Found = Exclude<Lookup, { kind: 'missing' }>;

const MISSING: Lookup = Object.freeze({ kind: 'missing' });
const NO_RECORDS: Found = Object.freeze({ kind: 'addresses', addresses: Object.freeze([] as NamedAddress[]) });

function addressesOrMissing(addresses: NamedAddress[]): Lookup {
  return addresses.length > 0 ? { kind: 'addresses', addresses } : MISSING;
}

const NO_PORT = { name: '', port: -1, protocol: '' } as const;

export interface LookupContext {
  view: ClusterView;
  settings: Settings;
  /** Told each time an ExternalName whose target DNS cannot carry is looked up (the listener logs it once). */
  unusableTarget?: (service: Service, reason: string) => void;
}

/** Why an ExternalName target cannot go into a CNAME (labels over 63 bytes, over 255 in all, empty labels, not printable ASCII); null when it can. */
export function externalNameProblem(target: string): string | null {
  if (!/^[\x21-\x7e]+$/.test(target)) return `"${target}" has characters other than printable ASCII`;
  try {
    encodeName(target);
    return null;
  } catch (error) {
    if (error instanceof NameError) return error.message;
    throw error;
  }
}

function matches(wanted: string, actual: string): boolean {
  return wanted === '' || wanted === actual.toLowerCase();
}

export function namespaceExposed(ctx: LookupContext, namespace: string): boolean {
  return servesNamespace(ctx.settings, namespace) && ctx.view.hasNamespace(namespace);
}

function readyAddressCount(ctx: LookupContext, service: Service): number {
  let count = 0;
  for (const group of ctx.view.endpointGroups(service)) {
    for (const endpoint of group.endpoints) if (isPublished(service, endpoint)) count++;
  }
  return count;
}

/**
 * What a lookup is for: addresses (A/AAAA, and CNAME chains to them) carry no port, so a Service
 * in endpoint mode whose port maps to another target port answers them with its ClusterIP;
 * records (SRV) carry the endpoint's own port.
 */
export type LookupPurpose = 'addresses' | 'records';

/** Endpoint mode, unless the lookup wants addresses a port mapping would make wrong. */
function answersEndpoints(ctx: LookupContext, service: Service, purpose: LookupPurpose): boolean {
  if (!serviceBalance(service, ctx.settings).endpointMode) return false;
  return purpose === 'records' || ignoresTargetPort(service) || ctx.view.portMappings(service).length === 0;
}

function findServices(ctx: LookupContext, request: ClusterRequest, zone: string, purpose: LookupPurpose): Lookup {
  if (request.service === '') return NO_RECORDS;
  const service = ctx.view.service(request.namespace, request.service);
  if (!service) return MISSING;
  const serviceName = serviceFqdn(service, zone);

  // `_tcp.svc.ns.svc.zone` is an empty non-terminal above `_port._tcp…` (RFC 8020): it exists.
  if (request.endpoint.startsWith('_') && service.type !== 'ExternalName') {
    const protocol = request.endpoint.slice(1);
    return service.ports.some((p) => p.name !== '' && p.protocol.toLowerCase() === protocol) ? NO_RECORDS : MISSING;
  }
  if (ctx.settings.ignoreEmptyService && service.type !== 'ExternalName' && !service.headless && readyAddressCount(ctx, service) === 0) {
    return MISSING;
  }
  if (service.type === 'ExternalName') {
    if (request.endpoint || request.port || request.protocol) return MISSING;
    const target = service.externalName as string;
    if (ipFamily(target) !== null) return MISSING;
    // A target no CNAME can carry: the name exists with no records (NODATA), see docs/behaviour.md.
    const problem = externalNameProblem(target);
    if (problem !== null) {
      ctx.unusableTarget?.(service, problem);
      return NO_RECORDS;
    }
    return { kind: 'alias', target };
  }

  const addresses: NamedAddress[] = [];
  const endpointMode = request.endpoint === '' && answersEndpoints(ctx, service, purpose);
  if (service.headless || request.endpoint !== '' || endpointMode) {
    for (const group of ctx.view.endpointGroups(service)) {
      const ports = group.ports.length > 0 ? group.ports : [NO_PORT];
      for (const endpoint of group.endpoints) {
        if (!isPublished(service, endpoint)) continue;
        const hostname = endpointHostname(endpoint.hostname, endpoint.podName, endpoint.address, ctx.settings.endpointPodNames);
        if (request.endpoint !== '' && hostname !== request.endpoint) continue;
        for (const port of ports) {
          if (!matches(request.port, port.name) || !matches(request.protocol, port.protocol)) continue;
          addresses.push({ ip: endpoint.address, port: port.port, name: `${hostname}.${serviceName}`, endpoint });
        }
      }
    }
    if (!endpointMode || addresses.length > 0) return addressesOrMissing(addresses);
    // Endpoint mode with no ready endpoint: the ClusterIP, or nothing.
    if (ctx.settings.balance.emptyFallback === 'nxdomain') return MISSING;
  }
  return addressesOrMissing(clusterIpAddresses(service, request, zone));
}

/** A ClusterIP Service's addresses: each matching port at each of its ClusterIPs. */
export function clusterIpAddresses(service: Service, request: ClusterRequest, zone: string): NamedAddress[] {
  const serviceName = serviceFqdn(service, zone);
  const addresses: NamedAddress[] = [];
  const ports = service.ports.length > 0 ? service.ports : [NO_PORT];
  for (const port of ports) {
    if (!matches(request.port, port.name) || !matches(request.protocol, port.protocol)) continue;
    for (const ip of service.clusterIPs) addresses.push({ ip, port: port.port, name: serviceName });
  }
  return addresses;
}

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) answers as the IPv4 address, as Go parses it. */
function podIp(label: string): string | null {
  const text = podLabelToIp(label);
  const bytes = ipToBytes(text);
  return bytes === null ? null : bytesToIp(unmapIpv4(bytes));
}

function findPods(ctx: LookupContext, request: ClusterRequest, qnameOwner: string): Lookup {
  if (ctx.settings.pods === 'disabled') return MISSING;
  if (request.service === '') return NO_RECORDS;
  const label = request.service;
  if (ctx.settings.pods === 'insecure') {
    const ip = podIp(label);
    return ip === null ? MISSING : { kind: 'addresses', addresses: [{ ip, port: -1, name: qnameOwner }] };
  }
  // verified: the label must spell a pod's IP exactly as the API does, in that pod's namespace.
  const ip = podLabelToIp(label);
  const pods = ctx.view.podsByIp(ip).filter((pod) => pod.namespace === request.namespace);
  return pods.length > 0 ? { kind: 'addresses', addresses: [{ ip, port: -1, name: qnameOwner }] } : MISSING;
}

/** What a parsed cluster-zone name stands for; `zone` is the lowercase zone it was found under. */
export function lookupCluster(ctx: LookupContext, request: ClusterRequest | null, zone: string, qname: string, purpose: LookupPurpose = 'records'): Lookup {
  if (request === null) return MISSING;
  if (request.podOrSvc === '') return NO_RECORDS;
  if (!namespaceExposed(ctx, request.namespace)) return MISSING;
  return request.podOrSvc === 'pod' ? findPods(ctx, request, qname) : findServices(ctx, request, zone, purpose);
}
