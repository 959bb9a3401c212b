/** Turns records into the prepared form: bytes encoded once, compressed against the question. */
import { RCode, RRType } from '../wire/constants.ts';
import { layoutAnswer } from '../wire/message.ts';
import { encodeName, encodeNameAgainst } from '../wire/name.ts';
import { encodeRecord, rdata } from '../wire/records.ts';
import { ipFamily } from '../net/ip.ts';
import type { BalancePlan } from '../balance/plan.ts';
import type { PreparedAnswer } from './answer.ts';

/** Record encoders bound to one question name, so every owner and target can point into it. */
export class RecordEncoder {
  readonly qname: string;
  constructor(qname: string) {
    this.qname = qname;
  }

  name(name: string): Buffer {
    return encodeNameAgainst(name, this.qname);
  }

  address(owner: string, ip: string, ttl: number): Buffer {
    return ipFamily(ip) === 4
      ? encodeRecord(this.name(owner), RRType.A, ttl, rdata.a(ip))
      : encodeRecord(this.name(owner), RRType.AAAA, ttl, rdata.aaaa(ip));
  }

  /** A record whose data is one name (CNAME, PTR, NS), compressed: RFC 3597 §4 allows it for these types. */
  nameRecord(owner: string, type: number, target: string, ttl: number): Buffer {
    return encodeRecord(this.name(owner), type, ttl, rdata.name(this.name(target)));
  }

  /** SRV targets are never compressed (RFC 2782). */
  srv(owner: string, priority: number, weight: number, port: number, target: string, ttl: number): Buffer {
    return encodeRecord(this.name(owner), RRType.SRV, ttl, rdata.srv(priority, weight, port, encodeName(target)));
  }

  txt(owner: string, strings: string[], ttl: number): Buffer {
    return encodeRecord(this.name(owner), RRType.TXT, ttl, rdata.txt(strings));
  }

  /** RFC 8482 §4.2: the one record an ANY query gets, instead of everything the name has. */
  anyRefusal(owner: string, ttl: number): Buffer {
    return encodeRecord(this.name(owner), RRType.HINFO, ttl, rdata.txt(['RFC8482', '']));
  }

  soa(zone: string, serial: number, ttl: number): Buffer {
    const body = rdata.soa(this.name(`ns.dns.${zone}`), this.name(`hostmaster.${zone}`), serial, 7200, 1800, 86400, ttl);
    return encodeRecord(this.name(zone), RRType.SOA, Math.min(ttl, 300), body);
  }
}

export function positive(answers: Buffer[], additional: Buffer[] = [], balancedFrom = 0, plan: BalancePlan | null = null): PreparedAnswer {
  const layout = layoutAnswer(answers, balancedFrom, additional, plan === null);
  return { rcode: RCode.NOERROR, authoritative: true, answers, balancedFrom, plan, authority: [], additional, layout };
}

/** NODATA (NOERROR, no answers) or NXDOMAIN, with the zone's SOA for negative caching (RFC 2308). */
export function negative(rcode: number, soa: Buffer): PreparedAnswer {
  return { rcode, authoritative: true, answers: [], balancedFrom: 0, plan: null, authority: [soa], additional: [], layout: null };
}
