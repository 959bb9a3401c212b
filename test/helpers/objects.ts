/** Generates Kubernetes objects files for tests and benchmarks. */
import { stringify } from 'yaml';

export function headlessService(namespace: string, name: string, addresses: string[], port = 80): unknown[] {
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { clusterIP: 'None', ports: [{ name: 'http', port, protocol: 'TCP' }] } },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-slice`, namespace, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints: addresses.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
      ports: [{ name: 'http', port, protocol: 'TCP' }],
    },
  ];
}

export function clusterIpService(namespace: string, name: string, clusterIP: string): unknown {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { clusterIP, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } };
}

export function namespaceObject(name: string): unknown {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
}

export function asList(items: unknown[]): string {
  return stringify({ apiVersion: 'v1', kind: 'List', items });
}

/** `count` distinct addresses in 10.200.0.0/16. */
export function addresses(count: number, base = 10): string[] {
  return Array.from({ length: count }, (_, i) => `10.${base}.${Math.floor(i / 250)}.${(i % 250) + 1}`);
}
