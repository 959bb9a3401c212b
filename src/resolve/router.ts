/**
 * Where a name goes: a cluster zone, a reverse zone, or upstream (names outside the served zones,
 * and with reverse.fallthrough reverse names lbdns does not know). The longest matching zone
 * wins, as in CoreDNS.
 */
import { RCode } from '../wire/constants.ts';
import { GLOBAL_SCOPE, type RouteResult, type Router } from './answer.ts';
import { RecordEncoder, negative } from './answer-builder.ts';
import { ClusterZoneAnswers, type ZoneContext } from './cluster-zone.ts';
import { answerReverse } from './reverse-zone.ts';

interface ZoneRoute {
  zone: string;
  reverse: boolean;
}

function inZone(name: string, zone: string): boolean {
  return zone === '' || name === zone || name.endsWith(`.${zone}`);
}

export class ZoneRouter implements Router {
  private readonly ctx: ZoneContext;
  private readonly routes: ZoneRoute[];
  private readonly cluster: ClusterZoneAnswers;

  constructor(ctx: ZoneContext) {
    this.ctx = ctx;
    this.cluster = new ClusterZoneAnswers(ctx);
    this.routes = [
      ...ctx.settings.zones.map((zone) => ({ zone, reverse: false })),
      ...ctx.settings.reverse.zones.map((zone) => ({ zone, reverse: true })),
    ].sort((a, b) => b.zone.length - a.zone.length);
  }

  route(qname: string, qtype: number, questionName = qname): RouteResult {
    const route = this.routes.find((r) => inZone(qname, r.zone));
    if (!route) return { answer: { forward: true }, zone: '.', scope: GLOBAL_SCOPE };
    const zone = route.zone;
    if (!route.reverse) return { answer: this.cluster.answer(qname, zone, qtype, questionName), zone, scope: this.cluster.scopeOf(qname, zone) };
    // Reverse answers can depend on any Service's addresses.
    const answer = answerReverse(this.ctx, qname, zone, qtype);
    if (answer) return { answer, zone, scope: GLOBAL_SCOPE };
    if (this.ctx.settings.reverse.fallthrough) return { answer: { forward: true }, zone: '.', scope: GLOBAL_SCOPE };
    return { answer: negative(RCode.NXDOMAIN, new RecordEncoder(qname).soa(zone, this.ctx.view.serial, this.ctx.settings.ttl)), zone, scope: GLOBAL_SCOPE };
  }
}
