/**
 * Messages to and from upstream servers: the query lbdns sends (a fresh random ID, the client's
 * question, EDNS with our size) and the checks a response must pass before it is relayed or
 * cached: a response, to our ID, for our question. Anything else is dropped (RFC 5452).
 */
import { Flag, HEADER_SIZE, RCode, RRType } from '../wire/constants.ts';
import { decodeName } from '../wire/name.ts';
import type { Query } from '../wire/query.ts';
import { readRecord } from '../wire/record-walker.ts';
import { OPT_SIZE, headerRcode, writeOpt } from '../wire/header.ts';
import { type ScrubRules, scrubResponse } from './scrub.ts';

export function buildUpstreamQuery(request: Buffer, query: Query, id: number, udpSize: number): Buffer {
  const questionLength = query.questionEnd - HEADER_SIZE;
  const out = Buffer.alloc(HEADER_SIZE + questionLength + OPT_SIZE);
  out.writeUInt16BE(id, 0);
  out.writeUInt16BE(Flag.RD | (query.flags & Flag.CD), 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(1, 10);
  request.copy(out, HEADER_SIZE, HEADER_SIZE, query.questionEnd);
  writeOpt(out, HEADER_SIZE + questionLength, udpSize, query.edns?.dnssecOk ?? false);
  return out;
}

export interface ExpectedAnswer {
  id: number;
  qname: string;
  qtype: number;
  qclass: number;
  /** The question's bytes as lbdns sent them (name, type, class). */
  question: Buffer;
}

/** What lbdns expects of an upstream's answer to `query`, asked with `id`. */
export function expectedAnswer(request: Buffer, query: Query, id: number): ExpectedAnswer {
  return { id, qname: query.qname, qtype: query.qtype, qclass: query.qclass, question: request.subarray(HEADER_SIZE, query.questionEnd) };
}

export interface UpstreamResponse {
  /** The message as scrub.ts rebuilds it: lbdns's question, names compressed only against it. */
  bytes: Buffer;
  rcode: number;
  truncated: boolean;
  questionEnd: number;
  /** Offsets of every TTL but the OPT record's, for counting down in cached answers. */
  ttlOffsets: number[];
  /** The OPT record's bytes, if any (scrub.ts puts it last). */
  opt: { start: number; end: number } | null;
  /** Where the additional section starts: what a response without it ends at. */
  additionalAt: number;
  /** How long the answer may be cached, and in which cache; null: not cacheable. */
  cache: { kind: 'positive' | 'negative'; ttl: number } | null;
}

/**
 * The response, scrubbed and rebuilt (scrub.ts), if it answers `expected`; else null (spoofed,
 * stray or malformed: drop it).
 */
export function inspectResponse(received: Buffer, expected: ExpectedAnswer, rules: ScrubRules): UpstreamResponse | null {
  if (received.length < HEADER_SIZE) return null;
  const flags = received.readUInt16BE(2);
  if (received.readUInt16BE(0) !== expected.id || !(flags & Flag.QR) || received.readUInt16BE(4) !== 1) return null;
  const question = decodeName(received, HEADER_SIZE);
  if (question === null || question.end + 4 > received.length) return null;
  if (question.name !== expected.qname || received.readUInt16BE(question.end) !== expected.qtype || received.readUInt16BE(question.end + 2) !== expected.qclass) return null;
  const bytes = scrubResponse(received, question.end + 4, expected, rules);
  if (bytes === null) return null;
  const questionEnd = HEADER_SIZE + expected.question.length;
  const counts = [bytes.readUInt16BE(6), bytes.readUInt16BE(8), bytes.readUInt16BE(10)] as const;
  const rcode = headerRcode(received);
  const ttlOffsets: number[] = [];
  let opt: UpstreamResponse['opt'] = null;
  let minAnswerTtl = Infinity;
  let soaTtl: number | null = null;
  let offset = questionEnd;
  let additionalAt = questionEnd;
  for (let section = 0; section < 3; section++) {
    if (section === 2) additionalAt = offset;
    for (let i = 0; i < counts[section]!; i++) {
      const record = readRecord(bytes, offset);
      if (record === null) return null;
      offset = record.end;
      if (record.type === RRType.OPT) {
        opt = { start: record.start, end: record.end };
        continue;
      }
      ttlOffsets.push(record.ttlOffset);
      if (section === 0 || (section === 1 && rcode === RCode.NOERROR && counts[0] > 0)) minAnswerTtl = Math.min(minAnswerTtl, record.ttl);
      if (section === 1 && record.type === RRType.SOA && record.end - 4 >= record.rdataStart) {
        // RFC 2308 §5: a negative answer lives for the SOA's TTL or its MINIMUM, whichever is less.
        soaTtl = Math.min(record.ttl, bytes.readUInt32BE(record.end - 4));
      }
    }
  }
  let cache: UpstreamResponse['cache'] = null;
  if (rcode === RCode.NOERROR && counts[0] > 0 && minAnswerTtl !== Infinity) cache = { kind: 'positive', ttl: minAnswerTtl };
  else if ((rcode === RCode.NXDOMAIN || (rcode === RCode.NOERROR && counts[0] === 0)) && soaTtl !== null) cache = { kind: 'negative', ttl: soaTtl };
  return { bytes, rcode, truncated: (flags & Flag.TC) !== 0, questionEnd, ttlOffsets, opt, additionalAt, cache };
}
