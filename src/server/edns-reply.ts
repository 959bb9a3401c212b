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
import { randomBytes } from 'node:crypto';
import { RCode } from '../wire/constants.ts';
import type { Edns } from '../wire/query.ts';
import { CLIENT_COOKIE_SIZE, EdnsOption, OPTION_HEADER_SIZE, readQueryOptions, writeOption } from '../wire/edns-options.ts';
import { clientAddressBytes } from '../net/cidr.ts';
import { siphash24Into } from '../util/siphash.ts';

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

/** The COOKIE option lbdns writes: its header, the client cookie and a server cookie. */
const COOKIE_OPTION_SIZE = OPTION_HEADER_SIZE + CLIENT_COOKIE_SIZE + SERVER_COOKIE_SIZE;

export class EdnsReplies {
  private readonly nsid: Buffer;
  private readonly cookies: boolean;
  private readonly strict: boolean;
  private readonly secret: Buffer;
  private readonly now: () => number;
  /** Client cookie | version | reserved | timestamp | address (up to 16 bytes): what the hash covers. */
  private readonly hashInput = Buffer.alloc(CLIENT_COOKIE_SIZE + 8 + 16);
  /** The hash of a server cookie a client sent, to compare. */
  private readonly digest = Buffer.alloc(8);
  /** The last client's address, as text and bytes: a resolver sends many queries in a row. */
  private lastClient = '';
  private lastAddress: Uint8Array = new Uint8Array(0);

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

    const options = Buffer.allocUnsafe((cookie ? COOKIE_OPTION_SIZE : 0) + (nsid ? OPTION_HEADER_SIZE + this.nsid.length : 0));
    let rcode: number | null = null;
    let at = 0;
    if (cookie) {
      const valid = this.writeCookie(msg, found.cookieAt, found.cookieEnd, client, options);
      // RFC 7873 §5.2.3/5.2.4: a server that insists answers BADCOOKIE with a cookie to retry with; over TCP it need not insist.
      if (!valid && this.strict && transport === 'udp') rcode = RCode.BADCOOKIE;
      at = COOKIE_OPTION_SIZE;
    }
    if (nsid) writeOption(options, at, EdnsOption.NSID, this.nsid);
    return { options, rcode };
  }

  /**
   * Writes the COOKIE option for the response at the start of `out`: the client cookie with the
   * server cookie it sent, when that is good and not yet half its life old; else with a new one.
   * Returns whether the client sent a good one.
   */
  private writeCookie(msg: Buffer, at: number, end: number, client: string, out: Buffer): boolean {
    out[0] = 0;
    out[1] = EdnsOption.COOKIE;
    out[2] = 0;
    out[3] = CLIENT_COOKIE_SIZE + SERVER_COOKIE_SIZE;
    for (let i = 0; i < CLIENT_COOKIE_SIZE; i++) out[OPTION_HEADER_SIZE + i] = msg[at + i]!;
    const serverAt = OPTION_HEADER_SIZE + CLIENT_COOKIE_SIZE;
    const address = this.addressOf(client);
    const now = this.now() >>> 0;
    let valid = false;
    if (end - at - CLIENT_COOKIE_SIZE === SERVER_COOKIE_SIZE && msg[at + CLIENT_COOKIE_SIZE] === COOKIE_VERSION) {
      const sentAt = at + CLIENT_COOKIE_SIZE;
      const stamp = msg.readUInt32BE(sentAt + 4);
      // Serial-number arithmetic (RFC 1982), as RFC 9018 §4.3 asks: the clock may wrap.
      const age = (now - stamp) | 0;
      if (age <= COOKIE_LIFETIME_SECONDS && age >= -COOKIE_FUTURE_SECONDS) {
        this.hash(msg, at, msg, sentAt, address, this.digest, 0);
        // Compared in constant time: how far a guess matched must not show.
        let difference = 0;
        for (let i = 0; i < 8; i++) difference |= this.digest[i]! ^ msg[sentAt + 8 + i]!;
        valid = difference === 0;
        if (valid && age < COOKIE_REFRESH_SECONDS) {
          for (let i = 0; i < SERVER_COOKIE_SIZE; i++) out[serverAt + i] = msg[sentAt + i]!;
          return true;
        }
      }
    }
    // A new server cookie: version 1, reserved zero, stamped now.
    out[serverAt] = COOKIE_VERSION;
    out[serverAt + 1] = 0;
    out[serverAt + 2] = 0;
    out[serverAt + 3] = 0;
    out.writeUInt32BE(now, serverAt + 4);
    this.hash(msg, at, out, serverAt, address, out, serverAt + 8);
    return valid;
  }

  /** SipHash of the client cookie at `cookieAt` of `msg` and the server cookie's first 8 bytes at `serverAt` of `server`, written to `out` at `outAt`. */
  private hash(msg: Buffer, cookieAt: number, server: Uint8Array, serverAt: number, address: Uint8Array, out: Uint8Array, outAt: number): void {
    const input = this.hashInput;
    for (let i = 0; i < CLIENT_COOKIE_SIZE; i++) input[i] = msg[cookieAt + i]!;
    for (let i = 0; i < 8; i++) input[CLIENT_COOKIE_SIZE + i] = server[serverAt + i]!;
    input.set(address, CLIENT_COOKIE_SIZE + 8);
    siphash24Into(this.secret, input, CLIENT_COOKIE_SIZE + 8 + address.length, out, outAt);
  }

  private addressOf(client: string): Uint8Array {
    if (client !== this.lastClient) {
      this.lastAddress = clientAddressBytes(client) ?? new Uint8Array(0);
      this.lastClient = client;
    }
    return this.lastAddress;
  }
}
