/**
 * The explanation's TXT rendering (resolve/explain.ts) and its bounds: each string ≤ 255 bytes,
 * endpoints listed up to a cap with the rest counted, and a 10,000-endpoint Service explained in
 * a bounded answer that the handler builds once per view change, not once per query.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { pino } from 'pino';
import { parseObjectsText } from '../../src/sources/objects-file.ts';
import { ClusterView } from '../../src/view/cluster-view.ts';
import { parseSettings } from '../../src/settings/schema.ts';
import { ZoneRouter } from '../../src/resolve/router.ts';
import { QueryHandler } from '../../src/server/handler.ts';
import { ClientClassifier } from '../../src/balance/client.ts';
import { EXPLAIN_LISTED, TXT_STRING_LIMIT, explainBalance, explanationLines, serviceForName, txtString } from '../../src/resolve/explain.ts';
import { objectsList } from '../helpers/in-process.ts';
import { decode, rcodeOf } from '../helpers/dns-client.ts';

const NAME = 'big.shop.svc.cluster.local';

/** A Service with `count` ready endpoints in slices of 1000 (the API's own cap), two zones, weights on a few. */
function bigService(count: number): unknown[] {
  const slices = [];
  for (let from = 0; from < count; from += 1000) {
    const endpoints = [];
    for (let i = from; i < Math.min(count, from + 1000); i++) {
      endpoints.push({ addresses: [`10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`], conditions: { ready: true }, zone: i % 2 ? 'zone-b' : 'zone-a' });
    }
    slices.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `big-${from}`, namespace: 'shop', labels: { 'kubernetes.io/service-name': 'big' } },
      addressType: 'IPv4',
      endpoints,
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    });
  }
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'big', namespace: 'shop', annotations: { 'lbdns.io/answer': 'endpoints', 'lbdns.io/policy': 'weighted', 'lbdns.io/weights': '10.100.0.7=5,10.100.0.9=3' } },
      spec: { clusterIP: '10.96.9.9', ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 80 }] },
    },
    ...slices,
  ];
}

function viewOf(items: unknown[]): ClusterView {
  const view = new ClusterView();
  view.replaceAll(parseObjectsText(objectsList(items), 'test objects').objects);
  return view;
}

function chaosTxtQuery(name: string): Buffer {
  return dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'TXT', name, class: 'CH' }] });
}

function txtLines(response: Buffer): string[] {
  const packet = dnsPacket.decode(response);
  return (packet.answers ?? []).map((a) => {
    const txt = a as dnsPacket.TxtAnswer;
    assert.equal(txt.class, 'CH');
    return (txt.data as Buffer[]).map((b) => b.toString()).join('');
  });
}

describe('txtString', () => {
  it('keeps a short string and cuts a long one to 255 bytes on a character boundary', () => {
    assert.equal(txtString('policy=weighted'), 'policy=weighted');
    const long = `zone=${'é'.repeat(200)}`;
    const cut = txtString(long);
    assert.ok(Buffer.byteLength(cut) <= TXT_STRING_LIMIT);
    assert.ok(cut.endsWith('...'));
    assert.ok(long.startsWith(cut.slice(0, -3)));
  });
});

describe('explanationLines', () => {
  const settings = parseSettings({ workers: 1 });
  const view = viewOf(bigService(10_000));
  const found = serviceForName(view, settings, NAME);
  if ('error' in found) throw new Error(found.error);
  const client = { address: '127.0.0.1', info: new ClientClassifier(settings).classify('127.0.0.1') };

  it('lists the endpoints most likely first up to the cap, counts the rest, shares from the explanation', () => {
    const explanation = explainBalance(view, settings, found.service, found.zone, client);
    const { head, tail } = explanationLines(explanation);
    assert.match(head[0] as string, /^service shop\/big answer=endpoints .*policy=weighted /);
    const endpoints = tail.filter((l) => l.startsWith('endpoint '));
    assert.equal(endpoints.length, EXPLAIN_LISTED);
    assert.match(tail[0] as string, new RegExp(`^endpoints total=10000 answered=10000 listed=${EXPLAIN_LISTED} omitted=${10_000 - EXPLAIN_LISTED}$`));
    const first = explanation.endpoints.find((e) => e.address === '10.100.0.7');
    assert.equal(endpoints[0], `endpoint 10.100.0.7 share=${first?.expectedFirstShare?.toFixed(4)} weight=5 from=annotation zone=zone-b node=- ready=true`);
    assert.match(endpoints[1] as string, /^endpoint 10\.100\.0\.9 .*weight=3 /);
    for (const line of [...head, ...tail]) assert.ok(Buffer.byteLength(line) <= TXT_STRING_LIMIT, line);
    assert.ok(head.length + tail.length <= EXPLAIN_LISTED + 8, `${head.length + tail.length} lines`);
  });

  it('a cap of 0 lists none and counts them all', () => {
    const { tail } = explanationLines(explainBalance(view, settings, found.service, found.zone, client), 0);
    assert.equal(tail.filter((l) => l.startsWith('endpoint ')).length, 0);
    assert.match(tail[0] as string, /listed=0 omitted=10000$/);
  });

  it('says why records are trimmed: maxAnswers, endpoints not answered, zone limiting', () => {
    const capped = bigService(20);
    const svc = capped[1] as { metadata: { annotations: Record<string, string> } };
    svc.metadata.annotations = { 'lbdns.io/answer': 'endpoints', 'lbdns.io/policy': 'zone', 'lbdns.io/max-answers': '3' };
    ((capped[2] as { endpoints: { conditions: { ready: boolean } }[] }).endpoints[0] as { conditions: { ready: boolean } }).conditions.ready = false;
    const strict = parseSettings({ workers: 1, balance: { zone: { strict: true }, clientZones: { '127.0.0.0/8': 'zone-b' } } });
    const smallView = viewOf(capped);
    const small = serviceForName(smallView, strict, NAME);
    if ('error' in small) throw new Error(small.error);
    const placed = { address: '127.0.0.1', info: new ClientClassifier(strict).classify('127.0.0.1') };
    const { tail } = explanationLines(explainBalance(smallView, strict, small.service, small.zone, placed));
    const trimmed = tail.filter((l) => l.startsWith('trimmed '));
    assert.ok(trimmed.includes('trimmed 1 not answered (not ready, or weight 0)'), trimmed.join('\n'));
    assert.ok(trimmed.includes('trimmed maxAnswers: at most 3 of 19 records per response'), trimmed.join('\n'));
    assert.ok(trimmed.includes('trimmed zone limiting: only the 10 endpoints in zone-b'), trimmed.join('\n'));
  });
});

describe('explanationLines for a Service that answers its ClusterIP', () => {
  it('lists endpoints without a share and trims nothing from the one A record', () => {
    const items = bigService(3);
    (items[1] as { metadata: { annotations: Record<string, string> } }).metadata.annotations = { 'lbdns.io/max-answers': '1' };
    const settings = parseSettings({ workers: 1 });
    const view = viewOf(items);
    const found = serviceForName(view, settings, NAME);
    if ('error' in found) throw new Error(found.error);
    const { head, tail } = explanationLines(explainBalance(view, settings, found.service, found.zone, null));
    assert.match(head[0] as string, / answer=clusterIP /);
    assert.ok(tail.filter((l) => l.startsWith('endpoint ')).every((l) => l.includes(' share=- ')), tail.join('\n'));
    assert.deepEqual(tail.filter((l) => l.startsWith('trimmed ')), ['trimmed none: A/AAAA answer the ClusterIP']);
  });
});

describe('CH TXT through the query handler', () => {
  it('answers a 10,000-endpoint Service with a capped listing, built once per view change', () => {
    const settings = parseSettings({ workers: 1 });
    const view = viewOf(bigService(10_000));
    const router = new ZoneRouter({ view, settings, serverAddresses: () => ['127.0.0.1'] });
    let built = 0;
    const explain = router.explain.bind(router);
    router.explain = (qname, client) => {
      built++;
      return explain(qname, client);
    };
    const handler = new QueryHandler({ router, settings, state: { ready: true }, log: pino({ level: 'silent' }) });
    const ask = (): string[] => {
      const response = handler.handle(chaosTxtQuery(NAME), 'tcp', '127.0.0.1');
      assert.ok(response instanceof Buffer);
      return txtLines(response);
    };
    const lines = ask();
    assert.equal(lines.filter((l) => l.startsWith('endpoint ')).length, EXPLAIN_LISTED);
    assert.ok(lines.includes('client 127.0.0.1 zone=- node=-'), lines.join('\n'));
    for (let i = 0; i < 20; i++) assert.deepEqual(ask(), lines);
    assert.equal(built, 1, 'one explanation for 21 queries of one placement');
    handler.invalidate({ scope: 'service', namespace: 'shop', service: 'big' });
    assert.deepEqual(ask(), lines);
    assert.equal(built, 2, 'a view change builds it again');
  });

  it('refuses a client outside forward.allowedClients', () => {
    const settings = parseSettings({ workers: 1, forward: { allowedClients: ['10.0.0.0/8'] } });
    const view = viewOf(bigService(3));
    const handler = new QueryHandler({ router: new ZoneRouter({ view, settings, serverAddresses: () => [] }), settings, state: { ready: true }, log: pino({ level: 'silent' }) });
    const refused = handler.handle(chaosTxtQuery(NAME), 'udp', '127.0.0.1') as Buffer;
    assert.equal(rcodeOf(decode(refused)), 'REFUSED');
    const allowed = handler.handle(chaosTxtQuery(NAME), 'udp', '10.1.2.3') as Buffer;
    assert.equal(rcodeOf(decode(allowed)), 'NOERROR');
    assert.ok(txtLines(allowed).some((l) => l.startsWith('client 10.1.2.3 ')));
  });

  it('is rate limited like any answer: a flood of one explanation is dropped or slipped, not built', () => {
    const settings = parseSettings({ workers: 1, rateLimit: { responsesPerSecond: 1, slip: 0 } });
    const view = viewOf(bigService(3));
    const handler = new QueryHandler({ router: new ZoneRouter({ view, settings, serverAddresses: () => [] }), settings, state: { ready: true }, log: pino({ level: 'silent' }) });
    const responses = Array.from({ length: 10 }, () => handler.handle(chaosTxtQuery(NAME), 'udp', '10.1.2.3'));
    assert.ok(responses[0] instanceof Buffer);
    assert.ok(responses.some((r) => r === null), 'some of a burst of 10 within a second dropped');
    assert.ok(handler.rateLimited.dropped > 0);
  });
});
