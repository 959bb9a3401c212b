/**
 * A query to a 10,000-endpoint Service draws only the records it sends (issue 13, item 4): the
 * handler, in process, counts the random numbers and logarithms a query takes. Drawing or racing
 * every endpoint takes one or more per endpoint; drawing what is sent takes a few per record sent
 * (rejected draws included) and, for exact rendezvous hashing, at most one per record of a small
 * group. Counting calls instead of timing them keeps the test free of the machine's load.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { ClusterView } from '../../src/view/cluster-view.ts';
import { parseObjectsText } from '../../src/sources/objects-file.ts';
import { parseSettings } from '../../src/settings/schema.ts';
import { ZoneRouter } from '../../src/resolve/router.ts';
import { QueryHandler, type Transport } from '../../src/server/handler.ts';
import { buildQuery, decode } from '../helpers/dns-client.ts';
import { namespaceObject } from '../helpers/objects.ts';

const ENDPOINTS = 10_000;

function largeService(name: string, annotations: Record<string, string>, spec: Record<string, unknown> = {}, base = 70): unknown[] {
  const endpoints = Array.from({ length: ENDPOINTS }, (_, i) => ({
    addresses: [`10.${base}.${Math.floor(i / 250)}.${(i % 250) + 1}`],
    conditions: { ready: true },
    zone: `zone-${i % 3}`,
    nodeName: `node-${i % 2}`,
  }));
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'big', annotations }, spec: { clusterIP: '10.96.9.9', ports: [{ name: 'http', port: 80, protocol: 'TCP' }], ...spec } },
    { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `${name}-1`, namespace: 'big', labels: { 'kubernetes.io/service-name': name } }, addressType: 'IPv4', endpoints, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
  ];
}

const endpointMode = { 'lbdns.io/answer': 'endpoints' };
const weights = { 'lbdns.io/weights': 'zone-0=3,zone-1=1,zone-2=1' };
const view = new ClusterView();
view.replaceAll(
  parseObjectsText(
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        namespaceObject('big'),
        ...largeService('headless', {}, { clusterIP: 'None' }),
        ...largeService('shuffled', { ...endpointMode, 'lbdns.io/client-sort': 'none' }),
        ...largeService('weighted', { ...endpointMode, 'lbdns.io/policy': 'weighted', ...weights, 'lbdns.io/client-sort': 'none' }),
        ...largeService('zonal', { ...endpointMode, 'lbdns.io/policy': 'zone' }),
        ...largeService('sticky', { ...endpointMode, 'lbdns.io/policy': 'weighted', ...weights }, { sessionAffinity: 'ClientIP' }),
        ...largeService('capped', { 'lbdns.io/max-answers': '10' }, { clusterIP: 'None' }),
        // The clients below share 10.70.0.0/16 with these endpoints: the rfc6724 trim has work to do.
        ...largeService('sorted', endpointMode),
        // internalTrafficPolicy: Local: the clients' node (by pod CIDR) runs half the endpoints.
        { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-0' }, spec: { podCIDRs: ['10.70.0.0/16'] } },
        ...largeService('local', endpointMode, { internalTrafficPolicy: 'Local' }),
      ],
    }),
    'test',
  ).objects,
);
const settings = parseSettings({ balance: { clientZones: { '10.70.0.0/16': 'zone-1' } } });
const handler = new QueryHandler({ router: new ZoneRouter({ view, settings, serverAddresses: () => ['127.0.0.1'] }), settings, state: { ready: true }, log: pino({ level: 'silent' }), view });

// Counts calls to Math.random and Math.log while the tests run; restored afterwards.
let calls = 0;
const { random, log } = Math;
before(() => {
  Math.random = () => (calls++, random());
  Math.log = (x: number) => (calls++, log(x));
});
after(() => {
  Math.random = random;
  Math.log = log;
});

/** The records a response carries and the calls its query took. */
function ask(name: string, type: string, transport: Transport, client: string): { records: number; calls: number } {
  const query = buildQuery(name, type, transport === 'udp' ? { udpSize: 1232 } : {});
  calls = 0;
  const response = handler.handle(query, transport, client) as Buffer;
  const reply = decode(response);
  return { records: reply.answers?.length ?? 0, calls };
}

describe('per-query work on a 10,000-endpoint Service', () => {
  const cases: Array<[string, string]> = [
    ['headless.big.svc.cluster.local', 'A'],
    ['shuffled.big.svc.cluster.local', 'A'],
    ['weighted.big.svc.cluster.local', 'A'],
    ['zonal.big.svc.cluster.local', 'A'],
    ['_http._tcp.zonal.big.svc.cluster.local', 'SRV'],
    ['sticky.big.svc.cluster.local', 'A'],
    ['capped.big.svc.cluster.local', 'A'],
    ['sorted.big.svc.cluster.local', 'A'],
    ['local.big.svc.cluster.local', 'A'],
    ['_http._tcp.local.big.svc.cluster.local', 'SRV'],
  ];
  for (const [name, type] of cases) {
    it(`${name} ${type}: a few random numbers per record sent, not one per endpoint`, () => {
      for (const transport of ['udp', 'tcp'] as const) {
        // The first query prepares the answer; the ones after it are what every query costs.
        ask(name, type, transport, '10.70.3.77');
        for (let i = 0; i < 20; i++) {
          const client = `10.70.${i}.${100 + i}`;
          const { records, calls } = ask(name, type, transport, client);
          assert.ok(records > 0, `${transport}: an answer`);
          assert.ok(calls <= 4 * records + 64, `${transport} from ${client}: ${calls} calls for ${records} records sent`);
        }
      }
    });
  }
});
