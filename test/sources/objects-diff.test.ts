/**
 * A reloaded objects file reaches the view as the events it differs by: applied to a view that
 * holds the previous version, they must leave exactly what loading the new version whole leaves,
 * and a record that did not change must cost no event at all.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterView } from '../../src/view/cluster-view.ts';
import type { ClusterObjects, EndpointSlice, Service } from '../../src/view/types.ts';
import { diffObjects, fingerprintsOf, identityOf, upsertsOf } from '../../src/sources/objects-diff.ts';
import { seededRandom } from '../helpers/random.ts';
import { ipToBytes } from '../../src/net/ip.ts';

const NAMESPACES = ['default', 'shop', 'kube-system'];
const NAMES = ['a', 'b', 'c', 'd', 'e'];
const IPS = Array.from({ length: 10 }, (_, i) => `10.0.0.${i + 1}`);

function randomObjects(random: () => number): ClusterObjects {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const some = (): string[] => IPS.filter(() => random() < 0.2);
  const objects: ClusterObjects = { namespaces: [], services: [], endpointSlices: [], legacyEndpoints: [], pods: [] };
  for (const name of NAMESPACES) if (random() < 0.7) objects.namespaces.push({ name });
  for (const namespace of NAMESPACES) {
    for (const name of NAMES) {
      if (random() < 0.6) {
        const clusterIPs = random() < 0.5 ? [pick(IPS)] : [];
        const service: Service = { namespace, name, type: 'ClusterIP', clusterIPs, headless: clusterIPs.length === 0, externalName: null, ports: [{ name: 'http', port: random() < 0.8 ? 80 : 8080, protocol: 'TCP', targetPort: null }], publishNotReadyAddresses: random() < 0.2, sessionAffinity: 'None', trafficDistribution: null, annotations: {} };
        objects.services.push(service);
      }
      const slice = (sliceName: string, serviceName: string): EndpointSlice => ({
        namespace,
        name: sliceName,
        serviceName,
        addressType: 'IPv4',
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        endpoints: some().map((ip) => ({ address: ip, ready: random() < 0.8, hostname: random() < 0.3 ? `h${ip.split('.')[3]}` : null, nodeName: null, zone: pick(['z1', 'z2', null]), hintZones: [], hintNodes: [], podName: null, service: `${namespace}/${serviceName}` })),
      });
      // A slice's Service may differ between versions: its label changed.
      if (random() < 0.6) objects.endpointSlices.push(slice(`${name}-1`, random() < 0.8 ? name : pick(NAMES)));
      if (random() < 0.3) objects.endpointSlices.push(slice(`${name}-2`, name));
      if (random() < 0.3) objects.legacyEndpoints.push(slice(name, name));
      if (random() < 0.4) objects.pods.push({ namespace, name: `p-${name}`, ips: some().slice(0, 2) });
    }
  }
  // Nodes with pod CIDRs that nest (longest prefix wins) but are never the same range twice.
  objects.nodes = [0, 1, 2].filter(() => random() < 0.7).map((i) => ({ name: `node-${i}`, zone: pick(['z1', 'z2', null]), podCIDRs: [random() < 0.5 ? `10.0.0.${i * 2}/31` : `10.0.0.0/${28 - i}`] }));
  return objects;
}

/** Everything a view answers from, order aside. */
function describeView(view: ClusterView): string[] {
  const snapshot = view.snapshot();
  return [
    ...upsertsOf(snapshot).map((event) => JSON.stringify(event)),
    ...NAMESPACES.map((namespace) => `namespace ${namespace} ${view.hasNamespace(namespace)}`),
    // Slices of one Service come in no defined order (the API gives none either).
    ...[...view.allServices()].map((service) => `groups ${service.namespace}/${service.name} ${view.endpointGroups(service).map((group) => JSON.stringify(group)).sort().join(' ')}`),
    ...IPS.flatMap((ip) => [
      ...view.servicesByClusterIp(ip).map((s) => `${ip} service ${s.namespace}/${s.name}`),
      ...view.endpointsByIp(ip).map((r) => `${ip} endpoint ${r.service.namespace}/${r.service.name} ${r.endpoint.hostname} ${r.endpoint.ready}`),
      ...view.podsByIp(ip).map((p) => `${ip} pod ${p.namespace}/${p.name}`),
      `${ip} node ${view.nodeByAddress(ipToBytes(ip)!)?.name ?? '-'}`,
    ]),
  ].sort();
}

function loaded(objects: ClusterObjects, requireNamespaceObjects = false): ClusterView {
  const view = new ClusterView({ requireNamespaceObjects });
  view.replaceAll(objects);
  return view;
}

describe('the objects file diff', () => {
  it('turns a view holding one version into one holding the next, over 300 random pairs of versions', () => {
    const random = seededRandom(13);
    for (let round = 0; round < 300; round++) {
      const before = randomObjects(random);
      const after = randomObjects(random);
      const requireNamespaceObjects = round % 2 === 1;
      const view = loaded(before, requireNamespaceObjects);
      const diff = diffObjects(fingerprintsOf(before), after);
      view.applyBatch(diff.events);
      assert.deepEqual(describeView(view), describeView(loaded(after, requireNamespaceObjects)), `round ${round}`);
      assert.deepEqual(diff.next, fingerprintsOf(after));
    }
  });

  it('gives no event for a record that did not change, and one for each that did', () => {
    const random = seededRandom(14);
    const before = randomObjects(random);
    assert.deepEqual(diffObjects(fingerprintsOf(before), structuredClone(before)).events, []);

    const after = structuredClone(before);
    const service = after.services[0]!;
    service.ports = [{ ...service.ports[0]!, port: 81 }];
    after.pods.pop();
    after.namespaces.push({ name: 'new' });
    const diff = diffObjects(fingerprintsOf(before), after);
    assert.deepEqual(
      diff.events.map((event) => `${event.op} ${identityOf(event)}`),
      [`upsert ${identityOf({ op: 'upsert', kind: 'Namespace', record: { name: 'new' } })}`, `upsert ${identityOf({ op: 'upsert', kind: 'Service', record: service })}`, `delete ${identityOf({ op: 'upsert', kind: 'Pod', record: before.pods.at(-1)! })}`],
    );
  });

  it('upserts every record and deletes the missing ones when only the identities held are known', () => {
    const random = seededRandom(15);
    const before = randomObjects(random);
    const after = randomObjects(random);
    const view = loaded(before);
    const unknown = new Map(upsertsOf(before).map((event) => [identityOf(event), '']));
    const diff = diffObjects(unknown, after);
    assert.equal(diff.upserts, upsertsOf(after).length);
    view.applyBatch(diff.events);
    assert.deepEqual(describeView(view), describeView(loaded(after)));
  });

  it('moves the view one serial step per batch, and tells listeners each event with that serial', () => {
    const random = seededRandom(16);
    const before = randomObjects(random);
    const after = randomObjects(random);
    const view = loaded(before);
    const serials: number[] = [];
    view.onUpdate((_update, serial) => serials.push(serial));
    const serialBefore = view.serial;
    const { events } = diffObjects(fingerprintsOf(before), after);
    view.applyBatch(events);
    assert.equal(serials.length, events.length);
    assert.ok(serials.every((serial) => serial === view.serial) && view.serial > serialBefore);
    assert.deepEqual(describeView(view), describeView(loaded(after)));
  });
});
