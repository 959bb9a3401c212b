/**
 * Kubernetes API objects (only the fields lbdns reads) checked and slimmed into view records in one
 * pass. Both sources, the objects file and the API watch, go through `slimObject`.
 *
 * Read by hand, not through a schema library: a schema builds a checked copy of every object
 * (each endpoint, its conditions, its targetRef…) only for slimming to copy the few fields it
 * keeps and drop the rest. At 100,000 endpoints that copy was a third of lbdns's CPU while it
 * listed the cluster, and the garbage most of its collections. Each reader checks what it reads
 * as the schema did (a wrong type, a missing required field, a value out of range is rejected,
 * named by its path), and nothing more: fields lbdns does not read are not looked at.
 */
import { canonicalIp } from '../net/ip.ts';
import { issuePath } from '../util/issue-path.ts';
import { ListInterner, NO_ANNOTATIONS, NO_STRINGS, sharedNames } from '../view/interner.ts';
import { type Endpoint, type EndpointPort, type EndpointSlice, type Node, type Pod, type Protocol, type Service, type ServicePort, type SlimObject, type TrafficDistribution, serviceKey } from '../view/types.ts';

export class ObjectError extends Error {
  readonly field: string;
  constructor(message: string, field: string) {
    super(message);
    this.field = field;
  }
}

type Json = Record<string, unknown>;
/** Checks a value and gives what lbdns keeps of it, or throws ObjectError naming where it is. */
type Read<T> = (value: unknown) => T;

/**
 * The path from the object to the value being read (`issuePath`'s segments). One stack for every
 * read instead of a path string made for each field: slimming is synchronous, and `slimObject`
 * empties it first, so one that threw leaves nothing behind.
 */
const at: Array<string | number> = [];

function fail(message: string): never {
  const field = issuePath(at);
  throw new ObjectError(`${field || '(object)'}: ${message}`, field);
}

/** `object[key]` through `read`, errors named `…key`. */
function field<T>(object: Json, key: string, read: Read<T>): T {
  at.push(key);
  const value = read(object[key]);
  at.pop();
  return value;
}

const anObject: Read<Json> = (value) => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : fail('expected an object'));
const aString: Read<string> = (value) => (typeof value === 'string' ? value : fail('expected a string'));
const aName: Read<string> = (value) => (aString(value) !== '' ? (value as string) : fail('expected a non-empty string'));
const aBoolean: Read<boolean> = (value) => (typeof value === 'boolean' ? value : fail('expected a boolean'));
const aNumber: Read<number> = (value) => (typeof value === 'number' && Number.isFinite(value) ? value : fail('expected a number'));
const aPort: Read<number> = (value) => (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 65535 ? value : fail('expected a port number (0 to 65535)'));
const aList: Read<unknown[]> = (value) => (Array.isArray(value) ? value : fail('expected a list'));
const anAddress: Read<string> = (value) => canonicalIp(aString(value)) ?? fail('not an IP address');

/** Absent (undefined) allowed: `fallback` then. */
function orElse<T, F>(read: Read<T>, fallback: F): Read<T | F> {
  return (value) => (value === undefined ? fallback : read(value));
}
/** Absent or null allowed: null then. */
function nullish<T>(read: Read<T>): Read<T | null> {
  return (value) => (value === undefined || value === null ? null : read(value));
}
function oneOf<T extends string>(values: readonly T[]): Read<T> {
  const known = new Set<string>(values);
  const expected = `expected one of ${values.join(', ')}`;
  return (value) => (typeof value === 'string' && known.has(value) ? (value as T) : fail(expected));
}
/** Each item through `read`, errors named `…[i]`. */
function listOf<T>(read: Read<T>): Read<T[]> {
  return (value) => {
    const list = aList(value);
    // map: a list of exactly their number.
    return list.map((item, i) => {
      at.push(i);
      const value = read(item);
      at.pop();
      return value;
    });
  };
}
/** A map of strings (labels, annotations), as it is: it is only read. */
const aStringMap: Read<Record<string, string>> = (value) => {
  const map = anObject(value);
  for (const key in map) {
    if (typeof map[key] !== 'string') {
      at.push(key);
      fail('expected a string');
    }
  }
  return map as Record<string, string>;
};

const nullishString = nullish(aString);
const nullishBoolean = nullish(aBoolean);
const nullishStringMap = nullish(aStringMap);
const protocol = orElse(oneOf<Protocol>(['TCP', 'UDP', 'SCTP']), 'TCP' as const);
/** Names that repeat across records (namespaces, nodes, zones, ports), one copy each: see view/interner.ts. */
const shared = (value: string): string => sharedNames.intern(value);
const sharedOrNull = (value: string | null): string | null => sharedNames.internOrNull(value);

interface Metadata {
  name: string;
  namespace: string;
  labels: Record<string, string> | null;
  annotations: Record<string, string> | null;
}

const optionalString = orElse(aString, undefined);
/** `metadata`; a namespaced object without a namespace is in `default`, as kubectl would put it. */
function metadataReader(namespaced: boolean): Read<Metadata> {
  const namespace = namespaced ? orElse(aName, 'default') : orElse(aString, '');
  // A cluster-scoped object's namespace is checked, not kept.
  const keep = namespaced ? shared : (value: string) => value;
  return (value) => {
    const metadata = anObject(value);
    const read: Metadata = {
      name: field(metadata, 'name', aName),
      namespace: keep(field(metadata, 'namespace', namespace)),
      labels: field(metadata, 'labels', nullishStringMap),
      annotations: field(metadata, 'annotations', nullishStringMap),
    };
    field(metadata, 'resourceVersion', optionalString);
    return read;
  };
}
const namespacedMetadata = metadataReader(true);
const clusterMetadata = metadataReader(false);

function lbdnsAnnotations(annotations: Record<string, string> | null): Readonly<Record<string, string>> {
  let kept: Record<string, string> | null = null;
  for (const key in annotations) if (key.startsWith('lbdns.io/')) (kept ??= {})[key] = annotations[key] as string;
  return kept ?? NO_ANNOTATIONS;
}

/** Port lists, shared between the records that list the same ports (view/interner.ts). */
const servicePortLists = new ListInterner<ServicePort>(4096);
const endpointPortLists = new ListInterner<EndpointPort>(4096);
const NO_PORTS: readonly never[] = Object.freeze([]);

function sharedServicePorts(ports: readonly ServicePort[]): readonly ServicePort[] {
  if (ports.length === 0) return NO_PORTS;
  // JSON: a port name may hold any character, and a name and a number stay apart (targetPort).
  return servicePortLists.share(ports, JSON.stringify(ports.map((p) => [p.name, p.port, p.protocol, p.targetPort])));
}

function sharedEndpointPorts(ports: readonly EndpointPort[]): readonly EndpointPort[] {
  if (ports.length === 0) return NO_PORTS;
  return endpointPortLists.share(ports, JSON.stringify(ports.map((p) => [p.name, p.port, p.protocol])));
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function label(value: string | null): string | null {
  if (!value) return null;
  const lower = value.toLowerCase();
  return dnsLabel.test(lower) ? lower : null;
}

/** The canonical addresses of a list of strings; ones that are no address are dropped. */
function canonicalAddresses(listed: readonly unknown[]): string[] {
  const addresses: string[] = [];
  for (let i = 0; i < listed.length; i++) {
    at.push(i);
    const address = canonicalIp(aString(listed[i]));
    at.pop();
    if (address !== null) addresses.push(address);
  }
  return addresses;
}

/** `{ name }` items (EndpointSlice hints), their names interned; the shared empty list for none. */
const hintNames: Read<readonly string[] | null> = nullish((value) => {
  const hints = aList(value);
  if (hints.length === 0) return NO_STRINGS;
  const names = new Array<string>(hints.length);
  for (let i = 0; i < hints.length; i++) {
    at.push(i);
    names[i] = shared(field(anObject(hints[i]), 'name', aString));
    at.pop();
  }
  return names;
});

const serviceType = orElse(oneOf<Service['type']>(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']), 'ClusterIP' as const);
/** spec.clusterIP(s) entries: an address (canonical), None, or (clusterIP alone) empty. */
const clusterIPEntry: Read<string> = (value) => (value === 'None' ? value : anAddress(value));
const clusterIP = orElse((value: unknown) => (value === '' ? value : clusterIPEntry(value)), undefined);
const trafficDistributions = new Set<string>(['PreferClose', 'PreferSameZone', 'PreferSameNode']);

const portName = orElse(aString, '');
/** A container port: its number or its name. */
const targetPort = orElse((value: unknown) => (typeof value === 'string' ? value : aNumber(value)), undefined);
const servicePort: Read<ServicePort> = (value) => {
  const p = anObject(value);
  const name = field(p, 'name', portName);
  const port = field(p, 'port', aPort);
  const proto = field(p, 'protocol', protocol);
  const target = field(p, 'targetPort', targetPort);
  return { name: shared(name.toLowerCase()), port, protocol: proto, targetPort: target === undefined || target === port ? null : target };
};

const clusterIPs = nullish(listOf(clusterIPEntry));
const servicePorts = nullish(listOf(servicePort));
const notPublished = orElse(aBoolean, false);
const sessionAffinity = orElse(oneOf<Service['sessionAffinity']>(['None', 'ClientIP']), 'None' as const);
const internalTrafficPolicy = nullish(oneOf(['Cluster', 'Local']));

const serviceSpec = (value: unknown) => {
  const spec = anObject(value);
  return {
    type: field(spec, 'type', serviceType),
    clusterIP: field(spec, 'clusterIP', clusterIP),
    clusterIPs: field(spec, 'clusterIPs', clusterIPs),
    externalName: field(spec, 'externalName', optionalString),
    ports: field(spec, 'ports', servicePorts),
    publishNotReadyAddresses: field(spec, 'publishNotReadyAddresses', notPublished),
    sessionAffinity: field(spec, 'sessionAffinity', sessionAffinity),
    trafficDistribution: field(spec, 'trafficDistribution', nullishString),
    internalTrafficPolicy: field(spec, 'internalTrafficPolicy', internalTrafficPolicy),
  };
};

function slimService(object: Json): Service {
  const metadata = field(object, 'metadata', namespacedMetadata);
  const spec = field(object, 'spec', serviceSpec);
  const listed = spec.clusterIPs && spec.clusterIPs.length > 0 ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  const headless = spec.type !== 'ExternalName' && (listed.length === 0 || listed[0] === 'None');
  // Canonical already; a None after an address is no address either.
  const clusterIPs = spec.type === 'ExternalName' || headless ? [] : listed.filter((address) => address !== 'None');
  const externalName = spec.type === 'ExternalName' ? (spec.externalName ?? '').toLowerCase().replace(/\.$/, '') : null;
  if (spec.type === 'ExternalName' && !externalName) throw new ObjectError('an ExternalName service needs spec.externalName', 'spec.externalName');
  return {
    namespace: metadata.namespace,
    name: metadata.name.toLowerCase(),
    type: spec.type,
    clusterIPs,
    headless,
    externalName,
    ports: sharedServicePorts(spec.ports ?? []),
    publishNotReadyAddresses: spec.publishNotReadyAddresses,
    sessionAffinity: spec.sessionAffinity,
    trafficDistribution: trafficDistributions.has(spec.trafficDistribution ?? '') ? (spec.trafficDistribution as TrafficDistribution) : null,
    ...(spec.internalTrafficPolicy === 'Local' ? { internalTrafficPolicy: 'Local' as const } : {}),
    annotations: lbdnsAnnotations(metadata.annotations),
  };
}

const conditionReady: Read<boolean | null> = nullish((value) => {
  const conditions = anObject(value);
  field(conditions, 'serving', nullishBoolean);
  field(conditions, 'terminating', nullishBoolean);
  return field(conditions, 'ready', nullishBoolean);
});

const hints = nullish((value) => {
  const object = anObject(value);
  return { zones: field(object, 'forZones', hintNames) ?? NO_STRINGS, nodes: field(object, 'forNodes', hintNames) ?? NO_STRINGS };
});

/** targetRef's pod name, lowercase, when it names a Pod. */
const targetPod: Read<string | null> = nullish((value) => {
  const ref = anObject(value);
  const kind = field(ref, 'kind', optionalString);
  const name = field(ref, 'name', optionalString);
  field(ref, 'namespace', optionalString);
  return kind === 'Pod' && name ? name.toLowerCase() : null;
});

/** An EndpointSlice endpoint: one view Endpoint per address (types.ts), none when none of its addresses is one. */
const sliceEndpoint: Read<Endpoint[]> = (value) => {
  const e = anObject(value);
  at.push('addresses');
  const listed = aList(e['addresses']);
  if (listed.length === 0) fail('expected at least one address');
  const addresses = canonicalAddresses(listed);
  at.pop();
  const ready = field(e, 'conditions', conditionReady);
  const hostname = field(e, 'hostname', nullishString);
  const nodeName = field(e, 'nodeName', nullishString);
  const zone = field(e, 'zone', nullishString);
  const hinted = field(e, 'hints', hints);
  const podName = field(e, 'targetRef', targetPod);
  return addresses.map((address) => ({
    address,
    ready: ready ?? true,
    hostname: label(hostname),
    nodeName: sharedOrNull(nodeName),
    zone: sharedOrNull(zone),
    hintZones: hinted?.zones ?? NO_STRINGS,
    hintNodes: hinted?.nodes ?? NO_STRINGS,
    podName,
    // Set with the slice's Service (ownedBy): its label is read after the endpoints.
    service: '',
  }));
};

/** A port of an EndpointSlice or v1 Endpoints, null when it has no number (a slice may say "all ports"). */
function endpointPortReader(port: Read<number | null>): Read<EndpointPort | null> {
  return (value) => {
    const p = anObject(value);
    const name = field(p, 'name', nullishString);
    const number = field(p, 'port', port);
    const proto = field(p, 'protocol', protocol);
    return number === null ? null : { name: shared((name ?? '').toLowerCase()), port: number, protocol: proto };
  };
}
const slicePorts = nullish(listOf(endpointPortReader(nullish(aPort))));
const sliceEndpoints = nullish(listOf(sliceEndpoint));
const addressTypes = oneOf<EndpointSlice['addressType']>(['IPv4', 'IPv6', 'FQDN']);

/** Without the nulls (ports without a number, endpoints without an address), in a list of exactly their number. */
function present<T>(items: Array<T | null> | null): T[] {
  if (items === null) return [];
  if (!items.includes(null)) return items as T[];
  return items.filter((item): item is T => item !== null).slice();
}

/** The endpoints of each API endpoint, in one list of exactly their number. */
function flattened(lists: Endpoint[][] | null): Endpoint[] {
  if (lists === null) return [];
  let count = 0;
  for (const list of lists) count += list.length;
  const endpoints = new Array<Endpoint>(count);
  let at = 0;
  for (const list of lists) for (const endpoint of list) endpoints[at++] = endpoint;
  return endpoints;
}

/** The endpoints, made by this source a moment ago, as listed by the Service `namespace/serviceName`. */
function ownedBy(endpoints: Endpoint[], namespace: string, serviceName: string): Endpoint[] {
  const key = shared(serviceKey(namespace, serviceName));
  for (const endpoint of endpoints) endpoint.service = key;
  return endpoints;
}

function slimSlice(object: Json): EndpointSlice {
  const metadata = field(object, 'metadata', namespacedMetadata);
  const addressType = field(object, 'addressType', addressTypes);
  const endpoints = flattened(field(object, 'endpoints', sliceEndpoints));
  const ports = present(field(object, 'ports', slicePorts));
  const serviceName = metadata.labels?.['kubernetes.io/service-name'];
  if (!serviceName) throw new ObjectError('an EndpointSlice needs the kubernetes.io/service-name label', 'metadata.labels');
  const owner = serviceName.toLowerCase();
  return { namespace: metadata.namespace, name: metadata.name, serviceName: owner, addressType, ports: sharedEndpointPorts(ports), endpoints: ownedBy(endpoints, metadata.namespace, owner) };
}

const endpointAddresses = (ready: boolean): Read<Endpoint[] | null> =>
  nullish(
    listOf((value) => {
      const a = anObject(value);
      const address = field(a, 'ip', anAddress);
      const hostname = field(a, 'hostname', nullishString);
      const nodeName = field(a, 'nodeName', nullishString);
      const podName = field(a, 'targetRef', targetPod);
      return { address, ready, hostname: label(hostname), nodeName: sharedOrNull(nodeName), zone: null, hintZones: NO_STRINGS, hintNodes: NO_STRINGS, podName, service: '' };
    }),
  );
const readyAddresses = endpointAddresses(true);
const notReadyAddresses = endpointAddresses(false);
const subsetPorts = nullish(listOf(endpointPortReader(aPort)));
const nullishList = nullish(aList);

function slimEndpoints(object: Json): EndpointSlice {
  const metadata = field(object, 'metadata', namespacedMetadata);
  const endpoints: Endpoint[] = [];
  let ports: EndpointPort[] = [];
  const subsets = field(object, 'subsets', nullishList) ?? [];
  at.push('subsets');
  for (let i = 0; i < subsets.length; i++) {
    at.push(i);
    const subset = anObject(subsets[i]);
    const ready = field(subset, 'addresses', readyAddresses);
    const notReady = field(subset, 'notReadyAddresses', notReadyAddresses);
    const subsetPortList = present(field(subset, 'ports', subsetPorts));
    if (ports.length === 0) ports = subsetPortList;
    endpoints.push(...(ready ?? []), ...(notReady ?? []));
    at.pop();
  }
  at.pop();
  const v4 = endpoints.every((e) => !e.address.includes(':'));
  return { namespace: metadata.namespace, name: metadata.name, serviceName: metadata.name.toLowerCase(), addressType: v4 ? 'IPv4' : 'IPv6', ports: sharedEndpointPorts(ports), endpoints: ownedBy(endpoints.slice(), metadata.namespace, metadata.name.toLowerCase()) };
}

/** Node zone labels, first found wins: topology.kubernetes.io/zone, then (before Kubernetes 1.17, and still on some nodes) the deprecated one. */
export const NODE_ZONE_LABELS = ['topology.kubernetes.io/zone', 'failure-domain.beta.kubernetes.io/zone'] as const;

/** A Node's zone from its labels, or null. */
export function nodeZoneOfLabels(labels: Record<string, unknown>): string | null {
  for (const key of NODE_ZONE_LABELS) {
    const value = labels[key];
    if (typeof value === 'string' && value !== '') return value;
  }
  return null;
}

const nodeSpec = nullish((value) => {
  const spec = anObject(value);
  return { podCIDR: field(spec, 'podCIDR', nullishString), podCIDRs: field(spec, 'podCIDRs', nullish(listOf(aString))) };
});

function slimNode(object: Json): Node {
  const metadata = field(object, 'metadata', clusterMetadata);
  const spec = field(object, 'spec', nodeSpec);
  const zone = nodeZoneOfLabels(metadata.labels ?? {});
  const podCIDRs = spec?.podCIDRs && spec.podCIDRs.length > 0 ? spec.podCIDRs : spec?.podCIDR ? [spec.podCIDR] : [];
  return { name: shared(metadata.name), zone: sharedOrNull(zone), podCIDRs };
}

const podNodeName = nullish((value) => field(anObject(value), 'nodeName', nullishString));
const podIPs = nullish(listOf((value) => field(anObject(value), 'ip', aString)));
const podStatus = nullish((value) => {
  const status = anObject(value);
  return { podIP: field(status, 'podIP', optionalString), podIPs: field(status, 'podIPs', podIPs) };
});

function slimPod(object: Json): Pod {
  const metadata = field(object, 'metadata', namespacedMetadata);
  const nodeName = field(object, 'spec', podNodeName);
  const status = field(object, 'status', podStatus);
  const listed = status?.podIPs ?? (status?.podIP ? [status.podIP] : []);
  return {
    namespace: metadata.namespace,
    name: metadata.name.toLowerCase(),
    ips: canonicalAddresses(listed),
    ...(nodeName ? { nodeName: shared(nodeName) } : {}),
  };
}

/**
 * The slim record of one API object, or null for kinds lbdns does not serve. `kind` is the
 * object's own unless given (a list's items carry none: the list says what they are).
 * Throws ObjectError naming the field when a served kind is malformed.
 */
export function slimObject(object: unknown, kind: unknown = (object as { kind?: unknown } | null)?.kind): SlimObject | null {
  at.length = 0;
  if (typeof object !== 'object' || object === null) throw new ObjectError('(object): expected an object', '');
  const json = object as Json;
  switch (kind) {
    case 'Namespace':
      return { kind, record: { name: shared(field(json, 'metadata', clusterMetadata).name) } };
    case 'Service':
      return { kind, record: slimService(json) };
    case 'EndpointSlice':
      return { kind, record: slimSlice(json) };
    case 'Endpoints':
      return { kind, record: slimEndpoints(json) };
    case 'Pod':
      return { kind, record: slimPod(json) };
    case 'Node':
      return { kind, record: slimNode(json) };
    default:
      if (typeof kind !== 'string') throw new ObjectError('kind: expected a string', 'kind');
      return null;
  }
}

/** A short "Kind namespace/name" for messages. */
export function describeObject(object: unknown): string {
  const o = object as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | null;
  const kind = typeof o?.kind === 'string' ? o.kind : 'object';
  const name = typeof o?.metadata?.name === 'string' ? o.metadata.name : '?';
  const namespace = typeof o?.metadata?.namespace === 'string' ? `${o.metadata.namespace}/` : '';
  return `${kind} ${namespace}${name}`;
}
