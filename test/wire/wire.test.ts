/** The byte-level wire code, checked against dns-packet's independent decoder. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as dnsPacket from 'dns-packet';
import { decode } from '../helpers/dns-client.ts';
import { decodeName, encodeName, encodeNameAgainst, NameError } from '../../src/wire/name.ts';
import { parseQuery, questionKey, readCommonQuery, sameQuestion } from '../../src/wire/query.ts';
import { balancedBudget, sumLength, writeFixedResponse, writeResponse, writeBareResponse } from '../../src/wire/message.ts';
import { answerLayout, toFixedAnswer, type PreparedAnswer } from '../../src/resolve/answer.ts';
import { RecordEncoder, negative, positive } from '../../src/resolve/answer-builder.ts';
import { RCode, RRType } from '../../src/wire/constants.ts';

const question = (name: string, type: dnsPacket.RecordType = 'A', extra: Partial<dnsPacket.Packet> = {}) =>
  dnsPacket.encode({ type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' }], ...extra });

describe('names', () => {
  it('encodes and decodes, lowercasing on the way in', () => {
    const wire = encodeName('Web.default.svc.cluster.local');
    assert.equal(decodeName(wire, 0)?.name, 'web.default.svc.cluster.local');
    assert.deepEqual(encodeName(''), Buffer.from([0]));
  });

  it('rejects labels over 63 bytes and names over 255', () => {
    assert.throws(() => encodeName(`${'a'.repeat(64)}.local`), NameError);
    assert.throws(() => encodeName(Array.from({ length: 60 }, () => 'abcd').join('.')), NameError);
    assert.throws(() => encodeName('a..b'), NameError);
  });

  it('compresses against the longest suffix shared with the question name', () => {
    // question at offset 12: "_http._tcp.web.default.svc.cluster.local"
    const target = encodeNameAgainst('web-0.web.default.svc.cluster.local', '_http._tcp.web.default.svc.cluster.local');
    const pointerTo = 12 + '_http'.length + 1 + '_tcp'.length + 1;
    assert.deepEqual(target, Buffer.concat([Buffer.from([5]), Buffer.from('web-0'), Buffer.from([0xc0, pointerTo])]));
    assert.deepEqual(encodeNameAgainst('a.b', 'x.y'), encodeName('a.b'));
    assert.deepEqual(encodeNameAgainst('x.y', 'x.y'), Buffer.from([0xc0, 12]));
  });

  it('refuses forward pointers, self pointers and reads past the end', () => {
    assert.equal(decodeName(Buffer.from([0xc0, 0]), 0), null);
    assert.equal(decodeName(Buffer.from([0x05, 0x61]), 0), null);
    assert.equal(decodeName(Buffer.from([1, 0x61, 0xc0, 4, 0]), 0), null);
  });

  it('keeps a dot inside a label from passing for two labels', () => {
    const wire = Buffer.from([7, ...Buffer.from('default'), 3, ...Buffer.from('s.c'), 0]);
    assert.notEqual(decodeName(wire, 0)?.name, 'default.s.c');
  });
});

describe('parseQuery', () => {
  it('reads the header, the question and EDNS', () => {
    const result = parseQuery(question('Web.Default.svc.cluster.local', 'SRV', { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, flags: dnsPacket.DNSSEC_OK } as unknown as dnsPacket.Answer] }));
    assert.equal(result.kind, 'query');
    if (result.kind !== 'query') return;
    assert.equal(result.query.qname, 'web.default.svc.cluster.local');
    assert.equal(result.query.qtype, RRType.SRV);
    assert.deepEqual(result.query.edns, { udpSize: 4096, version: 0, dnssecOk: true });
    assert.equal(result.query.id, 4242);
  });

  it('drops responses and runts, and says FORMERR or NOTIMP otherwise', () => {
    const response = question('a.b');
    response[2] = (response[2] as number) | 0x80;
    assert.equal(parseQuery(response).kind, 'drop');
    assert.equal(parseQuery(Buffer.alloc(11)).kind, 'drop');
    const notify = question('a.b');
    notify[2] = 0x20;
    const result = parseQuery(notify);
    assert.ok(result.kind === 'error' && result.rcode === RCode.NOTIMP);
  });
});

describe('readCommonQuery (the fast path)', () => {
  const opt = (udpPayloadSize: number, flags = 0) => ({ additionals: [{ type: 'OPT', name: '.', udpPayloadSize, flags } as unknown as dnsPacket.Answer] });

  it('reads what parseQuery reads from the usual query, with one key for every letter case', () => {
    const request = question('Web.Default.svc.cluster.local', 'SRV', opt(4096, dnsPacket.DNSSEC_OK));
    const common = readCommonQuery(request);
    const full = parseQuery(request);
    assert.ok(common !== null && full.kind === 'query');
    assert.deepEqual({ id: common.id, flags: common.flags, qtype: common.qtype, questionEnd: common.questionEnd, edns: common.edns }, { id: full.query.id, flags: full.query.flags, qtype: full.query.qtype, questionEnd: full.query.questionEnd, edns: full.query.edns });
    assert.equal(readCommonQuery(question('web.default.SVC.cluster.local', 'SRV'))?.key, common.key);
    assert.notEqual(readCommonQuery(question('web.default.svc.cluster.local', 'A'))?.key, common.key);
  });

  it('leaves everything unusual to parseQuery', () => {
    const response = question('a.b');
    response[2] = (response[2] as number) | 0x80;
    const notify = question('a.b');
    notify[2] = 0x20;
    const chaos = question('version.bind', 'TXT');
    chaos.writeUInt16BE(3, chaos.length - 2);
    const compressed = Buffer.concat([question('').subarray(0, 12), Buffer.from([1, 0x61, 0xc0, 12, 0, 1, 0, 1])]);
    const ednsV1 = question('a.b', 'A', opt(1232));
    ednsV1[ednsV1.length - 5] = 1;
    const twoQuestions = question('a.b');
    twoQuestions.writeUInt16BE(2, 4);
    for (const packet of [response, notify, chaos, compressed, ednsV1, twoQuestions, Buffer.alloc(11), question('a.b').subarray(0, 20)]) {
      assert.equal(readCommonQuery(packet), null);
    }
  });

  it('answers FORMERR without echoing a question whose name is compressed', () => {
    // Offset 4 holds QDCOUNT's high byte, 0: the pointer reads as the root name in the query,
    // and as whatever the response's counts spell there.
    for (const target of [4, 6, 11]) {
      const packet = Buffer.concat([question('').subarray(0, 12), Buffer.from([0xc0, target, 0, 1, 0, 1])]);
      const parsed = parseQuery(packet);
      assert.equal(parsed.kind, 'error');
      assert.deepEqual(parsed.kind === 'error' && { rcode: parsed.rcode, questionEnd: parsed.questionEnd }, { rcode: RCode.FORMERR, questionEnd: 0 });
    }
    const partly = Buffer.concat([question('').subarray(0, 12), Buffer.from([1, 0x61, 0xc0, 4, 0, 1, 0, 1])]);
    assert.equal(parseQuery(partly).kind, 'error');
    assert.equal(parseQuery(question('a.b')).kind, 'query');
    assert.equal(parseQuery(question('')).kind, 'query');
  });

  it('compares questions by bytes, the name in any case and the type exactly', () => {
    const stored = (name: string, type: number) => {
      const request = question(name);
      request.writeUInt16BE(type, request.length - 4);
      return request;
    };
    const https = stored('web.default.svc.cluster.local', 65);
    const key = questionKey(https, https.length);
    assert.ok(sameQuestion(stored('WEB.default.svc.cluster.local', 65), https.length, key));
    // 65 ends in the byte of 'A' and 97 in that of 'a': lowercasing the type would mix them up.
    assert.ok(!sameQuestion(stored('web.default.svc.cluster.local', 97), https.length, key));
    assert.ok(!sameQuestion(stored('web.default.svc.cluster.locam', 65), https.length, key));
    // A byte past ASCII is no letter to fold: 0xC9 and 0xE9 differ, each kept as one character.
    const high = stored('web.default.svc.cluster.local', 1);
    high[13] = 0xc9;
    const highKey = questionKey(high, high.length);
    assert.equal(highKey.length, high.length - 12 - 2);
    const folded = Buffer.from(high);
    folded[13] = 0xe9;
    assert.ok(sameQuestion(Buffer.from(high), high.length, highKey));
    assert.ok(!sameQuestion(folded, high.length, highKey));
  });
});

describe('writeResponse', () => {
  const qname = '_http._tcp.db.default.svc.cluster.local';
  const encoder = new RecordEncoder(qname);
  const srvs = ['db-0', 'db-1', 'db-2'].map((h, i) => encoder.srv(qname, 0, 33, 5432 + i, `${h}.db.default.svc.cluster.local`, 5));
  const glue = ['db-0', 'db-1', 'db-2'].map((h, i) => encoder.address(`${h}.db.default.svc.cluster.local`, `10.0.0.${i + 1}`, 5));
  const prepared: PreparedAnswer = positive(srvs, glue);

  it('assembles a response dns-packet decodes, in the order asked, question case kept', () => {
    const request = question('_HTTP._tcp.db.default.svc.cluster.local', 'SRV');
    const parsed = parseQuery(request);
    assert.ok(parsed.kind === 'query');
    const bytes = writeResponse(request, parsed.query, prepared, [srvs[2]!, srvs[0]!, srvs[1]!], { limit: 65535, advertisedUdpSize: 1232 });
    const reply = decode(bytes);
    assert.equal(reply.id, 4242);
    assert.ok(reply.flag_aa && reply.flag_rd && !reply.flag_ra);
    assert.equal(reply.questions?.[0]?.name, '_HTTP._tcp.db.default.svc.cluster.local');
    assert.deepEqual(reply.answers?.map((a) => (a as dnsPacket.SrvAnswer).data.port), [5434, 5432, 5433]);
    assert.deepEqual(reply.additionals?.map((a) => [a.name, (a as { data: string }).data]), [
      ['db-0.db.default.svc.cluster.local', '10.0.0.1'],
      ['db-1.db.default.svc.cluster.local', '10.0.0.2'],
      ['db-2.db.default.svc.cluster.local', '10.0.0.3'],
    ]);
  });

  it('writes an answer fixed once into the same bytes as record by record, cut the same way at every limit', () => {
    const inOrder = positive(srvs, glue, srvs.length);
    const nxdomain = negative(RCode.NXDOMAIN, encoder.soa('cluster.local', 1, 5));
    // An owner written as labels, not a pointer: the cut must step over whole names too.
    const spelled = positive([encoder.address('db-9.elsewhere.example', '10.0.0.9', 5), ...srvs], glue, srvs.length + 1);
    for (const [request, answer] of [
      [question('_HTTP._tcp.db.default.svc.cluster.local', 'SRV', { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, flags: dnsPacket.DNSSEC_OK } as unknown as dnsPacket.Answer] }), inOrder],
      [question(qname, 'SRV'), inOrder],
      [question(qname, 'SRV'), nxdomain],
      [question(qname, 'SRV'), spelled],
    ] as const) {
      const parsed = parseQuery(request);
      assert.ok(parsed.kind === 'query');
      const fixed = toFixedAnswer(answer)!;
      const full = writeResponse(request, parsed.query, answer, null, { limit: 65535, advertisedUdpSize: 1232 });
      // Down to a header and question alone: whole, glue left out, then truncated with TC.
      for (let limit = full.length; limit >= parsed.query.questionEnd; limit--) {
        const expected = writeResponse(request, parsed.query, answer, null, { limit, advertisedUdpSize: 1232 });
        assert.deepEqual(writeFixedResponse(request, parsed.query, fixed, limit, 1232), expected, `limit ${limit}`);
      }
    }
    // Records ordered per response have no fixed form.
    assert.equal(toFixedAnswer(prepared), null, 'three shuffled SRV records');
  });

  it('leaves out the glue that does not fit without TC (RFC 2181 §9), and truncates to whole records with TC when the answer does not fit', () => {
    const request = question(qname, 'SRV');
    const parsed = parseQuery(request);
    assert.ok(parsed.kind === 'query');
    const full = writeResponse(request, parsed.query, prepared, null, { limit: 65535, advertisedUdpSize: 1232 });
    const withoutLast = decode(writeResponse(request, parsed.query, prepared, null, { limit: full.length - 1, advertisedUdpSize: 1232 }));
    assert.ok(!withoutLast.flag_tc);
    assert.equal(withoutLast.answers?.length, 3);
    assert.equal(withoutLast.additionals?.length, 2);
    const noGlue = decode(writeResponse(request, parsed.query, prepared, null, { limit: full.length - sumLength(glue), advertisedUdpSize: 1232 }));
    assert.ok(!noGlue.flag_tc);
    assert.equal(noGlue.answers?.length, 3);
    assert.equal(noGlue.additionals?.length, 0);
    const cut = decode(writeResponse(request, parsed.query, prepared, null, { limit: full.length - sumLength(glue) - 1, advertisedUdpSize: 1232 }));
    assert.ok(cut.flag_tc);
    assert.equal(cut.answers?.length, 2);
    assert.equal(cut.additionals?.length, 0);
  });

  it('asks for all the balanced records that fit, and one more when not all do, so the response truncates', () => {
    const request = question(qname, 'SRV');
    const parsed = parseQuery(request);
    assert.ok(parsed.kind === 'query');
    const many = Array.from({ length: 50 }, (_, i) => encoder.srv(qname, 0, 1, 5000 + i, `db-${i}.db.default.svc.cluster.local`, 5));
    const answer = positive(many, []);
    for (const limit of [100, 512, 1232, 4000]) {
      const budget = balancedBudget(parsed.query, answer, answerLayout(answer), limit);
      const chosen = many.slice(0, budget);
      const reply = decode(writeResponse(request, parsed.query, answer, chosen, { limit, advertisedUdpSize: 1232 }));
      let fit = 0;
      for (let room = limit - request.length; fit < many.length && many[fit]!.length <= room; fit++) room -= many[fit]!.length;
      assert.equal(reply.answers?.length, Math.min(fit, many.length), `limit ${limit}`);
      assert.equal(reply.flag_tc, fit < many.length, `limit ${limit}: TC when not all fit`);
    }
  });

  it('sends the chosen records’ additional records in place of the answer’s own', () => {
    const request = question(qname, 'SRV');
    const parsed = parseQuery(request);
    assert.ok(parsed.kind === 'query');
    const reply = decode(writeResponse(request, parsed.query, prepared, [srvs[1]!], { limit: 65535, advertisedUdpSize: 1232 }, [glue[1]!]));
    assert.deepEqual(reply.additionals?.map((a) => a.name), ['db-1.db.default.svc.cluster.local']);
  });

  it('writes bare error responses with the question echoed', () => {
    const request = question('example.com');
    const parsed = parseQuery(request);
    assert.ok(parsed.kind === 'query');
    const reply = decode(writeBareResponse(request, parsed.query, RCode.REFUSED, 1232));
    assert.equal(reply.rcode, 'REFUSED');
    assert.equal(reply.questions?.[0]?.name, 'example.com');
  });
});
