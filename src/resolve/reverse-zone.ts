/** PTR answers for Service ClusterIPs and endpoint addresses, as CoreDNS's reverse.go gives them. */
import { RCode, RRType } from '../wire/constants.ts';
import type { PreparedAnswer } from './answer.ts';
import { RecordEncoder, negative, positive } from './answer-builder.ts';
import type { ZoneContext } from './cluster-zone.ts';
import { addressFromReverseName } from './reverse-name.ts';
import { endpointHostname, serviceFqdn } from '../view/names.ts';
import { servesNamespace } from '../settings/served-namespaces.ts';

/** `null` means lbdns does not know the name: the router passes it on or answers NXDOMAIN. */
export function answerReverse(ctx: ZoneContext, qname: string, zone: string, qtype: number): PreparedAnswer | null {
  const encoder = new RecordEncoder(qname);
  const ttl = ctx.settings.ttl;
  if (qname === zone) {
    if (qtype === RRType.SOA) return positive([encoder.soa(zone, ctx.view.serial, ttl)]);
    return negative(RCode.NOERROR, encoder.soa(zone, ctx.view.serial, ttl));
  }
  if (qtype !== RRType.PTR) return null;
  const ip = addressFromReverseName(qname);
  if (ip === null) return null;
  const targets = ptrTargets(ctx, ip);
  if (targets.length === 0) return null;
  return positive(
    targets.map((target) => encoder.nameRecord(qname, RRType.PTR, target, ttl)),
    [],
    targets.length,
  );
}

/**
 * The names an IP reverses to: the first Service with that ClusterIP, else every endpoint with
 * it, sorted, so that every replica gives the same answer whatever order the changes came in.
 */
export function ptrTargets(ctx: ZoneContext, ip: string): string[] {
  const primaryZone = ctx.settings.zones[0] as string;
  const exposed = (namespace: string): boolean => servesNamespace(ctx.settings, namespace);
  for (const service of ctx.view.servicesByClusterIp(ip)) {
    if (exposed(service.namespace)) return [serviceFqdn(service, primaryZone)];
  }
  const targets = new Set<string>();
  for (const ref of ctx.view.endpointsByIp(ip)) {
    if (!exposed(ref.service.namespace)) continue;
    const hostname = endpointHostname(ref.endpoint.hostname, ref.endpoint.podName, ref.endpoint.address, ctx.settings.endpointPodNames);
    targets.add(`${hostname}.${serviceFqdn(ref.service, primaryZone)}`);
  }
  return [...targets].sort();
}
