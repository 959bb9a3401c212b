/**
 * What the balancer needs about each record of a balanced answer, prepared with the answer's
 * bytes so that a query only draws the records it sends: the weights' prefix sums, the records
 * in address order (the client-sort trim leaves out one run of them), per client zone the zone's
 * records and the others (built on the first query from that zone), a ring for affinity.
 */
import type { ClientSort, Policy } from './policy.ts';
import { AffinityRing, RENDEZVOUS_LIMIT, RING_MAX_RECORDS } from './affinity.ts';
import { WeightedSampler } from './sampler.ts';

export interface BalancedRecord {
  weight: number;
  /** The zones the endpoint serves: its EndpointSlice hints, else its own zone. */
  zones: readonly string[];
  /** Whether `zones` came from EndpointSlice hints (forZones). */
  zonesHinted?: boolean;
  /** The nodes the endpoint serves: its hints.forNodes, else its own nodeName (policy 'node'). */
  nodes?: readonly string[];
  /** Whether `nodes` came from hints.forNodes. */
  nodesHinted?: boolean;
  /** Stable across replicas and restarts: what affinity hashes. */
  key: string;
  /** The record's address, for the client-sort trim (A/AAAA only). */
  address: Uint8Array | null;
  /** Slow start's weight multiplier (slow-start.ts), under every policy; absent: 1. */
  ramp?: number;
  /** The node the endpoint runs on (EndpointSlice nodeName), for internalTrafficPolicy: Local. */
  node?: string | null;
}

/**
 * Records drawn from together: all of an answer's, or for a client zone its records or the others.
 * Positions run in address order under the client-sort trim (else in record order); `members`
 * maps them to record indices.
 */
export class RecordGroup {
  readonly size: number;
  /** Record index at each position. */
  readonly members: Uint32Array;
  /** Draw weight at each position: the record's weight, or 1 under shuffle. */
  readonly weights: Float64Array;
  /** Affinity hash at each position. */
  readonly hashes: Uint32Array;
  /** Address at each position (A/AAAA), ascending under the client-sort trim. */
  readonly addresses: Array<Uint8Array | null>;
  readonly sampler: WeightedSampler;
  private affinityRing: AffinityRing | null = null;

  constructor(members: Uint32Array, plan: BalancePlan) {
    const size = members.length;
    this.size = size;
    this.members = members;
    this.weights = new Float64Array(size);
    this.hashes = new Uint32Array(size);
    this.addresses = new Array<Uint8Array | null>(size);
    for (let position = 0; position < size; position++) {
      const index = members[position]!;
      this.weights[position] = plan.drawWeights[index]!;
      this.hashes[position] = plan.hashes[index]!;
      this.addresses[position] = plan.addresses[index] ?? null;
    }
    this.sampler = new WeightedSampler(this.weights);
  }

  /** The affinity ring over this group, built on first use; null when the group is small enough for exact rendezvous (or too large for a ring). */
  ring(): AffinityRing | null {
    if (this.size <= RENDEZVOUS_LIMIT || this.size >= RING_MAX_RECORDS) return null;
    this.affinityRing ??= new AffinityRing(this.hashes, this.weights);
    return this.affinityRing;
  }

  /**
   * The positions [from, to) whose address starts with the first `bits` bits of `address`: one
   * run, since positions are in address order. Two binary searches.
   */
  prefixRun(address: Uint8Array, bits: number): [number, number] {
    const below = (position: number, orEqual: boolean): boolean => {
      const other = this.addresses[position];
      if (!other) return false;
      const order = comparePrefix(other, address, bits);
      return order < 0 || (orEqual && order === 0);
    };
    const search = (orEqual: boolean): number => {
      let low = 0;
      let high = this.size;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if (below(middle, orEqual)) low = middle + 1;
        else high = middle;
      }
      return low;
    };
    return [search(false), search(true)];
  }
}

/** Orders addresses: IPv4 before IPv6, then by their bytes. */
function compareAddresses(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** Compares the first `bits` bits of two addresses of one family; other families by length, as compareAddresses. */
function comparePrefix(a: Uint8Array, b: Uint8Array, bits: number): number {
  if (a.length !== b.length) return a.length - b.length;
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  const rest = bits & 7;
  if (rest === 0) return 0;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[whole]! & mask) - (b[whole]! & mask);
}

export interface PlanOptions {
  policy: Policy;
  affinity: boolean;
  clientSort: ClientSort;
  maxAnswers: number;
  zoneStrict: boolean;
  /**
   * trafficDistribution under balance.trafficDistribution: limit: when hints name the client's
   * node (or zone), answer only those records, as kube-proxy routes; otherwise they only go first.
   */
  limitHinted?: boolean;
  /** internalTrafficPolicy: Local: only the client node's records. */
  local?: boolean;
}

/**
 * What a plan knows about its records, as plain data (typed arrays, strings): what another thread
 * is sent to rebuild the plan (revivePlan), since the groups hold samplers, not data.
 */
export interface PlanData extends PlanOptions {
  local: boolean;
  /** How many records. */
  size: number;
  weights: Float64Array;
  /** What the draws use: the weights, or 1 each under shuffle. */
  drawWeights: Float64Array;
  zones: Array<readonly string[]>;
  /** FNV-1a of each record's key. */
  hashes: Uint32Array;
  addresses: Array<Uint8Array | null>;
  /** The label of lbdns_balanced_answers_total. */
  metricLabel: string;
  /** 1 where the record's zones came from hints. */
  zonesHinted: Uint8Array;
  /** Policy 'node': the nodes each record serves. */
  nodes: Array<readonly string[]>;
  /** Policy 'node': 1 where the record's nodes came from hints.forNodes. */
  nodesHinted: Uint8Array;
  /** Under `local`: the node each record runs on; else null. */
  recordNodes: Array<string | null> | null;
}

/** A plan: its options, what they need prepared about the records, and the groups drawn from. */
export interface BalancePlan extends PlanData {
  /** Every record. */
  all: RecordGroup;
  /** Per client zone, the groups in the order they are drawn from: built on first use. */
  zoneGroups: Map<string, RecordGroup[]>;
  /** Policy 'node': per node that has records, its records (built with the plan: at most one group per record). */
  nodeGroups: Map<string, { group: RecordGroup; hinted: boolean }>;
  /** Under `local`: per node, its records, split once with the plan; a query looks up its node. */
  localGroups: Map<string, RecordGroup> | null;
}

export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * Record indices in address order, for the client-sort trim; in record order when there is no
 * trim (or no address) to need it.
 */
function positionOrder(addresses: Array<Uint8Array | null>, trims: boolean): Uint32Array {
  const count = addresses.length;
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  if (!trims || addresses.some((a) => a === null)) return order;
  if (count < 2 ** 21 && addresses.every((a) => a!.length === 4)) {
    // IPv4: sort (address << 21) + index as numbers, exact in a double, without a comparator.
    const keys = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      const a = addresses[i]!;
      keys[i] = (((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0) * 2 ** 21 + i;
    }
    keys.sort();
    for (let i = 0; i < count; i++) order[i] = keys[i]! % 2 ** 21;
    return order;
  }
  return order.sort((a, b) => compareAddresses(addresses[a]!, addresses[b]!) || a - b);
}

export function makePlan(options: PlanOptions, records: BalancedRecord[]): BalancePlan {
  const count = records.length;
  const weights = new Float64Array(count);
  const hashes = new Uint32Array(count);
  const addresses = new Array<Uint8Array | null>(count);
  const zones = new Array<readonly string[]>(count);
  let ramps: Float64Array | null = null;
  const zonesHinted = new Uint8Array(count);
  const nodes = new Array<readonly string[]>(count);
  const nodesHinted = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const record = records[i]!;
    weights[i] = record.weight;
    if (record.ramp !== undefined && record.ramp !== 1) (ramps ??= new Float64Array(count).fill(1))[i] = record.ramp;
    hashes[i] = fnv1a(record.key);
    addresses[i] = record.address;
    zones[i] = record.zones;
    zonesHinted[i] = record.zonesHinted ? 1 : 0;
    nodes[i] = record.nodes ?? [];
    nodesHinted[i] = record.nodesHinted ? 1 : 0;
  }
  return revivePlan({
    policy: options.policy,
    affinity: options.affinity,
    clientSort: options.clientSort,
    maxAnswers: options.maxAnswers,
    zoneStrict: options.zoneStrict,
    limitHinted: options.limitHinted ?? false,
    local: options.local ?? false,
    size: count,
    weights,
    drawWeights: drawWeights(options.policy, weights, ramps),
    zones,
    hashes,
    addresses,
    metricLabel: `${options.policy}${options.affinity ? '+affinity' : ''}${options.local ? '+local' : ''}`,
    zonesHinted,
    nodes,
    nodesHinted,
    recordNodes: options.local ? records.map((record) => record.node ?? null) : null,
  });
}

/** The plan without its groups: what structured-clones to another thread. */
export function planData(plan: BalancePlan): PlanData {
  const { all: _all, zoneGroups: _zoneGroups, nodeGroups: _nodeGroups, localGroups: _localGroups, ...data } = plan;
  return data;
}

/** The plan of `data`, its groups built: makePlan's second half, and a serving worker's for a plan sent to it. */
export function revivePlan(data: PlanData): BalancePlan {
  const plan: Omit<BalancePlan, 'all'> & { all: RecordGroup | null } = { ...data, all: null, zoneGroups: new Map(), nodeGroups: new Map(), localGroups: null };
  plan.all = new RecordGroup(positionOrder(data.addresses, data.clientSort === 'rfc6724'), plan as BalancePlan);
  if (data.policy === 'node') buildNodeGroups(plan as BalancePlan);
  if (data.recordNodes) plan.localGroups = splitByNode(plan as BalancePlan, data.recordNodes);
  return plan as BalancePlan;
}

/** What the draws use: 1 each under shuffle, else the weights; times slow start's ramps, if any. */
function drawWeights(policy: Policy, weights: Float64Array, ramps: Float64Array | null): Float64Array {
  if (policy === 'shuffle') return ramps ?? new Float64Array(weights.length).fill(1);
  return finiteTotal(ramps ? weights.map((weight, i) => weight * ramps[i]!) : weights);
}

/** Per node, its records in position order; once per plan, so a query only looks its node up. */
function buildNodeGroups(plan: BalancePlan): void {
  const members = new Map<string, { indices: number[]; hinted: boolean }>();
  for (const index of plan.all.members) {
    for (const node of plan.nodes[index]!) {
      let entry = members.get(node);
      if (!entry) members.set(node, (entry = { indices: [], hinted: false }));
      entry.indices.push(index);
      if (plan.nodesHinted[index] === 1) entry.hinted = true;
    }
  }
  for (const [node, { indices, hinted }] of members) plan.nodeGroups.set(node, { group: new RecordGroup(Uint32Array.from(indices), plan), hinted });
}

/** The records of each node, each a group in the plan's position order: one pass, once per change. */
function splitByNode(plan: BalancePlan, recordNodes: ReadonlyArray<string | null>): Map<string, RecordGroup> {
  const byNode = new Map<string, number[]>();
  for (const index of plan.all.members) {
    const node = recordNodes[index];
    if (!node) continue;
    let members = byNode.get(node);
    if (!members) byNode.set(node, (members = []));
    members.push(index);
  }
  const groups = new Map<string, RecordGroup>();
  for (const [node, members] of byNode) groups.set(node, new RecordGroup(Uint32Array.from(members), plan));
  return groups;
}

/** The weights, scaled down when their total would not be a finite number (prefix sums must be). */
function finiteTotal(weights: Float64Array): Float64Array {
  let total = 0;
  let max = 0;
  for (const weight of weights) {
    total += weight;
    max = Math.max(max, weight);
  }
  return Number.isFinite(total) ? weights : weights.map((weight) => weight / max);
}

export function inZone(plan: BalancePlan, index: number, zone: string): boolean {
  return (plan.zones[index] as readonly string[]).includes(zone);
}

/** Client zones remembered per plan; they come from the settings, so this is only a backstop. */
const ZONE_GROUPS_LIMIT = 64;

/**
 * The groups a client in `zone` draws from, in order: the zone's records (weighted among
 * themselves), then the others unless strict; every record when none is in the zone.
 */
export function groupsForZone(plan: BalancePlan, zone: string): RecordGroup[] {
  let groups = plan.zoneGroups.get(zone);
  if (groups) return groups;
  const same: number[] = [];
  const other: number[] = [];
  for (const index of plan.all.members) (inZone(plan, index, zone) ? same : other).push(index);
  const limit = plan.zoneStrict || (plan.limitHinted && same.some((index) => plan.zonesHinted[index] === 1));
  if (same.length === 0) groups = [plan.all];
  else if (limit || other.length === 0) groups = [new RecordGroup(Uint32Array.from(same), plan)];
  else groups = [new RecordGroup(Uint32Array.from(same), plan), new RecordGroup(Uint32Array.from(other), plan)];
  if (plan.zoneGroups.size >= ZONE_GROUPS_LIMIT) plan.zoneGroups.clear();
  plan.zoneGroups.set(zone, groups);
  return groups;
}

/**
 * Policy 'node' (PreferSameNode): the client's node's records, then its zone's groups (which
 * repeat the node's records: the walk skips those already taken), or the node's alone when
 * limiting and hints name the node. Null when the client's node has no records.
 */
export function groupsForNode(plan: BalancePlan, node: string, zone: string | null): RecordGroup[] | null {
  const entry = plan.nodeGroups.get(node);
  if (!entry) return null;
  if (plan.limitHinted && entry.hinted) return [entry.group];
  return [entry.group, ...(zone !== null ? groupsForZone(plan, zone) : [plan.all])];
}

/** Whether record `index` is among those the client is steered to first (SRV priority 0 rather than 1). */
export function preferred(plan: BalancePlan, index: number, node: string | null, zone: string | null): boolean {
  if (plan.policy === 'node' && node !== null && plan.nodeGroups.has(node)) return (plan.nodes[index] as readonly string[]).includes(node);
  return zone === null || inZone(plan, index, zone);
}

/** A plan that changes nothing but the order: a uniform shuffle of everything (the default). */
export function isPlainShuffle(options: PlanOptions): boolean {
  return options.policy === 'shuffle' && !options.affinity && options.clientSort === 'none' && options.maxAnswers === 0 && !options.local;
}
