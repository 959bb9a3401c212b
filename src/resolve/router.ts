/**
 * Where a name goes: a cluster zone, a reverse zone, or upstream (names outside the served zones,
 * and with reverse.fallthrough reverse names lbdns does not know). The longest matching zone
 * wins, as in CoreDNS.
 */
import { RCode } from '../wire/constants.ts';
import { longestZoneOf } from '../wire/name.ts';
import { GLOBAL_SCOPE, type RouteResult, type Router } from './answer.ts';
import { RecordEncoder, negative } from './answer-builder.ts';
import { ClusterZoneAnswers, type ZoneContext } from './cluster-zone.ts';
import { answerReverse } from './reverse-zone.ts';
import type { HostsAnswers } from './hosts.ts';
import type { Client } from '../balance/client.ts';
import type { ExplanationLines } from './answer.ts';
import { explainBalance, explanationLines, serviceForName } from './explain.ts';

export class ZoneRouter implements Router {
  private readonly ctx: ZoneContext;
  /** Cluster zones, then reverse zones: on a tie in length, the cluster zone answers. */
  private readonly zones: string[];
  private readonly reverseZones: Set<string>;
  private readonly cluster: ClusterZoneAnswers;
  /** Static hosts entries answer first, as CoreDNS's hosts plugin comes before kubernetes. */
  private readonly hosts: HostsAnswers | null;

  constructor(ctx: ZoneContext, hosts: HostsAnswers | null = null) {
    this.ctx = ctx;
    this.hosts = hosts;
    this.cluster = new ClusterZoneAnswers(ctx);
    this.zones = [...ctx.settings.zones, ...ctx.settings.reverse.zones];
    this.reverseZones = new Set(ctx.settings.reverse.zones.filter((zone) => !ctx.settings.zones.includes(zone)));
  }

  route(qname: string, qtype: number, questionName = qname): RouteResult {
    const listed = this.hosts?.answer(qname, qtype);
    if (listed) return { answer: listed, zone: '.', scope: GLOBAL_SCOPE };
    const zone = longestZoneOf(qname, this.zones);
    if (zone === undefined) return { answer: { forward: true }, zone: '.', scope: GLOBAL_SCOPE };
    if (!this.reverseZones.has(zone)) return { answer: this.cluster.answer(qname, zone, qtype, questionName), zone, scope: this.cluster.scopeOf(qname, zone) };
    // Reverse answers can depend on any Service's addresses.
    const answer = answerReverse(this.ctx, qname, zone, qtype);
    if (answer) return { answer, zone, scope: GLOBAL_SCOPE };
    if (this.ctx.settings.reverse.fallthrough) return { answer: { forward: true }, zone: '.', scope: GLOBAL_SCOPE };
    return { answer: negative(RCode.NXDOMAIN, new RecordEncoder(qname).soa(zone, this.ctx.view.serial, this.ctx.settings.ttl)), zone, scope: GLOBAL_SCOPE };
  }

  explain(qname: string, client: Client): ExplanationLines | null {
    const found = serviceForName(this.ctx.view, this.ctx.settings, qname);
    if ('error' in found) return null;
    // The client line is rendered per query; the address here only fills the shared lines' placement.
    return explanationLines(explainBalance(this.ctx.view, this.ctx.settings, found.service, found.zone, { address: '-', info: client }));
  }
}
