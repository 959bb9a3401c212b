/**
 * Port-safe endpoint mode, table-driven in process: with `balance.answer: endpoints`, a Service
 * any of whose ports reaches its pods on another number (targetPort a different number, or a name
 * the EndpointSlice resolves to a different number) keeps its ClusterIP in A/AAAA answers, since
 * A records carry no port; SRV still answers the endpoints at their own ports; the annotation
 * `lbdns.io/ignore-target-port: "true"` asks for endpoint addresses anyway.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inProcessResolver } from '../helpers/in-process.ts';
import { answerData } from '../helpers/dns-client.ts';
import { ClusterView } from '../../src/view/cluster-view.ts';
import { parseObjectsText } from '../../src/sources/objects-file.ts';

const service = (name: string, ports: unknown[], extra: Record<string, unknown> = {}, annotations: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'app', annotations },
  spec: { clusterIP: `10.0.0.${name.length}`, ports, ...extra },
});
const slice = (name: string, ports: unknown[], addresses = ['10.1.0.1', '10.1.0.2'], addressType = 'IPv4', suffix = '1') => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: `${name}-${suffix}`, namespace: 'app', labels: { 'kubernetes.io/service-name': name } },
  addressType,
  endpoints: addresses.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
  ports,
});

interface Case {
  name: string;
  objects: unknown[];
  /** What an A query answers: the ClusterIP or the endpoints. */
  a: 'clusterIP' | 'endpoints';
  /** The SRV ports, when the case checks them. */
  srvPorts?: number[];
}

const https = { name: 'https', port: 443, protocol: 'TCP' };
const CASES: Case[] = [
  {
    name: 'kubernetes.default-like: port 443 → targetPort 6443 keeps the ClusterIP; SRV gives 6443',
    objects: [service('kubernetes', [{ ...https, targetPort: 6443 }]), slice('kubernetes', [{ name: 'https', port: 6443 }])],
    a: 'clusterIP',
    srvPorts: [6443, 6443],
  },
  { name: 'targetPort equal to port', objects: [service('same', [{ ...https, targetPort: 443 }]), slice('same', [{ name: 'https', port: 443 }])], a: 'endpoints', srvPorts: [443, 443] },
  { name: 'no targetPort', objects: [service('plain', [https]), slice('plain', [{ name: 'https', port: 443 }])], a: 'endpoints' },
  {
    name: 'a named targetPort the slice resolves to the same number',
    objects: [service('named-same', [{ name: 'http', port: 8080, targetPort: 'web' }]), slice('named-same', [{ name: 'http', port: 8080 }])],
    a: 'endpoints',
  },
  {
    name: 'a named targetPort the slice resolves to another number',
    objects: [service('named-other', [{ name: 'http', port: 80, targetPort: 'web' }]), slice('named-other', [{ name: 'http', port: 8080 }])],
    a: 'clusterIP',
    srvPorts: [8080, 8080],
  },
  {
    name: 'a named targetPort that slices resolve to two numbers, one of them the port',
    objects: [
      service('named-split', [{ name: 'http', port: 80, targetPort: 'web' }]),
      slice('named-split', [{ name: 'http', port: 80 }], ['10.1.0.1']),
      slice('named-split', [{ name: 'http', port: 8080 }], ['10.1.0.2'], 'IPv4', '2'),
    ],
    a: 'clusterIP',
  },
  {
    name: 'a named targetPort no slice names: cannot be checked, so the ClusterIP',
    objects: [service('named-unknown', [{ name: 'http', port: 80, targetPort: 'web' }]), slice('named-unknown', [{ name: 'metrics', port: 9090 }])],
    a: 'clusterIP',
  },
  {
    name: 'one of two ports maps',
    objects: [service('two', [{ name: 'http', port: 80, targetPort: 80 }, { ...https, targetPort: 8443 }]), slice('two', [{ name: 'http', port: 80 }, { name: 'https', port: 8443 }])],
    a: 'clusterIP',
  },
  {
    name: 'the annotation answers endpoints anyway',
    objects: [service('forced', [{ ...https, targetPort: 6443 }], {}, { 'lbdns.io/ignore-target-port': 'true' }), slice('forced', [{ name: 'https', port: 6443 }])],
    a: 'endpoints',
    srvPorts: [6443, 6443],
  },
  {
    name: 'an annotation value other than "true" changes nothing',
    objects: [service('halfway', [{ ...https, targetPort: 6443 }], {}, { 'lbdns.io/ignore-target-port': 'yes' }), slice('halfway', [{ name: 'https', port: 6443 }])],
    a: 'clusterIP',
  },
];

const fqdn = (name: string) => `${name}.app.svc.cluster.local`;
const clusterIp = (name: string) => `10.0.0.${name.length}`;

describe('port-safe endpoint mode (balance.answer: endpoints)', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const svc = c.objects[0] as { metadata: { name: string } };
      const name = svc.metadata.name;
      const resolver = inProcessResolver(c.objects, { settings: { balance: { answer: 'endpoints' } } });
      // Twice: the second answer comes from the answer cache.
      for (let round = 0; round < 2; round++) {
        const a = (answerData(resolver.ask(fqdn(name), 'A'), 'A') as string[]).sort();
        assert.deepEqual(a, c.a === 'clusterIP' ? [clusterIp(name)] : ['10.1.0.1', '10.1.0.2'], `A, round ${round}`);
      }
      const srv = answerData(resolver.ask(fqdn(name), 'SRV'), 'SRV') as Array<{ port: number; target: string }>;
      assert.ok(
        srv.every((r) => r.target !== fqdn(name)),
        'SRV targets are the endpoints, whatever A answers',
      );
      if (c.srvPorts) assert.deepEqual(srv.map((r) => r.port).sort(), c.srvPorts);
    });
  }

  it('AAAA keeps the IPv6 ClusterIP too', () => {
    const objects = [
      service('dual', [{ ...https, targetPort: 6443 }], { clusterIPs: ['10.0.0.4', 'fd00::4'] }),
      slice('dual', [{ name: 'https', port: 6443 }], ['fd00:1::1'], 'IPv6'),
    ];
    const resolver = inProcessResolver(objects, { settings: { balance: { answer: 'endpoints' } } });
    assert.deepEqual(answerData(resolver.ask(fqdn('dual'), 'AAAA'), 'AAAA'), ['fd00::4']);
  });

  it('an ExternalName in the zone that points at such a Service follows its CNAME to the ClusterIP', () => {
    const objects = [
      service('kubernetes', [{ ...https, targetPort: 6443 }]),
      slice('kubernetes', [{ name: 'https', port: 6443 }]),
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'alias', namespace: 'app' }, spec: { type: 'ExternalName', externalName: fqdn('kubernetes') } },
    ];
    const resolver = inProcessResolver(objects, { settings: { balance: { answer: 'endpoints' } } });
    const response = resolver.ask(fqdn('alias'), 'A');
    assert.deepEqual(answerData(response, 'CNAME'), [fqdn('kubernetes')]);
    assert.deepEqual(answerData(response, 'A'), [clusterIp('kubernetes')]);
  });

  it('a headless Service still answers its endpoints (it has no ClusterIP to keep)', () => {
    const objects = [service('db', [{ name: 'pg', port: 5432, targetPort: 15432 }], { clusterIP: 'None' }), slice('db', [{ name: 'pg', port: 15432 }])];
    const resolver = inProcessResolver(objects, { settings: { balance: { answer: 'endpoints' } } });
    assert.deepEqual((answerData(resolver.ask(fqdn('db'), 'A'), 'A') as string[]).sort(), ['10.1.0.1', '10.1.0.2']);
  });
});

describe('the view works port mappings out once per change', () => {
  const objects = [service('named', [{ name: 'http', port: 80, targetPort: 'web' }]), slice('named', [{ name: 'http', port: 80 }])];
  const view = new ClusterView();
  view.replaceAll(parseObjectsText(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }), 'test').objects);
  const named = () => view.service('app', 'named')!;

  it('keeps one result until the Service or its slices change', () => {
    const first = view.portMappings(named());
    assert.deepEqual(first, []);
    assert.equal(view.portMappings(named()), first, 'the same object: not worked out again');
  });

  it('follows an EndpointSlice whose named port now resolves elsewhere, and its deletion', () => {
    const record = view.snapshot().endpointSlices.find((s) => s.name === 'named-1')!;
    view.apply({ op: 'upsert', kind: 'EndpointSlice', record: { ...record, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] } });
    assert.deepEqual(view.portMappings(named()), [{ name: 'http', port: 80, targetPort: 'web', resolved: [8080] }]);
    view.apply({ op: 'delete', kind: 'EndpointSlice', namespace: 'app', name: 'named-1' });
    assert.deepEqual(view.portMappings(named()), [{ name: 'http', port: 80, targetPort: 'web', resolved: [] }]);
  });

  it('follows a Service whose targetPort changes', () => {
    view.apply({ op: 'upsert', kind: 'Service', record: { ...named(), ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: null }] } });
    assert.deepEqual(view.portMappings(named()), []);
  });
});
