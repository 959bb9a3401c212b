/**
 * Named offsets of the DNS header and the OPT pseudo-record (RFC 1035 §4.1.1, RFC 6891 §6.1.2),
 * so no other module spells out which byte holds what.
 */
import { RRType } from './constants.ts';

/** The OPT record lbdns writes: root owner (1), type (2), UDP size (2), extended rcode (1), version (1), flags (2), empty RDATA length (2). */
export const OPT_SIZE = 11;

/** The response code in a message's header (its low four bits; EDNS extends it in the OPT record). */
export function headerRcode(message: Buffer): number {
  return message[3]! & 0xf;
}

// Direct byte stores: Buffer's writeUInt16BE checks its arguments on every call, which showed in
// profiles of the per-query path.
export function put16(out: Buffer, at: number, value: number): void {
  out[at] = value >>> 8;
  out[at + 1] = value & 0xff;
}

/**
 * An OPT record at `at`, advertising `udpSize`, with DO echoed (RFC 3225 §3), the rcode's
 * upper bits in the extended rcode, and `options` (encoded EDNS options) as its RDATA; returns
 * where it ends (OPT_SIZE + the options' length on).
 */
export function writeOpt(out: Buffer, at: number, udpSize: number, dnssecOk: boolean, rcode = 0, options?: Uint8Array): number {
  out[at] = 0;
  put16(out, at + 1, RRType.OPT);
  put16(out, at + 3, udpSize);
  out[at + 5] = (rcode >> 4) & 0xff;
  out[at + 6] = 0;
  put16(out, at + 7, dnssecOk ? 0x8000 : 0);
  if (options === undefined) {
    put16(out, at + 9, 0);
    return at + OPT_SIZE;
  }
  put16(out, at + 9, options.length);
  out.set(options, at + OPT_SIZE);
  return at + OPT_SIZE + options.length;
}
