/**
 * Answers whose order is the balancer's: a Service in endpoint mode, a headless Service that
 * opted into a policy, or one with ClientIP affinity or an answer cap. The bytes and what the
 * balancer needs per record are prepared here, once per view change.
 */
import { RRType } from '../wire/constants.ts';
import { ipFamily, ipToBytes } from '../net/ip.ts';
import type { Settings } from '../settings/schema.ts';
import type { Service, Endpoint } from '../view/types.ts';
import { type BalancedRecord, type PlanOptions, type RecordGlue, isPlainShuffle, makePlan } from '../balance/plan.ts';
import type { ServiceBalance } from '../balance/policy.ts';
import { endpointWeight, weightSources } from '../balance/weights.ts';
import { type RecordEncoder, positive } from './answer-builder.ts';
import type { NamedAddress } from './cluster-lookup.ts';
import type { PreparedAnswer } from './answer.ts';

/** The zones an endpoint serves: its topology hints, else the zone it runs in. */
export function endpointZones(endpoint: Endpoint): readonly string[] {
  if (endpoint.hintZones.length > 0) return endpoint.hintZones;
  return endpoint.zone ? [endpoint.zone] : [];
}

/** Whether this Service's answers need more than the default uniform shuffle. */
export function needsPlan(config: ServiceBalance): boolean {
  return config.balanced || config.affinity || config.maxAnswers > 0;
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
  };
}

/** A/AAAA records of the endpoints, one per address, with the plan that orders them. */
export function balancedAddresses(encoder: RecordEncoder, owner: string, qtype: number, weighed: WeightedEndpoint[], config: ServiceBalance, settings: Settings): PreparedAnswer | null {
  const family = qtype === RRType.A ? 4 : 6;
  const records: Buffer[] = [];
  const meta: BalancedRecord[] = [];
  const seen = new Set<string>();
  for (const { address, weight } of weighed) {
    if (ipFamily(address.ip) !== family || seen.has(address.ip)) continue;
    seen.add(address.ip);
    records.push(encoder.address(owner, address.ip, settings.ttl));
    meta.push({ weight, zones: endpointZones(address.endpoint), key: address.ip, address: ipToBytes(address.ip) });
  }
  if (records.length === 0) return null;
  const options = planOptions(config, settings, true);
  return positive(records, [], 0, isPlainShuffle(options) ? null : makePlan(options, meta));
}

/**
 * SRV records per endpoint and port, with weights in proportion to the endpoint weights (RFC 2782
 * scale, total at most 65535) and, under the zone policy, priority 1 for other zones' targets.
 */
export function balancedSrv(encoder: RecordEncoder, qname: string, weighed: WeightedEndpoint[], config: ServiceBalance, settings: Settings): PreparedAnswer | null {
  const ttl = settings.ttl;
  const unique: WeightedEndpoint[] = [];
  const seen = new Set<string>();
  for (const item of weighed) {
    const key = `${item.address.name} ${item.address.port}`;
    if (item.address.port < 0 || seen.has(key)) continue;
    seen.add(key);
    unique.push(item);
  }
  if (unique.length === 0) return null;
  const total = unique.reduce((sum, item) => sum + item.weight, 0);
  const srvWeight = (weight: number) => Math.max(1, Math.floor((weight / total) * 65535));
  const records = unique.map(({ address, weight }) => encoder.srv(qname, 0, srvWeight(weight), address.port, address.name, ttl));
  const zonePolicy = config.balanced && config.policy === 'zone';
  const otherZoneRecords = zonePolicy ? unique.map(({ address, weight }) => encoder.srv(qname, 1, srvWeight(weight), address.port, address.name, ttl)) : null;
  const glue: Buffer[] = [];
  const glueSeen = new Set<string>();
  const glueByTarget = new Map<string, number[]>();
  for (const { address } of weighed) {
    const key = `${address.name} ${address.ip}`;
    if (glueSeen.has(key)) continue;
    glueSeen.add(key);
    const ofTarget = glueByTarget.get(address.name);
    if (ofTarget) ofTarget.push(glue.length);
    else glueByTarget.set(address.name, [glue.length]);
    glue.push(encoder.address(address.name, address.ip, ttl));
  }
  const meta = unique.map(({ address, weight }): BalancedRecord => ({ weight, zones: endpointZones(address.endpoint), key: `${address.ip} ${address.port}`, address: null }));
  const options = { ...planOptions(config, settings, false), otherZoneRecords, glue: recordGlue(unique, glueByTarget, glue) };
  return positive(records, glue, 0, isPlainShuffle(options) ? null : makePlan(options, meta));
}

/** Each SRV record's glue: the address records of its target. */
function recordGlue(records: WeightedEndpoint[], glueByTarget: Map<string, number[]>, additional: Buffer[]): RecordGlue {
  const start = new Uint32Array(records.length + 1);
  const index: number[] = [];
  for (const [i, { address }] of records.entries()) {
    start[i] = index.length;
    for (const at of glueByTarget.get(address.name) ?? []) index.push(at);
  }
  start[records.length] = index.length;
  return { start, index: Uint32Array.from(index), additional };
}
