/**
 * Reading incoming queries: the header, the one question and an OPT record, nothing else.
 * `parseQuery` reads any packet and says whether to answer, answer FORMERR/NOTIMP, or drop;
 * `readCommonQuery` reads the usual shape without decoding the name, for repeat queries. Neither
 * throws.
 */
import { CLASSIC_UDP_LIMIT, Flag, HEADER_SIZE, OPCODE_QUERY, RCode, RRType } from './constants.ts';
import { decodeName } from './name.ts';
import { OPT_SIZE } from './header.ts';
import { readRecord as skipRecord } from './record-walker.ts';
import { randomBytes } from 'node:crypto';

export interface Edns {
  /** The requestor's UDP payload size, already raised to at least 512 (RFC 6891 §6.2.5). */
  udpSize: number;
  version: number;
  dnssecOk: boolean;
  /** Where the OPT record's options are in the query (RFC 6891 §6.1.2); absent when it has none. */
  optionsAt?: number;
  optionsEnd?: number;
}

/** The EDNS options a response carries in its OPT record (cookie, NSID), as the server decided them for this query. */
export interface ReplyOptions {
  replyOptions?: Buffer;
}

export interface Query extends ReplyOptions {
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
  | ({ kind: 'error'; id: number; flags: number; rcode: number; questionEnd: number; edns: Edns | null } & ReplyOptions)
  | { kind: 'drop'; reason: string };

/** The wire length of a decoded name written without compression (its dots stand for length bytes). */
function uncompressedLength(name: string): number {
  return name === '' ? 1 : name.length + 2;
}

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
  // The question is the first name: a pointer in it can only point into the header or into
  // itself. Echoing such a question would make a response no resolver can parse.
  if (question.end - HEADER_SIZE !== uncompressedLength(question.name)) return fail(RCode.FORMERR);
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
    if (record.end > record.rdataStart) {
      edns.optionsAt = record.rdataStart;
      edns.optionsEnd = record.end;
    }
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

/**
 * A query of the shape nearly every client sends, read without decoding its name: what a repeat
 * query needs to find its prepared answer. `key` hashes the lowercased question name and type.
 */
export interface CommonQuery extends ReplyOptions {
  id: number;
  flags: number;
  qtype: number;
  questionEnd: number;
  edns: Edns | null;
  key: number;
}

/** Where a query's question is: what `readCommonQuery` found. */
export type QuestionAt = Pick<CommonQuery, 'key' | 'questionEnd'>;

/** An ASCII letter's lowercase; any other byte as it is (what DNS compares case-insensitively). */
function lowerAscii(byte: number): number {
  return byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte;
}

/**
 * Per process, so nobody can pick names whose keys collide with a popular one's; the same in
 * every serving thread (adoptQuestionKeySeed), since they look answers up in one shared table.
 */
let keySeed = randomBytes(4).readUInt32BE(0);

/** This process's seed for question keys, for a serving worker to adopt. */
export function questionKeySeed(): number {
  return keySeed;
}

/** A serving worker takes the primary's seed before it reads any query. */
export function adoptQuestionKeySeed(seed: number): void {
  keySeed = seed >>> 0;
}
const FNV_PRIME = 16777619;

/**
 * The fast path's reader: one IN-class question with an uncompressed name, no answer or authority
 * records, and at most an EDNS version 0 OPT. Anything else (compressed or malformed names,
 * other classes and opcodes, more records) gives null and goes to `parseQuery`, which answers
 * every query this accepts exactly as this reads it.
 */
export function readCommonQuery(msg: Buffer): CommonQuery | null {
  const length = msg.length;
  // QR clear and opcode QUERY; QDCOUNT 1, ANCOUNT and NSCOUNT 0, ARCOUNT 0 or 1.
  if (length < HEADER_SIZE + 5 || ((msg[2] as number) & 0xf8) !== 0) return null;
  if (msg[4] !== 0 || msg[5] !== 1 || msg[6] !== 0 || msg[7] !== 0 || msg[8] !== 0 || msg[9] !== 0 || msg[10] !== 0 || (msg[11] as number) > 1) return null;
  let key = keySeed;
  let at = HEADER_SIZE;
  for (;;) {
    const label = msg[at] as number;
    if (label === 0) break;
    // Pointers and reserved label types: parseQuery's business.
    if (label > 63) return null;
    const next = at + 1 + label;
    if (next >= length) return null;
    key = Math.imul(key ^ label, FNV_PRIME);
    for (let i = at + 1; i < next; i++) key = Math.imul(key ^ lowerAscii(msg[i] as number), FNV_PRIME);
    at = next;
  }
  const nameEnd = at + 1;
  if (nameEnd - HEADER_SIZE > 255 || nameEnd + 4 > length) return null;
  if (msg[nameEnd + 2] !== 0 || msg[nameEnd + 3] !== 1) return null;
  const questionEnd = nameEnd + 4;
  key = Math.imul(key ^ (msg[nameEnd] as number), FNV_PRIME);
  key = Math.imul(key ^ (msg[nameEnd + 1] as number), FNV_PRIME);

  let edns: Edns | null = null;
  if (msg[11] === 1) {
    // The OPT record, owned by the root, whole, version 0 (others get BADVERS from parseQuery).
    if (questionEnd + OPT_SIZE > length || msg[questionEnd] !== 0 || msg[questionEnd + 1] !== 0 || msg[questionEnd + 2] !== RRType.OPT) return null;
    const optionsLength = msg.readUInt16BE(questionEnd + 9);
    if (questionEnd + OPT_SIZE + optionsLength > length || msg[questionEnd + 6] !== 0) return null;
    edns = { udpSize: Math.max(msg.readUInt16BE(questionEnd + 3), CLASSIC_UDP_LIMIT), version: 0, dnssecOk: ((msg[questionEnd + 7] as number) & 0x80) !== 0 };
    if (optionsLength > 0) {
      edns.optionsAt = questionEnd + OPT_SIZE;
      edns.optionsEnd = questionEnd + OPT_SIZE + optionsLength;
    }
  }
  // replyOptions from the start: the handler may set it, and the object keeps one shape.
  return { id: msg.readUInt16BE(0), flags: msg.readUInt16BE(2), qtype: msg.readUInt16BE(nameEnd), questionEnd, edns, key: key & 0x3fffffff, replyOptions: undefined };
}

/**
 * Whether the question of `msg` (name in any letter case, then type) is the one `stored` holds,
 * as `questionKey` wrote it.
 */
export function sameQuestion(msg: Buffer, questionEnd: number, stored: string): boolean {
  const nameEnd = questionEnd - 4;
  if (stored.length !== questionKeyLength(questionEnd)) return false;
  let i = 0;
  for (let at = HEADER_SIZE; at < nameEnd; at++, i++) if (lowerAscii(msg[at] as number) !== stored.charCodeAt(i)) return false;
  // The type's bytes are compared as they are: 0x41 in a type is no letter.
  return msg[nameEnd] === stored.charCodeAt(i) && msg[nameEnd + 1] === stored.charCodeAt(i + 1);
}

/** Room for the longest question: a 255-byte name and the type. */
const keyScratch = Buffer.alloc(257);

/** The length of a common query's question key: its name and type, as `writeQuestionKey` writes them. */
export function questionKeyLength(questionEnd: number): number {
  return questionEnd - 2 - HEADER_SIZE;
}

/** Writes the lowercased question name and the type of a common query at `into[at]`. */
export function writeQuestionKey(msg: Buffer, questionEnd: number, into: Uint8Array, at: number): void {
  const nameEnd = questionEnd - 4;
  for (let i = HEADER_SIZE; i < nameEnd; i++) into[at++] = lowerAscii(msg[i] as number);
  into[at] = msg[nameEnd] as number;
  into[at + 1] = msg[nameEnd + 1] as number;
}

/** Whether the question of `msg` is the one `writeQuestionKey` wrote at `stored[at]`, `length` bytes. */
export function sameQuestionBytes(msg: Buffer, questionEnd: number, stored: Uint8Array, at: number, length: number): boolean {
  const nameEnd = questionEnd - 4;
  if (length !== questionKeyLength(questionEnd)) return false;
  for (let i = HEADER_SIZE; i < nameEnd; i++, at++) if (lowerAscii(msg[i] as number) !== stored[at]) return false;
  return msg[nameEnd] === stored[at] && msg[nameEnd + 1] === stored[at + 1];
}

/**
 * The lowercased question name and the type of a common query, for `sameQuestion`, one byte per
 * character. A string rather than a Buffer: an answer cache keeps one per entry, and a Buffer's
 * object alone is about 100 bytes, the string 16 more than its bytes.
 */
export function questionKey(msg: Buffer, questionEnd: number): string {
  writeQuestionKey(msg, questionEnd, keyScratch, 0);
  return keyScratch.toString('latin1', 0, questionKeyLength(questionEnd));
}
