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
import { rampFactor } from '../balance/slow-start.ts';
import { endpointHostname, serviceFqdn } from '../view/names.ts';
import { encodeNameAgainst, longestZoneOf, splitLabels } from '../wire/name.ts';
import { encodeRecord, rdata } from '../wire/records.ts';
import { CLASS_CH, RRType } from '../wire/constants.ts';
import type { ExplanationLines } from './answer.ts';
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
  /** When lbdns first saw it ready (ISO time); null: ready before lbdns started, or not ready. */
  readySince: string | null;
  /** Slow start's multiplier of its weight now: 1 when not ramping. */
  rampFactor: number;
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
  /** Why this policy: the lbdns.io/policy annotation, the Service's trafficDistribution, or the settings. */
  policyReason: string;
  affinity: boolean;
  /** internalTrafficPolicy: Local is followed: only the client's node's endpoints. */
  local: boolean;
  clientSort: string;
  maxAnswers: number;
  zoneStrict: boolean;
  /** Slow start's window in seconds (0: off). */
  slowStartSeconds: number;
  /** Where the client was placed: its node and zone (null: not known), and by which rule (balance/client.ts). */
  client: Placement | null;
  /** Ports whose target port differs: A-record clients must use the target port. */
  portMappings: readonly PortMapping[];
  endpoints: EndpointExplanation[];
}

export function explainBalance(view: ClusterView, settings: Settings, service: Service, zone: string, client: { address: string; info: Client } | null, nowMs: number = Date.now()): BalanceExplanation {
  const config = serviceBalance(service, settings);
  const fqdn = serviceFqdn(service, zone);
  const sources = weightSources(service, fqdn, settings);
  const endpoints: EndpointExplanation[] = [];
  for (const group of view.endpointGroups(service)) {
    for (const endpoint of group.endpoints) {
      const address = endpoint.address;
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
        readySince: endpoint.readySince === undefined ? null : new Date(endpoint.readySince).toISOString(),
        rampFactor: rampFactor(endpoint.readySince, nowMs, config.slowStartSeconds),
        expectedFirstShare: 0,
      });
    }
  }
  const portSafety = addressAnswer(view, service, settings);
  const keepsClusterIp = portSafety?.answer === 'clusterIP';
  const answersEndpoints = service.headless || (config.endpointMode && !keepsClusterIp);
  // internalTrafficPolicy: Local: only the client's node's endpoints (none: the fallback, no endpoint).
  const clientNode = client?.info.node ?? null;
  const answered = endpoints.filter((e) => e.answered && (!config.local || (client !== null && e.node !== null && e.node === clientNode)));
  const clientZone = client?.info.zone ?? null;
  const sameNode = config.policy === 'node' && clientNode !== null ? answered.filter((e) => e.node === clientNode) : [];
  const zoned = config.policy === 'zone' || config.policy === 'node';
  const sameZone = sameNode.length > 0 ? sameNode : zoned && clientZone !== null ? answered.filter((e) => e.zones.includes(clientZone)) : [];
  // A Set: a 10,000-endpoint Service would cost 10,000² array lookups.
  const contenders = new Set(sameZone.length > 0 ? sameZone : answered);
  const drawWeight = (e: EndpointExplanation) => (config.policy === 'shuffle' ? 1 : e.weight) * e.rampFactor;
  let total = 0;
  for (const e of contenders) total += drawWeight(e);
  for (const e of endpoints) {
    if (!answersEndpoints) e.expectedFirstShare = null;
    else if (contenders.has(e)) e.expectedFirstShare = drawWeight(e) / total;
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
    policyReason: config.reason,
    affinity: config.affinity,
    local: config.local,
    clientSort: config.clientSort,
    maxAnswers: config.maxAnswers,
    zoneStrict: settings.balance.zone.strict,
    slowStartSeconds: config.slowStartSeconds,
    client: client ? placement(client.address, client.info) : null,
    portMappings: view.portMappings(service),
    endpoints,
  };
}

/** How a client was placed, as an explanation shows it; the node where placement records one (a Client with a `node`). */
export interface Placement {
  address: string;
  node: string | null;
  zone: string | null;
  placedBy: string;
  zoneBy: string;
}

/** How a client was placed, as an explanation shows it. */
export function placement(address: string, info: Client): Placement {
  return { address, node: info.node, zone: info.zone, placedBy: info.placedBy ?? 'none', zoneBy: info.zoneBy ?? 'none' };
}

/** The explanation's records for a CHAOS-class TXT question: one TXT record per line, class CH, TTL 0 (never cached). */
export function chaosTxtRecords(qname: string, lines: readonly string[]): Buffer[] {
  const owner = encodeNameAgainst(qname, qname);
  return lines.map((line) => {
    const record = encodeRecord(owner, RRType.TXT, 0, rdata.txt([line]));
    record.writeUInt16BE(CLASS_CH, owner.length + 2);
    return record;
  });
}

/** Endpoints an explanation lists by name at most; the rest are counted. Bounds a response whatever the Service's size. */
export const EXPLAIN_LISTED = 8;
/** A TXT character-string holds at most 255 bytes. */
export const TXT_STRING_LIMIT = 255;

/** `text` cut to at most 255 UTF-8 bytes, on a character boundary. */
export function txtString(text: string): string {
  if (Buffer.byteLength(text, 'utf8') <= TXT_STRING_LIMIT) return text;
  let cut = text.slice(0, TXT_STRING_LIMIT);
  while (Buffer.byteLength(cut, 'utf8') > TXT_STRING_LIMIT - 3) cut = cut.slice(0, -1);
  return `${cut}...`;
}

/** A share as the TXT lines print it: a fraction to 4 places, or "-" when the answer is the ClusterIP. */
export function formatShare(share: number | null): string {
  return share === null ? '-' : share.toFixed(4);
}


/**
 * The explanation as TXT strings (each ≤ 255 bytes): the Service and policy, then (per client,
 * see clientLine) how the client was placed, then the endpoints most likely first (at most
 * `listed`, the rest counted), then why a response carries fewer records than the Service has.
 * Sorting is over the answered endpoints once; callers keep the result until the view changes.
 */
export function explanationLines(e: BalanceExplanation, listed = EXPLAIN_LISTED): ExplanationLines {
  const head = [
    `service ${e.service} answer=${e.answer} srv=${e.srvAnswer} policy=${e.policy} balanced=${e.balanced} affinity=${e.affinity} clientSort=${e.clientSort} maxAnswers=${e.maxAnswers} zoneStrict=${e.zoneStrict}`,
  ];
  if (e.answerReason) head.push(`answer-reason ${e.answerReason}`);
  const answered = e.endpoints.filter((x) => x.answered);
  // Most likely first, then by address, so the listing is stable between queries.
  const ranked = [...answered].sort((a, b) => (b.expectedFirstShare ?? 0) - (a.expectedFirstShare ?? 0) || b.weight - a.weight || (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  const shown = ranked.slice(0, Math.max(0, listed));
  const tail = [`endpoints total=${e.endpoints.length} answered=${answered.length} listed=${shown.length} omitted=${answered.length - shown.length}`];
  for (const x of shown) {
    tail.push(`endpoint ${x.address} share=${formatShare(x.expectedFirstShare)} weight=${x.weight} from=${x.weightFrom} zone=${x.zone ?? '-'} node=${x.node ?? '-'} ready=${x.ready}`);
  }
  const reasons: string[] = [];
  const unanswered = e.endpoints.length - answered.length;
  if (unanswered > 0) reasons.push(`${unanswered} not answered (not ready, or weight 0)`);
  if (e.answer === 'clusterIP') {
    // One record, the ClusterIP: nothing of the endpoints is trimmed from A/AAAA; SRV may still list them.
    reasons.push(`none: A/AAAA answer the ClusterIP${e.srvAnswer === 'endpoints' ? ', SRV the endpoints' : ''}`);
    return { head: head.map(txtString), tail: [...tail, ...reasons.map((r) => `trimmed ${r}`)].map(txtString) };
  }
  if (e.maxAnswers > 0 && answered.length > e.maxAnswers) reasons.push(`maxAnswers: at most ${e.maxAnswers} of ${answered.length} records per response`);
  const zone = e.client?.zone ?? null;
  if (e.policy === 'zone') {
    if (zone === null) reasons.push('zone policy: client zone unknown, all zones alike');
    else {
      const inZone = answered.filter((x) => x.zones.includes(zone)).length;
      if (inZone === 0) reasons.push(`zone policy: no answered endpoint in ${zone}, all zones alike`);
      else if (e.zoneStrict) reasons.push(`zone limiting: only the ${inZone} endpoints in ${zone}`);
      else reasons.push(`zone ordering: the ${inZone} endpoints in ${zone} first`);
    }
  }
  reasons.push('budget: a response that does not fit the UDP size (512, or the EDNS size) carries fewer records and sets TC');
  for (const reason of reasons) tail.push(`trimmed ${reason}`);
  return { head: head.map(txtString), tail: tail.map(txtString) };
}

/** The one line that differs per client: how it was placed. */
export function clientLine(client: BalanceExplanation['client']): string {
  if (!client) return 'client -';
  return txtString(`client ${client.address} zone=${client.zone ?? '-'} node=${client.node ?? '-'}`);
}
