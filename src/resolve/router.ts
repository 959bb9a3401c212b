/**
 * Where a name goes: a cluster zone, a reverse zone, or (for now) nowhere: REFUSED until
 * forwarding exists. The longest matching zone wins, as in CoreDNS.
 */
import { RCode } from '../wire/constants.ts';
import type { Routed, Router } from '../server/handler.ts';
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

  route(qname: string, qtype: number): Routed {
    const route = this.routes.find((r) => inZone(qname, r.zone));
    if (!route) return { rcode: RCode.REFUSED };
    if (!route.reverse) return this.cluster.answer(qname, route.zone, qtype);
    const answer = answerReverse(this.ctx, qname, route.zone, qtype);
    if (answer) return answer;
    if (this.ctx.settings.reverse.fallthrough) return { rcode: RCode.REFUSED };
    return negative(RCode.NXDOMAIN, new RecordEncoder(qname).soa(route.zone, this.ctx.view.serial, this.ctx.settings.ttl));
  }
}
