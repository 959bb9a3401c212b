/**
 * Search-path relief, as CoreDNS's autopath: a pod with ndots:5 asks `name.<its ns>.svc.<zone>`
 * first. When that does not exist, lbdns walks the rest of the search path itself
 * (`name.svc.<zone>`, `name.<zone>`, then `name` upstream) and answers the first query with a
 * CNAME to the name that resolves plus its records, saving the pod its other queries. It needs
 * the client's namespace, so it works with pods: verified.
 */
import { RCode, RRType } from '../wire/constants.ts';
import { encodeNameAgainst } from '../wire/name.ts';
import type { Query } from '../wire/query.ts';
import { encodeRecord } from '../wire/records.ts';
import { answerRecordsFor } from '../wire/relocate.ts';
import { bytesToIp } from '../net/ip.ts';
import { clientAddressBytes } from '../net/cidr.ts';
import type { ClusterView } from '../view/cluster-view.ts';
import type { Forwarder } from '../forward/forwarder.ts';
import type { PreparedAnswer, Router } from './answer.ts';

export class Autopath {
  private readonly view: ClusterView;
  private readonly router: Router;
  private readonly forwarder: Forwarder | null;
  private readonly ttl: number;

  constructor(view: ClusterView, router: Router, forwarder: Forwarder | null, ttl: number) {
    this.view = view;
    this.router = router;
    this.forwarder = forwarder;
    this.ttl = ttl;
  }

  /**
   * The answer for the search-path name that resolves; null when the query is not one or nothing
   * resolves. The last candidate goes upstream only when `mayAskUpstream` (the client is allowed recursion).
   */
  attempt(query: Query, zone: string, client: string, mayAskUpstream: boolean): PreparedAnswer | Promise<PreparedAnswer | null> | null {
    const bytes = clientAddressBytes(client);
    const namespace = bytes ? this.view.podsByIp(bytesToIp(bytes))[0]?.namespace : undefined;
    if (!namespace) return null;
    const suffix = `.${namespace}.svc.${zone}`;
    if (!query.qname.endsWith(suffix)) return null;
    const base = query.qname.slice(0, -suffix.length);
    for (const candidate of [`${base}.svc.${zone}`, `${base}.${zone}`]) {
      const { answer } = this.router.route(candidate, query.qtype, query.qname);
      if ('answers' in answer && answer.rcode === RCode.NOERROR && answer.answers.length > 0) {
        return { ...answer, answers: [this.cname(query.qname, candidate), ...answer.answers], balancedFrom: answer.balancedFrom + 1 };
      }
    }
    if (!this.forwarder || !mayAskUpstream || !base.includes('.')) return null;
    // A base inside a served zone (`x.cluster.local`) was answered above, not upstream.
    if (!('forward' in this.router.route(base, query.qtype).answer)) return null;
    return this.upstream(query, base, client);
  }

  private cname(qname: string, target: string): Buffer {
    return encodeRecord(encodeNameAgainst(qname, qname), RRType.CNAME, this.ttl, encodeNameAgainst(target, qname));
  }

  private async upstream(query: Query, name: string, client: string): Promise<PreparedAnswer | null> {
    const response = await this.forwarder!.lookupName(name, query.qtype, query.edns?.dnssecOk ?? false, client);
    if (!response || response.rcode !== RCode.NOERROR) return null;
    const records = answerRecordsFor(response, query.qname, encodeNameAgainst);
    if (records === null) return null;
    return { rcode: RCode.NOERROR, authoritative: false, answers: [this.cname(query.qname, name), ...records], balancedFrom: 1 + records.length, plan: null, authority: [], additional: [] };
  }
}
