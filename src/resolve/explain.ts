/**
 * Why an answer looks the way it does: every endpoint of a Service with its weight (and where the
 * weight came from), zone, readiness, and its expected share of first position under the active
 * policy for a given client. Pure: it reads the view and settings and renders nothing. Served as
 * JSON by GET /debug/balance (ops/) and as CHAOS-class TXT strings to a dig query (server/), so
 * both tell the same facts; it lives in resolve/, above balance/, because it explains how the
 * resolver's answer and the balancer combine.
 */
import type { Settings } from '../settings/schema.ts';
import { type ClusterView, isPublished } from '../view/cluster-view.ts';
import type { Service } from '../view/types.ts';
import { endpointZones } from './balanced-answers.ts';
import type { Client } from '../balance/client.ts';
import { addressAnswer } from '../balance/service-audit.ts';
import type { PortMapping } from '../view/port-map.ts';
import { serviceBalance } from '../balance/policy.ts';
import { explainWeight, weightSources } from '../balance/weights.ts';
import { endpointHostname, serviceFqdn } from '../view/names.ts';
import { longestZoneOf, splitLabels } from '../wire/name.ts';
import { parseClusterName } from './cluster-name.ts';

/** The Service a name (`<service>.<namespace>.svc.<zone>`) stands for, or why there is none: `status` as HTTP would say it. */
export function serviceForName(view: ClusterView, settings: Settings, rawName: string): { service: Service; zone: string } | { status: 400 | 404; error: string } {
  const name = rawName.toLowerCase().replace(/\.$/, '');
  const zone = longestZoneOf(name, settings.zones);
  const labels = zone ? splitLabels(name).slice(0, -splitLabels(zone).length) : [];
  const request = zone ? parseClusterName(labels) : null;
  if (!zone || request?.podOrSvc !== 'svc' || !request.service || request.endpoint || request.port) {
    return { status: 400, error: 'name must be a Service name: <service>.<namespace>.svc.<zone>' };
  }
  const service = view.service(request.namespace, request.service);
  if (!service) return { status: 404, error: `no Service ${request.namespace}/${request.service}` };
  return { service, zone };
}

export interface EndpointExplanation {
  address: string;
  name: string;
  pod: string | null;
  node: string | null;
  zone: string | null;
  zones: readonly string[];
  ready: boolean;
  /** In the Service's answers at all (published and weight above 0). */
  answered: boolean;
  weight: number;
  weightFrom: string;
  /** Probability that this endpoint is the first record for this client; null when the answer is the ClusterIP. */
  expectedFirstShare: number | null;
}

export interface BalanceExplanation {
  service: string;
  fqdn: string;
  /** What A/AAAA records answer. */
  answer: 'clusterIP' | 'endpoints' | 'headless';
  /** Why a Service in endpoint mode answers A/AAAA otherwise than its mode says (a port mapping); null when it does not. */
  answerReason: string | null;
  /** What SRV records answer: in endpoint mode the endpoints, at their own ports, whatever A/AAAA answer. */
  srvAnswer: 'clusterIP' | 'endpoints' | 'headless';
  balanced: boolean;
  policy: string;
  affinity: boolean;
  clientSort: string;
  maxAnswers: number;
  zoneStrict: boolean;
  client: { address: string; zone: string | null } | null;
  /** Ports whose target port differs: A-record clients must use the target port. */
  portMappings: readonly PortMapping[];
  endpoints: EndpointExplanation[];
}

export function explainBalance(view: ClusterView, settings: Settings, service: Service, zone: string, client: { address: string; info: Client } | null): BalanceExplanation {
  const config = serviceBalance(service, settings);
  const fqdn = serviceFqdn(service, zone);
  const sources = weightSources(service, fqdn, settings);
  const endpoints: EndpointExplanation[] = [];
  for (const group of view.endpointGroups(service)) {
    for (const endpoint of group.endpoints) {
      for (const address of endpoint.addresses) {
        const { weight, origin } = config.balanced ? explainWeight(sources, endpoint, address) : { weight: 1, origin: 'default' };
        endpoints.push({
          address,
          name: `${endpointHostname(endpoint.hostname, endpoint.podName, address, settings.endpointPodNames)}.${fqdn}`,
          pod: endpoint.podName,
          node: endpoint.nodeName,
          zone: endpoint.zone,
          zones: endpointZones(endpoint),
          ready: endpoint.ready,
          answered: isPublished(service, endpoint) && weight > 0,
          weight,
          weightFrom: origin,
          expectedFirstShare: 0,
        });
      }
    }
  }
  const portSafety = addressAnswer(view, service, settings);
  const keepsClusterIp = portSafety?.answer === 'clusterIP';
  const answersEndpoints = service.headless || (config.endpointMode && !keepsClusterIp);
  const answered = endpoints.filter((e) => e.answered);
  const clientZone = client?.info.zone ?? null;
  const sameZone = config.policy === 'zone' && clientZone !== null ? answered.filter((e) => e.zones.includes(clientZone)) : [];
  // A Set: a 10,000-endpoint Service would cost 10,000² array lookups.
  const contenders = new Set(sameZone.length > 0 ? sameZone : answered);
  let total = 0;
  for (const e of contenders) total += config.policy === 'shuffle' ? 1 : e.weight;
  for (const e of endpoints) {
    if (!answersEndpoints) e.expectedFirstShare = null;
    else if (contenders.has(e)) e.expectedFirstShare = (config.policy === 'shuffle' ? 1 : e.weight) / total;
  }
  return {
    service: `${service.namespace}/${service.name}`,
    fqdn,
    answer: service.headless ? 'headless' : answersEndpoints ? 'endpoints' : 'clusterIP',
    answerReason:
      portSafety === null
        ? null
        : keepsClusterIp
          ? 'a port maps to another target port (see portMappings): A/AAAA records keep the ClusterIP, SRV gives the endpoint ports; lbdns.io/ignore-target-port: "true" answers endpoints anyway'
          : 'a port maps to another target port, and lbdns.io/ignore-target-port: "true" answers endpoints anyway: A-record clients must dial the target port',
    srvAnswer: service.headless ? 'headless' : config.endpointMode ? 'endpoints' : 'clusterIP',
    balanced: config.balanced,
    policy: config.policy,
    affinity: config.affinity,
    clientSort: config.clientSort,
    maxAnswers: config.maxAnswers,
    zoneStrict: settings.balance.zone.strict,
    client: client ? { address: client.address, zone: clientZone } : null,
    portMappings: view.portMappings(service),
    endpoints,
  };
}
