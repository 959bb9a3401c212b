/** Turns records into the prepared form: bytes encoded once, compressed against the question. */
import { RCode, RRType } from '../wire/constants.ts';
import { layoutAnswer } from '../wire/message.ts';
import { encodeName, encodeNameAgainst } from '../wire/name.ts';
import { encodeRecord, rdata } from '../wire/records.ts';
import { ipFamily } from '../net/ip.ts';
import type { RecordGlue } from '../wire/record-glue.ts';
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

/** What an SRV record is made from: a target name, a port (-1: none), and one of the target's addresses. */
export interface SrvSource {
  name: string;
  port: number;
  ip: string;
}

/** The parts of an SRV answer, before the records themselves are encoded (their weights are the caller's). */
export interface SrvTargets<T> {
  /** One item per (target, port), ports only, first seen first: each becomes an SRV record. */
  targets: T[];
  /** The targets' address records (RFC 2782 additional data): one per (target, address). */
  glue: Buffer[];
  /** Which of `glue` belongs to each of `targets`. */
  glueOf: RecordGlue;
}

/**
 * SRV records' targets and their glue, from entries of one name: an entry without a port makes
 * no record and no glue; a target listed with several ports or addresses makes one record per
 * port and one address record per address.
 */
export function srvTargets<T>(encoder: RecordEncoder, items: readonly T[], sourceOf: (item: T) => SrvSource, ttl: number): SrvTargets<T> {
  const targets: T[] = [];
  const glue: Buffer[] = [];
  const seenRecords = new Set<string>();
  const glueAt = new Map<string, number>();
  const glueByTarget = new Map<string, number[]>();
  for (const item of items) {
    const { name, port, ip } = sourceOf(item);
    if (port < 0) continue;
    const recordKey = `${name} ${port}`;
    if (!seenRecords.has(recordKey)) {
      seenRecords.add(recordKey);
      targets.push(item);
    }
    const glueKey = `${name} ${ip}`;
    if (!glueAt.has(glueKey)) {
      glueAt.set(glueKey, glue.length);
      const ofTarget = glueByTarget.get(name);
      if (ofTarget) ofTarget.push(glue.length);
      else glueByTarget.set(name, [glue.length]);
      glue.push(encoder.address(name, ip, ttl));
    }
  }
  const start = new Uint32Array(targets.length + 1);
  const index: number[] = [];
  for (const [i, item] of targets.entries()) {
    start[i] = index.length;
    for (const at of glueByTarget.get(sourceOf(item).name) ?? []) index.push(at);
  }
  start[targets.length] = index.length;
  return { targets, glue, glueOf: { start, index: Uint32Array.from(index), additional: glue } };
}

export function positive(answers: Buffer[], additional: Buffer[] = [], balancedFrom = 0, plan: BalancePlan | null = null): PreparedAnswer {
  const layout = layoutAnswer(answers, balancedFrom, additional, plan === null);
  return { rcode: RCode.NOERROR, authoritative: true, answers, balancedFrom, plan, authority: [], additional, layout };
}

/** NODATA (NOERROR, no answers) or NXDOMAIN, with the zone's SOA for negative caching (RFC 2308). */
export function negative(rcode: number, soa: Buffer): PreparedAnswer {
  return { rcode, authoritative: true, answers: [], balancedFrom: 0, plan: null, authority: [soa], additional: [], layout: null };
}
