/**
 * Client placement: the node and zone a query's source address is balanced for, from a view
 * holding v1 Node objects (pod CIDRs, zone labels), EndpointSlices and pods.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClientClassifier } from '../../src/balance/client.ts';
import { parseSettings } from '../../src/settings/schema.ts';
import { ClusterView } from '../../src/view/cluster-view.ts';
import { parseObjectsText } from '../../src/sources/objects-file.ts';
import { asList, namespaceObject } from '../helpers/objects.ts';

function node(name: string, zone: string | null, podCIDRs: string[], legacy = false): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: zone ? { 'topology.kubernetes.io/zone': zone } : {} },
    spec: legacy ? { podCIDR: podCIDRs[0] } : { podCIDR: podCIDRs[0], podCIDRs },
  };
}

const items = [
  namespaceObject('shop'),
  node('node-a', 'zone-a', ['10.244.1.0/24', 'fd00:1::/64']),
  node('node-b', 'zone-b', ['10.244.2.0/24'], true),
  // A more specific range inside node-a's: the longest prefix wins.
  node('node-c', null, ['10.244.1.128/25']),
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { clusterIP: '10.96.0.10', ports: [{ port: 80 }] } },
  {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'web-1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    endpoints: [
      // A host-network endpoint: its address is in no pod CIDR, its slice says where it runs.
      { addresses: ['192.168.0.7'], nodeName: 'node-b', zone: 'zone-x' },
      { addresses: ['192.168.0.8'], nodeName: 'node-a' },
    ],
    ports: [{ port: 80 }],
  },
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'client', namespace: 'shop' }, spec: { nodeName: 'node-b' }, status: { podIP: '172.16.0.9' } },
];

function classifier(settings: Record<string, unknown> = {}, extra: unknown[] = []): { classifier: ClientClassifier; view: ClusterView } {
  const view = new ClusterView();
  view.replaceAll(parseObjectsText(asList([...items, ...extra]), 'test').objects);
  return { classifier: new ClientClassifier(parseSettings({ workers: 1, ...settings }), view, {}), view };
}

describe('client placement', () => {
  const table: Array<[string, Record<string, unknown>, string, string | null, string | null, string, string]> = [
    ['pod CIDR', {}, '10.244.2.5', 'node-b', 'zone-b', 'podCIDR', 'node'],
    ['pod CIDR, IPv4-mapped peer', {}, '::ffff:10.244.2.5', 'node-b', 'zone-b', 'podCIDR', 'node'],
    ['pod CIDR, longest prefix', {}, '10.244.1.200', 'node-c', null, 'podCIDR', 'none'],
    ['pod CIDR, the wider range', {}, '10.244.1.20', 'node-a', 'zone-a', 'podCIDR', 'node'],
    ['IPv6 pod CIDR', {}, 'fd00:1::42', 'node-a', 'zone-a', 'podCIDR', 'node'],
    ['endpoint with node and zone', {}, '192.168.0.7', 'node-b', 'zone-x', 'endpoint', 'endpoint'],
    ['endpoint without zone: its node’s', {}, '192.168.0.8', 'node-a', 'zone-a', 'endpoint', 'node'],
    ['pod, only with pods: verified', { pods: 'verified' }, '172.16.0.9', 'node-b', 'zone-b', 'pod', 'node'],
    ['pod, not verified', {}, '172.16.0.9', null, null, 'none', 'none'],
    ['unknown address', {}, '10.9.9.9', null, null, 'none', 'none'],
    ['clientZones overrides the zone', { balance: { clientZones: { '10.244.2.0/26': 'zone-z' } } }, '10.244.2.5', 'node-b', 'zone-z', 'podCIDR', 'clientZones'],
    ['nodeZone when nothing knows', { balance: { nodeZone: 'zone-n' } }, '10.9.9.9', null, 'zone-n', 'none', 'nodeZone'],
  ];
  for (const [name, settings, address, node, zone, placedBy, zoneBy] of table) {
    it(name, () => {
      const client = classifier(settings).classifier.classify(address);
      assert.deepEqual({ node: client.node, zone: client.zone, placedBy: client.placedBy, zoneBy: client.zoneBy }, { node, zone, placedBy, zoneBy });
    });
  }

  it('a Node that appears, changes or goes re-places cached clients', () => {
    const { classifier: clients, view } = classifier();
    assert.equal(clients.classify('10.244.7.3').node, null);
    view.apply({ op: 'upsert', kind: 'Node', record: { name: 'node-d', zone: 'zone-d', podCIDRs: ['10.244.7.0/24'] } });
    assert.deepEqual([clients.classify('10.244.7.3').node, clients.classify('10.244.7.3').zone], ['node-d', 'zone-d']);
    view.apply({ op: 'upsert', kind: 'Node', record: { name: 'node-d', zone: 'zone-e', podCIDRs: ['10.244.7.0/24'] } });
    assert.equal(clients.classify('10.244.7.3').zone, 'zone-e');
    view.apply({ op: 'delete', kind: 'Node', name: 'node-d' });
    assert.equal(clients.classify('10.244.7.3').node, null);
  });
});
