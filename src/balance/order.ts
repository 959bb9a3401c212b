/**
 * The per-query step of balancing: the order (and choice) of a balanced answer's records for one
 * client. Everything it reads was prepared with the answer (see plan.ts); it draws only the
 * records it sends, at most as many as can fit the response, so a query costs O(k log n) for k
 * records sent, whatever the Service's size.
 *
 * - shuffle: uniform random order (every weight 1).
 * - weighted: each next record drawn with probability weight / remaining weight (sampler.ts).
 * - zone: the client's zone first, each group weighted; other zones dropped when strict (or when
 *   limiting a trafficDistribution and hints name the zone).
 * - node (trafficDistribution PreferSameNode): the client's node first, then as zone.
 * - affinity (sessionAffinity: ClientIP): see affinity.ts; the first record is stable per client,
 *   and the rest of a large group is drawn with a generator seeded by the client.
 * - clientSort rfc6724: keep only records whose common prefix with the client is no longer than
 *   the first's, so glibc's RFC 6724 rule 9 cannot put another one first. Those that share more
 *   are one run of positions in address order: the draws after the first skip it.
 */
import { commonPrefixLength } from '../net/cidr.ts';
import { type BalancePlan, type RecordGroup, groupsForNode, groupsForZone } from './plan.ts';
import type { Client } from './client.ts';
import { RENDEZVOUS_LIMIT, mix, rendezvousOrder } from './affinity.ts';
import { seededRandom } from '../util/seeded-random.ts';

/** One query's walk through the groups. */
interface Walk {
  plan: BalancePlan;
  client: Client;
  order: number[];
  limit: number;
  random: () => number;
  /** After the first record, under rfc6724: records sharing this many leading bits with the client are trimmed; -1: none. */
  trimBits: number;
  /** Records already sent, when the groups overlap (policy node); else null. */
  taken: Set<number> | null;
}

/** How many records the plan sends at most, within `budget`. */
function recordLimit(plan: BalancePlan, budget: number): number {
  let limit = Math.min(budget, plan.size);
  if (plan.clientSort === 'single') limit = Math.min(limit, 1);
  if (plan.maxAnswers > 0) limit = Math.min(limit, plan.maxAnswers);
  return limit;
}

function groupsFor(plan: BalancePlan, client: Client): RecordGroup[] {
  if (plan.localGroups) {
    // internalTrafficPolicy: Local: the client node's records only; none, nothing (the caller falls back).
    const group = client.node === null ? undefined : plan.localGroups.get(client.node);
    return group ? [group] : [];
  }
  if (plan.policy === 'node' && client.node !== null) {
    const groups = groupsForNode(plan, client.node, client.zone);
    if (groups) return groups;
  }
  if ((plan.policy !== 'zone' && plan.policy !== 'node') || client.zone === null) return [plan.all];
  return groupsForZone(plan, client.zone);
}

/** Adds a record unless an earlier (overlapping) group sent it already. */
function push(walk: Walk, index: number): void {
  if (walk.taken) {
    if (walk.taken.has(index)) return;
    walk.taken.add(index);
  }
  walk.order.push(index);
}

/** Sets the trim the first record calls for: those that share more leading bits with the client go. */
function trimAfterFirst(walk: Walk, first: number): void {
  const address = walk.client.address;
  const own = walk.plan.addresses[first];
  if (walk.plan.clientSort !== 'rfc6724' || !address || !own || own.length !== address.length) return;
  const shared = commonPrefixLength(own, address);
  if (shared < own.length * 8) walk.trimBits = shared + 1;
}

function trimmed(walk: Walk, index: number): boolean {
  const own = walk.plan.addresses[index];
  return walk.trimBits >= 0 && own !== null && own !== undefined && commonPrefixLength(own, walk.client.address!) >= walk.trimBits;
}

/** A small group under affinity: exact rendezvous order, trimmed. */
function walkRendezvous(group: RecordGroup, walk: Walk): void {
  for (const position of rendezvousOrder(group.hashes, group.weights, walk.client.hash)) {
    if (walk.order.length >= walk.limit) return;
    const index = group.members[position]!;
    if (walk.order.length === 0) trimAfterFirst(walk, index);
    else if (trimmed(walk, index)) continue;
    push(walk, index);
  }
}

function walkGroup(group: RecordGroup, walk: Walk): void {
  if (walk.plan.affinity && group.size <= RENDEZVOUS_LIMIT) return walkRendezvous(group, walk);
  const sampler = group.sampler;
  sampler.begin();
  if (walk.order.length === 0) {
    const ring = walk.plan.affinity ? group.ring() : null;
    const position = ring ? ring.first(walk.client.hash) : sampler.draw(walk.random);
    sampler.take(position);
    push(walk, group.members[position]!);
    trimAfterFirst(walk, group.members[position]!);
  }
  const [skipFrom, skipTo] = walk.trimBits >= 0 ? group.prefixRun(walk.client.address!, walk.trimBits) : [0, 0];
  while (walk.order.length < walk.limit) {
    const position = sampler.draw(walk.random, skipFrom, skipTo);
    if (position < 0) return;
    sampler.take(position);
    push(walk, group.members[position]!);
  }
}

/**
 * Indices of the records to send, in order: at most `budget` (what can fit the response, see
 * balancedBudget), fewer when the plan caps or trims.
 */
export function orderRecords(plan: BalancePlan, client: Client, random: () => number = Math.random, budget: number = plan.size): number[] {
  const order: number[] = [];
  const limit = recordLimit(plan, budget);
  if (limit <= 0) return order;
  const groups = groupsFor(plan, client);
  const walk: Walk = { plan, client, order, limit, random: plan.affinity ? seededRandom(mix(client.hash)) : random, trimBits: -1, taken: groups.length > 1 && plan.policy === 'node' ? new Set() : null };
  for (const group of groups) {
    if (order.length >= limit) break;
    walkGroup(group, walk);
  }
  return order;
}
