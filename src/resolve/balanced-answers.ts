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
import { type BalancePlan, type BalancedRecord, type PlanOptions, inZone, isPlainShuffle, makePlan } from '../balance/plan.ts';
import { orderRecords } from '../balance/order.ts';
import type { Client } from '../balance/client.ts';
import type { ServiceBalance } from '../balance/policy.ts';
import { endpointWeight, weightSources } from '../balance/weights.ts';
import { type RecordEncoder, positive, srvTargets } from './answer-builder.ts';
import type { NamedAddress } from './cluster-lookup.ts';
import type { PreparedAnswer } from './answer.ts';

/** The zones an endpoint serves: its topology hints, else the zone it runs in. */
export function endpointZones(endpoint: Endpoint): readonly string[] {
  if (endpoint.hintZones.length > 0) return endpoint.hintZones;
  return endpoint.zone ? [endpoint.zone] : [];
}

/** Whether this Service's answers need more than the default uniform shuffle. */
export function needsPlan(config: ServiceBalance): boolean {
  return config.balanced || config.affinity || config.maxAnswers > 0 || config.local;
}

/** An endpoint's address (one port of it) with the weight its Service's policy gives it. */
export interface WeightedEndpoint {
  address: NamedAddress & { endpoint: Endpoint };
  weight: number;
}

/** Endpoints' addresses with their weights; weight 0 leaves a balanced answer (its hostname record stays). */
export function weighEndpoints(service: Service, fqdn: string, settings: Settings, config: ServiceBalance, addresses: readonly NamedAddress[]): WeightedEndpoint[] {
  const sources = weightSources(service, fqdn, settings);
  const weighed: WeightedEndpoint[] = [];
  for (const address of addresses) {
    if (!address.endpoint) continue;
    const weight = config.balanced ? endpointWeight(sources, address.endpoint, address.ip) : 1;
    if (weight > 0) weighed.push({ address: address as WeightedEndpoint['address'], weight });
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
    local: config.local,
  };
}

/** A/AAAA records of the endpoints, one per address, with the plan that orders them. */
export function balancedAddresses(encoder: RecordEncoder, owner: string, qtype: number, weighed: WeightedEndpoint[], config: ServiceBalance, settings: Settings, service?: Service): PreparedAnswer | null {
  const family = qtype === RRType.A ? 4 : 6;
  const records: Buffer[] = [];
  const meta: BalancedRecord[] = [];
  const seen = new Set<string>();
  for (const { address, weight } of weighed) {
    if (ipFamily(address.ip) !== family || seen.has(address.ip)) continue;
    seen.add(address.ip);
    records.push(encoder.address(owner, address.ip, settings.ttl));
    meta.push({ weight, zones: endpointZones(address.endpoint), key: address.ip, address: ipToBytes(address.ip), node: address.endpoint.nodeName });
  }
  if (records.length === 0) return null;
  const options = planOptions(config, settings, true);
  const answer = positive(records, [], 0, isPlainShuffle(options) ? null : makePlan(options, meta));
  if (!config.local) return answer;
  // A client whose node runs none of the endpoints: the ClusterIP when emptyFallback says so, else no record.
  const fallbackIps = settings.balance.emptyFallback === 'clusterIP' && service ? service.clusterIPs.filter((ip) => ipFamily(ip) === family) : [];
  return { ...answer, localFallback: fallbackIps.map((ip) => encoder.address(owner, ip, settings.ttl)) };
}

/**
 * SRV records per endpoint and port, with weights in proportion to the endpoint weights (RFC 2782
 * scale, total at most 65535) and, under the zone policy, priority 1 for other zones' targets.
 */
export function balancedSrv(encoder: RecordEncoder, qname: string, weighed: WeightedEndpoint[], config: ServiceBalance, settings: Settings): PreparedAnswer | null {
  const ttl = settings.ttl;
  const { targets, glue, glueOf: perRecordGlue } = srvTargets(encoder, weighed, (item) => item.address, ttl);
  if (targets.length === 0) return null;
  const total = targets.reduce((sum, item) => sum + item.weight, 0);
  const srvWeight = (weight: number) => Math.max(1, Math.floor((weight / total) * 65535));
  const records = targets.map(({ address, weight }) => encoder.srv(qname, 0, srvWeight(weight), address.port, address.name, ttl));
  const zonePolicy = config.balanced && config.policy === 'zone';
  const otherZoneRecords = zonePolicy ? targets.map(({ address, weight }) => encoder.srv(qname, 1, srvWeight(weight), address.port, address.name, ttl)) : null;
  const meta = targets.map(({ address, weight }): BalancedRecord => ({ weight, zones: endpointZones(address.endpoint), key: `${address.ip} ${address.port}`, address: null, node: address.endpoint.nodeName }));
  const options = planOptions(config, settings, false);
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
 * The records the balancer chose for this client, as bytes, in order: under the zone policy an
 * SRV record of another zone goes in its priority-1 form. When only some SRV records are sent,
 * the additional section carries only their targets' glue.
 */
export function chooseRecords(answer: PreparedAnswer, plan: BalancePlan, client: Client, budget: number, random: () => number = Math.random): Choice {
  const order = orderRecords(plan, client, random, budget);
  const { answers, balancedFrom, otherZoneRecords: other, glue } = answer;
  if (plan.nodeGroups && order.length === 0) return { records: [...(answer.localFallback ?? [])], additional: glue ? [] : null };
  const zone = client.zone;
  const records = order.map((i) => (other && zone !== null && !inZone(plan, i, zone) ? other[i]! : answers[balancedFrom + i]!));
  return { records, additional: glue && order.length < plan.size ? glueOf(glue, order) : null };
}
