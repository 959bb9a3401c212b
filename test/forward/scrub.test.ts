/** What scrubResponse keeps of an upstream message, and that what it writes decodes (dns-packet). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as dnsPacket from 'dns-packet';
import { decode } from '../helpers/dns-client.ts';
import { type Asked, type ScrubRules, relayedTtl, scrubResponse } from '../../src/forward/scrub.ts';
import { HEADER_SIZE, RRType } from '../../src/wire/constants.ts';
import { decodeName } from '../../src/wire/name.ts';

const rules: ScrubRules = { clusterZones: ['cluster.local'], reverseZones: ['in-addr.arpa', 'ip6.arpa'], maxTtl: 3600 };

type Rec = dnsPacket.Answer;
const a = (name: string, data = '192.0.2.1', ttl = 60): Rec => ({ type: 'A', name, ttl, data });
const cname = (name: string, data: string): Rec => ({ type: 'CNAME', name, ttl: 60, data });
const ns = (name: string, data: string): Rec => ({ type: 'NS', name, ttl: 60, data });
const soa = (zone: string): Rec => ({ type: 'SOA', name: zone, ttl: 60, data: { mname: `ns.${zone}`, rname: `admin.${zone}`, serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 60 } });

/** An upstream response to `qname`/`qtype` with these sections, scrubbed; the rows of each section. */
function scrub(qname: string, qtype: dnsPacket.RecordType, sections: { answers?: Rec[]; authorities?: Rec[]; additionals?: Rec[]; rcode?: number }, scrubRules: ScrubRules = rules) {
  const question = [{ name: qname, type: qtype, class: 'IN' as const }];
  const bytes = dnsPacket.encode({ type: 'response', id: 1, flags: 0x8180 | (sections.rcode ?? 0), questions: question, answers: sections.answers ?? [], authorities: sections.authorities ?? [], additionals: sections.additionals ?? [] });
  const questionEnd = (decodeName(bytes, HEADER_SIZE)?.end ?? 0) + 4;
  const asked: Asked = { question: bytes.subarray(HEADER_SIZE, questionEnd), qname, qtype: (RRType as Record<string, number>)[qtype] ?? 0, qclass: 1 };
  const out = scrubResponse(bytes, questionEnd, asked, scrubRules);
  assert.ok(out, 'scrubbed');
  const packet = decode(out);
  const rows = (records: Array<{ type: string; name: string; data?: unknown; ttl?: number }> | undefined) => (records ?? []).map((r) => `${r.type} ${r.name}`);
  return { answers: rows(packet.answers), authority: rows(packet.authorities), additional: rows(packet.additionals), packet, bytes: out };
}

describe('scrubResponse', () => {
  const cases: Array<{ name: string; qname: string; qtype: dnsPacket.RecordType; given: Parameters<typeof scrub>[2]; answers: string[]; authority?: string[]; additional?: string[] }> = [
    { name: 'keeps the answer', qname: 'www.example.test', qtype: 'A', given: { answers: [a('www.example.test')] }, answers: ['A www.example.test'] },
    {
      name: 'drops records for other names, cluster names included',
      qname: 'www.example.test',
      qtype: 'A',
      given: { answers: [a('www.example.test'), a('kubernetes.default.svc.cluster.local'), a('evil.test')], additionals: [a('kubernetes.default.svc.cluster.local')] },
      answers: ['A www.example.test'],
    },
    {
      name: 'follows the CNAME chain',
      qname: 'a.example.test',
      qtype: 'A',
      given: { answers: [cname('a.example.test', 'b.example.test'), cname('b.example.test', 'c.other.test'), a('c.other.test'), a('d.other.test')] },
      answers: ['CNAME a.example.test', 'CNAME b.example.test', 'A c.other.test'],
    },
    {
      name: 'stops a chain at a cluster name, keeping the CNAME that points there',
      qname: 'a.example.test',
      qtype: 'A',
      given: { answers: [cname('a.example.test', 'web.default.svc.cluster.local'), a('web.default.svc.cluster.local')] },
      answers: ['CNAME a.example.test'],
    },
    {
      name: 'follows a DNAME',
      qname: 'www.old.test',
      qtype: 'A',
      given: { answers: [{ type: 'DNAME', name: 'old.test', ttl: 60, data: 'new.test' }, cname('www.old.test', 'www.new.test'), a('www.new.test'), a('mail.new.test')] },
      answers: ['DNAME old.test', 'CNAME www.old.test', 'A www.new.test'],
    },
    { name: 'drops types nobody asked for', qname: 'www.example.test', qtype: 'A', given: { answers: [a('www.example.test'), { type: 'TXT', name: 'www.example.test', ttl: 60, data: 'x' }] }, answers: ['A www.example.test'] },
    {
      name: 'keeps the SOA of a negative answer, not an NS for the root',
      qname: 'nope.example.test',
      qtype: 'A',
      given: { rcode: 3, authorities: [ns('.', 'ns.evil.test'), soa('example.test'), soa('other.test')], additionals: [a('ns.evil.test')] },
      answers: [],
      authority: ['SOA example.test'],
      additional: [],
    },
    {
      name: 'drops NS and glue from a positive answer (no-auth-recursive)',
      qname: 'www.example.test',
      qtype: 'A',
      given: { answers: [a('www.example.test')], authorities: [ns('example.test', 'ns.example.test'), ns('.', 'ns.evil.test')], additionals: [a('ns.example.test'), a('ns.evil.test')] },
      answers: ['A www.example.test'],
      authority: [],
      additional: [],
    },
    {
      name: 'keeps glue for the names the answer points at',
      qname: 'example.test',
      qtype: 'NS',
      given: { answers: [ns('example.test', 'ns1.example.test')], additionals: [a('ns1.example.test'), a('ns2.example.test'), a('web.default.svc.cluster.local')] },
      answers: ['NS example.test'],
      additional: ['A ns1.example.test'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = scrub(c.qname, c.qtype, c.given);
      assert.deepEqual(got.answers, c.answers);
      if (c.authority) assert.deepEqual(got.authority, c.authority);
      if (c.additional) assert.deepEqual(got.additional, c.additional);
    });
  }

  it('keeps the DNSSEC records of the zone that signed the answer, and only those', () => {
    const rrsig = (name: string, signer: string, covered = 'A'): Rec => ({ type: 'RRSIG', name, ttl: 60, data: { typeCovered: covered, algorithm: 13, labels: 2, originalTTL: 60, expiration: 2, inception: 1, keyTag: 7, signersName: signer, signature: Buffer.alloc(8) } }) as Rec;
    const nsec = (name: string, next: string): Rec => ({ type: 'NSEC', name, ttl: 60, data: { nextDomain: next, rrtypes: ['A'] } }) as Rec;
    const got = scrub('x.wild.example.test', 'A', {
      answers: [a('x.wild.example.test'), rrsig('x.wild.example.test', 'example.test')],
      authorities: [nsec('w.example.test', 'z.example.test'), rrsig('w.example.test', 'example.test', 'NSEC'), nsec('a.evil.test', 'b.evil.test'), ns('example.test', 'ns.example.test'), ns('.', 'ns.evil.test')],
    });
    assert.deepEqual(got.answers, ['A x.wild.example.test', 'RRSIG x.wild.example.test']);
    assert.deepEqual(got.authority, ['NSEC w.example.test', 'RRSIG w.example.test', 'NS example.test']);
  });

  it('relays reverse names only for a question in that reverse zone (reverse.fallthrough)', () => {
    const question = '1.2.0.192.in-addr.arpa';
    const got = scrub(question, 'PTR', { answers: [{ type: 'PTR', name: question, ttl: 60, data: 'host.example.test' }, { type: 'PTR', name: '20.0.96.10.in-addr.arpa', ttl: 60, data: 'evil.test' }] });
    assert.deepEqual(got.answers, ['PTR 1.2.0.192.in-addr.arpa']);
    assert.deepEqual(scrub('www.example.test', 'A', { answers: [cname('www.example.test', '20.0.96.10.in-addr.arpa')] }).answers, ['CNAME www.example.test']);
  });

  it('caps TTLs, reading the top bit as 0 (RFC 2181 §8)', () => {
    assert.deepEqual([0, 59, 3600, 3601, 0x7fffffff, 0x80000000, 0xffffffff].map((t) => relayedTtl(t, 3600)), [0, 59, 3600, 3600, 3600, 0, 0]);
    const got = scrub('www.example.test', 'A', { answers: [a('www.example.test', '192.0.2.1', 0xffffffff), a('www.example.test', '192.0.2.2', 0x7fffffff)] });
    assert.deepEqual(got.packet.answers?.map((r) => r.ttl), [0, 3600]);
  });

  it('writes names compressed only against the question, so the records survive any question of its length', () => {
    const got = scrub('www.example.test', 'MX', { answers: [{ type: 'MX', name: 'www.example.test', ttl: 60, data: { preference: 5, exchange: 'mx.example.test' } }] });
    assert.deepEqual(got.packet.answers?.map((r) => r.data), [{ preference: 5, exchange: 'mx.example.test' }]);
    // header, question (18 + 4), owner as a pointer + 10, preference + "mx" + a pointer to "example.test"
    assert.equal(got.bytes.length, 12 + 22 + (2 + 10) + (2 + 3 + 2));
  });

  it('returns null for a record that runs past the end', () => {
    const bytes = dnsPacket.encode({ type: 'response', id: 1, flags: 0x8180, questions: [{ name: 'x.test', type: 'A', class: 'IN' }], answers: [a('x.test')] });
    const questionEnd = 12 + 8 + 4;
    const asked: Asked = { question: bytes.subarray(12, questionEnd), qname: 'x.test', qtype: 1, qclass: 1 };
    assert.equal(scrubResponse(bytes.subarray(0, bytes.length - 2), questionEnd, asked, rules), null);
  });
});
