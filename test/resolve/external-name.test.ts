/**
 * ExternalName completion in process: the cluster zone's real answer for an ExternalName Service
 * (a CNAME leaving the zones), completed through a real Forwarder asking a scripted loopback
 * upstream, then written as a response and decoded with dns-packet.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { parseSettings } from '../../src/settings/schema.ts';
import { ClusterView } from '../../src/view/cluster-view.ts';
import { parseObjectsText } from '../../src/sources/objects-file.ts';
import { ZoneRouter } from '../../src/resolve/router.ts';
import { Forwarder } from '../../src/forward/forwarder.ts';
import { completeExternalName } from '../../src/resolve/external-name.ts';
import type { PreparedAnswer } from '../../src/resolve/answer.ts';
import { type Query, parseQuery } from '../../src/wire/query.ts';
import { writeResponse } from '../../src/wire/message.ts';
import { buildQuery, decode } from '../helpers/dns-client.ts';
import { StubUpstream, reply } from '../helpers/stub-upstream.ts';
import { asList, namespaceObject } from '../helpers/objects.ts';
import { presentRecord } from '../helpers/in-process.ts';

const NAME = 'payments.shop.svc.cluster.local';
const TARGET = 'payments.example.com';

let upstream: StubUpstream;
let view: ClusterView;
/** What the upstream answers for the target next: its records, or this rcode. */
let upstreamAnswers: 'records' | 'NXDOMAIN' | 'SERVFAIL' = 'records';

before(async () => {
  upstream = await StubUpstream.start((q) => {
    const { name, type } = q.questions![0]!;
    if (upstreamAnswers !== 'records') return [{ bytes: reply(q, { rcode: upstreamAnswers }) }];
    if (type === 'A') return [{ bytes: reply(q, { answers: [{ type: 'A', name, ttl: 60, data: '192.0.2.90' }, { type: 'A', name, ttl: 60, data: '192.0.2.91' }] }) }];
    return [{ bytes: reply(q, { answers: [{ type: 'AAAA', name, ttl: 60, data: '2001:db8::90' }] }) }];
  });
  view = new ClusterView();
  view.replaceAll(
    parseObjectsText(
      asList([namespaceObject('shop'), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'payments', namespace: 'shop' }, spec: { type: 'ExternalName', externalName: TARGET } }]),
      'test objects',
    ).objects,
  );
});

after(() => upstream.close());

/** A fresh forwarder each time, so no case is answered from another's cache. */
function setup(type: 'A' | 'AAAA'): { answer: PreparedAnswer; target: string; query: Query; forwarder: Forwarder } {
  const settings = parseSettings({ workers: 1, forward: { upstreams: [`127.0.0.1:${upstream.port}`], timeoutMs: 1000 } });
  const { answer } = new ZoneRouter({ view, settings, serverAddresses: () => ['127.0.0.1'] }).route(NAME, type === 'A' ? 1 : 28);
  assert.ok('answers' in answer && answer.chase, `${NAME} ${type}: the zone answers a CNAME leaving the zones`);
  const parsed = parseQuery(buildQuery(NAME, type));
  assert.equal(parsed.kind, 'query');
  return { answer, target: answer.chase, query: (parsed as { query: Query }).query, forwarder: new Forwarder(settings, pino({ level: 'silent' })) };
}

/** The answer section of the response the completed answer makes, in presentation form. */
function answerSection(request: Buffer, query: Query, answer: PreparedAnswer): string[] {
  const bytes = writeResponse(request, query, answer, null, { limit: 65535, advertisedUdpSize: 1232 });
  return (decode(bytes).answers ?? []).map((record) => presentRecord(record as never));
}

describe('completeExternalName', () => {
  const cname = `${NAME}. 5 IN CNAME ${TARGET}.`;

  for (const [type, records] of [
    ['A', [`${TARGET}. 60 IN A 192.0.2.90`, `${TARGET}. 60 IN A 192.0.2.91`]],
    ['AAAA', [`${TARGET}. 60 IN AAAA 2001:db8::90`]],
  ] as const) {
    it(`${type}: follows the CNAME with the target’s ${type} records, asked upstream once`, async () => {
      upstreamAnswers = 'records';
      const { answer, target, query, forwarder } = setup(type);
      const asked = upstream.count(TARGET);
      const complete = await completeExternalName(answer, target, query, forwarder, '127.0.0.1');
      assert.deepEqual(answerSection(buildQuery(NAME, type), query, complete), [cname, ...records]);
      assert.equal(complete.balancedFrom, complete.answers.length, 'upstream’s records are sent as given, not reordered');
      assert.equal(upstream.count(TARGET) - asked, 1);
      assert.equal(upstream.queries.at(-1)?.type, type);
    });
  }

  for (const rcode of ['NXDOMAIN', 'SERVFAIL'] as const) {
    it(`answers the CNAME alone when upstream answers the target ${rcode}`, async () => {
      upstreamAnswers = rcode;
      const { answer, target, query, forwarder } = setup('A');
      const asked = upstream.count(TARGET);
      const complete = await completeExternalName(answer, target, query, forwarder, '127.0.0.1');
      assert.deepEqual(answerSection(buildQuery(NAME, 'A'), query, complete), [cname]);
      assert.ok(upstream.count(TARGET) > asked, 'upstream was asked');
    });
  }
});
