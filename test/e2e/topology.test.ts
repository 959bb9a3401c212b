/**
 * Where clients are, through real queries from distinct loopback addresses (all on lo), each
 * placed on a node by the pod CIDRs of v1 Node objects in the objects file:
 * internalTrafficPolicy: Local answers only the client node's endpoints, and /debug/balance
 * shows how a client was placed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { type RunningServer, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { asList, namespaceObject } from '../helpers/objects.ts';
import { answerData, query, rcodeOf } from '../helpers/dns-client.ts';
import { within } from '../helpers/wait.ts';

function node(name: string, zone: string, podCIDR: string): unknown {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'topology.kubernetes.io/zone': zone } }, spec: { podCIDR, podCIDRs: [podCIDR] } };
}

/** Endpoints 10.244.<n>.x run on node-<n>: two on node-1, three on node-2, none on node-3. */
const ENDPOINTS = [
  { ip: '10.244.1.1', node: 'node-1' },
  { ip: '10.244.1.2', node: 'node-1' },
  { ip: '10.244.2.1', node: 'node-2' },
  { ip: '10.244.2.2', node: 'node-2' },
  { ip: '10.244.2.3', node: 'node-2' },
];

function localService(name: string, spec: Record<string, unknown>, annotations: Record<string, string>): unknown[] {
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop', annotations }, spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP' }], internalTrafficPolicy: 'Local', ...spec } },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-1`, namespace: 'shop', labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints: ENDPOINTS.map((e) => ({ addresses: [e.ip], conditions: { ready: true }, nodeName: e.node })),
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    },
  ];
}

const objectsWith = (node2Cidr: string) => asList([
  namespaceObject('shop'),
  node('node-1', 'zone-a', '127.0.0.16/28'),
  node('node-2', 'zone-b', node2Cidr),
  node('node-3', 'zone-b', '127.0.0.48/28'),
  ...localService('local', { clusterIP: '10.96.8.1' }, { 'lbdns.io/answer': 'endpoints' }),
  ...localService('local-headless', { clusterIP: 'None' }, {}),
  ...stickyHeadless(),
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'sticky-ports', namespace: 'shop' },
    spec: { clusterIP: '10.96.8.2', sessionAffinity: 'ClientIP', ports: ['a', 'b', 'c', 'd', 'e'].map((name, i) => ({ name, port: 80 + i, protocol: 'TCP' })) },
  },
]);
const objects = objectsWith('127.0.0.32/28');

/** A headless Service with ClientIP affinity and no lbdns policy: SRV answers keep CoreDNS's weights. */
function stickyHeadless(): unknown[] {
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'sticky', namespace: 'shop' }, spec: { clusterIP: 'None', sessionAffinity: 'ClientIP', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'sticky-1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'sticky' } },
      addressType: 'IPv4',
      endpoints: Array.from({ length: 6 }, (_, i) => ({ addresses: [`10.244.9.${i + 1}`], conditions: { ready: true } })),
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    },
  ];
}

let server: RunningServer;
before(async () => {
  server = await startLbdns({ objects: tempFile('objects.yaml', objects), config: tempFile('lbdns.yaml', 'balance:\n  clientSort: none\n') });
});
after(async () => {
  await server.stop();
});

const onNode = (n: number) => ENDPOINTS.filter((e) => e.node === `node-${n}`).map((e) => e.ip).sort();

describe('internalTrafficPolicy: Local', () => {
  for (const name of ['local', 'local-headless']) {
    it(`${name}: every answer to a client holds exactly its own node's endpoints`, async () => {
      for (const [from, n] of [['127.0.0.17', 1], ['127.0.0.30', 1], ['127.0.0.33', 2], ['127.0.0.40', 2]] as const) {
        for (let i = 0; i < 50; i++) {
          const addresses = (answerData(await query(server.port, `${name}.shop.svc.cluster.local`, 'A', { from }), 'A') as string[]).sort();
          assert.deepEqual(addresses, onNode(n), `${from} on node-${n}`);
        }
      }
    });
  }

  it('a client on a node without endpoints gets the configured fallback: the ClusterIP (endpoint mode), no record (headless)', async () => {
    assert.deepEqual(answerData(await query(server.port, 'local.shop.svc.cluster.local', 'A', { from: '127.0.0.49' }), 'A'), ['10.96.8.1']);
    const headless = await query(server.port, 'local-headless.shop.svc.cluster.local', 'A', { from: '127.0.0.49' });
    assert.equal(rcodeOf(headless), 'NOERROR');
    assert.deepEqual(answerData(headless, 'A'), []);
    // A client no Node claims is on no node: the fallback too.
    assert.deepEqual(answerData(await query(server.port, 'local.shop.svc.cluster.local', 'A', { from: '127.0.0.99' }), 'A'), ['10.96.8.1']);
  });

  it('SRV answers follow it too', async () => {
    const records = answerData(await query(server.port, '_http._tcp.local.shop.svc.cluster.local', 'SRV', { from: '127.0.0.33' }), 'SRV') as Array<{ target: string }>;
    assert.deepEqual(records.map((r) => r.target).sort(), onNode(2).map((ip) => `${ip.replaceAll('.', '-')}.local.shop.svc.cluster.local`));
  });
});

describe('/debug/balance?client=', () => {
  it('shows the node and zone the client was placed on, and by which rule', async () => {
    const response = await fetch(`http://127.0.0.1:${server.debugPort}/debug/balance?name=local.shop.svc.cluster.local&client=127.0.0.33`);
    const body = (await response.json()) as { local: boolean; client: unknown; endpoints: Array<{ address: string; expectedFirstShare: number | null }> };
    assert.equal(body.local, true);
    assert.deepEqual(body.client, { address: '127.0.0.33', node: 'node-2', zone: 'zone-b', placedBy: 'podCIDR', zoneBy: 'node' });
    const sharing = body.endpoints.filter((e) => (e.expectedFirstShare ?? 0) > 0).map((e) => e.address).sort();
    assert.deepEqual(sharing, onNode(2));
  });
});

describe('sessionAffinity: ClientIP in every mode', () => {
  const clients = Array.from({ length: 20 }, (_, i) => `127.0.3.${i + 10}`);
  const cases: Array<[string, string, number]> = [
    ['headless SRV without a policy', '_http._tcp.sticky.shop.svc.cluster.local', 6],
    ['a ClusterIP Service’s SRV records, one per port', 'sticky-ports.shop.svc.cluster.local', 5],
  ];
  for (const [title, name, count] of cases) {
    it(`${title}: each client always gets the same order, clients get different ones`, async () => {
      const orders = new Set<string>();
      for (const from of clients) {
        const order = async () => JSON.stringify((answerData(await query(server.port, name, 'SRV', { from }), 'SRV') as Array<{ target: string; port: number; weight: number }>).map((r) => [r.target, r.port, r.weight]));
        const first = await order();
        assert.equal(JSON.parse(first).length, count);
        for (let i = 0; i < 5; i++) assert.equal(await order(), first, `${from} keeps its order`);
        orders.add(first);
      }
      assert.ok(orders.size > 1, 'the order depends on the client');
    });
  }

  it('keeps CoreDNS’s SRV weights: 100 split evenly', async () => {
    const records = answerData(await query(server.port, '_http._tcp.sticky.shop.svc.cluster.local', 'SRV', { from: '127.0.3.10' }), 'SRV') as Array<{ weight: number }>;
    assert.ok(records.every((r) => r.weight === Math.floor(100 / 6)));
  });
});

describe('with serving workers', () => {
  it('Nodes reach every worker, at start and when a Node changes', async () => {
    const path = tempFile('objects.yaml', objects);
    const workers = await startLbdns({ objects: path, workers: 2, config: tempFile('lbdns.yaml', 'balance:\n  clientSort: none\n') });
    try {
      const local = async (from: string) => (answerData(await query(workers.port, 'local.shop.svc.cluster.local', 'A', { from }), 'A') as string[]).sort();
      for (let i = 0; i < 20; i++) assert.deepEqual(await local('127.0.0.33'), onNode(2));
      writeFileSync(path, objectsWith('127.0.0.64/28'));
      await workers.waitForLog((l) => l.msg === 'objects file reloaded');
      // The primary logs the reload before every worker has applied it: wait until both have (40 queries in a row, from new source ports, reach both).
      await within(5000, async () => {
        for (let i = 0; i < 40; i++) if (JSON.stringify(await local('127.0.0.65')) !== JSON.stringify(onNode(2))) return false;
        return true;
      }, 50);
      for (let i = 0; i < 20; i++) {
        assert.deepEqual(await local('127.0.0.65'), onNode(2), 'node-2 moved to 127.0.0.64/28');
        assert.deepEqual(await local('127.0.0.33'), ['10.96.8.1'], 'no node claims 127.0.0.33 any more: the fallback');
      }
    } finally {
      await workers.stop();
    }
  });
});
