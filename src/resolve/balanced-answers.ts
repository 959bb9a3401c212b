/**
 * Answers whose order is the balancer's: a Service in endpoint mode, a headless Service that
 * opted into a policy, or one with ClientIP affinity or an answer cap. The bytes and what the
 * balancer needs per record are prepared here, once per view change.
 */
import { RRType } from '../wire/constants.ts';
import { ipFamily, ipToBytes } from '../net/ip.ts';
import type { Settings } from '../settings/schema.ts';
import type { Service, Endpoint } from '../view/types.ts';
import { glueOf } from '../wire/record-glue.ts';
import { type BalancePlan, type BalancedRecord, type PlanOptions, isPlainShuffle, makePlan, preferred } from '../balance/plan.ts';
import { orderRecords } from '../balance/order.ts';
import type { Client } from '../balance/client.ts';
import type { ServiceBalance } from '../balance/policy.ts';
import { endpointWeight, weightSources } from '../balance/weights.ts';
import { rampFactor, ramping } from '../balance/slow-start.ts';
import { type RecordEncoder, positive, srvTargets } from './answer-builder.ts';
import type { NamedAddress } from './cluster-lookup.ts';
import type { PreparedAnswer } from './answer.ts';

/** The zones an endpoint serves: its topology hints, else the zone it runs in. */
export function endpointZones(endpoint: Endpoint): readonly string[] {
  if (endpoint.hintZones.length > 0) return endpoint.hintZones;
  return endpoint.zone ? [endpoint.zone] : [];
}

/** The nodes an endpoint serves: its hints.forNodes, else the node it runs on. */
export function endpointNodes(endpoint: Endpoint): readonly string[] {
  if (endpoint.hintNodes.length > 0) return endpoint.hintNodes;
  return endpoint.nodeName ? [endpoint.nodeName] : [];
}

/** What the plan needs of an endpoint's topology: its zones and nodes, and whether hints named them. */
function topology(endpoint: Endpoint): Pick<BalancedRecord, 'zones' | 'zonesHinted' | 'nodes' | 'nodesHinted'> {
  return { zones: endpointZones(endpoint), zonesHinted: endpoint.hintZones.length > 0, nodes: endpointNodes(endpoint), nodesHinted: endpoint.hintNodes.length > 0 };
}

/**
 * Whether this Service's answers need more than the default uniform shuffle: a policy, affinity,
 * a cap, or an endpoint in its slow start at `nowMs`.
 */
export function needsPlan(config: ServiceBalance, addresses: readonly NamedAddress[] = [], nowMs = 0): boolean {
  return config.balanced || config.affinity || config.maxAnswers > 0 || config.local || anyRamping(config, addresses, nowMs);
}

/** Whether an endpoint among `addresses` is in its slow start at `nowMs`. */
export function anyRamping(config: ServiceBalance, addresses: readonly NamedAddress[], nowMs: number): boolean {
  if (config.slowStartSeconds <= 0) return false;
  for (const address of addresses) if (ramping(address.endpoint?.readySince, nowMs, config.slowStartSeconds)) return true;
  return false;
}

/** An endpoint's address (one port of it) with the weight its Service's policy gives it. */
export interface WeightedEndpoint {
  address: NamedAddress & { endpoint: Endpoint };
  weight: number;
  /** Slow start's multiplier at the time the answer is prepared (1: full weight). */
  ramp: number;
}

/** Endpoints' addresses with their weights and ramps at `nowMs`; weight 0 leaves a balanced answer (its hostname record stays). */
export function weighEndpoints(service: Service, fqdn: string, settings: Settings, config: ServiceBalance, addresses: readonly NamedAddress[], nowMs = 0): WeightedEndpoint[] {
  const sources = weightSources(service, fqdn, settings);
  const weighed: WeightedEndpoint[] = [];
  for (const address of addresses) {
    if (!address.endpoint) continue;
    const weight = config.balanced ? endpointWeight(sources, address.endpoint, address.ip) : 1;
    if (weight > 0) weighed.push({ address: address as WeightedEndpoint['address'], weight, ramp: rampFactor(address.endpoint.readySince, nowMs, config.slowStartSeconds) });
  }
  return weighed;
}

function planOptions(config: ServiceBalance, settings: Settings, clientSort: boolean): PlanOptions {
  return {
    policy: config.policy,
    affinity: config.affinity,
    clientSort: clientSort ? config.clientSort : 'none',
    maxAnswers: clientSort ? config.maxAnswers : 0,
    zoneStrict: settings.balance.zone.strict,
    limitHinted: config.limitHinted,
    local: config.local,
  };
}

/** A/AAAA records of the endpoints, one per address, with the plan that orders them. */
export function balancedAddresses(encoder: RecordEncoder, owner: string, qtype: number, weighed: WeightedEndpoint[], config: ServiceBalance, settings: Settings, service?: Service): PreparedAnswer | null {
  const family = qtype === RRType.A ? 4 : 6;
  const records: Buffer[] = [];
  const meta: BalancedRecord[] = [];
  const seen = new Set<string>();
  let ramps = false;
  for (const { address, weight, ramp } of weighed) {
    if (ipFamily(address.ip) !== family || seen.has(address.ip)) continue;
    seen.add(address.ip);
    records.push(encoder.address(owner, address.ip, settings.ttl));
    meta.push({ weight, ...topology(address.endpoint), key: address.ip, address: ipToBytes(address.ip), ramp, node: address.endpoint.nodeName });
    if (ramp !== 1) ramps = true;
  }
  if (records.length === 0) return null;
  const options = planOptions(config, settings, true);
  const answer = positive(records, [], 0, isPlainShuffle(options) && !ramps ? null : makePlan(options, meta));
  if (!config.local) return answer;
  // A client whose node runs none of the endpoints: the ClusterIP when emptyFallback says so, else no record.
  const fallbackIps = settings.balance.emptyFallback === 'clusterIP' && service ? service.clusterIPs.filter((ip) => ipFamily(ip) === family) : [];
  return { ...answer, localFallback: fallbackIps.map((ip) => encoder.address(owner, ip, settings.ttl)) };
}

/**
 * SRV records per endpoint and port, with weights in proportion to the endpoint weights (RFC 2782
 * scale, total at most 65535) and, under the zone and node policies, priority 1 for the targets
 * the client is not steered to first (other zones', or other nodes').
 */
export function balancedSrv(encoder: RecordEncoder, qname: string, weighed: WeightedEndpoint[], config: ServiceBalance, settings: Settings): PreparedAnswer | null {
  const ttl = settings.ttl;
  const { targets, glue, glueOf: perRecordGlue } = srvTargets(encoder, weighed, (item) => item.address, ttl);
  if (targets.length === 0) return null;
  // The SRV weights carry slow start's ramp too: clients that pick by them ramp alike.
  const total = targets.reduce((sum, item) => sum + item.weight * item.ramp, 0);
  const srvWeight = (weight: number, ramp: number) => Math.max(1, Math.floor(((weight * ramp) / total) * 65535));
  const records = targets.map(({ address, weight, ramp }) => encoder.srv(qname, 0, srvWeight(weight, ramp), address.port, address.name, ttl));
  const zonePolicy = config.balanced && (config.policy === 'zone' || config.policy === 'node');
  const otherZoneRecords = zonePolicy ? targets.map(({ address, weight, ramp }) => encoder.srv(qname, 1, srvWeight(weight, ramp), address.port, address.name, ttl)) : null;
  const meta = targets.map(({ address, weight, ramp }): BalancedRecord => ({ weight, ...topology(address.endpoint), key: `${address.ip} ${address.port}`, address: null, ramp, node: address.endpoint.nodeName }));
  const options = planOptions(config, settings, false);
  // Under plain shuffle the ramp is in the SRV weights alone (RFC 2782 clients choose by them):
  // the order stays a uniform shuffle, at its cost.
  if (isPlainShuffle(options)) return positive(records, glue);
  return { ...positive(records, glue, 0, makePlan(options, meta)), otherZoneRecords, glue: perRecordGlue, ...(config.local ? { localFallback: [] } : {}) };
}

/**
 * sessionAffinity: ClientIP for an answer the balancer does not otherwise order (SRV records of a
 * headless Service without a policy, one SRV record per port of a ClusterIP Service): the records
 * and their CoreDNS weights stay as they are, and each client gets them in its own stable order
 * (rendezvous on the record's bytes, which every replica encodes alike). A single record needs
 * nothing. Prepared once per view change, as every plan.
 */
export function withAffinity(answer: PreparedAnswer): PreparedAnswer {
  const count = answer.answers.length - answer.balancedFrom;
  if (answer.plan || count < 2 || answer.chase !== undefined || answer.authority.length > 0) return answer;
  const meta = answer.answers.slice(answer.balancedFrom).map((record): BalancedRecord => ({ weight: 1, zones: [], key: record.toString('latin1'), address: null }));
  const plan = makePlan({ policy: 'shuffle', affinity: true, clientSort: 'none', maxAnswers: 0, zoneStrict: false }, meta);
  return positive(answer.answers, answer.additional, answer.balancedFrom, plan);
}

/** The balanced records a response carries, and the additional records that go with them (null: the answer's own). */
export interface Choice {
  records: Buffer[];
  additional: Buffer[] | null;
}

/**
 * The records the balancer chose for this client, as bytes, in order: under the zone (node) policy
 * an SRV record of another zone (node) goes in its priority-1 form. When only some SRV records are sent,
 * the additional section carries only their targets' glue.
 */
export function chooseRecords(answer: PreparedAnswer, plan: BalancePlan, client: Client, budget: number, random: () => number = Math.random): Choice {
  const order = orderRecords(plan, client, random, budget);
  const { answers, balancedFrom, otherZoneRecords: other, glue } = answer;
  if (plan.localGroups && order.length === 0) return { records: [...(answer.localFallback ?? [])], additional: glue ? [] : null };
  const records = order.map((i) => (other && !preferred(plan, i, client.node, client.zone) ? other[i]! : answers[balancedFrom + i]!));
  return { records, additional: glue && order.length < plan.size ? glueOf(glue, order) : null };
}
