/**
 * EDNS options (RFC 6891 §6.1.2) in a query's OPT record: the ones lbdns answers, NSID (RFC 5001)
 * and COOKIE (RFC 7873), read from the query's bytes, and options written into a reply's OPT.
 * Only a query whose OPT carries options is read here; the walk is bounded by its RDATA, at most
 * 65535 bytes a datagram or message already holds.
 */
export const EdnsOption = {
  NSID: 3,
  COOKIE: 10,
} as const;

/** RFC 7873 §4: a client cookie alone is 8 bytes; with a server cookie (8 to 32 bytes), 16 to 40. */
export const CLIENT_COOKIE_SIZE = 8;
export const MAX_COOKIE_SIZE = 40;

/** An option's code and length before its data. */
export const OPTION_HEADER_SIZE = 4;

export interface QueryOptions {
  /** An NSID option (empty, as RFC 5001 §2.1 asks; lbdns answers any). */
  nsid: boolean;
  /** Offsets of the first COOKIE option's data in the message, or -1 when there is none. */
  cookieAt: number;
  cookieEnd: number;
}

/**
 * The options lbdns answers among the OPT RDATA at `at..end` of `msg`, or null when the RDATA is
 * malformed: an option running past it, or a COOKIE of a length RFC 7873 §5.2.2 calls a FORMERR.
 */
export function readQueryOptions(msg: Uint8Array, at: number, end: number): QueryOptions | null {
  const found: QueryOptions = { nsid: false, cookieAt: -1, cookieEnd: -1 };
  while (at < end) {
    if (at + OPTION_HEADER_SIZE > end) return null;
    const code = (msg[at]! << 8) | msg[at + 1]!;
    const length = (msg[at + 2]! << 8) | msg[at + 3]!;
    const dataAt = at + OPTION_HEADER_SIZE;
    if (dataAt + length > end) return null;
    if (code === EdnsOption.NSID) found.nsid = true;
    else if (code === EdnsOption.COOKIE) {
      if (length !== CLIENT_COOKIE_SIZE && (length < 2 * CLIENT_COOKIE_SIZE || length > MAX_COOKIE_SIZE)) return null;
      if (found.cookieAt < 0) {
        found.cookieAt = dataAt;
        found.cookieEnd = dataAt + length;
      }
    }
    at = dataAt + length;
  }
  return found;
}

/** Writes one option (code, length, data) at `at`; returns where it ends. */
export function writeOption(out: Uint8Array, at: number, code: number, data: Uint8Array): number {
  out[at] = code >>> 8;
  out[at + 1] = code & 0xff;
  out[at + 2] = data.length >>> 8;
  out[at + 3] = data.length & 0xff;
  out.set(data, at + OPTION_HEADER_SIZE);
  return at + OPTION_HEADER_SIZE + data.length;
}
