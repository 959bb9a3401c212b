/**
 * The fast reader for incoming queries: the header, the one question and an OPT record, nothing
 * else. It never throws; it says whether to answer, answer FORMERR/NOTIMP, or drop.
 */
import { CLASSIC_UDP_LIMIT, Flag, HEADER_SIZE, OPCODE_QUERY, RCode, RRType } from './constants.ts';
import { decodeName } from './name.ts';
import { readRecord as skipRecord } from './record-walker.ts';

export interface Edns {
  /** The requestor's UDP payload size, already raised to at least 512 (RFC 6891 §6.2.5). */
  udpSize: number;
  version: number;
  dnssecOk: boolean;
}

export interface Query {
  id: number;
  /** The raw second header word, for echoing RD and CD. */
  flags: number;
  /** Lowercase, no trailing dot. */
  qname: string;
  qtype: number;
  qclass: number;
  /** Offset just past the question: bytes 12..questionEnd are echoed verbatim in the reply. */
  questionEnd: number;
  edns: Edns | null;
}

export type ParseResult =
  | { kind: 'query'; query: Query }
  /** Answer with this rcode, echoing the question when `questionEnd` is set. */
  | { kind: 'error'; id: number; flags: number; rcode: number; questionEnd: number; edns: Edns | null }
  | { kind: 'drop'; reason: string };

export function parseQuery(msg: Buffer): ParseResult {
  if (msg.length < HEADER_SIZE) return { kind: 'drop', reason: 'shorter than a header' };
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  // Never answer a response: that is how reflection loops between servers start.
  if (flags & Flag.QR) return { kind: 'drop', reason: 'a response, not a query' };
  const qdcount = msg.readUInt16BE(4);
  const ancount = msg.readUInt16BE(6);
  const nscount = msg.readUInt16BE(8);
  const arcount = msg.readUInt16BE(10);
  const opcode = (flags >> 11) & 0xf;
  const fail = (rcode: number, questionEnd = 0, edns: Edns | null = null): ParseResult => ({
    kind: 'error',
    id,
    flags,
    rcode,
    questionEnd,
    edns,
  });

  if (qdcount !== 1) return fail(opcode === OPCODE_QUERY ? RCode.FORMERR : RCode.NOTIMP);
  const question = decodeName(msg, HEADER_SIZE);
  if (question === null || question.end + 4 > msg.length) return fail(RCode.FORMERR);
  const questionEnd = question.end + 4;
  if (opcode !== OPCODE_QUERY) return fail(RCode.NOTIMP, questionEnd);

  let offset = questionEnd;
  for (let i = 0; i < ancount + nscount; i++) {
    const record = skipRecord(msg, offset);
    if (record === null) return fail(RCode.FORMERR, questionEnd);
    offset = record.end;
  }
  let edns: Edns | null = null;
  for (let i = 0; i < arcount; i++) {
    const record = skipRecord(msg, offset);
    if (record === null) return fail(RCode.FORMERR, questionEnd, edns);
    offset = record.end;
    if (record.type !== RRType.OPT) continue;
    // RFC 6891 §6.1.1: more than one OPT, or one not owned by the root, is a format error.
    if (edns !== null || !record.ownerIsRoot) return fail(RCode.FORMERR, questionEnd);
    edns = {
      udpSize: Math.max(record.class, CLASSIC_UDP_LIMIT),
      version: (record.ttl >>> 16) & 0xff,
      dnssecOk: (record.ttl & 0x8000) !== 0,
    };
  }
  if (edns !== null && edns.version > 0) return fail(RCode.BADVERS, questionEnd, edns);

  return {
    kind: 'query',
    query: {
      id,
      flags,
      qname: question.name,
      qtype: msg.readUInt16BE(question.end),
      qclass: msg.readUInt16BE(question.end + 2),
      questionEnd,
      edns,
    },
  };
}
