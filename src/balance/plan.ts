/**
 * What the balancer needs about each record of a balanced answer, prepared with the answer's
 * bytes so that a query only computes an order.
 */
import type { ClientSort, Policy } from './policy.ts';

export interface BalancedRecord {
  weight: number;
  /** The zones the endpoint serves: its EndpointSlice hints, else its own zone. */
  zones: readonly string[];
  /** Stable across replicas and restarts: what affinity hashes. */
  key: string;
  /** The record's address, for the client-sort trim (A/AAAA only). */
  address: Uint8Array | null;
}

export interface BalancePlan {
  policy: Policy;
  affinity: boolean;
  clientSort: ClientSort;
  maxAnswers: number;
  zoneStrict: boolean;
  weights: Float64Array;
  zones: Array<readonly string[]>;
  /** FNV-1a of each record's key. */
  hashes: Uint32Array;
  addresses: Array<Uint8Array | null>;
  /** SRV under the zone policy: the same records with priority 1, sent for other-zone targets. */
  otherZoneRecords: Buffer[] | null;
}

export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

export interface PlanOptions {
  policy: Policy;
  affinity: boolean;
  clientSort: ClientSort;
  maxAnswers: number;
  zoneStrict: boolean;
  otherZoneRecords?: Buffer[] | null;
}

export function makePlan(options: PlanOptions, records: BalancedRecord[]): BalancePlan {
  return {
    policy: options.policy,
    affinity: options.affinity,
    clientSort: options.clientSort,
    maxAnswers: options.maxAnswers,
    zoneStrict: options.zoneStrict,
    weights: Float64Array.from(records, (r) => r.weight),
    zones: records.map((r) => r.zones),
    hashes: Uint32Array.from(records, (r) => fnv1a(r.key)),
    addresses: records.map((r) => r.address),
    otherZoneRecords: options.otherZoneRecords ?? null,
  };
}

/** A plan that changes nothing but the order: a uniform shuffle of everything (the default). */
export function isPlainShuffle(options: PlanOptions): boolean {
  return options.policy === 'shuffle' && !options.affinity && options.clientSort === 'none' && options.maxAnswers === 0;
}
