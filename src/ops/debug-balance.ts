/**
 * Why an answer looks the way it does: every endpoint of a Service with its weight (and where the
 * weight came from), zone, readiness, and its expected share of first position under the active
 * policy for a given client. Served as JSON by GET /debug/balance. It lives with the debug
 * routes, above both resolve/ and balance/, because it explains how the two combine.
 */
import type { Settings } from '../settings/schema.ts';
import { type ClusterView, isPublished } from '../view/cluster-view.ts';
import type { Service } from '../view/types.ts';
import { endpointZones } from '../resolve/balanced-answers.ts';
import type { Client } from '../balance/client.ts';
import { mappedPorts } from '../balance/port-audit.ts';
import { serviceBalance } from '../balance/policy.ts';
import { explainWeight, weightSources } from '../balance/weights.ts';
import { endpointHostname, serviceFqdn } from '../view/names.ts';

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
  answer: 'clusterIP' | 'endpoints' | 'headless';
  balanced: boolean;
  policy: string;
  affinity: boolean;
  /** internalTrafficPolicy: Local is followed: only the client's node's endpoints. */
  local: boolean;
  clientSort: string;
  maxAnswers: number;
  zoneStrict: boolean;
  /** Where the client was placed: its node and zone, and by which rule (balance/client.ts). */
  client: { address: string; node: string | null; zone: string | null; placedBy: string; zoneBy: string } | null;
  /** Ports whose target port differs: A-record clients must use the target port. */
  portMappings: ReturnType<typeof mappedPorts>;
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
  const answersEndpoints = service.headless || config.endpointMode;
  // internalTrafficPolicy: Local: only the client's node's endpoints (none: the fallback, no endpoint).
  const clientNode = client?.info.node ?? null;
  const answered = endpoints.filter((e) => e.answered && (!config.local || (client !== null && e.node !== null && e.node === clientNode)));
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
    answer: service.headless ? 'headless' : config.endpointMode ? 'endpoints' : 'clusterIP',
    balanced: config.balanced,
    policy: config.policy,
    affinity: config.affinity,
    local: config.local,
    clientSort: config.clientSort,
    maxAnswers: config.maxAnswers,
    zoneStrict: settings.balance.zone.strict,
    client: client ? { address: client.address, node: client.info.node, zone: clientZone, placedBy: client.info.placedBy ?? 'none', zoneBy: client.info.zoneBy ?? 'none' } : null,
    portMappings: mappedPorts(service),
    endpoints,
  };
}
