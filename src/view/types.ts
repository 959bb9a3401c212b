/**
 * The slim records the cluster view keeps: only what answers need, nothing of the API objects'
 * bookkeeping (managedFields, status, most annotations).
 */

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface ServicePort {
  /** '' for the one unnamed port a Service may have. */
  name: string;
  port: number;
  protocol: Protocol;
  /** The pods' port (number or container port name); null when it equals `port`. */
  targetPort: number | string | null;
}

export interface Service {
  namespace: string;
  name: string;
  type: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
  /** Canonical IPs; empty for headless and ExternalName services. */
  clusterIPs: string[];
  headless: boolean;
  /** Lowercase, no trailing dot; set only for ExternalName services. */
  externalName: string | null;
  ports: readonly ServicePort[];
  publishNotReadyAddresses: boolean;
  sessionAffinity: 'None' | 'ClientIP';
  /** `spec.trafficDistribution`; null when unset or a value lbdns does not know (as kube-proxy ignores it). */
  trafficDistribution: TrafficDistribution | null;
  /** spec.internalTrafficPolicy, set only when Local: clients get only their own node's endpoints. */
  internalTrafficPolicy?: 'Local';
  /** Only the `lbdns.io/` annotations. */
  annotations: Readonly<Record<string, string>>;
}

/** The values of `spec.trafficDistribution` lbdns follows (PreferClose is PreferSameZone's older name). */
export type TrafficDistribution = 'PreferClose' | 'PreferSameZone' | 'PreferSameNode';

export interface EndpointPort {
  name: string;
  port: number;
  protocol: Protocol;
}

/**
 * One address of an EndpointSlice endpoint. The API allows an endpoint several addresses (the
 * EndpointSlice controller always writes one); each becomes an Endpoint of its own with the same
 * conditions, hostname and topology, as CoreDNS splits them. One string per endpoint rather than
 * a list of one: 100,000 endpoints held 100,000 one-item lists, 5.3 MiB (heap snapshot).
 */
export interface Endpoint {
  /** Canonical IP. */
  address: string;
  /** EndpointSlice `conditions.ready`; nil counts as ready, as the API documents. */
  ready: boolean;
  /** Lowercase DNS label, or null. */
  hostname: string | null;
  nodeName: string | null;
  zone: string | null;
  /** Empty lists are shared (interner.ts NO_STRINGS): read only. */
  hintZones: readonly string[];
  /** EndpointSlice `hints.forNodes` (set for PreferSameNode). */
  hintNodes: readonly string[];
  /** The pod behind the endpoint, when targetRef names one. */
  podName: string | null;
  /**
   * serviceKey() of the Service whose EndpointSlice (or v1 Endpoints) lists this endpoint: what
   * the IP index finds an address's Service by, where a reference object per address cost
   * 3.8 MiB at 100,000 endpoints (heap snapshot).
   */
  service: string;
  /**
   * Unix milliseconds when lbdns first saw this endpoint ready, set by the view (serving workers
   * get it in the plans they are taught); absent when it was ready before lbdns started (in the first
   * full list), is not ready, or became ready more than a day ago. What slow start ramps from.
   */
  readySince?: number;
}

export interface EndpointSlice {
  namespace: string;
  name: string;
  /** The `kubernetes.io/service-name` label, or the Endpoints object's own name. */
  serviceName: string;
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  ports: readonly EndpointPort[];
  endpoints: Endpoint[];
}

export interface Pod {
  namespace: string;
  name: string;
  ips: string[];
  /** spec.nodeName, once scheduled: places a client that is this pod (balance/client.ts). */
  nodeName?: string;
}

export interface Namespace {
  name: string;
}

/** A v1 Node: where its pods' addresses come from, and its zone (what client placement needs). */
export interface Node {
  name: string;
  /** The `topology.kubernetes.io/zone` label (or the deprecated one), or null. */
  zone: string | null;
  /** `spec.podCIDRs` (else `spec.podCIDR`), as written; unparsable ones are skipped by the index. */
  podCIDRs: string[];
}

/** Everything a source can hand the view in one go. */
/**
 * The API kinds lbdns watches, each with the slim record the view keeps of it: the one list of
 * them that the objects file, the Kubernetes watch, the view and its events all use.
 */
export interface WatchedRecords {
  Namespace: Namespace;
  Service: Service;
  EndpointSlice: EndpointSlice;
  /** v1 Endpoints, already in slice shape; used only for Services that have no EndpointSlice. */
  Endpoints: EndpointSlice;
  Pod: Pod;
  Node: Node;
}

export type WatchedKind = keyof WatchedRecords;

/** Kinds whose objects live in a namespace. */
export type NamespacedKind = Exclude<WatchedKind, ClusterKind>;

/** Kinds whose objects are cluster-scoped. */
export type ClusterKind = 'Namespace' | 'Node';

/** Every watched kind, namespaces first (what lives in a namespace comes after it). */
export const WATCHED_KINDS = ['Namespace', 'Node', 'Service', 'EndpointSlice', 'Endpoints', 'Pod'] as const satisfies readonly WatchedKind[];

/** WATCHED_KINDS misses no kind: this line stops compiling if one is added above and not there. */
const everyKindListed: Exclude<WatchedKind, (typeof WATCHED_KINDS)[number]> extends never ? true : never = true;
void everyKindListed;

/** One slim record with its kind. */
export type SlimObject = { [K in WatchedKind]: { kind: K; record: WatchedRecords[K] } }[WatchedKind];

export interface ClusterObjects {
  namespaces: Namespace[];
  services: Service[];
  endpointSlices: EndpointSlice[];
  /** v1 Endpoints, already in slice shape; used only for Services that have no EndpointSlice. */
  legacyEndpoints: EndpointSlice[];
  pods: Pod[];
  /** v1 Nodes, for client placement; absent in snapshots made before they were kept. */
  nodes?: Node[];
}

export function serviceKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
