/** Walking resource records in a message without decoding their data. */
import { decodeName } from './name.ts';

export interface RecordPosition {
  /** Lowercase owner name. */
  owner: string;
  ownerIsRoot: boolean;
  type: number;
  class: number;
  ttl: number;
  /** Where the 32-bit TTL sits, for rewriting it in place. */
  ttlOffset: number;
  rdataStart: number;
  /** Offset just past the record. */
  end: number;
  start: number;
}

/** The record starting at `offset`, or null when it runs past the message or its name is malformed. */
export function readRecord(msg: Buffer, offset: number): RecordPosition | null {
  const owner = decodeName(msg, offset);
  if (owner === null || owner.end + 10 > msg.length) return null;
  const at = owner.end;
  const rdlength = msg.readUInt16BE(at + 8);
  const end = at + 10 + rdlength;
  if (end > msg.length) return null;
  return {
    owner: owner.name,
    ownerIsRoot: owner.name === '',
    type: msg.readUInt16BE(at),
    class: msg.readUInt16BE(at + 2),
    ttl: msg.readUInt32BE(at + 4),
    ttlOffset: at + 4,
    rdataStart: at + 10,
    end,
    start: offset,
  };
}
