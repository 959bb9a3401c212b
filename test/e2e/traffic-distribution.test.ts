/**
 * spec.trafficDistribution through real queries from loopback addresses placed in zones by
 * balance.clientZones: PreferClose limited to the client's zone while EndpointSlice hints name it,
 * PreferSameZone without hints ordered (the zone first, SRV priority 0), the fallback to every
 * endpoint when the zone has none ready, and the lbdns.io/policy annotation winning over the spec.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type RunningServer, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { asList, namespaceObject } from '../helpers/objects.ts';
import { answerData, query } from '../helpers/dns-client.ts';

interface EndpointSpec {
  ip: string;
  zone: string;
  hinted?: boolean;
  ready?: boolean;
}

function service(name: string, distribution: string, endpoints: EndpointSpec[], extra: Record<string, unknown>, annotations: Record<string, string> = {}): unknown[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: 'shop', annotations },
      spec: { trafficDistribution: distribution, ports: [{ name: 'http', port: 8080, protocol: 'TCP', targetPort: 8080 }], ...extra },
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-1`, namespace: 'shop', labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints: endpoints.map((e) => ({
        addresses: [e.ip],
        conditions: { ready: e.ready ?? true },
        zone: e.zone,
        ...(e.hinted ? { hints: { forZones: [{ name: e.zone }] } } : {}),
      })),
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    },
  ];
}

const four = (prefix: string, hinted: boolean): EndpointSpec[] => [
  { ip: `${prefix}.1`, zone: 'zone-a', hinted },
  { ip: `${prefix}.2`, zone: 'zone-a', hinted },
  { ip: `${prefix}.3`, zone: 'zone-a', hinted },
  { ip: `${prefix}.4`, zone: 'zone-b', hinted },
];

const objects = asList([
  namespaceObject('shop'),
  // Endpoint mode, hints published: answers limited to the zone, as kube-proxy routes.
  ...service('close', 'PreferClose', four('10.244.1', true), { clusterIP: '10.96.1.1' }, { 'lbdns.io/answer': 'endpoints' }),
  // Headless, no hints: the zone's endpoints first, the others after.
  ...service('same-zone', 'PreferSameZone', four('10.244.2', false), { clusterIP: 'None' }),
  // zone-b's only endpoint not ready: every endpoint.
  ...service('fallback', 'PreferSameZone', [{ ip: '10.244.3.1', zone: 'zone-a', hinted: true }, { ip: '10.244.3.2', zone: 'zone-a', hinted: true }, { ip: '10.244.3.4', zone: 'zone-b', hinted: true, ready: false }], { clusterIP: 'None' }),
  // The annotation wins: plain shuffle despite the spec.
  ...service('annotated', 'PreferClose', four('10.244.4', true), { clusterIP: 'None' }, { 'lbdns.io/policy': 'shuffle' }),
]);

const settings = 'balance:\n  clientZones:\n    127.0.0.0/24: zone-a\n    127.0.1.0/24: zone-b\n';

let server: RunningServer;
before(async () => {
  server = await startLbdns({ objects: tempFile('objects.yaml', objects), config: tempFile('lbdns.yaml', settings) });
});
after(async () => {
  await server.stop();
});

const zoneB = (ip: string) => ip.endsWith('.4');

async function answers(name: string, samples: number, type = 'A'): Promise<unknown[][]> {
  const all: unknown[][] = [];
  // Clients spread over zone-b's range: 127.0.1.1 … 127.0.1.50.
  for (let i = 0; i < samples; i++) all.push(answerData(await query(server.port, `${name}.shop.svc.cluster.local`, type, { from: `127.0.1.${(i % 50) + 1}` }), type));
  return all;
}

describe('trafficDistribution', () => {
  it('PreferClose with hints (limit): every answer from zone-b holds only zone-b endpoints', async () => {
    const all = await answers('close', 300);
    assert.ok(all.every((records) => records.length === 1 && zoneB(records[0] as string)), JSON.stringify(all.slice(0, 5)));
  });

  it('PreferSameZone without hints (order): zone-b first in ≥ 99% of answers, every endpoint still answered', async () => {
    const all = await answers('same-zone', 300);
    const firstInZone = all.filter((records) => zoneB(records[0] as string)).length;
    assert.ok(firstInZone >= 0.99 * all.length, `${firstInZone} of ${all.length}`);
    assert.ok(all.every((records) => records.length === 4));
  });

  it('SRV: the zone’s target at priority 0, the others at 1', async () => {
    const [records] = (await answers('_http._tcp.same-zone', 1, 'SRV')) as Array<Array<{ target: string; priority: number }>>;
    const priorities = Object.fromEntries(records!.map((r) => [r.target.split('.')[0], r.priority]));
    assert.deepEqual(priorities, { '10-244-2-1': 1, '10-244-2-2': 1, '10-244-2-3': 1, '10-244-2-4': 0 });
  });

  it('falls back to every ready endpoint when the client’s zone has none ready', async () => {
    const seen = new Set((await answers('fallback', 50)).map((records) => records[0] as string));
    assert.deepEqual([...seen].sort(), ['10.244.3.1', '10.244.3.2']);
  });

  it('a zone-a client gets zone-a endpoints only under limit', async () => {
    for (let i = 1; i <= 50; i++) {
      const records = answerData(await query(server.port, 'close.shop.svc.cluster.local', 'A', { from: `127.0.0.${i}` }), 'A') as string[];
      assert.ok(records.length > 0 && records.every((ip) => !zoneB(ip)), JSON.stringify(records));
    }
  });

  it('the lbdns.io/policy annotation wins over spec.trafficDistribution', async () => {
    const all = await answers('annotated', 200);
    const firstInZone = all.filter((records) => zoneB(records[0] as string)).length;
    assert.ok(all.every((records) => records.length === 4));
    assert.ok(firstInZone < 0.5 * all.length, `zone-b first in ${firstInZone} of ${all.length}: a shuffle gives about a quarter`);
  });

  it('GET /debug/balance names the trafficDistribution as the policy\'s reason', async () => {
    const response = await fetch(`http://127.0.0.1:${server.debugPort}/debug/balance?name=close.shop.svc.cluster.local&client=127.0.1.20`);
    const body = (await response.json()) as { policy: string; policyReason: string; endpoints: Array<{ address: string; expectedFirstShare: number }> };
    assert.equal(body.policy, 'zone');
    assert.match(body.policyReason, /^trafficDistribution PreferClose \(limit\)$/);
    assert.deepEqual(body.endpoints.filter((e) => e.expectedFirstShare > 0).map((e) => e.address), ['10.244.1.4']);
  });
});
