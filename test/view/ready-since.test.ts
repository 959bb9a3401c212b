/**
 * When lbdns first saw an endpoint ready (slow start's clock): stamped by the view sources feed,
 * never for what the first full list holds, kept while the endpoint stays ready, and carried to
 * replicas with the record so that every serving thread agrees.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterView } from '../../src/view/cluster-view.ts';
import type { ClusterObjects, Endpoint, EndpointSlice, Service } from '../../src/view/types.ts';

const service: Service = {
  namespace: 'shop',
  name: 'web',
  type: 'ClusterIP',
  clusterIPs: ['10.96.0.9'],
  headless: false,
  externalName: null,
  ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: null }],
  publishNotReadyAddresses: false,
  sessionAffinity: 'None',
  trafficDistribution: null,
  annotations: {},
};

const endpoint = (ip: string, ready = true): Endpoint => ({ address: ip, ready, hostname: null, nodeName: null, zone: null, hintZones: [], hintNodes: [], podName: null, service: 'shop/web' });
const slice = (name: string, endpoints: Endpoint[]): EndpointSlice => ({ namespace: 'shop', name, serviceName: 'web', addressType: 'IPv4', ports: [{ name: 'http', port: 80, protocol: 'TCP' }], endpoints });
const objects = (slices: EndpointSlice[]): ClusterObjects => ({ namespaces: [], services: [service], endpointSlices: slices, legacyEndpoints: [], pods: [] });

/** address → readySince (undefined: warm), over the Service's endpoints as the view has them. */
function stamps(view: ClusterView): Map<string, number | undefined> {
  const found = new Map<string, number | undefined>();
  for (const group of view.endpointGroups(service)) for (const e of group.endpoints) found.set(e.address, e.readySince);
  return found;
}

describe('ready stamps', () => {
  it('the first full list is warm: a restart ramps nothing', () => {
    const view = new ClusterView();
    let now = 5000;
    view.replaceAll(objects([slice('web-1', [endpoint('10.244.0.1'), endpoint('10.244.0.2')])]));
    // Kubernetes lists kind by kind, event by event, before the first sync completes.
    view.apply({ op: 'upsert', kind: 'EndpointSlice', record: slice('web-2', [endpoint('10.244.0.3')]) });
    view.startReadyClock(() => now);
    assert.deepEqual([...stamps(view)], [['10.244.0.1', undefined], ['10.244.0.2', undefined], ['10.244.0.3', undefined]]);
    // The same list again (a relist) keeps them warm.
    now = 9000;
    view.apply({ op: 'upsert', kind: 'EndpointSlice', record: slice('web-1', [endpoint('10.244.0.1'), endpoint('10.244.0.2')]) });
    assert.equal(stamps(view).get('10.244.0.1'), undefined);
  });

  it('an endpoint that becomes ready later is stamped when it is first seen ready, and keeps that time', () => {
    const view = new ClusterView();
    let now = 1000;
    view.replaceAll(objects([slice('web-1', [endpoint('10.244.0.1'), endpoint('10.244.0.2', false)])]));
    view.startReadyClock(() => now);
    now = 2000;
    view.applyBatch([{ op: 'upsert', kind: 'EndpointSlice', record: slice('web-1', [endpoint('10.244.0.1'), endpoint('10.244.0.2'), endpoint('10.244.0.3')]) }]);
    assert.deepEqual([...stamps(view)], [['10.244.0.1', undefined], ['10.244.0.2', 2000], ['10.244.0.3', 2000]]);
    now = 3000;
    view.apply({ op: 'upsert', kind: 'EndpointSlice', record: slice('web-1', [endpoint('10.244.0.1'), endpoint('10.244.0.2'), endpoint('10.244.0.3')]) });
    assert.equal(stamps(view).get('10.244.0.2'), 2000, 'an update of the slice keeps the first time');
  });

  it('not ready and ready again: a new ramp; a move to another slice of the Service: the same one', () => {
    const view = new ClusterView();
    let now = 0;
    view.replaceAll(objects([slice('web-1', [endpoint('10.244.0.1'), endpoint('10.244.0.2')])]));
    view.startReadyClock(() => now);
    now = 100;
    view.apply({ op: 'upsert', kind: 'EndpointSlice', record: slice('web-1', [endpoint('10.244.0.1', false), endpoint('10.244.0.2')]) });
    assert.equal(stamps(view).get('10.244.0.1'), undefined);
    now = 200;
    view.apply({ op: 'upsert', kind: 'EndpointSlice', record: slice('web-1', [endpoint('10.244.0.1'), endpoint('10.244.0.2')]) });
    assert.equal(stamps(view).get('10.244.0.1'), 200);
    now = 300;
    view.apply({ op: 'upsert', kind: 'EndpointSlice', record: slice('web-2', [endpoint('10.244.0.1')]) });
    view.apply({ op: 'upsert', kind: 'EndpointSlice', record: slice('web-1', [endpoint('10.244.0.2')]) });
    assert.deepEqual([...stamps(view)].sort(), [['10.244.0.1', 200], ['10.244.0.2', undefined]]);
  });

  it('a stamp older than a day is dropped (no window is longer)', () => {
    const view = new ClusterView();
    let now = 0;
    view.replaceAll(objects([]));
    view.startReadyClock(() => now);
    view.apply({ op: 'upsert', kind: 'EndpointSlice', record: slice('web-1', [endpoint('10.244.0.1')]) });
    assert.equal(stamps(view).get('10.244.0.1'), 0);
    now = 86_400_000;
    view.apply({ op: 'upsert', kind: 'EndpointSlice', record: slice('web-1', [endpoint('10.244.0.1')]) });
    assert.equal(stamps(view).get('10.244.0.1'), undefined);
  });

  it('a whole new version (objects file) is stamped against the one it replaces', () => {
    const view = new ClusterView();
    let now = 0;
    view.replaceAll(objects([slice('web-1', [endpoint('10.244.0.1')])]));
    view.startReadyClock(() => now);
    now = 700;
    view.replaceAll(objects([slice('web-1', [endpoint('10.244.0.1'), endpoint('10.244.0.4')])]));
    assert.deepEqual([...stamps(view)], [['10.244.0.1', undefined], ['10.244.0.4', 700]]);
  });
});
