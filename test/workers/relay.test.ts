/**
 * A worker's handler holds no view: what it cannot answer goes to the primary's handler, and the
 * route and client placement that come back (through the same encoding the message channel
 * carries) let it answer the next such query alone, exactly as the primary would. The relay's
 * bounds: a cap on requests in flight, and a time after which one is given up.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { ClusterView } from '../../src/view/cluster-view.ts';
import { parseObjectsText } from '../../src/sources/objects-file.ts';
import { parseSettings } from '../../src/settings/schema.ts';
import { ZoneRouter } from '../../src/resolve/router.ts';
import { QueryHandler, type Relay, type RelayReply, type Transport } from '../../src/server/handler.ts';
import { postedReply, receivedReply } from '../../src/workers/messages.ts';
import { RelayClient } from '../../src/workers/relay-client.ts';
import { buildQuery, decode } from '../helpers/dns-client.ts';
import { namespaceObject } from '../helpers/objects.ts';

/** 12 endpoints 10.60.0.<i+1>, on node-<i % 2>, in zone-<i % 3>. */
function service(name: string, annotations: Record<string, string>, spec: Record<string, unknown> = {}): unknown[] {
  const endpoints = Array.from({ length: 12 }, (_, i) => ({ addresses: [`10.60.0.${i + 1}`], conditions: { ready: true }, zone: `zone-${i % 3}`, nodeName: `node-${i % 2}` }));
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop', annotations }, spec: { clusterIP: '10.96.6.6', ports: [{ name: 'http', port: 80, protocol: 'TCP' }], ...spec } },
    { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `${name}-1`, namespace: 'shop', labels: { 'kubernetes.io/service-name': name } }, addressType: 'IPv4', endpoints, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
  ];
}

const endpointMode = { 'lbdns.io/answer': 'endpoints', 'lbdns.io/client-sort': 'none' };
const items = [
  namespaceObject('shop'),
  // Clients in 10.70.1.0/24 run on node-1 (its pod CIDR); 10.70.0.0/16 is zone-2 by balance.clientZones.
  { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1', labels: { 'topology.kubernetes.io/zone': 'zone-1' } }, spec: { podCIDRs: ['10.70.1.0/24'] } },
  ...service('zonal', { ...endpointMode, 'lbdns.io/policy': 'zone' }),
  ...service('local', endpointMode, { internalTrafficPolicy: 'Local' }),
  ...service('sticky', { ...endpointMode, 'lbdns.io/policy': 'weighted' }, { sessionAffinity: 'ClientIP' }),
  ...service('plain', {}, { clusterIP: 'None' }),
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'front', namespace: 'shop' }, spec: { clusterIP: '10.96.6.7', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } },
];
const settings = parseSettings({ balance: { clientZones: { '10.70.0.0/16': 'zone-2' }, zone: { strict: true } } });
const log = pino({ level: 'silent' });
const state = { ready: true };

function primaryAndWorker() {
  const view = new ClusterView();
  view.replaceAll(parseObjectsText(JSON.stringify({ apiVersion: 'v1', kind: 'List', items }), 'test').objects);
  const primary = new QueryHandler({ router: new ZoneRouter({ view, settings, serverAddresses: () => ['127.0.0.1'] }), settings, state, log, view });
  const relay = {
    relayed: 0,
    async relay(request: Buffer, transport: Transport, client: string): Promise<RelayReply | null> {
      this.relayed++;
      // What the pool posts, cloned as the message channel clones it, read back as the worker reads it.
      const { posted } = postedReply(await primary.answerRelayed(request, transport, client));
      return receivedReply(structuredClone(posted));
    },
  } satisfies Relay & { relayed: number };
  const worker = new QueryHandler({ relay, settings, state, log });
  return { primary, worker, relay };
}

async function answers(handler: QueryHandler, name: string, type: string, client: string): Promise<string[]> {
  const response = await handler.handle(buildQuery(name, type), 'udp', client);
  return (decode(response!).answers ?? []).map((a) => JSON.stringify(a.data));
}

const sorted = (records: string[]) => [...records].sort();

describe("a worker's handler, answering through the primary's", () => {
  const clients = ['10.70.1.9', '10.70.2.9', '10.80.0.9'];

  for (const [name, type, ordered] of [
    ['zonal.shop.svc.cluster.local', 'A', false],
    ['local.shop.svc.cluster.local', 'A', false],
    ['_http._tcp.local.shop.svc.cluster.local', 'SRV', false],
    ['sticky.shop.svc.cluster.local', 'A', true],
  ] as const) {
    it(`${name} ${type}: each client gets what the primary gives it, first relayed, then from the worker alone`, async () => {
      const { primary, worker, relay } = primaryAndWorker();
      const byClient = new Set<string>();
      for (const client of clients) {
        const expected = await answers(primary, name, type, client);
        byClient.add(JSON.stringify(ordered ? expected : sorted(expected)));
        const before = relay.relayed;
        const first = await answers(worker, name, type, client);
        assert.equal(relay.relayed, before + 1, 'the first query of a client is relayed');
        const again = await answers(worker, name, type, client);
        assert.equal(relay.relayed, before + 1, 'the worker placed the client and answered alone');
        for (const got of [first, again]) assert.deepEqual(ordered ? got : sorted(got), ordered ? expected : sorted(expected), client);
      }
      assert.ok(byClient.size > 1, 'the answer depends on where the client is');
    });
  }

  it('answers an unbalanced name for every client from one relay, and relays again once told placements changed', async () => {
    const { worker, relay } = primaryAndWorker();
    await answers(worker, 'local.shop.svc.cluster.local', 'A', '10.70.1.9');
    const after = relay.relayed;
    assert.equal((await answers(worker, 'plain.shop.svc.cluster.local', 'A', '10.70.1.9')).length, 12);
    for (const client of clients) assert.equal((await answers(worker, 'plain.shop.svc.cluster.local', 'A', client)).length, 12);
    assert.equal(relay.relayed, after + 1, 'a plain shuffle needs no placement');
    worker.forgetPlacements();
    await answers(worker, 'local.shop.svc.cluster.local', 'A', '10.70.1.9');
    assert.equal(relay.relayed, after + 2);
  });

  it('answers what every client gets alike (a ClusterIP, NXDOMAIN) from one relay each, byte for byte as the primary', async () => {
    const { primary, worker, relay } = primaryAndWorker();
    for (const [name, type] of [['front.shop.svc.cluster.local', 'A'], ['nothing.shop.svc.cluster.local', 'A'], ['_http._tcp.front.shop.svc.cluster.local', 'SRV']] as const) {
      const before = relay.relayed;
      for (const client of clients) {
        const request = buildQuery(name, type);
        assert.deepEqual(await worker.handle(request, 'udp', client), await primary.handle(request, 'udp', client), `${name} ${type} for ${client}`);
      }
      assert.equal(relay.relayed, before + 1, `${name} ${type}: relayed once`);
    }
  });

  it('logs a relayed query with its own name, though the worker answered others while it waited', async () => {
    const view = new ClusterView();
    view.replaceAll(parseObjectsText(JSON.stringify({ apiVersion: 'v1', kind: 'List', items }), 'test').objects);
    const logged = { ...settings, queryLogSampleRate: 1 };
    const primary = new QueryHandler({ router: new ZoneRouter({ view, settings, serverAddresses: () => ['127.0.0.1'] }), settings, state, log, view });
    let open = (): void => {};
    const gate = new Promise<void>((resolve) => (open = resolve));
    let gated = false;
    const relay: Relay = {
      async relay(request, transport, client) {
        if (gated) await gate;
        return receivedReply(structuredClone(postedReply(await primary.answerRelayed(request, transport, client)).posted));
      },
    };
    const lines: Array<{ msg: string; name: string; type: string }> = [];
    const worker = new QueryHandler({ relay, settings: logged, state, log: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) }) });
    const plain = 'plain.shop.svc.cluster.local';
    await worker.handle(buildQuery(plain, 'A'), 'udp', '10.80.0.9');
    gated = true;
    const waiting = worker.handle(buildQuery('front.shop.svc.cluster.local', 'AAAA'), 'udp', '10.80.0.9');
    assert.ok(waiting instanceof Promise, 'relayed');
    assert.ok(worker.handle(buildQuery(plain, 'A'), 'udp', '10.80.0.9') instanceof Buffer, 'answered from its route meanwhile');
    open();
    await waiting;
    assert.deepEqual(
      lines.filter((line) => line.msg === 'query').map((line) => `${line.name} ${line.type}`),
      [`${plain} A`, `${plain} A`, 'front.shop.svc.cluster.local AAAA'],
    );
  });

  it('keeps no route for a forwarded name: it needs the one forwarder', async () => {
    const { worker, relay } = primaryAndWorker();
    for (let i = 0; i < 3; i++) await answers(worker, 'www.example.test', 'A', '10.80.0.9');
    assert.equal(relay.relayed, 3);
  });
});

describe("a worker's relay", () => {
  function client(limits: { maxInFlight: number; timeoutMs: number }) {
    let now = 0;
    const sent: number[] = [];
    const relay = new RelayClient((message) => message.type === 'relay' && sent.push(message.id), limits, () => now);
    return { relay, sent, advance: (ms: number) => (now += ms) };
  }
  const request = buildQuery('x.example.test', 'A');
  const reply = postedReply({ response: request, zone: '.', qtype: 1, qname: 'x.example.test', learned: null }).posted;

  it('refuses beyond maxInFlight at once, counted, and takes new requests once replies free room', async () => {
    const { relay, sent } = client({ maxInFlight: 2, timeoutMs: 1000 });
    const waiting = [relay.relay(request, 'udp', '10.0.0.1'), relay.relay(request, 'udp', '10.0.0.1')];
    assert.equal(await relay.relay(request, 'udp', '10.0.0.1'), null);
    assert.deepEqual(relay.counts, { answered: 0, full: 1, timedOut: 0 });
    assert.equal(sent.length, 2, 'the refused request never reached the primary');
    relay.settle(sent[0]!, reply);
    assert.notEqual(await waiting[0], null);
    assert.equal(relay.inFlight, 1);
    void relay.relay(request, 'udp', '10.0.0.1');
    assert.equal(sent.length, 3);
    relay.close();
  });

  it('gives up on a request without a reply in timeoutMs, and ignores its late reply', async () => {
    const { relay, sent, advance } = client({ maxInFlight: 10, timeoutMs: 1000 });
    const waiting = relay.relay(request, 'udp', '10.0.0.1');
    advance(999);
    relay.sweep();
    assert.equal(relay.inFlight, 1);
    advance(1);
    relay.sweep();
    assert.equal(await waiting, null);
    assert.equal(relay.inFlight, 0);
    relay.settle(sent[0]!, reply);
    assert.deepEqual(relay.counts, { answered: 0, full: 0, timedOut: 1 });
  });
});

describe('routes as a worker keeps them', () => {
  /** A fixed NXDOMAIN route for `qname` in namespace `namespace`, as it crosses the channel. */
  function taught(qname: string, namespace: string) {
    const fixed = { rcode: 3, authoritative: true, records: Buffer.from('soa record bytes'), answers: 0, authority: 1, additional: 0, additionalAt: 16 };
    const learned = { answer: { rcode: 3 }, fixed, zone: 'cluster.local', qname, scope: { scope: 'namespace' as const, namespace }, placement: null };
    const { posted } = postedReply({ response: null, zone: 'cluster.local', qtype: 1, qname, learned });
    const sent = structuredClone(posted);
    return { sent, received: receivedReply(sent).learned! };
  }

  it('keep each scope and zone as taught: global, a namespace, a Service', () => {
    for (const scope of [{ scope: 'global' }, { scope: 'namespace', namespace: 'shop' }, { scope: 'service', namespace: 'shop', service: 'cart' }] as const) {
      const fixed = { rcode: 3, authoritative: true, records: Buffer.from('soa'), answers: 0, authority: 1, additional: 0, additionalAt: 3 };
      const learned = { answer: { rcode: 3 }, fixed, zone: 'cluster.local', qname: 'x.shop.svc.cluster.local', scope, placement: null };
      const kept = receivedReply(structuredClone(postedReply({ response: null, zone: 'cluster.local', qtype: 1, qname: learned.qname, learned }).posted)).learned!;
      assert.deepEqual(kept.scope, scope);
      assert.equal(kept.zone, 'cluster.local');
      assert.deepEqual({ ...kept.fixed, records: [...kept.fixed!.records] }, { ...fixed, records: [...fixed.records] }, 'the fixed answer arrives whole, where its glue starts included');
    }
  });

  it('keep a fixed answer’s bytes, not the ArrayBuffer they crossed the channel in', () => {
    const { sent, received } = taught('d.shop.svc.cluster.local', 'shop');
    const crossed = (sent.learned as { records: Uint8Array }).records;
    const kept = received.fixed!.records;
    assert.equal(kept.toString(), 'soa record bytes');
    assert.notEqual(kept.buffer, crossed.buffer, 'the transferred buffer is left to be freed');
  });
});
