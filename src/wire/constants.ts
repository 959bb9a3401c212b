/** DNS numbers from RFC 1035, 3596, 2782, 6891, 8482 and those RFC 3597 §4 lists as carrying names, named as the RFCs name them. */

export const RRType = {
  A: 1,
  NS: 2,
  MD: 3,
  MF: 4,
  CNAME: 5,
  SOA: 6,
  MB: 7,
  MG: 8,
  MR: 9,
  PTR: 12,
  HINFO: 13,
  MINFO: 14,
  MX: 15,
  TXT: 16,
  RP: 17,
  AFSDB: 18,
  RT: 21,
  PX: 26,
  AAAA: 28,
  SRV: 33,
  KX: 36,
  DNAME: 39,
  OPT: 41,
  DS: 43,
  RRSIG: 46,
  NSEC: 47,
  NSEC3: 50,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

export const RCode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** Extended rcode (RFC 6891): its upper 8 bits travel in the OPT record. */
  BADVERS: 16,
  /** RFC 7873 §8: the server cookie is missing or bad (extended, as BADVERS). */
  BADCOOKIE: 23,
} as const;

export const OPCODE_QUERY = 0;
export const CLASS_IN = 1;
/** CHAOS: lbdns answers TXT in it for a Service name, explaining the answer (resolve/explain.ts). */
export const CLASS_CH = 3;
export const CLASS_ANY = 255;

export const HEADER_SIZE = 12;
/** The question name always starts right after the header, so a pointer to it is constant. */
export const QUESTION_NAME_OFFSET = 12;
/** RFC 1035 §4.2.1: the UDP payload limit for clients that send no EDNS. */
export const CLASSIC_UDP_LIMIT = 512;

/** Header flag bits of the second 16-bit word. */
export const Flag = {
  QR: 0x8000,
  AA: 0x0400,
  TC: 0x0200,
  RD: 0x0100,
  RA: 0x0080,
  AD: 0x0020,
  CD: 0x0010,
} as const;

const typeNames = new Map<number, string>(Object.entries(RRType).map(([name, code]) => [code, name]));
export function typeName(type: number): string {
  return typeNames.get(type) ?? `TYPE${type}`;
}

const rcodeNames = new Map<number, string>(Object.entries(RCode).map(([name, code]) => [code, name]));
export function rcodeName(rcode: number): string {
  return rcodeNames.get(rcode) ?? `RCODE${rcode}`;
}
