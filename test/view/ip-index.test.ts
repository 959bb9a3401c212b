/**
 * The IP index is kept up to date change by change: after any sequence of events it must say
 * what an index built from scratch over the same objects says.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterView, type ViewEvent } from '../../src/view/cluster-view.ts';
import type { EndpointSlice, Service } from '../../src/view/types.ts';
import { seededRandom } from '../helpers/random.ts';

const IPS = Array.from({ length: 12 }, (_, i) => `10.0.0.${i + 1}`);
const SERVICES = ['a', 'b', 'c', 'd'];
const SLICES = ['a-1', 'a-2', 'b-1', 'c-1', 'x-1'];

function randomEvent(random: () => number): ViewEvent {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const some = (): string[] => IPS.filter(() => random() < 0.2);
  const namespace = pick(['default', 'shop']);
  const roll = random();
  if (roll < 0.2) {
    const clusterIPs = random() < 0.5 ? [pick(IPS)] : [];
    const service: Service = { namespace, name: pick(SERVICES), type: 'ClusterIP', clusterIPs, headless: clusterIPs.length === 0, externalName: null, ports: [], publishNotReadyAddresses: random() < 0.3, sessionAffinity: 'None', trafficDistribution: null, annotations: {} };
    return { op: 'upsert', kind: 'Service', record: service };
  }
  const slice = (name: string, serviceName: string): EndpointSlice => ({
    namespace,
    name,
    serviceName,
    addressType: 'IPv4',
    ports: [],
    endpoints: some().map((ip) => ({ address: ip, ready: random() < 0.7, hostname: random() < 0.5 ? `h${ip.split('.')[3]}` : null, nodeName: null, zone: null, hintZones: [], hintNodes: [], podName: null, service: `${namespace}/${serviceName}` })),
  });
  if (roll < 0.3) return { op: 'delete', kind: 'Service', namespace, name: pick(SERVICES) };
  // A slice may move to another Service: its label changed.
  if (roll < 0.55) return { op: 'upsert', kind: 'EndpointSlice', record: slice(pick(SLICES), pick(SERVICES)) };
  if (roll < 0.65) return { op: 'delete', kind: 'EndpointSlice', namespace, name: pick(SLICES) };
  if (roll < 0.75) {
    const name = pick(SERVICES);
    return { op: 'upsert', kind: 'Endpoints', record: slice(name, name) };
  }
  if (roll < 0.8) return { op: 'delete', kind: 'Endpoints', namespace, name: pick(SERVICES) };
  if (roll < 0.95) return { op: 'upsert', kind: 'Pod', record: { namespace, name: pick(['p1', 'p2', 'p3']), ips: some().slice(0, 2) } };
  return { op: 'delete', kind: 'Pod', namespace, name: pick(['p1', 'p2', 'p3']) };
}

/** Everything the index says about every address, order aside. */
function describeIndex(view: ClusterView): string[] {
  return IPS.flatMap((ip) => [
    ...view.servicesByClusterIp(ip).map((s) => `${ip} service ${s.namespace}/${s.name}`),
    ...view.endpointsByIp(ip).map((r) => `${ip} endpoint ${r.service.namespace}/${r.service.name} ${r.endpoint.address} ${r.endpoint.hostname} ${r.endpoint.ready}`),
    ...view.podsByIp(ip).map((p) => `${ip} pod ${p.namespace}/${p.name}`),
  ]).sort();
}

describe('the IP index', () => {
  it('after every one of 3,000 random events, says what an index built from scratch says', () => {
    const random = seededRandom(2026);
    const view = new ClusterView();
    view.replaceAll({ namespaces: [], services: [], endpointSlices: [], legacyEndpoints: [], pods: [] });
    let entries = 0;
    for (let step = 0; step < 3000; step++) {
      const incremental = describeIndex(view);
      const rebuilt = new ClusterView();
      rebuilt.replaceAll(view.snapshot());
      assert.deepEqual(incremental, describeIndex(rebuilt), `after step ${step}`);
      entries += incremental.length;
      view.apply(randomEvent(random));
    }
    assert.ok(entries > 10_000, `the events left the index nearly empty (${entries} entries seen): the test says little`);
  });
});
