/**
 * The per-query step of balancing: the order (and choice) of a balanced answer's records for one
 * client. Everything it reads was prepared with the answer; it sorts a few numbers.
 *
 * - shuffle: uniform random order.
 * - weighted: each next record drawn with probability weight / remaining weight (an exponential
 *   race: sort by Exp(1) / weight).
 * - zone: the client's zone first, each group weighted; other zones dropped when strict.
 * - affinity (sessionAffinity: ClientIP): the race's random numbers come from a hash of client
 *   and record instead (weighted rendezvous hashing): stable per client, in proportion to weights
 *   across clients, and only a removed endpoint's clients move.
 * - clientSort rfc6724: keep only records whose common prefix with the client is no longer than
 *   the first's, so glibc's RFC 6724 rule 9 cannot put another one first.
 */
import { commonPrefixLength } from '../net/cidr.ts';
import type { BalancePlan } from './plan.ts';
import type { Client } from './client.ts';
import { shuffleInPlace } from './shuffle.ts';

function mix(hash: number): number {
  // murmur3's finaliser: spreads the bits of two combined FNV hashes.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** Race times: lower goes first. Exp(1) / weight, from a hash (affinity) or from `random`. */
function raceTimes(plan: BalancePlan, indices: number[], client: Client, random: () => number): Float64Array {
  const times = new Float64Array(plan.weights.length);
  for (const i of indices) {
    const u = plan.affinity ? (mix((plan.hashes[i] as number) ^ client.hash) + 0.5) / 4294967296 : 1 - random();
    times[i] = -Math.log(u) / (plan.policy === 'shuffle' ? 1 : (plan.weights[i] as number));
  }
  return times;
}

function orderGroup(plan: BalancePlan, indices: number[], client: Client, random: () => number): number[] {
  if (indices.length < 2) return indices;
  if (plan.policy === 'shuffle' && !plan.affinity) return shuffleInPlace(indices, random);
  const times = raceTimes(plan, indices, client, random);
  return indices.sort((a, b) => (times[a] as number) - (times[b] as number));
}

function inZone(plan: BalancePlan, index: number, zone: string): boolean {
  return (plan.zones[index] as readonly string[]).includes(zone);
}

/** Indices of the records to send, in order. */
export function orderRecords(plan: BalancePlan, client: Client, random: () => number = Math.random): number[] {
  const all: number[] = [];
  for (let i = 0; i < plan.weights.length; i++) all.push(i);
  let order: number[];
  if (plan.policy === 'zone' && client.zone !== null) {
    const zone = client.zone;
    const same = all.filter((i) => inZone(plan, i, zone));
    const other = plan.zoneStrict && same.length > 0 ? [] : all.filter((i) => !inZone(plan, i, zone));
    order = [...orderGroup(plan, same, client, random), ...orderGroup(plan, other, client, random)];
  } else {
    order = orderGroup(plan, all, client, random);
  }

  if (plan.clientSort !== 'none' && order.length > 1) {
    if (plan.clientSort === 'single') order.length = 1;
    else if (client.address) {
      const address = client.address;
      const first = plan.addresses[order[0] as number];
      if (first) {
        const limit = commonPrefixLength(first, address);
        order = order.filter((i) => commonPrefixLength(plan.addresses[i] ?? first, address) <= limit);
      }
    }
  }
  if (plan.maxAnswers > 0 && order.length > plan.maxAnswers) order.length = plan.maxAnswers;
  return order;
}

/** The record bytes to send, in order: SRV records of other zones carry priority 1. */
export function chooseRecords(plan: BalancePlan, records: readonly Buffer[], client: Client, random: () => number = Math.random): Buffer[] {
  const order = orderRecords(plan, client, random);
  const zone = client.zone;
  const other = plan.otherZoneRecords;
  return order.map((i) => (other && zone !== null && !inZone(plan, i, zone) ? (other[i] as Buffer) : (records[i] as Buffer)));
}
