/**
 * Records taken out of one message to be put into another: owner names and the names inside
 * well-known RDATA (RFC 3597 §4) are decompressed and encoded again, so no pointer refers to the
 * message they came from.
 */
import { RRType } from './constants.ts';
import { decodeName, encodeName as encodeInFull } from './name.ts';
import { encodeRecord } from './records.ts';
import { readRecord } from './record-walker.ts';

/**
 * RDATA layouts with names: bytes before the first name, number of names in a row, and whether
 * they may be compressed. RFC 3597 §4: only RFC 1035's own types may be; names in the others
 * (SRV, DNAME, RRSIG's signer, NSEC's next name, ...) are read through any pointer a sender
 * used anyway, but always written out in full.
 */
export const NAMES_IN_RDATA: Record<number, { before: number; names: number; compress: boolean }> = {
  [RRType.NS]: { before: 0, names: 1, compress: true },
  [RRType.MD]: { before: 0, names: 1, compress: true },
  [RRType.MF]: { before: 0, names: 1, compress: true },
  [RRType.CNAME]: { before: 0, names: 1, compress: true },
  [RRType.SOA]: { before: 0, names: 2, compress: true },
  [RRType.MB]: { before: 0, names: 1, compress: true },
  [RRType.MG]: { before: 0, names: 1, compress: true },
  [RRType.MR]: { before: 0, names: 1, compress: true },
  [RRType.PTR]: { before: 0, names: 1, compress: true },
  [RRType.MINFO]: { before: 0, names: 2, compress: true },
  [RRType.MX]: { before: 2, names: 1, compress: true },
  [RRType.RP]: { before: 0, names: 2, compress: false },
  [RRType.AFSDB]: { before: 2, names: 1, compress: false },
  [RRType.RT]: { before: 2, names: 1, compress: false },
  [RRType.PX]: { before: 2, names: 2, compress: false },
  [RRType.SRV]: { before: 6, names: 1, compress: false },
  [RRType.KX]: { before: 2, names: 1, compress: false },
  [RRType.DNAME]: { before: 0, names: 1, compress: false },
  [RRType.RRSIG]: { before: 18, names: 1, compress: false },
  [RRType.NSEC]: { before: 0, names: 1, compress: false },
};

export interface RelocatedRecord {
  type: number;
  owner: string;
  bytes: Buffer;
}

/**
 * `count` records from `offset` in `msg`, re-encoded with `encodeName` for every name; null when
 * a record is malformed.
 */
export function relocateRecords(msg: Buffer, offset: number, count: number, encodeName: (name: string) => Buffer, encodeRdataName: (name: string) => Buffer): { records: RelocatedRecord[]; end: number } | null {
  const records: RelocatedRecord[] = [];
  for (let i = 0; i < count; i++) {
    const record = readRecord(msg, offset);
    if (record === null) return null;
    offset = record.end;
    if (record.type === RRType.OPT) continue;
    let rdata = msg.subarray(record.rdataStart, record.end);
    const layout = NAMES_IN_RDATA[record.type];
    if (layout) {
      const parts: Buffer[] = [msg.subarray(record.rdataStart, record.rdataStart + layout.before)];
      let at = record.rdataStart + layout.before;
      for (let n = 0; n < layout.names; n++) {
        const name = decodeName(msg, at);
        if (name === null) return null;
        parts.push(layout.compress ? encodeRdataName(name.name) : encodeInFull(name.name));
        at = name.end;
      }
      parts.push(msg.subarray(at, record.end));
      rdata = Buffer.concat(parts);
    }
    records.push({ type: record.type, owner: record.owner, bytes: encodeRecord(encodeName(record.owner), record.type, record.ttl, rdata) });
  }
  return { records, end: offset };
}

/**
 * The answer records of an upstream response, re-encoded for a response whose question is
 * `questionName` (names compressed against it only); null when there are none or they are malformed.
 */
export function answerRecordsFor(response: { bytes: Buffer; questionEnd: number }, questionName: string, encodeAgainst: (name: string, question: string) => Buffer): Buffer[] | null {
  const count = response.bytes.readUInt16BE(6);
  if (count === 0) return null;
  const relocated = relocateRecords(response.bytes, response.questionEnd, count, (owner) => encodeAgainst(owner, questionName), (target) => encodeAgainst(target, questionName));
  return relocated && relocated.records.length > 0 ? relocated.records.map((r) => r.bytes) : null;
}
