/**
 * The EDNS options lbdns answers, per query: DNS cookies (RFC 7873, server cookies as RFC 9018
 * makes them) and NSID (RFC 5001). Only a query whose OPT record carries options comes here; the
 * reply's options are written for that one query (never cached: a cookie is one client's).
 *
 * A server cookie is version 1, three reserved bytes, a timestamp and SipHash-2-4 of the client
 * cookie, those eight bytes and the client's address under this process's secret. The secret is
 * made once per process and given to every serving worker, so any worker accepts the cookies
 * another minted. Replicas (pods) have their own: a client moved to another replica is simply
 * given a new cookie, since lbdns asks for none unless `cookies.strict` is set.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { RCode } from '../wire/constants.ts';
import type { Edns } from '../wire/query.ts';
import { CLIENT_COOKIE_SIZE, EdnsOption, OPTION_HEADER_SIZE, readQueryOptions, writeOption } from '../wire/edns-options.ts';
import { clientAddressBytes } from '../net/cidr.ts';
import { siphash24 } from '../util/siphash.ts';

export const COOKIE_SECRET_SIZE = 16;

let processSecret: Buffer | null = null;

/** This process's cookie secret: made at first use (in the primary thread), adopted by workers. */
export function cookieSecret(): Buffer {
  return (processSecret ??= randomBytes(COOKIE_SECRET_SIZE));
}

/** A serving worker takes the primary's secret before it answers anything. */
export function adoptCookieSecret(secret: Uint8Array): void {
  if (secret.length !== COOKIE_SECRET_SIZE) throw new RangeError(`a cookie secret has ${COOKIE_SECRET_SIZE} bytes, not ${secret.length}`);
  processSecret = Buffer.from(secret);
}

/** RFC 9018 §4.3: a server cookie is good for an hour, minted up to 5 minutes "in the future" (clock skew among servers). */
const COOKIE_LIFETIME_SECONDS = 3600;
const COOKIE_FUTURE_SECONDS = 300;
/** After half its life, a good cookie is answered with a fresh one. */
const COOKIE_REFRESH_SECONDS = 1800;
/** RFC 9018 server cookie: version, reserved (3), timestamp (4), hash (8). */
const SERVER_COOKIE_SIZE = 16;
const COOKIE_VERSION = 1;

export interface EdnsReplySettings {
  /** The NSID to answer with; '' answers none. */
  nsid: string;
  cookies: { enabled: boolean; strict: boolean };
}

/** What the options of one query make of its response. */
export interface EdnsReply {
  /** The options for the response's OPT record, if any. */
  options: Buffer | undefined;
  /** An rcode that replaces the answer: FORMERR for malformed options, BADCOOKIE (strict). */
  rcode: number | null;
}

const NO_REPLY: EdnsReply = { options: undefined, rcode: null };
const FORMAT_ERROR: EdnsReply = { options: undefined, rcode: RCode.FORMERR };

export class EdnsReplies {
  private readonly nsid: Buffer;
  private readonly cookies: boolean;
  private readonly strict: boolean;
  private readonly secret: Buffer;
  private readonly now: () => number;
  /** Client cookie | version | reserved | timestamp | address (up to 16 bytes): what the hash covers. */
  private readonly hashInput = Buffer.alloc(CLIENT_COOKIE_SIZE + 8 + 16);

  constructor(settings: EdnsReplySettings, secret: Buffer = cookieSecret(), now: () => number = () => Math.floor(Date.now() / 1000)) {
    this.nsid = Buffer.from(settings.nsid, 'utf8');
    this.cookies = settings.cookies.enabled;
    this.strict = settings.cookies.strict;
    this.secret = secret;
    this.now = now;
  }

  /** The reply to the options of `edns` (those at its optionsAt..optionsEnd in `msg`), for `client` over `transport`. */
  reply(msg: Buffer, edns: Edns, client: string, transport: 'udp' | 'tcp'): EdnsReply {
    if (edns.optionsAt === undefined || edns.optionsEnd === undefined) return NO_REPLY;
    const found = readQueryOptions(msg, edns.optionsAt, edns.optionsEnd);
    if (found === null) return FORMAT_ERROR;
    const nsid = found.nsid && this.nsid.length > 0;
    const cookie = found.cookieAt >= 0 && this.cookies;
    if (!nsid && !cookie) return NO_REPLY;

    let cookieBytes: Buffer | null = null;
    let rcode: number | null = null;
    if (cookie) {
      const { bytes, valid } = this.serverCookie(msg, found.cookieAt, found.cookieEnd, client);
      cookieBytes = bytes;
      // RFC 7873 §5.2.3/5.2.4: a server that insists answers BADCOOKIE with a cookie to retry with; over TCP it need not insist.
      if (!valid && this.strict && transport === 'udp') rcode = RCode.BADCOOKIE;
    }
    const length = (cookieBytes ? OPTION_HEADER_SIZE + cookieBytes.length : 0) + (nsid ? OPTION_HEADER_SIZE + this.nsid.length : 0);
    const options = Buffer.allocUnsafe(length);
    let at = 0;
    if (cookieBytes) at = writeOption(options, at, EdnsOption.COOKIE, cookieBytes);
    if (nsid) writeOption(options, at, EdnsOption.NSID, this.nsid);
    return { options, rcode };
  }

  /**
   * The COOKIE option's data for the response: the client cookie with the server cookie it sent,
   * when that is good and not yet half its life old; else with a new one. `valid`: it sent a
   * good one.
   */
  private serverCookie(msg: Buffer, at: number, end: number, client: string): { bytes: Buffer; valid: boolean } {
    const address = clientAddressBytes(client) ?? new Uint8Array(0);
    const now = this.now() >>> 0;
    const sent = end - at - CLIENT_COOKIE_SIZE;
    if (sent === SERVER_COOKIE_SIZE && msg[at + CLIENT_COOKIE_SIZE] === COOKIE_VERSION) {
      const stampAt = at + CLIENT_COOKIE_SIZE + 4;
      const stamp = msg.readUInt32BE(stampAt);
      // Serial-number arithmetic (RFC 1982), as RFC 9018 §4.3 asks: the clock may wrap.
      const age = (now - stamp) | 0;
      if (age <= COOKIE_LIFETIME_SECONDS && age >= -COOKIE_FUTURE_SECONDS) {
        const hash = this.hash(msg, at, stamp, msg.subarray(at + CLIENT_COOKIE_SIZE + 1, stampAt), address);
        if (timingSafeEqual(hash, msg.subarray(stampAt + 4, end))) {
          if (age < COOKIE_REFRESH_SECONDS) return { bytes: Buffer.from(msg.subarray(at, end)), valid: true };
          return { bytes: this.mint(msg, at, now, address), valid: true };
        }
      }
    }
    return { bytes: this.mint(msg, at, now, address), valid: false };
  }

  /** The client cookie at `at` with a new server cookie stamped `now`. */
  private mint(msg: Buffer, at: number, now: number, address: Uint8Array): Buffer {
    const out = Buffer.alloc(CLIENT_COOKIE_SIZE + SERVER_COOKIE_SIZE);
    msg.copy(out, 0, at, at + CLIENT_COOKIE_SIZE);
    out[CLIENT_COOKIE_SIZE] = COOKIE_VERSION;
    out.writeUInt32BE(now, CLIENT_COOKIE_SIZE + 4);
    this.hash(msg, at, now, out.subarray(CLIENT_COOKIE_SIZE + 1, CLIENT_COOKIE_SIZE + 4), address).copy(out, CLIENT_COOKIE_SIZE + 8);
    return out;
  }

  private hash(msg: Buffer, at: number, stamp: number, reserved: Uint8Array, address: Uint8Array): Buffer {
    const input = this.hashInput;
    msg.copy(input, 0, at, at + CLIENT_COOKIE_SIZE);
    input[CLIENT_COOKIE_SIZE] = COOKIE_VERSION;
    input.set(reserved, CLIENT_COOKIE_SIZE + 1);
    input.writeUInt32BE(stamp, CLIENT_COOKIE_SIZE + 4);
    input.set(address, CLIENT_COOKIE_SIZE + 8);
    return siphash24(this.secret, input.subarray(0, CLIENT_COOKIE_SIZE + 8 + address.length));
  }
}
