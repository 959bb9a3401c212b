/**
 * API objects → slim view records, table-driven: what is kept, how it is normalised (letter case,
 * canonical addresses, defaults), what is skipped, and which field a malformed object is named by.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectError, slimObject } from '../../src/sources/api-objects.ts';
import { NO_STRINGS, sharedNames } from '../../src/view/interner.ts';

const service = (spec: Record<string, unknown>, metadata: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop', ...metadata }, spec });
const slice = (fields: Record<string, unknown>, metadata: Record<string, unknown> = {}) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: 'web-abc', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' }, ...metadata },
  addressType: 'IPv4',
  ...fields,
});
const pod = (status: unknown) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'Web-0', namespace: 'shop' }, status });

/** A slim Service as slimObject gives it, with the fields a test does not set at their defaults. */
const slimService = (fields: Record<string, unknown>) => ({
  kind: 'Service',
  record: { namespace: 'shop', name: 'web', type: 'ClusterIP', clusterIPs: [], headless: false, externalName: null, ports: [], publishNotReadyAddresses: false, sessionAffinity: 'None', trafficDistribution: null, annotations: {}, ...fields },
});
const slimEndpoint = (fields: Record<string, unknown>) => ({ address: '', ready: true, hostname: null, nodeName: null, zone: null, hintZones: [], hintNodes: [], podName: null, service: 'shop/web', ...fields });
const slimSlice = (fields: Record<string, unknown>) => ({ kind: 'EndpointSlice', record: { namespace: 'shop', name: 'web-abc', serviceName: 'web', addressType: 'IPv4', ports: [], endpoints: [], ...fields } });

interface Case {
  name: string;
  object: unknown;
  /** The slim object, null for a kind lbdns skips, or { error: field } for a rejected object. */
  expected: unknown;
}

const rejected = (field: string, message?: RegExp) => ({ error: field, message });

const cases: Case[] = [
  // --- Namespaces ---
  { name: 'a Namespace keeps its name', object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { team: 'a' } } }, expected: { kind: 'Namespace', record: { name: 'shop' } } },
  { name: 'a Namespace without a name', object: { kind: 'Namespace', metadata: {} }, expected: rejected('metadata.name') },

  // --- Services ---
  { name: 'ClusterIP from clusterIP alone', object: service({ clusterIP: '10.0.0.1' }), expected: slimService({ clusterIPs: ['10.0.0.1'] }) },
  {
    name: 'dual-stack: clusterIPs win over clusterIP, addresses canonical',
    object: service({ clusterIP: '10.0.0.1', clusterIPs: ['10.0.0.1', 'FD00:0:0::0001'] }),
    expected: slimService({ clusterIPs: ['10.0.0.1', 'fd00::1'] }),
  },
  { name: 'headless from clusterIP None', object: service({ clusterIP: 'None' }), expected: slimService({ headless: true }) },
  { name: 'headless from clusterIPs [None]', object: service({ clusterIPs: ['None'] }), expected: slimService({ headless: true }) },
  { name: 'a Service without a clusterIP is headless', object: service({}), expected: slimService({ headless: true }) },
  { name: 'NodePort keeps its ClusterIP', object: service({ type: 'NodePort', clusterIP: '10.0.0.2' }), expected: slimService({ type: 'NodePort', clusterIPs: ['10.0.0.2'] }) },
  { name: 'LoadBalancer keeps its ClusterIP', object: service({ type: 'LoadBalancer', clusterIP: '10.0.0.3' }), expected: slimService({ type: 'LoadBalancer', clusterIPs: ['10.0.0.3'] }) },
  {
    name: 'ExternalName: target lowercase, without the root dot; its clusterIP ignored',
    object: service({ type: 'ExternalName', externalName: 'Api.Example.COM.', clusterIP: '10.0.0.4' }),
    expected: slimService({ type: 'ExternalName', externalName: 'api.example.com' }),
  },
  { name: 'ExternalName without a target', object: service({ type: 'ExternalName' }), expected: rejected('spec.externalName', /needs spec\.externalName/) },
  {
    name: 'ports: names lowercase, TCP by default, targetPort kept only when it differs',
    object: service({ clusterIP: '10.0.0.1', ports: [{ name: 'HTTP', port: 80, targetPort: 8080 }, { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 }, { name: 'grpc', port: 9090, targetPort: 'grpc-port' }, { port: 7 }] }),
    expected: slimService({
      clusterIPs: ['10.0.0.1'],
      ports: [
        { name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 },
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: null },
        { name: 'grpc', port: 9090, protocol: 'TCP', targetPort: 'grpc-port' },
        { name: '', port: 7, protocol: 'TCP', targetPort: null },
      ],
    }),
  },
  {
    name: 'name lowercase, namespace default, only lbdns.io/ annotations, affinity and publishNotReadyAddresses',
    object: {
      kind: 'Service',
      metadata: { name: 'Web', annotations: { 'lbdns.io/policy': 'weighted', 'kubectl.kubernetes.io/last-applied-configuration': '{…}' }, managedFields: [{}] },
      spec: { clusterIP: '10.0.0.1', sessionAffinity: 'ClientIP', publishNotReadyAddresses: true },
    },
    expected: slimService({ namespace: 'default', clusterIPs: ['10.0.0.1'], sessionAffinity: 'ClientIP', publishNotReadyAddresses: true, annotations: { 'lbdns.io/policy': 'weighted' } }),
  },
  { name: 'trafficDistribution PreferSameNode kept', object: service({ clusterIP: '10.0.0.1', trafficDistribution: 'PreferSameNode' }), expected: slimService({ clusterIPs: ['10.0.0.1'], trafficDistribution: 'PreferSameNode' }) },
  { name: 'trafficDistribution PreferClose kept', object: service({ clusterIP: '10.0.0.1', trafficDistribution: 'PreferClose' }), expected: slimService({ clusterIPs: ['10.0.0.1'], trafficDistribution: 'PreferClose' }) },
  { name: 'an unknown trafficDistribution is ignored, as kube-proxy does', object: service({ clusterIP: '10.0.0.1', trafficDistribution: 'PreferMoon' }), expected: slimService({ clusterIPs: ['10.0.0.1'] }) },
  { name: 'None after an address is no address', object: service({ clusterIPs: ['10.0.0.1', 'None'] }), expected: slimService({ clusterIPs: ['10.0.0.1'] }) },
  { name: 'a clusterIP that is no address', object: service({ clusterIP: '10.0.0.300' }), expected: rejected('spec.clusterIP') },
  { name: 'a clusterIPs entry that is no address', object: service({ clusterIPs: ['10.0.0.1', 'fd00::g'] }), expected: rejected('spec.clusterIPs[1]') },
  { name: 'a port out of range', object: service({ clusterIP: '10.0.0.1', ports: [{ name: 'a', port: 80 }, { name: 'b', port: 65536 }] }), expected: rejected('spec.ports[1].port') },
  { name: 'a protocol Kubernetes does not have', object: service({ ports: [{ port: 80, protocol: 'QUIC' }] }), expected: rejected('spec.ports[0].protocol') },
  { name: 'an unknown Service type', object: service({ type: 'Magic' }), expected: rejected('spec.type') },
  { name: 'a Service without spec', object: { kind: 'Service', metadata: { name: 'web' } }, expected: rejected('spec') },
  { name: 'a Service without a name', object: { kind: 'Service', metadata: { namespace: 'shop' }, spec: {} }, expected: rejected('metadata.name') },
  { name: 'a Service whose annotations are not strings', object: service({}, { annotations: { 'lbdns.io/weights': 3 } }), expected: rejected('metadata.annotations.lbdns.io/weights') },

  // --- EndpointSlices ---
  {
    name: 'ready: true, false, and nil (which counts as ready)',
    object: slice({ endpoints: [{ addresses: ['10.1.0.1'], conditions: { ready: true } }, { addresses: ['10.1.0.2'], conditions: { ready: false } }, { addresses: ['10.1.0.3'], conditions: {} }, { addresses: ['10.1.0.4'] }] }),
    expected: slimSlice({ endpoints: [slimEndpoint({ address: '10.1.0.1' }), slimEndpoint({ address: '10.1.0.2', ready: false }), slimEndpoint({ address: '10.1.0.3' }), slimEndpoint({ address: '10.1.0.4' })] }),
  },
  {
    name: 'serving and terminating do not make an endpoint ready (CoreDNS reads ready alone)',
    object: slice({ endpoints: [{ addresses: ['10.1.0.1'], conditions: { ready: false, serving: true, terminating: true } }, { addresses: ['10.1.0.2'], conditions: { ready: true, serving: true, terminating: false } }] }),
    expected: slimSlice({ endpoints: [slimEndpoint({ address: '10.1.0.1', ready: false }), slimEndpoint({ address: '10.1.0.2' })] }),
  },
  {
    name: 'hostname lowercase, node, zone, hints and the pod behind it',
    object: slice({
      endpoints: [
        { addresses: ['10.1.0.1'], hostname: 'DB-0', nodeName: 'node-a', zone: 'zone-a', hints: { forZones: [{ name: 'zone-a' }, { name: 'zone-b' }], forNodes: [{ name: 'node-a' }] }, targetRef: { kind: 'Pod', name: 'DB-0', namespace: 'shop' } },
        { addresses: ['10.1.0.2'], targetRef: { kind: 'Node', name: 'node-b' }, hints: {} },
      ],
    }),
    expected: slimSlice({
      endpoints: [
        slimEndpoint({ address: '10.1.0.1', hostname: 'db-0', nodeName: 'node-a', zone: 'zone-a', hintZones: ['zone-a', 'zone-b'], hintNodes: ['node-a'], podName: 'db-0' }),
        slimEndpoint({ address: '10.1.0.2' }),
      ],
    }),
  },
  {
    name: 'a hostname that is no DNS label is dropped, the endpoint kept',
    object: slice({ endpoints: [{ addresses: ['10.1.0.1'], hostname: 'db_0' }, { addresses: ['10.1.0.2'], hostname: 'x'.repeat(64) }, { addresses: ['10.1.0.3'], hostname: '-db' }] }),
    expected: slimSlice({ endpoints: [slimEndpoint({ address: '10.1.0.1' }), slimEndpoint({ address: '10.1.0.2' }), slimEndpoint({ address: '10.1.0.3' })] }),
  },
  {
    name: 'IPv6 addresses canonical; addresses that are none dropped, and an endpoint left with none',
    object: slice({ addressType: 'IPv6', endpoints: [{ addresses: ['FD00:0::1', 'nonsense'] }, { addresses: ['also nonsense'] }] }),
    expected: slimSlice({ addressType: 'IPv6', endpoints: [slimEndpoint({ address: 'fd00::1' })] }),
  },
  {
    name: 'ports: names lowercase, a port without a number skipped, TCP by default',
    object: slice({ ports: [{ name: 'HTTP', port: 8080 }, { name: 'all', port: null }, { name: null, port: 53, protocol: 'UDP' }] }),
    expected: slimSlice({ ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: '', port: 53, protocol: 'UDP' }] }),
  },
  { name: 'an FQDN slice is kept (the view ignores it)', object: slice({ addressType: 'FQDN', endpoints: null, ports: null }), expected: slimSlice({ addressType: 'FQDN' }) },
  { name: 'the Service name from the label, lowercase', object: slice({}, { labels: { 'kubernetes.io/service-name': 'Web' } }), expected: slimSlice({}) },
  { name: 'a slice without its Service label', object: slice({}, { labels: { app: 'web' } }), expected: rejected('metadata.labels', /kubernetes.io\/service-name/) },
  { name: 'a slice without labels', object: slice({}, { labels: null }), expected: rejected('metadata.labels', /kubernetes.io\/service-name/) },
  { name: 'an endpoint without addresses', object: slice({ endpoints: [{ addresses: ['10.1.0.1'] }, { addresses: [] }] }), expected: rejected('endpoints[1].addresses') },
  { name: 'an unknown addressType', object: slice({ addressType: 'IPv5' }), expected: rejected('addressType') },
  { name: 'a ready condition that is not a boolean', object: slice({ endpoints: [{ addresses: ['10.1.0.1'], conditions: { ready: 'yes' } }] }), expected: rejected('endpoints[0].conditions.ready') },

  // --- v1 Endpoints ---
  {
    name: 'v1 Endpoints: ready and not-ready addresses, the first subset’s ports, the Service of the same name',
    object: {
      kind: 'Endpoints',
      metadata: { name: 'Legacy', namespace: 'shop' },
      subsets: [
        { addresses: [{ ip: '10.1.0.1', hostname: 'Legacy-0', nodeName: 'node-a', targetRef: { kind: 'Pod', name: 'Legacy-0' } }], notReadyAddresses: [{ ip: '10.1.0.2' }], ports: [{ name: 'HTTP', port: 8080 }] },
        { addresses: [{ ip: '10.1.0.3' }], ports: [{ name: 'other', port: 9090 }] },
      ],
    },
    expected: {
      kind: 'Endpoints',
      record: {
        namespace: 'shop',
        name: 'Legacy',
        serviceName: 'legacy',
        addressType: 'IPv4',
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        endpoints: [slimEndpoint({ address: '10.1.0.1', hostname: 'legacy-0', nodeName: 'node-a', podName: 'legacy-0', service: 'shop/legacy' }), slimEndpoint({ address: '10.1.0.2', ready: false, service: 'shop/legacy' }), slimEndpoint({ address: '10.1.0.3', service: 'shop/legacy' })],
      },
    },
  },
  {
    name: 'v1 Endpoints with IPv6 addresses',
    object: { kind: 'Endpoints', metadata: { name: 'v6', namespace: 'shop' }, subsets: [{ addresses: [{ ip: 'FD00::0:1' }] }] },
    expected: { kind: 'Endpoints', record: { namespace: 'shop', name: 'v6', serviceName: 'v6', addressType: 'IPv6', ports: [], endpoints: [slimEndpoint({ address: 'fd00::1', service: 'shop/v6' })] } },
  },
  { name: 'v1 Endpoints without subsets', object: { kind: 'Endpoints', metadata: { name: 'none', namespace: 'shop' } }, expected: { kind: 'Endpoints', record: { namespace: 'shop', name: 'none', serviceName: 'none', addressType: 'IPv4', ports: [], endpoints: [] } } },
  { name: 'v1 Endpoints with an address that is none', object: { kind: 'Endpoints', metadata: { name: 'bad' }, subsets: [{ addresses: [{ ip: '10.1.0.1' }, { ip: 'x' }] }] }, expected: rejected('subsets[0].addresses[1].ip') },

  // --- Pods ---
  { name: 'a dual-stack Pod: every podIPs entry, canonical; name lowercase', object: pod({ podIP: '10.2.0.1', podIPs: [{ ip: '10.2.0.1' }, { ip: 'FD00::0:1' }] }), expected: { kind: 'Pod', record: { namespace: 'shop', name: 'web-0', ips: ['10.2.0.1', 'fd00::1'] } } },
  { name: 'a Pod with podIP alone', object: pod({ podIP: '10.2.0.1' }), expected: { kind: 'Pod', record: { namespace: 'shop', name: 'web-0', ips: ['10.2.0.1'] } } },
  { name: 'a pending Pod without addresses', object: pod({}), expected: { kind: 'Pod', record: { namespace: 'shop', name: 'web-0', ips: [] } } },
  { name: 'a Pod without status', object: { kind: 'Pod', metadata: { name: 'p' } }, expected: { kind: 'Pod', record: { namespace: 'default', name: 'p', ips: [] } } },
  { name: 'a Pod address that is none is dropped', object: pod({ podIPs: [{ ip: 'bogus' }, { ip: '10.2.0.9' }] }), expected: { kind: 'Pod', record: { namespace: 'shop', name: 'web-0', ips: ['10.2.0.9'] } } },
  { name: 'a Pod whose podIPs are not objects', object: pod({ podIPs: ['10.2.0.1'] }), expected: rejected('status.podIPs[0]') },

  // --- kinds ---
  { name: 'a kind lbdns does not serve is skipped', object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: {} }, expected: null },
  { name: 'a kind lbdns does not serve is skipped however malformed', object: { kind: 'Deployment' }, expected: null },
  { name: 'an object without kind', object: { metadata: { name: 'x' } }, expected: rejected('kind') },
  { name: 'a kind that is not a string', object: { kind: 7 }, expected: rejected('kind') },
  { name: 'not an object', object: 'Service', expected: rejected('') },
  { name: 'null', object: null, expected: rejected('') },
];

describe('slimObject', () => {
  for (const c of cases) {
    it(c.name, () => {
      const expected = c.expected as { error?: string; message?: RegExp } | null;
      if (expected !== null && typeof expected === 'object' && 'error' in expected) {
        assert.throws(
          () => slimObject(c.object),
          (error: unknown) => {
            assert.ok(error instanceof ObjectError, `an ObjectError, not ${String(error)}`);
            assert.equal(error.field, expected.error);
            // The message names what is wrong, so the log line does: the field first, or in its own words.
            if (expected.message) assert.match(error.message, expected.message);
            else assert.ok(error.message.startsWith(`${expected.error || '(object)'}: `), error.message);
            return true;
          },
        );
        return;
      }
      assert.deepEqual(slimObject(c.object), c.expected);
    });
  }
});

describe('slimObject of a list item', () => {
  it('takes the kind the list gives: the API server sends items without one', () => {
    const { kind: _listed, ...item } = service({ clusterIP: '10.0.0.1' });
    assert.deepEqual(slimObject(item, 'Service'), slimService({ clusterIPs: ['10.0.0.1'] }));
  });
});

describe('slimObject keeps records small', () => {
  it('gives endpoints without hints the one shared empty list, and each address of an endpoint an endpoint of its own, as CoreDNS does', () => {
    const slim = slimObject(slice({ endpoints: [{ addresses: ['10.0.0.1'] }, { addresses: ['10.0.0.2', 'x', '10.0.0.3'], hostname: 'two', hints: { forZones: [{ name: 'a' }] } }] }));
    assert.ok(slim?.kind === 'EndpointSlice');
    const [first, second, third] = slim.record.endpoints;
    assert.equal(slim.record.endpoints.length, 3);
    assert.equal(first!.hintZones, NO_STRINGS);
    assert.equal(first!.hintNodes, NO_STRINGS);
    assert.equal(second!.hintNodes, NO_STRINGS);
    assert.deepEqual(second!.hintZones, ['a']);
    assert.deepEqual([first!.address, second!.address, third!.address], ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    assert.deepEqual({ ...third, address: '10.0.0.2' }, second, 'the same hostname, conditions and hints');
  });

  it('shares one frozen port list between records that list the same ports, and one empty annotation object', () => {
    const ports = (targetPort: unknown) => [{ name: 'http', port: 80, protocol: 'TCP', targetPort }];
    const slimmed = (spec: Record<string, unknown>, annotations?: Record<string, string>) => {
      const slim = slimObject(service({ clusterIP: '10.96.0.9', ...spec }, annotations ? { annotations } : {}));
      assert.ok(slim?.kind === 'Service');
      return slim.record;
    };
    const [a, b, named, other] = [slimmed({ ports: ports(8080) }), slimmed({ ports: ports(8080) }), slimmed({ ports: ports('8080') }), slimmed({ ports: ports(9090) })];
    assert.equal(a.ports, b.ports);
    assert.ok(Object.isFrozen(a.ports));
    // A port named "8080" is not port 8080.
    assert.notEqual(named.ports, a.ports);
    assert.equal(named.ports[0]!.targetPort, '8080');
    assert.notEqual(other.ports, a.ports);
    assert.equal(a.annotations, b.annotations);
    assert.ok(Object.isFrozen(a.annotations));
    const annotated = slimmed({ ports: ports(8080) }, { 'lbdns.io/weight': '3', other: 'x' });
    assert.deepEqual(annotated.annotations, { 'lbdns.io/weight': '3' });
    const slicePorts = (port: number) => {
      const slim = slimObject(slice({ ports: [{ name: 'http', port, protocol: 'TCP' }] }));
      assert.ok(slim?.kind === 'EndpointSlice');
      return slim.record.ports;
    };
    assert.equal(slicePorts(8080), slicePorts(8080));
    assert.notEqual(slicePorts(8080), slicePorts(8081));
  });

  it('puts repeated names through the shared interner: slimming the same names again adds none', () => {
    const object = slice({ endpoints: [{ addresses: ['10.0.0.1'], nodeName: 'node-interned-1', zone: 'zone-interned-1', hints: { forNodes: [{ name: 'node-interned-1' }] } }] });
    slimObject(object);
    const size = sharedNames.size;
    for (let n = 0; n < 10; n++) slimObject(object);
    assert.equal(sharedNames.size, size);
  });
});
