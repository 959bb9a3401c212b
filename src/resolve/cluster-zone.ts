/**
 * Answers for names under a cluster zone, per query type, from what a name stands for (cluster-lookup.ts).
 * Follows CoreDNS's kubernetes plugin; the few places that differ are listed in docs/behaviour.md.
 */
import { RCode, RRType } from '../wire/constants.ts';
import { isAtOrBelow, splitLabels } from '../wire/name.ts';
import { ipFamily } from '../net/ip.ts';
import { RecordEncoder, negative, positive, srvTargets } from './answer-builder.ts';
import { type AnswerScope, GLOBAL_SCOPE, type PreparedAnswer } from './answer.ts';
import { type ClusterRequest, parseClusterName } from './cluster-name.ts';
import { type Found, type Lookup, type LookupContext, type NamedAddress, clusterIpAddresses, lookupCluster } from './cluster-lookup.ts';
import { balancedAddresses, balancedSrv, needsPlan, weighEndpoints, withAffinity } from './balanced-answers.ts';
import type { Service } from '../view/types.ts';
import { type ServiceBalance, serviceBalance } from '../balance/policy.ts';
import { endpointHostname, serviceFqdn } from '../view/names.ts';
import { nextRefresh } from '../balance/slow-start.ts';

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

/** A Service whose answer the balancer orders, with what it is built from. */
interface Balancing {
  service: Service;
  config: ServiceBalance;
  request: ClusterRequest;
  addresses: readonly NamedAddress[];
  /** When the answer is prepared: slow start's ramps are taken at this time. */
  now: number;
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
            add(`${endpointHostname(endpoint.hostname, endpoint.podName, endpoint.address, ctx.settings.endpointPodNames)}.${serviceName}`, endpoint.address);
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
    const found = lookupCluster(this.ctx, request, zone, qname, qtype === RRType.A || qtype === RRType.AAAA ? 'addresses' : 'records');
    if (found.kind === 'missing') return nxdomain();
    const balancing = this.balancing(qtype, request, found);
    if (balancing !== null) return this.balancedAnswer(qname, zone, qtype, balancing, encoder) ?? nodata();
    const plain = this.plainAnswer(qname, zone, qtype, found, encoder);
    if (plain === null) return nodata();
    return this.followsAffinity(request) ? withAffinity(plain) : plain;
  }

  /** A Service's own name (or one of its ports' SRV names) whose Service has sessionAffinity: ClientIP. */
  private followsAffinity(request: ClusterRequest | null): boolean {
    if (request?.podOrSvc !== 'svc' || request.service === '' || request.endpoint !== '') return false;
    const service = this.ctx.view.service(request.namespace, request.service);
    return service?.sessionAffinity === 'ClientIP' && service.type !== 'ExternalName';
  }

  /** Records as the specification and CoreDNS give them, or null for none of this type. */
  private plainAnswer(qname: string, zone: string, qtype: number, found: Found, encoder: RecordEncoder): PreparedAnswer | null {
    const ttl = this.ctx.settings.ttl;
    switch (qtype) {
      case RRType.A:
      case RRType.AAAA: {
        const answers = this.addresses(encoder, zone, qname, qtype, found, 0);
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
      case RRType.CNAME:
        return found.kind === 'alias' ? positive([encoder.nameRecord(qname, RRType.CNAME, found.target, ttl)]) : null;
      case RRType.SRV:
        return found.kind === 'addresses' ? this.srv(encoder, qname, found.addresses) : null;
      case RRType.ANY:
        // Amplification defence (RFC 8482): a name that exists answers ANY with one small record.
        return positive([encoder.anyRefusal(qname, ttl)]);
      default:
        return null;
    }
  }

  /**
   * Whether the balancer orders this answer (see balanced-answers.ts), and for which Service; null:
   * it does not, the plain answer applies. Only a Service's own name, for A, AAAA and (when
   * weighted) SRV, with endpoints among its addresses and a policy that needs a plan.
   */
  private balancing(qtype: number, request: ClusterRequest | null, found: Found): Balancing | null {
    if (qtype !== RRType.A && qtype !== RRType.AAAA && qtype !== RRType.SRV) return null;
    if (request?.podOrSvc !== 'svc' || request.service === '' || request.endpoint !== '') return null;
    const service = this.ctx.view.service(request.namespace, request.service);
    if (!service || found.kind !== 'addresses' || !found.addresses.some((a) => a.endpoint)) return null;
    const config = serviceBalance(service, this.ctx.settings);
    const now = this.ctx.now?.() ?? Date.now();
    if (!needsPlan(config, found.addresses, now)) return null;
    // Unweighted SRV records keep CoreDNS's equal weights: the plain answer.
    if (qtype === RRType.SRV && !config.balanced) return null;
    return { service, config, request, addresses: found.addresses, now };
  }

  /** The balanced answer, or null for no records of this type. */
  private balancedAnswer(qname: string, zone: string, qtype: number, { service, config, request, addresses, now }: Balancing, encoder: RecordEncoder): PreparedAnswer | null {
    const fqdn = serviceFqdn(service, zone);
    const weighed = weighEndpoints(service, fqdn, this.ctx.settings, config, addresses, now);
    if (config.slowStartSeconds > 0 && this.ctx.refreshAt) {
      const at = nextRefresh(
        weighed.map((w) => w.address.endpoint.readySince),
        now,
        config.slowStartSeconds,
      );
      if (at !== null) this.ctx.refreshAt(service.namespace, service.name, at);
    }
    if (weighed.length === 0) {
      // Every endpoint weighs 0: as if none were ready.
      if (!config.endpointMode || this.ctx.settings.balance.emptyFallback === 'nxdomain') return null;
      return this.plainAnswer(qname, zone, qtype, { kind: 'addresses', addresses: clusterIpAddresses(service, request, zone) }, encoder);
    }
    if (qtype === RRType.SRV) return balancedSrv(encoder, qname, weighed, config, this.ctx.settings);
    return balancedAddresses(encoder, qname, qtype, weighed, config, this.ctx.settings, service);
  }

  /** What the answer for `qname` depends on, for the answer cache. */
  scopeOf(qname: string, zone: string): AnswerScope {
    const request = parseClusterName(labelsBelow(qname, zone));
    if (request === null || request.podOrSvc === '') return GLOBAL_SCOPE;
    if (request.podOrSvc === 'pod' || request.service === '') return { scope: 'namespace', namespace: request.namespace };
    const service = this.ctx.view.service(request.namespace, request.service);
    // An ExternalName's answer may follow its CNAME into another Service.
    if (service?.type === 'ExternalName') return GLOBAL_SCOPE;
    // The Service's own strings when it exists: a cache keeps one scope per answer, and the
    // name's labels are new strings every time.
    return service ? { scope: 'service', namespace: service.namespace, service: service.name } : { scope: 'service', namespace: request.namespace, service: request.service };
  }

  private lookup(name: string, zone: string): Lookup {
    return lookupCluster(this.ctx, parseClusterName(labelsBelow(name, zone)), zone, name, 'addresses');
  }

  private apex(encoder: RecordEncoder, zone: string, qtype: number): PreparedAnswer | null {
    const ttl = this.ctx.settings.ttl;
    if (qtype === RRType.SOA) return positive([encoder.soa(zone, this.ctx.view.serial, ttl)]);
    if (qtype !== RRType.NS) return null;
    const servers = nameServers(this.ctx, zone);
    if (servers.length === 0) return null;
    const names = [...new Set(servers.map((s) => s.name))];
    return positive(
      names.map((name) => encoder.nameRecord(zone, RRType.NS, name, ttl)),
      servers.map((s) => encoder.address(s.name, s.ip, ttl)),
      names.length,
    );
  }

  /** A/AAAA records for `owner`, following ExternalName CNAMEs that stay inside the zone. */
  private addresses(encoder: RecordEncoder, zone: string, owner: string, qtype: number, found: Found, depth: number): Array<{ type: number; bytes: Buffer; external?: string }> {
    const ttl = this.ctx.settings.ttl;
    if (found.kind === 'addresses') {
      const family = qtype === RRType.A ? 4 : 6;
      const out: Array<{ type: number; bytes: Buffer }> = [];
      const seen = new Set<string>();
      for (const { ip } of found.addresses) {
        if (ipFamily(ip) !== family || seen.has(ip)) continue;
        seen.add(ip);
        out.push({ type: qtype, bytes: encoder.address(owner, ip, ttl) });
      }
      return out;
    }
    const { target } = found;
    // A target that is the name itself or below it would loop.
    if (isAtOrBelow(target, owner)) return [];
    const cname = { type: RRType.CNAME, bytes: encoder.nameRecord(owner, RRType.CNAME, target, ttl) };
    if (isAtOrBelow(target, zone)) {
      if (depth >= MAX_CNAME_CHAIN) return [];
      const next = this.lookup(target, zone);
      const chased = next.kind === 'missing' ? [] : this.addresses(encoder, zone, target, qtype, next, depth + 1);
      // As CoreDNS: an in-zone target that resolves to nothing leaves no dangling CNAME.
      return chased.length > 0 ? [cname, ...chased] : [];
    }
    // An out-of-zone target's records are looked up upstream when the query is answered.
    return [{ ...cname, external: target }];
  }

  private srv(encoder: RecordEncoder, qname: string, addresses: readonly NamedAddress[]): PreparedAnswer | null {
    const ttl = this.ctx.settings.ttl;
    // CoreDNS's weight: 100 split evenly across every address, counted before duplicates collapse.
    const weight = Math.max(1, Math.floor(100 / addresses.length));
    const { targets, glue } = srvTargets(encoder, addresses, (address) => address, ttl);
    const answers = targets.map((address) => encoder.srv(qname, 0, weight, address.port, address.name, ttl));
    return answers.length > 0 ? positive(answers, glue) : null;
  }
}
