/**
 * Static answers from hosts entries (CoreDNS's hosts plugin): A and AAAA for the names listed,
 * PTR for their addresses, NODATA for other types of a listed name; anything else goes on to the
 * zones and upstream. Built once per settings version; a query costs one map lookup.
 */
import { RCode, RRType } from '../wire/constants.ts';
import { ipFamily } from '../net/ip.ts';
import type { HostsEntry } from '../settings/hosts-file.ts';
import type { PreparedAnswer } from './answer.ts';
import { RecordEncoder, positive } from './answer-builder.ts';
import { addressFromReverseName } from './reverse-name.ts';

interface Addresses {
  v4: string[];
  v6: string[];
}

export class HostsAnswers {
  private readonly byName = new Map<string, Addresses>();
  private readonly byAddress = new Map<string, string[]>();
  private readonly ttl: number;
  private readonly reverse: boolean;

  constructor(entries: HostsEntry[], ttl: number, reverse: boolean) {
    this.ttl = ttl;
    this.reverse = reverse;
    for (const { address, names } of entries) {
      for (const name of names) {
        const addresses = this.byName.get(name) ?? { v4: [], v6: [] };
        const list = ipFamily(address) === 4 ? addresses.v4 : addresses.v6;
        if (!list.includes(address)) list.push(address);
        this.byName.set(name, addresses);
        const reverseNames = this.byAddress.get(address) ?? [];
        if (!reverseNames.includes(name)) reverseNames.push(name);
        this.byAddress.set(address, reverseNames);
      }
    }
  }

  get size(): number {
    return this.byName.size;
  }

  /** The answer for a listed name or address; null: not listed, let the zones and upstream answer. */
  answer(qname: string, qtype: number): PreparedAnswer | null {
    const encoder = (): RecordEncoder => new RecordEncoder(qname);
    if (qtype === RRType.PTR && this.reverse) {
      const address = addressFromReverseName(qname);
      const names = address === null ? undefined : this.byAddress.get(address);
      if (names) {
        const e = encoder();
        // In the order listed: the first name is the canonical one (hosts(5)).
        return positive(names.map((name) => e.nameRecord(qname, RRType.PTR, name, this.ttl)), [], names.length);
      }
    }
    const addresses = this.byName.get(qname);
    if (!addresses) return null;
    const e = encoder();
    const list = qtype === RRType.A ? addresses.v4 : qtype === RRType.AAAA ? addresses.v6 : [];
    if (list.length === 0) return { rcode: RCode.NOERROR, authoritative: true, answers: [], balancedFrom: 0, plan: null, authority: [], additional: [], layout: null };
    return positive(list.map((ip) => e.address(qname, ip, this.ttl)));
  }
}
