/**
 * Property-based fuzzing of the packet path (fast-check): whatever bytes arrive, the handler
 * answers with a well-formed response or nothing, never throws, never exceeds the UDP limit, and
 * a normal query still works after each batch.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pino } from 'pino';
import * as dnsPacket from 'dns-packet';
import { ClusterView } from '../../src/view/cluster-view.ts';
import { readObjectsFile } from '../../src/sources/objects-file.ts';
import { parseSettings } from '../../src/settings/schema.ts';
import { ZoneRouter } from '../../src/resolve/router.ts';
import { QueryHandler } from '../../src/server/handler.ts';
import { demoObjects } from '../helpers/lbdns-process.ts';
import { buildQuery } from '../helpers/dns-client.ts';
import { parseQuery, readCommonQuery } from '../../src/wire/query.ts';
import { label, structured, u16 } from '../helpers/hostile-packets.ts';

const settings = parseSettings({});
const view = new ClusterView();
view.replaceAll(readObjectsFile(demoObjects).objects);
const handler = new QueryHandler({ router: new ZoneRouter({ view, settings, serverAddresses: () => ['127.0.0.1'] }), settings, state: { ready: true }, log: pino({ level: 'silent' }) });

function check(packet: Uint8Array): void {
  const response = handler.handle(Buffer.from(packet), 'udp', '127.0.0.1');
  assert.ok(!(response instanceof Promise), 'no forwarder: nothing goes upstream');
  if (response === null) return;
  assert.ok(response.length >= 12, 'a response has a header');
  assert.ok(response.readUInt16BE(2) & 0x8000, 'QR is set');
  assert.ok(response.length <= settings.maxUdpSize, 'no UDP answer is larger than lbdns allows');
  if (packet.length >= 2) assert.equal(response.readUInt16BE(0), Buffer.from(packet).readUInt16BE(0), 'the query ID');
  assert.doesNotThrow(() => dnsPacket.decode(response), 'every response parses, its echoed question included');
}

function normalQueryStillWorks(): void {
  const response = handler.handle(buildQuery('web.default.svc.cluster.local', 'A'), 'udp', '127.0.0.1') as Buffer;
  assert.deepEqual((dnsPacket.decode(response).answers ?? []).map((a) => (a as { data: string }).data), ['10.96.0.20']);
}

describe('fuzzing the packet path', () => {
  it('survives random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 700 }), (bytes) => check(bytes)), { numRuns: 3000, seed: 42 });
    normalQueryStillWorks();
  });

  it('survives structured but hostile packets: huge counts, pointer loops, bad labels, odd EDNS, truncation', () => {
    fc.assert(fc.property(structured, (packet) => check(packet)), { numRuns: 5000, seed: 7 });
    normalQueryStillWorks();
  });

  it('takes the fast path only for queries the full reader reads the same way', () => {
    let fast = 0;
    const agree = (packet: Uint8Array) => {
      const bytes = Buffer.from(packet);
      const common = readCommonQuery(bytes);
      if (common === null) return;
      fast++;
      const full = parseQuery(bytes);
      assert.equal(full.kind, 'query');
      if (full.kind !== 'query') return;
      assert.deepEqual([common.id, common.flags, common.qtype, common.questionEnd, common.edns], [full.query.id, full.query.flags, full.query.qtype, full.query.questionEnd, full.query.edns]);
      assert.equal(full.query.qclass, 1);
    };
    // Usual queries (any case, with and without EDNS) with a few bytes changed: most stay usual.
    const usual = fc
      .tuple(label, label, fc.constantFrom('A', 'AAAA', 'SRV', 'PTR'), fc.option(fc.record({ udpSize: u16, dnssecOk: fc.boolean() })), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }))
      .map(([a, b, type, edns, edits]) => {
        const request = buildQuery(`${a}.${b}.svc.cluster.local`, type, edns ?? {});
        for (const [at, value] of edits) request[at % request.length] = value;
        return request;
      });
    fc.assert(fc.property(usual, agree), { numRuns: 5000, seed: 13 });
    assert.ok(fast > 1000, `only ${fast} of 5,000 packets took the fast path: the property says little`);
    fc.assert(fc.property(structured, agree), { numRuns: 3000, seed: 19 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), agree), { numRuns: 2000, seed: 17 });
  });

  it('survives mutations of valid queries', () => {
    const valid = [buildQuery('web.default.svc.cluster.local', 'A', { udpSize: 4096 }), buildQuery('_http._tcp.db.default.svc.cluster.local', 'SRV'), buildQuery('20.0.96.10.in-addr.arpa', 'PTR')];
    const mutated = fc.tuple(fc.constantFrom(...valid), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 })).map(([base, edits]) => {
      const copy = Buffer.from(base);
      for (const [at, value] of edits) copy[at % copy.length] = value;
      copy[2] = copy[2]! & 0x7f;
      return copy;
    });
    fc.assert(fc.property(mutated, (packet) => check(packet)), { numRuns: 5000, seed: 11 });
    normalQueryStillWorks();
  });
});
