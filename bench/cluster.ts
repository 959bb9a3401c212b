/**
 * The benchmark cluster: 1,000 Services in 10 namespaces, 900 ClusterIP (3 endpoints, two named
 * ports) and 100 headless with 10 endpoints that have hostnames. The same records go to lbdns as
 * Kubernetes objects and to knot as a zone file, and the query file mixes what pods ask.
 */
import { reverseNameOf } from '../src/resolve/reverse-name.ts';

export interface BenchCluster {
  /** The objects as `kubectl get -o json` prints them. */
  objectsJson: string;
  clusterZone: string;
  reverseZone: string;
  queries: string[];
}

interface GeneratedService {
  namespace: string;
  name: string;
  clusterIP: string | null;
  endpoints: Array<{ ip: string; hostname: string | null }>;
}

export interface ClusterOptions {
  services?: number;
  headless?: number;
  headlessEndpoints?: number;
  /** spec.sessionAffinity: ClientIP on every Service. */
  affinity?: boolean;
  /** Endpoints behind each ClusterIP Service. */
  clusterIpEndpoints?: number;
  /** spec.trafficDistribution on every Service, with each endpoint's node and zone/node hints. */
  trafficDistribution?: string;
}

/** bench:scale's large cluster: 10,000 Services, 100,000 endpoints. */
export const LARGE_CLUSTER: ClusterOptions = { services: 10_000, headless: 1000, headlessEndpoints: 10, clusterIpEndpoints: 10 };

export function generateCluster(options: ClusterOptions = {}): BenchCluster {
  const { services = 1000, headless = 100, headlessEndpoints = 10, affinity = false, clusterIpEndpoints = 3, trafficDistribution } = options;
  const zone = 'cluster.local';
  const list: GeneratedService[] = [];
  let endpointCounter = 0;
  const nextEndpointIp = () => {
    const n = endpointCounter++;
    return `10.${244 + Math.floor(n / 62_500)}.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
  };
  for (let i = 0; i < services; i++) {
    const namespace = `ns${i % 10}`;
    const isHeadless = i < headless;
    const count = isHeadless ? headlessEndpoints : clusterIpEndpoints;
    list.push({
      namespace,
      name: isHeadless ? `db${i}` : `svc${i}`,
      clusterIP: isHeadless ? null : `10.${96 + Math.floor(i / 62_500)}.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`,
      endpoints: Array.from({ length: count }, (_, k) => ({ ip: nextEndpointIp(), hostname: isHeadless ? `db${i}-${k}` : null })),
    });
  }

  const items: unknown[] = Array.from({ length: 10 }, (_, n) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns${n}` } }));
  // The reverse zone covers 10.0.0.0/8: the generated addresses stay inside it.
  const ports = [
    { name: 'http', port: 80, protocol: 'TCP' },
    { name: 'metrics', port: 9100, protocol: 'TCP' },
  ];
  for (const s of list) {
    items.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: s.name, namespace: s.namespace }, spec: { clusterIP: s.clusterIP ?? 'None', ports, ...(affinity ? { sessionAffinity: 'ClientIP' } : {}), ...(trafficDistribution ? { trafficDistribution } : {}) } });
    items.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${s.name}-x1`, namespace: s.namespace, labels: { 'kubernetes.io/service-name': s.name } },
      addressType: 'IPv4',
      endpoints: s.endpoints.map((e, k) => ({
        addresses: [e.ip],
        conditions: { ready: true },
        zone: `zone-${k % 3}`,
        ...(e.hostname ? { hostname: e.hostname } : {}),
        ...(trafficDistribution ? { nodeName: `node-${k % 6}`, hints: { forZones: [{ name: `zone-${k % 3}` }], forNodes: [{ name: `node-${k % 6}` }] } } : {}),
      })),
      ports: ports.map((p) => ({ ...p, port: p.port + 8000 })),
    });
  }

  const ttl = 5;
  const cluster: string[] = [
    `$ORIGIN ${zone}.`,
    `@ ${ttl} IN SOA ns.dns.${zone}. hostmaster.${zone}. 1 7200 1800 86400 ${ttl}`,
    `@ ${ttl} IN NS ns.dns.${zone}.`,
    `ns.dns ${ttl} IN A 127.0.0.1`,
    `dns-version 28800 IN TXT "1.1.0"`,
  ];
  const reverse: string[] = [`$ORIGIN 10.in-addr.arpa.`, `@ ${ttl} IN SOA ns.dns.${zone}. hostmaster.${zone}. 1 7200 1800 86400 ${ttl}`, `@ ${ttl} IN NS ns.dns.${zone}.`];
  const ptr = (ip: string, target: string) => reverse.push(`${reverseNameOf(ip)}. ${ttl} IN PTR ${target}.`);
  for (const s of list) {
    const svc = `${s.name}.${s.namespace}.svc`;
    if (s.clusterIP) {
      cluster.push(`${svc} ${ttl} IN A ${s.clusterIP}`);
      for (const p of ports) cluster.push(`_${p.name}._tcp.${svc} ${ttl} IN SRV 0 100 ${p.port} ${svc}.${zone}.`);
      ptr(s.clusterIP, `${svc}.${zone}`);
    } else {
      for (const e of s.endpoints) {
        cluster.push(`${svc} ${ttl} IN A ${e.ip}`, `${e.hostname}.${svc} ${ttl} IN A ${e.ip}`);
        for (const p of ports) cluster.push(`_${p.name}._tcp.${svc} ${ttl} IN SRV 0 10 ${p.port + 8000} ${e.hostname}.${svc}.${zone}.`);
        ptr(e.ip, `${e.hostname}.${svc}.${zone}`);
      }
    }
  }

  // 90% cluster names across A / SRV / PTR, 10% NXDOMAIN search-path misses (ndots:5).
  const queries: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    const s = list[(i * 7919) % list.length] as GeneratedService;
    const svc = `${s.name}.${s.namespace}.svc.${zone}`;
    const slot = i % 10;
    if (slot < 5) queries.push(`${svc} A`);
    else if (slot === 5) queries.push(`${svc} AAAA`);
    else if (slot === 6) queries.push(`_http._tcp.${svc} SRV`);
    else if (slot === 7) queries.push(`${reverseNameOf(s.clusterIP ?? (s.endpoints[0]?.ip as string))} PTR`);
    else if (slot === 8) queries.push(s.clusterIP ? `${svc} A` : `${s.endpoints[1]?.hostname}.${svc} A`);
    else queries.push(`api.github.com.${s.namespace}.svc.${zone} A`);
  }
  return { objectsJson: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }), clusterZone: cluster.join('\n') + '\n', reverseZone: reverse.join('\n') + '\n', queries };
}
