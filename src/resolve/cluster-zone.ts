/**
 * Answers for names under a cluster zone, per query type, from the entries a name stands for.
 * Follows CoreDNS's kubernetes plugin; the few places that differ are listed in docs/behaviour.md.
 */
import { RCode, RRType } from '../wire/constants.ts';
import { isAtOrBelow, splitLabels } from '../wire/name.ts';
import { ipFamily } from '../net/ip.ts';
import { RecordEncoder, negative, positive } from './answer-builder.ts';
import { type AnswerScope, GLOBAL_SCOPE, type PreparedAnswer } from './answer.ts';
import { type ClusterRequest, endpointHostname, parseClusterName } from './cluster-name.ts';
import { type Entry, type Lookup, type LookupContext, clusterIpEntries, lookupCluster } from './cluster-lookup.ts';
import { balancedAddresses, balancedSrv, needsPlan, weighEntries } from './balanced-answers.ts';
import { serviceBalance } from '../balance/policy.ts';
import { nextRefresh } from '../balance/slow-start.ts';
import { serviceFqdn } from '../view/names.ts';

export const DNS_SCHEMA_VERSION = '1.1.0';
/** The TTL the specification's example and CoreDNS give the schema-version TXT record. */
const DNS_VERSION_TTL = 28800;
/** CNAME chains inside the zone are followed at most this deep. */
const MAX_CNAME_CHAIN = 8;

export interface ZoneContext extends LookupContext {
  /** The addresses this server answers on, for NS records and their glue. */
  serverAddresses(): string[];
  /** The clock slow start reads when an answer is prepared (Unix ms); default Date.now. */
  now?: () => number;
  /**
   * Told when a Service's answer was prepared with an endpoint in its slow start: its prepared
   * answers should be dropped at `atMs` (Unix ms), so the next query prepares them with the ramp
   * as it is then.
   */
  refreshAt?: (namespace: string, service: string, atMs: number) => void;
}

interface NameServer {
  name: string;
  ip: string;
}

/** The server's own names, as CoreDNS's nsAddrs finds them: the Service whose endpoints are this server. */
export function nameServers(ctx: ZoneContext, zone: string): NameServer[] {
  const found: NameServer[] = [];
  const seen = new Set<string>();
  const add = (name: string, ip: string): void => {
    const key = `${name} ${ip}`;
    if (!seen.has(key)) {
      seen.add(key);
      found.push({ name, ip });
    }
  };
  const local = ctx.serverAddresses();
  for (const ip of local) {
    for (const ref of ctx.view.endpointsByIp(ip)) {
      const service = ref.service;
      const serviceName = serviceFqdn(service, zone);
      if (service.headless) {
        for (const group of ctx.view.endpointGroups(service)) {
          for (const endpoint of group.endpoints) {
            for (const address of endpoint.addresses) {
              add(`${endpointHostname(endpoint.hostname, endpoint.podName, address, ctx.settings.endpointPodNames)}.${serviceName}`, address);
            }
          }
        }
      } else {
        for (const clusterIp of service.clusterIPs) add(serviceName, clusterIp);
      }
    }
  }
  if (found.length === 0) for (const ip of local) add(`ns.dns.${zone}`, ip);
  return found;
}

/** The labels of `name` left of `zone`. */
function labelsBelow(name: string, zone: string): string[] {
  const labels = splitLabels(name);
  return labels.slice(0, labels.length - splitLabels(zone).length);
}

export class ClusterZoneAnswers {
  private readonly ctx: ZoneContext;
  constructor(ctx: ZoneContext) {
    this.ctx = ctx;
  }

  /**
   * `questionName` is the name in the response's question section, when it differs from the name
   * answered (autopath answers a search-path name with another name's records).
   */
  answer(qname: string, zone: string, qtype: number, questionName = qname): PreparedAnswer {
    const encoder = new RecordEncoder(questionName);
    const ttl = this.ctx.settings.ttl;
    const base = labelsBelow(qname, zone);
    const nodata = (): PreparedAnswer => negative(RCode.NOERROR, encoder.soa(zone, this.ctx.view.serial, ttl));
    const nxdomain = (): PreparedAnswer => negative(RCode.NXDOMAIN, encoder.soa(zone, this.ctx.view.serial, ttl));

    const special = base.join('.');
    if (special === '') return this.apex(encoder, zone, qtype) ?? nodata();
    if (special === 'dns-version') {
      return qtype === RRType.TXT ? positive([encoder.txt(qname, [DNS_SCHEMA_VERSION], DNS_VERSION_TTL)]) : nodata();
    }
    if (special === 'dns') return nodata();
    if (special === 'ns.dns') {
      if (qtype !== RRType.A && qtype !== RRType.AAAA) return nodata();
      const family = qtype === RRType.A ? 4 : 6;
      const ips = new Set(nameServers(this.ctx, zone).map((ns) => ns.ip).filter((ip) => ipFamily(ip) === family));
      return ips.size > 0 ? positive([...ips].map((ip) => encoder.address(qname, ip, ttl))) : nodata();
    }

    const request = parseClusterName(base);
    const lookup = lookupCluster(this.ctx, request, zone, qname);
    if (lookup === null) return nxdomain();
    const balanced = this.balanced(qname, zone, qtype, request, lookup, encoder);
    if (balanced !== undefined) return balanced ?? nodata();
    return this.plainAnswer(qname, zone, qtype, lookup, encoder) ?? nodata();
  }

  /** Records as the specification and CoreDNS give them, or null for none of this type. */
  private plainAnswer(qname: string, zone: string, qtype: number, entries: Entry[], encoder: RecordEncoder): PreparedAnswer | null {
    const ttl = this.ctx.settings.ttl;
    switch (qtype) {
      case RRType.A:
      case RRType.AAAA: {
        const answers = this.addresses(encoder, zone, qname, qtype, entries, 0);
        if (answers.length === 0) return null;
        // A CNAME leads; the addresses after it are the part to balance.
        const balancedFrom = answers.findIndex((a) => a.type !== RRType.CNAME);
        const answer = positive(
          answers.map((a) => a.bytes),
          [],
          balancedFrom < 0 ? answers.length : balancedFrom,
        );
        const external = answers.find((a) => a.external)?.external;
        return external ? { ...answer, chase: external } : answer;
      }
      case RRType.CNAME: {
        const target = entries.find(isNameEntry);
        return target ? positive([encoder.pointing(qname, RRType.CNAME, target.host, ttl)]) : null;
      }
      case RRType.SRV:
        return this.srv(encoder, qname, entries);
      case RRType.ANY:
        // Amplification defence (RFC 8482): a name that exists answers ANY with one small record.
        return positive([encoder.anyRefusal(qname, ttl)]);
      default:
        return null;
    }
  }

  /**
   * The answer when the name's Service balances (see balanced-answers.ts): undefined when it does
   * not, null for no records of this type.
   */
  private balanced(qname: string, zone: string, qtype: number, request: ClusterRequest | null, entries: Entry[], encoder: RecordEncoder): PreparedAnswer | null | undefined {
    if (qtype !== RRType.A && qtype !== RRType.AAAA && qtype !== RRType.SRV) return undefined;
    if (request?.podOrSvc !== 'svc' || request.service === '' || request.endpoint !== '') return undefined;
    const service = this.ctx.view.service(request.namespace, request.service);
    if (!service || !entries.some((e) => e.endpoint)) return undefined;
    const config = serviceBalance(service, this.ctx.settings);
    const now = this.ctx.now?.() ?? Date.now();
    if (!needsPlan(config, entries, now)) return undefined;
    const fqdn = serviceFqdn(service, zone);
    const weighed = weighEntries(service, fqdn, this.ctx.settings, config, entries, now);
    if (config.slowStartSeconds > 0 && this.ctx.refreshAt) {
      const at = nextRefresh(
        weighed.map((w) => w.entry.endpoint.readySince),
        now,
        config.slowStartSeconds,
      );
      if (at !== null) this.ctx.refreshAt(service.namespace, service.name, at);
    }
    if (weighed.length === 0) {
      // Every endpoint weighs 0: as if none were ready.
      if (!config.endpointMode || this.ctx.settings.balance.emptyFallback === 'nxdomain') return null;
      return this.plainAnswer(qname, zone, qtype, clusterIpEntries(service, request, zone), encoder);
    }
    if (qtype === RRType.SRV) return config.balanced ? balancedSrv(encoder, qname, weighed, config, this.ctx.settings) : undefined;
    return balancedAddresses(encoder, qname, qtype, weighed, config, this.ctx.settings);
  }

  /** What the answer for `qname` depends on, for the answer cache. */
  scopeOf(qname: string, zone: string): AnswerScope {
    const request = parseClusterName(labelsBelow(qname, zone));
    if (request === null || request.podOrSvc === '') return GLOBAL_SCOPE;
    if (request.podOrSvc === 'pod' || request.service === '') return { scope: 'namespace', namespace: request.namespace };
    // An ExternalName's answer may follow its CNAME into another Service.
    if (this.ctx.view.service(request.namespace, request.service)?.type === 'ExternalName') return GLOBAL_SCOPE;
    return { scope: 'service', namespace: request.namespace, service: request.service };
  }

  private lookup(name: string, zone: string): Lookup {
    return lookupCluster(this.ctx, parseClusterName(labelsBelow(name, zone)), zone, name);
  }

  private apex(encoder: RecordEncoder, zone: string, qtype: number): PreparedAnswer | null {
    const ttl = this.ctx.settings.ttl;
    if (qtype === RRType.SOA) return positive([encoder.soa(zone, this.ctx.view.serial, ttl)]);
    if (qtype !== RRType.NS) return null;
    const servers = nameServers(this.ctx, zone);
    if (servers.length === 0) return null;
    const names = [...new Set(servers.map((s) => s.name))];
    return positive(
      names.map((name) => encoder.pointing(zone, RRType.NS, name, ttl)),
      servers.map((s) => encoder.address(s.name, s.ip, ttl)),
      names.length,
    );
  }

  /** A/AAAA records for `owner`, following ExternalName CNAMEs that stay inside the zone. */
  private addresses(encoder: RecordEncoder, zone: string, owner: string, qtype: number, entries: Entry[], depth: number): Array<{ type: number; bytes: Buffer; external?: string }> {
    const ttl = this.ctx.settings.ttl;
    const family = qtype === RRType.A ? 4 : 6;
    const out: Array<{ type: number; bytes: Buffer; external?: string }> = [];
    const seen = new Set<string>();
    for (const entry of entries) {
      const entryFamily = ipFamily(entry.host);
      if (entryFamily !== null) {
        if (entryFamily === family && !seen.has(entry.host)) {
          seen.add(entry.host);
          out.push({ type: qtype, bytes: encoder.address(owner, entry.host, ttl) });
        }
        continue;
      }
      const target = entry.host;
      // A target that is the name itself or below it would loop.
      if (isAtOrBelow(target, owner) || seen.has(target)) continue;
      seen.add(target);
      const cname = { type: RRType.CNAME, bytes: encoder.pointing(owner, RRType.CNAME, target, ttl) };
      if (isAtOrBelow(target, zone)) {
        if (depth >= MAX_CNAME_CHAIN) continue;
        const next = this.lookup(target, zone);
        const chased = next === null ? [] : this.addresses(encoder, zone, target, qtype, next, depth + 1);
        // As CoreDNS: an in-zone target that resolves to nothing leaves no dangling CNAME.
        if (chased.length > 0) out.push(cname, ...chased);
        continue;
      }
      // An out-of-zone target's records are looked up upstream when the query is answered.
      out.push({ ...cname, external: target });
    }
    return out;
  }

  private srv(encoder: RecordEncoder, qname: string, entries: Entry[]): PreparedAnswer | null {
    const ttl = this.ctx.settings.ttl;
    const services = entries.filter((e) => !isNameEntry(e));
    // CoreDNS's weight: 100 split evenly across every entry, counted before duplicates collapse.
    const weight = Math.max(1, Math.floor(100 / services.length));
    const answers: Buffer[] = [];
    const glue: Buffer[] = [];
    const seenTargets = new Set<string>();
    const seenGlue = new Set<string>();
    for (const entry of services) {
      if (entry.port < 0) continue;
      const srvKey = `${entry.name} ${entry.port}`;
      if (!seenTargets.has(srvKey)) {
        seenTargets.add(srvKey);
        answers.push(encoder.srv(qname, 0, weight, entry.port, entry.name, ttl));
      }
      const glueKey = `${entry.name} ${entry.host}`;
      if (!seenGlue.has(glueKey)) {
        seenGlue.add(glueKey);
        glue.push(encoder.address(entry.name, entry.host, ttl));
      }
    }
    return answers.length > 0 ? positive(answers, glue) : null;
  }
}

function isNameEntry(entry: Entry): boolean {
  return ipFamily(entry.host) === null;
}
