/**
 * Kubernetes API shapes (only the fields lbdns reads) and their slimming into view records.
 * Both sources, the objects file and the API watch, go through `slimObject`.
 */
import * as z from 'zod';
import { canonicalIp } from '../net/ip.ts';
import { issuePath } from '../util/issue-path.ts';
import { NO_STRINGS, sharedNames } from '../view/interner.ts';
import type { Endpoint, EndpointPort, EndpointSlice, Namespace, Node, Pod, Protocol, Service, ServicePort, SlimObject, TrafficDistribution } from '../view/types.ts';

const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const metadata = z.object({
  name: z.string().min(1),
  namespace: z.string().optional(),
  labels: z.record(z.string(), z.string()).nullish(),
  annotations: z.record(z.string(), z.string()).nullish(),
  resourceVersion: z.string().optional(),
});
const namespacedMetadata = metadata.extend({ namespace: z.string().min(1).default('default') });

const protocol = z.enum(['TCP', 'UDP', 'SCTP']).default('TCP');
const port = z.number().int().min(0).max(65535);
const ip = z.string().refine((value) => canonicalIp(value) !== null, { message: 'not an IP address' });

export const namespaceSchema = z.object({ kind: z.literal('Namespace'), metadata });

export const serviceSchema = z.object({
  kind: z.literal('Service'),
  metadata: namespacedMetadata,
  spec: z.object({
    type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']).default('ClusterIP'),
    clusterIP: z.union([ip, z.literal('None'), z.literal('')]).optional(),
    clusterIPs: z.array(z.union([ip, z.literal('None')])).nullish(),
    externalName: z.string().optional(),
    ports: z
      .array(z.object({ name: z.string().default(''), port, protocol, targetPort: z.union([z.number(), z.string()]).optional() }))
      .nullish(),
    publishNotReadyAddresses: z.boolean().default(false),
    sessionAffinity: z.enum(['None', 'ClientIP']).default('None'),
    trafficDistribution: z.string().nullish(),
    internalTrafficPolicy: z.enum(['Cluster', 'Local']).nullish(),
  }),
});

const endpointSliceSchema = z.object({
  kind: z.literal('EndpointSlice'),
  metadata: namespacedMetadata,
  addressType: z.enum(['IPv4', 'IPv6', 'FQDN']),
  endpoints: z
    .array(
      z.object({
        addresses: z.array(z.string()).min(1),
        conditions: z.object({ ready: z.boolean().nullish(), serving: z.boolean().nullish(), terminating: z.boolean().nullish() }).nullish(),
        hostname: z.string().nullish(),
        nodeName: z.string().nullish(),
        zone: z.string().nullish(),
        hints: z.object({ forZones: z.array(z.object({ name: z.string() })).nullish(), forNodes: z.array(z.object({ name: z.string() })).nullish() }).nullish(),
        targetRef: z.object({ kind: z.string().optional(), name: z.string().optional(), namespace: z.string().optional() }).nullish(),
      }),
    )
    .nullish(),
  ports: z.array(z.object({ name: z.string().nullish(), port: port.nullish(), protocol })).nullish(),
});

const endpointAddress = z.object({
  ip,
  hostname: z.string().nullish(),
  nodeName: z.string().nullish(),
  targetRef: z.object({ kind: z.string().optional(), name: z.string().optional() }).nullish(),
});
const endpointsSchema = z.object({
  kind: z.literal('Endpoints'),
  metadata: namespacedMetadata,
  subsets: z
    .array(
      z.object({
        addresses: z.array(endpointAddress).nullish(),
        notReadyAddresses: z.array(endpointAddress).nullish(),
        ports: z.array(z.object({ name: z.string().nullish(), port, protocol })).nullish(),
      }),
    )
    .nullish(),
});

const podSchema = z.object({
  kind: z.literal('Pod'),
  metadata: namespacedMetadata,
  spec: z.object({ nodeName: z.string().nullish() }).nullish(),
  status: z
    .object({ podIP: z.string().optional(), podIPs: z.array(z.object({ ip: z.string() })).nullish() })
    .nullish(),
});

const nodeSchema = z.object({
  kind: z.literal('Node'),
  metadata,
  spec: z.object({ podCIDR: z.string().nullish(), podCIDRs: z.array(z.string()).nullish() }).nullish(),
});

export type ApiService = z.infer<typeof serviceSchema>;
export type ApiEndpointSlice = z.infer<typeof endpointSliceSchema>;
export type ApiEndpoints = z.infer<typeof endpointsSchema>;
export type ApiPod = z.infer<typeof podSchema>;

export class ObjectError extends Error {
  readonly field: string;
  constructor(message: string, field: string) {
    super(message);
    this.field = field;
  }
}

function lbdnsAnnotations(annotations: Record<string, string> | null | undefined): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [key, value] of Object.entries(annotations ?? {})) if (key.startsWith('lbdns.io/')) kept[key] = value;
  return kept;
}

function label(value: string | null | undefined): string | null {
  if (!value) return null;
  const lower = value.toLowerCase();
  return dnsLabel.test(lower) ? lower : null;
}

/** Names that repeat across records (namespaces, nodes, zones, ports), one copy each: see view/interner.ts. */
const shared = (value: string): string => sharedNames.intern(value);
const sharedOrNull = (value: string | null | undefined): string | null => sharedNames.internOrNull(value);

/** The canonical addresses of a list, in a list of exactly their number (most often one). */
function canonicalAddresses(listed: readonly string[]): string[] {
  if (listed.length === 1) {
    const only = canonicalIp(listed[0] as string);
    return only === null ? [] : [only];
  }
  const addresses: string[] = [];
  for (const text of listed) {
    const address = canonicalIp(text);
    if (address !== null) addresses.push(address);
  }
  // A list grown by push keeps room for more; the copy holds exactly what it has.
  return addresses.slice();
}

/** Hint names, interned, or the shared empty list. */
function hintNames(hints: ReadonlyArray<{ name: string }> | null | undefined): readonly string[] {
  if (!hints || hints.length === 0) return NO_STRINGS;
  const names = new Array<string>(hints.length);
  for (let i = 0; i < hints.length; i++) names[i] = shared((hints[i] as { name: string }).name);
  return names;
}

const trafficDistributions = new Set<string>(['PreferClose', 'PreferSameZone', 'PreferSameNode']);

function slimService(api: ApiService): Service {
  const spec = api.spec;
  const listed = spec.clusterIPs && spec.clusterIPs.length > 0 ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  const headless = spec.type !== 'ExternalName' && (listed.length === 0 || listed[0] === 'None');
  const clusterIPs = spec.type === 'ExternalName' || headless ? [] : listed.map((value) => canonicalIp(value) as string);
  const externalName = spec.type === 'ExternalName' ? (spec.externalName ?? '').toLowerCase().replace(/\.$/, '') : null;
  if (spec.type === 'ExternalName' && !externalName) throw new ObjectError('an ExternalName service needs spec.externalName', 'spec.externalName');
  return {
    namespace: shared(api.metadata.namespace),
    name: api.metadata.name.toLowerCase(),
    type: spec.type,
    clusterIPs,
    headless,
    externalName,
    ports: (spec.ports ?? []).map(
      (p): ServicePort => ({
        name: shared(p.name.toLowerCase()),
        port: p.port,
        protocol: p.protocol as Protocol,
        targetPort: p.targetPort === undefined || p.targetPort === p.port ? null : p.targetPort,
      }),
    ),
    publishNotReadyAddresses: spec.publishNotReadyAddresses,
    sessionAffinity: spec.sessionAffinity,
    trafficDistribution: trafficDistributions.has(spec.trafficDistribution ?? '') ? (spec.trafficDistribution as TrafficDistribution) : null,
    ...(spec.internalTrafficPolicy === 'Local' ? { internalTrafficPolicy: 'Local' as const } : {}),
    annotations: lbdnsAnnotations(api.metadata.annotations),
  };
}

function slimSlice(api: ApiEndpointSlice): EndpointSlice {
  const serviceName = api.metadata.labels?.['kubernetes.io/service-name'];
  if (!serviceName) throw new ObjectError('an EndpointSlice needs the kubernetes.io/service-name label', 'metadata.labels');
  const ports: EndpointPort[] = [];
  for (const p of api.ports ?? []) {
    if (p.port == null) continue;
    ports.push({ name: shared((p.name ?? '').toLowerCase()), port: p.port, protocol: p.protocol as Protocol });
  }
  const endpoints: Endpoint[] = [];
  for (const e of api.endpoints ?? []) {
    const addresses = canonicalAddresses(e.addresses);
    if (addresses.length === 0) continue;
    endpoints.push({
      addresses,
      ready: e.conditions?.ready ?? true,
      hostname: label(e.hostname),
      nodeName: sharedOrNull(e.nodeName),
      zone: sharedOrNull(e.zone),
      hintZones: hintNames(e.hints?.forZones),
      hintNodes: hintNames(e.hints?.forNodes),
      podName: e.targetRef?.kind === 'Pod' && e.targetRef.name ? e.targetRef.name.toLowerCase() : null,
    });
  }
  return { namespace: shared(api.metadata.namespace), name: api.metadata.name, serviceName: serviceName.toLowerCase(), addressType: api.addressType, ports: ports.slice(), endpoints: endpoints.slice() };
}

function slimEndpoints(api: ApiEndpoints): EndpointSlice {
  const endpoints: Endpoint[] = [];
  let ports: EndpointPort[] = [];
  for (const subset of api.subsets ?? []) {
    if (ports.length === 0) ports = (subset.ports ?? []).map((p) => ({ name: shared((p.name ?? '').toLowerCase()), port: p.port, protocol: p.protocol as Protocol }));
    const add = (list: typeof subset.addresses, ready: boolean) => {
      for (const a of list ?? []) {
        endpoints.push({
          addresses: [canonicalIp(a.ip) as string],
          ready,
          hostname: label(a.hostname),
          nodeName: sharedOrNull(a.nodeName),
          zone: null,
          hintZones: NO_STRINGS,
          hintNodes: NO_STRINGS,
          podName: a.targetRef?.kind === 'Pod' && a.targetRef.name ? a.targetRef.name.toLowerCase() : null,
        });
      }
    };
    add(subset.addresses, true);
    add(subset.notReadyAddresses, false);
  }
  const v4 = endpoints.every((e) => !(e.addresses[0] as string).includes(':'));
  return { namespace: shared(api.metadata.namespace), name: api.metadata.name, serviceName: api.metadata.name.toLowerCase(), addressType: v4 ? 'IPv4' : 'IPv6', ports, endpoints: endpoints.slice() };
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

function slimNode(api: z.infer<typeof nodeSchema>): Node {
  const zone = nodeZoneOfLabels(api.metadata.labels ?? {});
  const podCIDRs = api.spec?.podCIDRs && api.spec.podCIDRs.length > 0 ? api.spec.podCIDRs : api.spec?.podCIDR ? [api.spec.podCIDR] : [];
  return { name: shared(api.metadata.name), zone: sharedOrNull(zone), podCIDRs };
}

function slimPod(api: ApiPod): Pod {
  const listed = api.status?.podIPs?.map((p) => p.ip) ?? (api.status?.podIP ? [api.status.podIP] : []);
  return {
    namespace: shared(api.metadata.namespace),
    name: api.metadata.name.toLowerCase(),
    ips: canonicalAddresses(listed),
    ...(api.spec?.nodeName ? { nodeName: shared(api.spec.nodeName) } : {}),
  };
}

function describeIssue(issue: z.core.$ZodIssue): ObjectError {
  const field = issuePath(issue.path);
  return new ObjectError(`${field || '(object)'}: ${issue.message}`, field);
}

function parseWith<T>(schema: z.ZodType<T>, object: unknown): T {
  const result = schema.safeParse(object);
  if (!result.success) throw describeIssue(result.error.issues[0] as z.core.$ZodIssue);
  return result.data;
}

/**
 * The slim record of one API object, or null for kinds lbdns does not serve.
 * Throws ObjectError naming the field when a served kind is malformed.
 */
export function slimObject(object: unknown): SlimObject | null {
  if (typeof object !== 'object' || object === null) throw new ObjectError('(object): expected an object', '');
  const kind = (object as { kind?: unknown }).kind;
  switch (kind) {
    case 'Namespace':
      return { kind, record: { name: shared(parseWith(namespaceSchema, object).metadata.name) } };
    case 'Service':
      return { kind, record: slimService(parseWith(serviceSchema, object)) };
    case 'EndpointSlice':
      return { kind, record: slimSlice(parseWith(endpointSliceSchema, object)) };
    case 'Endpoints':
      return { kind, record: slimEndpoints(parseWith(endpointsSchema, object)) };
    case 'Pod':
      return { kind, record: slimPod(parseWith(podSchema, object)) };
    case 'Node':
      return { kind, record: slimNode(parseWith(nodeSchema, object)) };
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
