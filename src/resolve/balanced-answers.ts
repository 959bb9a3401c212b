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
import { rampFactor, ramping } from '../balance/slow-start.ts';
import { type RecordEncoder, positive } from './answer-builder.ts';
import type { Entry } from './cluster-lookup.ts';
import type { PreparedAnswer } from './answer.ts';

/** The zones an endpoint serves: its topology hints, else the zone it runs in. */
export function endpointZones(endpoint: Endpoint): readonly string[] {
  if (endpoint.hintZones.length > 0) return endpoint.hintZones;
  return endpoint.zone ? [endpoint.zone] : [];
}

/**
 * Whether this Service's answers need more than the default uniform shuffle: a policy, affinity,
 * a cap, or an endpoint in its slow start at `nowMs`.
 */
export function needsPlan(config: ServiceBalance, entries: Entry[] = [], nowMs = 0): boolean {
  return config.balanced || config.affinity || config.maxAnswers > 0 || anyRamping(config, entries, nowMs);
}

/** Whether an endpoint among `entries` is in its slow start at `nowMs`. */
export function anyRamping(config: ServiceBalance, entries: Entry[], nowMs: number): boolean {
  if (config.slowStartSeconds <= 0) return false;
  for (const entry of entries) if (ramping(entry.endpoint?.readySince, nowMs, config.slowStartSeconds)) return true;
  return false;
}

export interface WeightedEntry {
  entry: Entry & { endpoint: Endpoint };
  weight: number;
  /** Slow start's multiplier at the time the answer is prepared (1: full weight). */
  ramp: number;
}

/** Endpoint entries with their weights and ramps at `nowMs`; weight 0 leaves a balanced answer (its hostname record stays). */
export function weighEntries(service: Service, fqdn: string, settings: Settings, config: ServiceBalance, entries: Entry[], nowMs = 0): WeightedEntry[] {
  const sources = weightSources(service, fqdn, settings);
  const weighed: WeightedEntry[] = [];
  for (const entry of entries) {
    if (!entry.endpoint) continue;
    const weight = config.balanced ? endpointWeight(sources, entry.endpoint, entry.host) : 1;
    if (weight > 0) weighed.push({ entry: entry as WeightedEntry['entry'], weight, ramp: rampFactor(entry.endpoint.readySince, nowMs, config.slowStartSeconds) });
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
export function balancedAddresses(encoder: RecordEncoder, owner: string, qtype: number, weighed: WeightedEntry[], config: ServiceBalance, settings: Settings): PreparedAnswer | null {
  const family = qtype === RRType.A ? 4 : 6;
  const records: Buffer[] = [];
  const meta: BalancedRecord[] = [];
  const seen = new Set<string>();
  let ramps = false;
  for (const { entry, weight, ramp } of weighed) {
    if (ipFamily(entry.host) !== family || seen.has(entry.host)) continue;
    seen.add(entry.host);
    records.push(encoder.address(owner, entry.host, settings.ttl));
    meta.push({ weight, zones: endpointZones(entry.endpoint), key: entry.host, address: ipToBytes(entry.host), ramp });
    if (ramp !== 1) ramps = true;
  }
  if (records.length === 0) return null;
  const options = planOptions(config, settings, true);
  return positive(records, [], 0, isPlainShuffle(options) && !ramps ? null : makePlan(options, meta));
}

/**
 * SRV records per endpoint and port, with weights in proportion to the endpoint weights (RFC 2782
 * scale, total at most 65535) and, under the zone policy, priority 1 for other zones' targets.
 */
export function balancedSrv(encoder: RecordEncoder, qname: string, weighed: WeightedEntry[], config: ServiceBalance, settings: Settings): PreparedAnswer | null {
  const ttl = settings.ttl;
  const unique: WeightedEntry[] = [];
  const seen = new Set<string>();
  for (const item of weighed) {
    const key = `${item.entry.name} ${item.entry.port}`;
    if (item.entry.port < 0 || seen.has(key)) continue;
    seen.add(key);
    unique.push(item);
  }
  if (unique.length === 0) return null;
  // The SRV weights carry slow start's ramp too: clients that pick by them ramp alike.
  const total = unique.reduce((sum, item) => sum + item.weight * item.ramp, 0);
  const srvWeight = (weight: number, ramp: number) => Math.max(1, Math.floor(((weight * ramp) / total) * 65535));
  const records = unique.map(({ entry, weight, ramp }) => encoder.srv(qname, 0, srvWeight(weight, ramp), entry.port, entry.name, ttl));
  const zonePolicy = config.balanced && config.policy === 'zone';
  const otherZoneRecords = zonePolicy ? unique.map(({ entry, weight, ramp }) => encoder.srv(qname, 1, srvWeight(weight, ramp), entry.port, entry.name, ttl)) : null;
  const glue: Buffer[] = [];
  const glueSeen = new Set<string>();
  const glueByTarget = new Map<string, number[]>();
  for (const { entry } of weighed) {
    const key = `${entry.name} ${entry.host}`;
    if (glueSeen.has(key)) continue;
    glueSeen.add(key);
    const ofTarget = glueByTarget.get(entry.name);
    if (ofTarget) ofTarget.push(glue.length);
    else glueByTarget.set(entry.name, [glue.length]);
    glue.push(encoder.address(entry.name, entry.host, ttl));
  }
  const meta = unique.map(({ entry, weight, ramp }): BalancedRecord => ({ weight, zones: endpointZones(entry.endpoint), key: `${entry.host} ${entry.port}`, address: null, ramp }));
  const options = { ...planOptions(config, settings, false), otherZoneRecords, glue: recordGlue(unique, glueByTarget, glue) };
  // Under plain shuffle the ramp is in the SRV weights alone (RFC 2782 clients choose by them):
  // the order stays a uniform shuffle, at its cost.
  return positive(records, glue, 0, isPlainShuffle(options) ? null : makePlan(options, meta));
}

/** Each SRV record's glue: the address records of its target. */
function recordGlue(records: WeightedEntry[], glueByTarget: Map<string, number[]>, additional: Buffer[]): RecordGlue {
  const start = new Uint32Array(records.length + 1);
  const index: number[] = [];
  for (const [i, { entry }] of records.entries()) {
    start[i] = index.length;
    for (const at of glueByTarget.get(entry.name) ?? []) index.push(at);
  }
  start[records.length] = index.length;
  return { start, index: Uint32Array.from(index), additional };
}
